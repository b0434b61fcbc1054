"""Ranking metrics for retrieval evaluation, following the BEIR / TREC (pytrec_eval) conventions.

Every function scores ONE query: `ranking` is the retrieved document ids, best first (no duplicates: keep
each document's best passage only), and `qrels` maps document ids to graded relevance judgments. A judgment
of 0 (or below) means "judged not relevant", exactly as in TREC qrels files; documents missing from `qrels`
are not relevant either. Averaging over queries is the caller's job (`mean`), so every function here is a
small pure function that can be checked by hand.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence


def relevant_ids(qrels: Mapping[str, float]) -> set[str]:
    """Documents judged relevant: relevance above zero."""
    return {doc for doc, rel in qrels.items() if rel > 0}


def recall_at_k(ranking: Sequence[str], qrels: Mapping[str, float], k: int) -> float:
    """Recall@k = |relevant ∩ top-k| / |relevant|; 0.0 when the query has no relevant document.

    With exactly one relevant document per query (as in JSQuAD) this is the hit rate: 1 if it is in the
    top k, else 0.
    """
    relevant = relevant_ids(qrels)
    if not relevant:
        return 0.0
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def mrr_at_k(ranking: Sequence[str], qrels: Mapping[str, float], k: int) -> float:
    """MRR@k (reciprocal rank) = 1 / rank of the first relevant document within the top k, else 0.0.

    Ranks start at 1; grades do not matter, only relevant (> 0) or not.
    """
    relevant = relevant_ids(qrels)
    for rank, doc in enumerate(ranking[:k], start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def dcg(gains: Iterable[float]) -> float:
    """Discounted cumulative gain: sum over ranks i = 1, 2, … of gain_i / log2(i + 1).

    Linear gains (the graded judgment itself, not 2^rel - 1), as pytrec_eval's ndcg_cut used by BEIR.
    """
    return sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))


def ndcg_at_k(ranking: Sequence[str], qrels: Mapping[str, float], k: int) -> float:
    """nDCG@k = DCG@k of the ranking / DCG@k of the ideal ranking; 0.0 when nothing is relevant.

    The gain of a retrieved document is its judgment in `qrels` (0 when unjudged or judged <= 0); the ideal
    ranking is the judgments themselves sorted from the highest, cut at k (TREC: ideal DCG from the qrels,
    not from what was retrieved). Binary qrels make every gain 1.
    """
    ideal = dcg(sorted((rel for rel in qrels.values() if rel > 0), reverse=True)[:k])
    if ideal == 0:
        return 0.0
    return dcg(max(qrels.get(doc, 0.0), 0.0) for doc in ranking[:k]) / ideal


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean over queries (0.0 for none): every query counts once, as in BEIR's averages."""
    items = list(values)
    return sum(items) / len(items) if items else 0.0
