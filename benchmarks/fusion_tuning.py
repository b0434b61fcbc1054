"""Sweep the hybrid fusion's constants on an evaluation index, without re-running the legs for each value.

Each query's keyword leg and dense leg (the index's model, or the Japanese word vectors where the model cannot
read the query) are computed once through the real Searcher; every combination of base weight, damping, floor
and coverage power is then scored by the pure functions of search.retrieval.fusion. Tune on train splits only
(JSTS train), and watch, never tune on, the sets you report (JSTS valid, JSQuAD dev).

    indexer eval ../shared/data/jsts-paraphrase/train --model sentence-transformers/all-MiniLM-L6-v2 \\
        --mode keyword --index /tmp/eval-jsts-train
    python benchmarks/fusion_tuning.py ../shared/data/jsts-paraphrase/train --index /tmp/eval-jsts-train

Prints one JSON object: MRR@10 of keyword alone, the dense leg alone, and each combination.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

from search.evaluation import metrics
from search.evaluation.beir import STAGING_DIR, load_beir, stage_corpus
from search.retrieval import fusion
from search.retrieval.filters import Filters
from search.retrieval.searcher import MIN_CANDIDATES, Searcher
from search.text import analysis

Legs = tuple[list[tuple[int, float]], list[tuple[int, float]], bool, float | None]


def legs(searcher: Searcher, text: str) -> Legs:
    """(dense leg, keyword leg, whether the dense leg reads the query's language, keyword coverage where word
    vectors answer the dense leg, else None), as Searcher.search computes them."""
    analyzed = analysis.analyze(text, searcher.thesaurus())
    store = searcher.store
    with store.read_snapshot():
        generation, vectors = searcher.vectors_for(store)
        lexical = searcher._keyword(store, analyzed, MIN_CANDIDATES, Filters())
        if searcher._reads_with_words(analyzed):
            leg = searcher._word_leg_for(store, generation)
            assert leg is not None
            best = [pid for pid, _ in lexical[: fusion.COVERAGE_PASSAGES]]
            coverage = leg.coverage(analyzed.terms, store, best)
            return leg.search(analyzed.terms, MIN_CANDIDATES), lexical, True, coverage
        vector = searcher.encoder.encode([text])[0]
        dense = searcher._dense(vectors, vector, MIN_CANDIDATES, None, store)
        return dense, lexical, searcher._model_knows_language(analyzed), None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("dataset_dir", type=Path)
    parser.add_argument("--index", type=Path, required=True, help="an `indexer eval --index` folder of this set")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--weights", default="0.5,1,2,3")
    parser.add_argument("--dampings", default="0.5")
    parser.add_argument("--floors", default="0.0,0.5")
    parser.add_argument("--powers", default="0,1,2", help="WORD_VECTOR_COVERAGE_POWER values (word vectors only)")
    args = parser.parse_args()
    dataset = load_beir(args.dataset_dir, args.limit)
    path_to_id = stage_corpus(dataset.corpus, args.index / STAGING_DIR)
    searcher = Searcher(args.index)
    collected = []
    for _, text in dataset.queries:
        collected.append(legs(searcher, text))
    ids = {pid for dense, lexical, _, _ in collected for pid, _ in [*dense, *lexical]}
    paths = {pid: row["path"] for pid, row in searcher.store.passage_rows(sorted(ids)).items()}
    judged = [dataset.qrels[query_id] for query_id, _ in dataset.queries]

    def mrr(rankings: list[list[int]]) -> float:
        scores = []
        for ranking, relevant in zip(rankings, judged, strict=True):
            documents = list(dict.fromkeys(path_to_id[paths[pid]] for pid in ranking if paths[pid] in path_to_id))
            scores.append(metrics.mrr_at_k(documents, relevant, 10))
        return round(metrics.mean(scores), 4)

    report: dict[str, Any] = {
        "dataset": str(args.dataset_dir),
        "queries": len(collected),
        "dense_by": sorted({"model" if coverage is None else "word vectors" for *_, coverage in collected}),
        "keyword": mrr([[pid for pid, _ in lexical] for _, lexical, _, _ in collected]),
        "dense": mrr([[pid for pid, _ in dense] for dense, _, _, _ in collected]),
        "hybrid": {},
    }
    saved = fusion.KEYWORD_CONFIDENCE_DAMPING, fusion.WORD_VECTOR_COVERAGE_POWER
    for weight, damping, floor, power in itertools.product(
        *(map(float, values.split(",")) for values in (args.weights, args.dampings, args.floors, args.powers))
    ):
        fusion.KEYWORD_CONFIDENCE_DAMPING, fusion.WORD_VECTOR_COVERAGE_POWER = damping, power
        rankings = []
        for dense, lexical, knows, coverage in collected:
            weights = fusion.leg_weights(dense, lexical, knows, weight, coverage)
            kept = fusion.matched(dense, lexical, weights, floor)
            rankings.append([pid for pid, *_ in fusion.fuse("hybrid", kept, lexical, weights)])
        report["hybrid"][f"w={weight:g} damping={damping:g} floor={floor:g} power={power:g}"] = mrr(rankings)
    fusion.KEYWORD_CONFIDENCE_DAMPING, fusion.WORD_VECTOR_COVERAGE_POWER = saved
    json.dump(report, sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
