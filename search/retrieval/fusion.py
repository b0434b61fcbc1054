"""Fusing the dense and keyword rankings into one: pure functions of the two legs (no I/O, no model).

Kept apart from the searcher, like Haystack's DocumentJoiner, so that the fusion rule can be tested and
changed on its own. One global weight cannot serve every query: on JSQuAD (questions that reuse the article's
words) the keyword leg is far better, on JSTS paraphrases the dense leg can be; and an English-only model
reading a Japanese query says nothing. So each query gets its own leg weights (`leg_weights`) from:

- whether the model knows the query's language (an English-only model and a Japanese query: the dense leg
  weighs FOREIGN_DENSE_WEIGHT);
- how decisive the keyword leg is for this query: when its best passage stands far above the next ones
  (a rare word of the query matched), dense similarity is damped by KEYWORD_CONFIDENCE_DAMPING;

and the legs' scores, each min-max normalized over its own candidates, are added with those weights (a convex
combination, which beats reciprocal-rank fusion once its weight is tuned: Bruch et al., "An Analysis of Fusion
Functions for Hybrid Retrieval", 2023). Measurements behind the constants: benchmarks/README.md, "Retrieval
quality".
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from search.retrieval.results import LegResult, LegWeights

DENSE_WEIGHT = 1.0
"""The dense leg's weight, before damping, when the model was trained on the query's language."""
FOREIGN_DENSE_WEIGHT = 0.0
"""The dense leg's weight when it was not (the bundled English all-MiniLM-L6-v2 and a Japanese query)."""
KEYWORD_CONFIDENCE_DAMPING = 0.5
"""How much a decisive keyword leg (top score far above the runner-up) lowers the dense weight: by up to half."""
DENSE_FLOOR = 0.35
"""Cosine similarity under which a passage that only the dense leg found is not a match at all (a nonsense
query such as `zzqxw` is still *nearest* to something). Calibrated with all-MiniLM-L6-v2 on data/sample:
nonsense queries reach at most .17-.30 (`asdfghjkl` .304, against a table of numbers), real English questions
.42-.64 (benchmarks/README.md, "Retrieval quality"); another model has its own scale and may need its own."""

WORD_VECTOR_WEIGHT = 2.0
WORD_VECTOR_COVERAGE_POWER = 2.0
"""When word vectors answer the dense leg, its weight is WORD_VECTOR_WEIGHT * (1 - coverage) ** this, where
coverage is the IDF-weighted share of the query's words the best keyword passage holds (keyword_coverage).
Word vectors know little that the words themselves do not: where the keyword leg matched every word (half of
JSQuAD's questions) they only add noise, where it matched few (paraphrases) they carry the meaning. A fixed
weight cannot do both: 1.0 without coverage gives JSTS train .5378 but JSQuAD dev .9234 (keyword .9379). Tuned
on JSTS train: with power 2, weight 2.0 gives .5339 and 3.0 .5355; 2.0 is taken because 3.0 costs one judged
answer on data/sample (43 of 48, against 44). JSQuAD and JSTS valid were only watched (benchmarks/README.md)."""
COVERAGE_PASSAGES = 3
"""The best keyword passages whose words count for keyword_coverage (the best of them is taken)."""
WORD_VECTOR_FLOOR = 0.5
"""Cosine under which a passage only the word-vector leg found is not a match. Calibrated on data/sample with
chiVe: the best passage of every judged question reaches .52 or more (most above .63); kana nonsense
(ぬぽぺぴぱ .35) and off-topic questions such as 宇宙の始まり (.44) or 恐竜の絶滅理由 (.47) stay below it."""

Ranked = list[tuple[int, float, LegResult | None, LegResult | None]]
Leg = Sequence[tuple[int, float]]


def keyword_confidence(lexical: Leg) -> float:
    """0..1: how far the best keyword passage stands above the next one ((s1 - s2) / s1; 1.0 when alone)."""
    if not lexical:
        return 0.0
    top = lexical[0][1]
    if top <= 0:
        return 0.0
    runner_up = lexical[1][1] if len(lexical) > 1 else 0.0
    return max(0.0, min(1.0, (top - runner_up) / top))


def keyword_coverage(terms: Sequence[str], matched: Sequence[Collection[str]], idf: Callable[[str], float]) -> float:
    """0..1: the IDF-weighted share of the query's words that the best keyword passages hold (the best of them).
    1.0 when one passage holds every word: the question reuses the document's words, as in JSQuAD."""
    distinct = set(terms)
    total = sum(idf(term) for term in distinct)
    if not matched or total <= 0:
        return 0.0
    return min(1.0, max(sum(idf(term) for term in distinct & set(words)) for words in matched) / total)


def leg_weights(
    dense: Leg,
    lexical: Leg,
    model_knows_language: bool,
    base_weight: float = DENSE_WEIGHT,
    coverage: float | None = None,
) -> LegWeights:
    """Each leg's weight for this query (a leg that found nothing weighs 0). `base_weight` is the dense leg's
    before damping: DENSE_WEIGHT for an embedding model, WORD_VECTOR_WEIGHT for word vectors, whose weight
    also falls with the keyword leg's `coverage` of the query: (1 - coverage) ** WORD_VECTOR_COVERAGE_POWER."""
    confidence = keyword_confidence(lexical)
    dense_weight = base_weight if model_knows_language else FOREIGN_DENSE_WEIGHT
    if lexical:
        dense_weight *= 1.0 - KEYWORD_CONFIDENCE_DAMPING * confidence
    if coverage is not None:
        dense_weight *= max(0.0, 1.0 - coverage) ** WORD_VECTOR_COVERAGE_POWER
    return LegWeights(
        dense=dense_weight if dense else 0.0,
        keyword=1.0 if lexical else 0.0,
        keyword_confidence=confidence,
        model_knows_language=model_knows_language,
        keyword_coverage=coverage,
    )


def normalized(leg: Leg) -> dict[int, float]:
    """Min-max normalized scores (best 1.0, worst candidate 0.0; a lone candidate 1.0)."""
    if not leg:
        return {}
    scores = [score for _, score in leg]
    high, low = max(scores), min(scores)
    span = high - low
    return {pid: (score - low) / span if span > 0 else 1.0 for pid, score in leg}


def matched(dense: Leg, lexical: Leg, weights: LegWeights, dense_floor: float = DENSE_FLOOR) -> Leg:
    """The dense candidates that may enter a hybrid ranking. Being nearest is not being a match: a passage
    only the dense leg found must reach `dense_floor`, and none enters when the dense leg weighs nothing for
    this query (those the keyword leg also found stay, so that their hits still report their dense rank)."""
    keyword_ids = {pid for pid, _ in lexical}
    if weights.dense <= 0:
        return [(pid, score) for pid, score in dense if pid in keyword_ids]
    return [(pid, score) for pid, score in dense if pid in keyword_ids or score >= dense_floor]


def fuse(mode: str, dense: Leg, lexical: Leg, weights: LegWeights | None = None) -> Ranked:
    """(passage id, score, dense leg, keyword leg), best first.

    `dense` and `lexical` are each leg's (passage id, score) best first. Hybrid adds the legs' normalized
    scores times their weights; a passage only one leg found gets 0 from the other. Ties break on the heavier
    leg's rank, then the other's, then the passage id, so that pages are stable across requests.
    """
    dense_legs = {pid: LegResult(rank, score) for rank, (pid, score) in enumerate(dense, 1)}
    keyword_legs = {pid: LegResult(rank, score) for rank, (pid, score) in enumerate(lexical, 1)}
    if mode == "dense":
        return [(pid, score, dense_legs[pid], None) for pid, score in dense]
    if mode == "keyword":
        return [(pid, score, None, keyword_legs[pid]) for pid, score in lexical]
    weights = weights or leg_weights(dense, lexical, model_knows_language=True)
    fused: dict[int, float] = {}
    for leg_weight, leg in ((weights.dense, dense), (weights.keyword, lexical)):
        for pid, score in normalized(leg).items():
            fused[pid] = fused.get(pid, 0.0) + leg_weight * score
    # Ties break on the heavier leg's rank first: with a dense leg that weighs nothing for this query, hybrid
    # is then exactly the keyword order.
    first, second = (keyword_legs, dense_legs) if weights.keyword > weights.dense else (dense_legs, keyword_legs)
    unranked = len(dense_legs) + len(keyword_legs) + 1

    def tie_break(pid: int) -> tuple[float, int, int, int]:
        return (-fused[pid], getattr(first.get(pid), "rank", unranked), getattr(second.get(pid), "rank", unranked), pid)

    order = sorted(fused, key=tie_break)
    return [(pid, fused[pid], dense_legs.get(pid), keyword_legs.get(pid)) for pid in order]


def model_knows_language(query_is_japanese: bool, model_is_english_only: bool) -> bool:
    return not (query_is_japanese and model_is_english_only)
