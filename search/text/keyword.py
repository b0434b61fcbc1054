"""Keyword tokens for SQLite FTS5 that work for Japanese.

FTS5's trigram tokenizer cannot match 1–2 character words (休暇, 規程) and unicode61 keeps a whole CJK run as
one token, so CJK text is indexed as overlapping character bigrams (Lucene's CJK analyzer does the same);
Latin words and numbers stay whole. The same function tokenizes documents and queries.
"""

from __future__ import annotations

import re
import unicodedata

# Kanji (incl. extension A and compatibility), hiragana, katakana (incl. phonetic extensions), the
# iteration marks 々〆ヵヶ and the long-vowel mark.
_CJK = "\u3005\u3006\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_RUN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}_]+")
_IS_CJK = re.compile(rf"[{_CJK}]")

HEADING_WEIGHT = 3.0
"""BM25 weight of the heading column (document title / section path) against 1.0 for the passage text.

FTS5's bm25() multiplies a term's frequency in a column by the column's weight, so a heading term counts as
three text terms (document length stays unweighted). Measured with `indexer eval` on JSQuAD (4,442
questions, title as heading, keyword mode, MRR@10) with MiniLM-tokenized 64-token chunks: weight 1 (the
heading folded into the text, as before) .9282, 2 .9312, 3 .9319, 4 .9322, 5 .9329, 8 .9335; with whole
paragraphs as passages: 1 .9303, 2 .9330, 3 .9340, 5 .9354. Almost all of the gain comes by 3; beyond it
each step adds under .001 on this set, whose headings are article titles that questions often name, so 3
is taken rather than the largest value, to avoid tuning to JSQuAD.
"""
# The rank expression for the `passages_fts(heading, body)` table (column order as in search.storage.store.SCHEMA).
BM25_RANK = f"bm25(passages_fts, {HEADING_WEIGHT}, 1.0)"


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def tokens(text: str) -> list[str]:
    """CJK runs as bigrams (a lone CJK character as itself), other word runs whole."""
    out: list[str] = []
    for match in _RUN.finditer(normalize(text)):
        run = match.group()
        if _IS_CJK.match(run):
            out.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
        else:
            out.append(run)
    return out


def index_text(text: str) -> str:
    """What goes into the FTS5 column: tokens separated by spaces (unicode61 splits on them)."""
    return " ".join(tokens(text))


def match_expression(query: str) -> str | None:
    """An FTS5 MATCH expression that can never be read as query syntax: every token is a quoted string.

    A lone CJK character becomes a prefix query so that 京 still finds 京都. Tokens are ORed: BM25 then
    ranks passages that share more (and rarer) tokens higher, as a search engine user expects.
    """
    terms: list[str] = []
    seen: set[str] = set()
    for token in tokens(query):
        term = '"' + token.replace('"', '""') + '"'
        if len(token) == 1 and _IS_CJK.match(token):
            term += "*"
        if term not in seen:
            seen.add(term)
            terms.append(term)
    return " OR ".join(terms) if terms else None


def query_terms(query: str) -> list[str]:
    """Distinct normalized query tokens, for highlighting matched spans in snippets."""
    return list(dict.fromkeys(tokens(query)))


def has_cjk(text: str) -> bool:
    """Whether the text holds Japanese (kana or kanji), e.g. to know a query is not English."""
    return _IS_CJK.search(text) is not None
