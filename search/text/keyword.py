"""Keyword tokens for SQLite FTS5 that work for Japanese.

FTS5's trigram tokenizer cannot match 1–2 character words (休暇, 規程) and unicode61 keeps a whole CJK run as
one token, so CJK text is indexed as overlapping character bigrams (Lucene's CJK analyzer does the same);
Latin words and numbers stay whole. The same function tokenizes documents and queries. Next to the bigrams,
the lemmas of content words (search.text.morphology) go into columns of their own, so that a whole-word,
inflection-insensitive match counts for more than sharing a few characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from search.text import morphology
from search.text.language import JAPANESE_LETTERS

# Japanese letters (search.text.language); queries and documents are NFKC-normalized before matching.
_CJK = JAPANESE_LETTERS
_RUN = re.compile(rf"[{_CJK}]+|[^\W{_CJK}_]+")
_IS_CJK = re.compile(rf"[{_CJK}]")

HEADING_WEIGHT = 3.0
"""BM25 weight of the heading column (document title / section path) against 1.0 for the passage text.

FTS5's bm25() multiplies a term's frequency in a column by the column's weight, so a heading term counts as
three text terms (document length stays unweighted). Measurements: benchmarks/README.md, "Measurement logs".
"""
WORD_WEIGHT = 6.0
"""BM25 weight of the lemma columns (heading_words, body_words) against 1.0 for the bigram body; the heading
lemmas weigh HEADING_WEIGHT times as much, like the heading bigrams. A word that matches by lemma also
matches its bigrams, so the lemma columns add a bonus for whole-word (and inflection-insensitive) matches on
top of the bigrams' recall, which still rank compounds and unknown words. Tuned on JSTS train (MRR@10 rises
from weight 0 to 6, flat beyond); measurements: benchmarks/README.md, "Retrieval quality"."""

EXPANSION_WEIGHT = 0.3
"""Weight of a synonym's BM25 against 1.0 for the words the user typed (search.text.synonyms): a synonym
widens recall but must not outrank a passage that says what was asked. Tuned on JSTS train (0.1-0.3 all help,
0.3 most); measurements: benchmarks/README.md, "Retrieval quality"."""

# The rank expression for `passages_fts(heading, body, heading_words, body_words)` (column order as in
# search.storage.schema.CREATE_TABLES).
BM25_RANK = f"bm25(passages_fts, {HEADING_WEIGHT}, 1.0, {HEADING_WEIGHT * WORD_WEIGHT}, {WORD_WEIGHT})"
_BIGRAM_COLUMNS = "{heading body}"
_WORD_COLUMNS = "{heading_words body_words}"


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


def index_words(text: str) -> str:
    """What goes into a lemma column: the content words' lemmas separated by spaces (search.text.morphology)."""
    return " ".join(morphology.content_lemmas(text))


def _quote(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def _bigram_term(token: str) -> str:
    """A quoted bigram; a lone CJK character becomes a prefix query so that 京 still finds 京都."""
    return _quote(token) + ("*" if len(token) == 1 and _IS_CJK.match(token) else "")


def _columns(columns: str, terms: list[str]) -> str | None:
    return f"{columns} : ({' OR '.join(terms)})" if terms else None


def _either(*parts: str | None) -> str | None:
    kept = [p for p in parts if p]
    return " OR ".join(kept) if kept else None


def match_expression(bigrams: Sequence[str], terms: Sequence[str]) -> str | None:
    """The FTS5 MATCH expression for the words the user typed; it can never be read as query syntax (every
    token is a quoted string). Bigrams search the bigram columns and lemmas the lemma columns, all ORed: BM25
    then ranks passages that share more (and rarer) words higher, as a search engine user expects."""
    return _either(
        _columns(_BIGRAM_COLUMNS, [_bigram_term(t) for t in bigrams]),
        _columns(_WORD_COLUMNS, [_quote(t) for t in terms]),
    )


def expansion_expression(phrases: Sequence[tuple[Sequence[str], Sequence[str]]]) -> str | None:
    """The MATCH expression for the query's synonyms: each synonym as a phrase (有給休暇 must appear as such,
    not as 有給 somewhere and 休暇 elsewhere), by lemmas and by bigrams. `phrases`: (bigrams, lemmas) each."""
    bigram_phrases = [_quote(" ".join(bigrams)) for bigrams, _ in phrases if bigrams]
    word_phrases = [_quote(" ".join(lemmas)) for _, lemmas in phrases if lemmas]
    return _either(
        _columns(_BIGRAM_COLUMNS, list(dict.fromkeys(bigram_phrases))),
        _columns(_WORD_COLUMNS, list(dict.fromkeys(word_phrases))),
    )


def has_cjk(text: str) -> bool:
    """Whether the text holds Japanese (kana or kanji), e.g. to know a query is not English."""
    return _IS_CJK.search(text) is not None
