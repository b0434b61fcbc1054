"""A query analysed once: the value that the keyword leg, fusion, highlighting and the response all read.

Before, each consumer re-tokenized the raw string its own way, so what was searched, what was highlighted
and what the user was told could disagree. `analyze` runs the morphological analyser once and keeps:

- the content words the user typed (nouns, verbs, adjectives; particles, auxiliary verbs and endings dropped),
  as lemmas, so 取得します meets 取得した;
- their character bigrams, taken only inside runs of adjacent content words, so that 「VPNに接続できません」
  searches 接続 and vpn but not できません, while unknown words and compounds keep bigram recall;
- the synonyms they expand to (search.text.synonyms), kept apart because they weigh less than typed words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from search.text import keyword, morphology
from search.text.language import Language, is_japanese
from search.text.synonyms import Expansion, Thesaurus


@dataclass(frozen=True)
class AnalyzedQuery:
    text: str
    normalized: str
    language: Language
    terms: tuple[str, ...]
    """Distinct lemmas of the typed content words (the keyword leg's word column)."""
    runs: tuple[str, ...]
    """Normalized surfaces of runs of adjacent nominal content words, and stems of verbs and adjectives."""
    bigrams: tuple[str, ...]
    """Distinct CJK bigrams / whole Latin words of the runs (the keyword leg's bigram column)."""
    expansions: tuple[Expansion, ...] = field(default=())
    content_fallback: bool = False
    """True when the query had no content word at all (「ます」): its bigrams are then the whole text's."""

    @property
    def is_empty(self) -> bool:
        return not self.terms and not self.bigrams

    def highlight_terms(self) -> tuple[frozenset[str], frozenset[str]]:
        """(lemmas, runs) whose occurrences in a passage count as meaningful matches, expansions included."""
        lemmas = set(self.terms)
        runs = set(self.runs)
        for expansion in self.expansions:
            lemmas.update(expansion.lemmas)
            runs.add(expansion.term)
        return frozenset(lemmas), frozenset(runs)


def content_runs(words: Sequence[morphology.Word]) -> list[str]:
    """Surfaces of maximal runs of adjacent nominal content words (no gap, no other word between), normalized.

    An inflecting word (verb, adjective) is a run of its own stem: 滑っています searches 滑, not 滑っ or って."""
    runs: list[str] = []
    current = ""
    previous_end = -1
    for word in words:
        if word.content and not word.nominal:
            if current:
                runs.append(current)
            current, previous_end = "", -1
            if word.stem():
                runs.append(word.stem())
            continue
        if not word.content:
            if current:
                runs.append(current)
            current, previous_end = "", -1
            continue
        if current and word.start != previous_end:
            runs.append(current)
            current = ""
        current += morphology.normalize(word.surface)
        previous_end = word.end
    if current:
        runs.append(current)
    return runs


def _distinct(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def analyze(text: str, thesaurus: Thesaurus | None = None) -> AnalyzedQuery:
    """The query as every part of search reads it; `thesaurus` adds synonyms of its content words."""
    words = morphology.words(text)
    content = [w for w in words if w.content]
    runs = content_runs(words)
    fallback = not content
    bigram_source = runs if not fallback else [text]
    bigrams = _distinct([token for run in bigram_source for token in keyword.tokens(run)])
    terms = _distinct([w.lemma for w in content])
    expansions = tuple(thesaurus.expand(content, terms)) if thesaurus is not None else ()
    return AnalyzedQuery(
        text=text,
        normalized=morphology.normalize(text),
        language="ja" if is_japanese(text) else "en",
        terms=terms,
        runs=_distinct(runs),
        bigrams=bigrams,
        expansions=expansions,
        content_fallback=fallback,
    )
