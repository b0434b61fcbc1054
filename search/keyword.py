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
