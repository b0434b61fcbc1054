"""Fusing the dense and keyword rankings into one: a pure function of the two legs (no I/O, no model).

Kept apart from the searcher, like Haystack's DocumentJoiner, so that the fusion rule can be tested and
changed on its own. Measurements behind the constants are in benchmarks/README.md ("Fusion").
"""

from __future__ import annotations

from collections.abc import Sequence

from search.retrieval.results import LegResult

RRF_K = 60
FOREIGN_DENSE_WEIGHT = 0.0
"""RRF weight of the dense leg when the embedding model was not trained on the query's language (the bundled
English all-MiniLM-L6-v2 and a Japanese query); otherwise both legs weigh 1.0 (plain RRF, k = 60). At weight 0
the dense leg only breaks ties and appends the passages keyword missed (benchmarks/README.md, "Fusion")."""

Ranked = list[tuple[int, float, LegResult | None, LegResult | None]]


def fuse(
    mode: str, dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]], dense_weight: float = 1.0
) -> Ranked:
    """(passage id, score, dense leg, keyword leg), best first.

    `dense` and `lexical` are each leg's (passage id, score) best first. Hybrid is weighted reciprocal rank
    fusion: the sum over legs of leg_weight / (RRF_K + rank). Ties (same fused score) break on the dense rank,
    then on the passage id, so that pages are stable across requests.
    """
    dense_legs = {pid: LegResult(rank, score) for rank, (pid, score) in enumerate(dense, 1)}
    keyword_legs = {pid: LegResult(rank, score) for rank, (pid, score) in enumerate(lexical, 1)}
    if mode == "dense":
        return [(pid, score, dense_legs[pid], None) for pid, score in dense]
    if mode == "keyword":
        return [(pid, score, None, keyword_legs[pid]) for pid, score in lexical]
    fused: dict[int, float] = {}
    for leg_weight, legs in ((dense_weight, dense_legs), (1.0, keyword_legs)):
        for pid, leg in legs.items():
            fused[pid] = fused.get(pid, 0.0) + leg_weight / (RRF_K + leg.rank)
    unranked = len(dense_legs) + 1
    order = sorted(fused, key=lambda pid: (-fused[pid], getattr(dense_legs.get(pid), "rank", unranked), pid))
    return [(pid, fused[pid], dense_legs.get(pid), keyword_legs.get(pid)) for pid in order]


def dense_weight(query_is_japanese: bool, model_is_english_only: bool) -> float:
    """The dense leg's RRF weight: FOREIGN_DENSE_WEIGHT when an English-only model meets a Japanese query."""
    return FOREIGN_DENSE_WEIGHT if query_is_japanese and model_is_english_only else 1.0
