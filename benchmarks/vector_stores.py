"""FAISS vs Milvus Lite (issue #13): single-query latency and recall@10 at 100k vectors, through the project's
own vector-store code (search.storage.vectors.VectorIndex, search.storage.milvus_store.MilvusVectors).

Data and queries are scale.py's: 768-d unit vectors from a two-level Gaussian mixture, queries are perturbed
database vectors, and recall is against exact brute-force search in the same run. Measured:
- `faiss_flat` and `faiss_ivf_sq8` (what `indexer build` picks above 50,000 vectors), with the IVF short list
  re-ranked by exact embeddings as the searcher does;
- `milvus_lite`: a collection created and filled exactly as a `--vector-store milvus` build does (FLAT, inner
  product, a `generation` field every search filters on), searched through `MilvusVectors.search`;
  `insert_seconds` is the time to write the rows (upserts of 2,000);
- `*_filtered`: an id filter allowing a random `--filter-share` of the ids (SQLite resolves filters to id sets;
  FAISS gets a selector, Milvus an `id in [...]` expression, 16,384 ids per expression).
Milvus Lite (milvus-lite 3.x) serves from a Python process in this one; a Milvus server's figures differ
(docs/scaling.md). This measures the product's code paths, not Milvus's best case.

    python benchmarks/vector_stores.py --size 100000    # ~3-6 min on 2 cores
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # the benchmarks are scripts: their helper sits beside them

common.setup_environment()

import numpy as np  # noqa: E402
from scale import DIMENSION, exact_top, measure, mixture  # noqa: E402

from search.storage.milvus_store import MilvusStore, MilvusVectors  # noqa: E402
from search.storage.vector_store import StoreChoice  # noqa: E402
from search.storage.vectors import FLAT, IVF_SQ8, VectorIndex  # noqa: E402


def batches(data: np.ndarray, ids: np.ndarray, size: int = 20_000) -> Any:
    return lambda: ((ids[i : i + size], data[i : i + size]) for i in range(0, len(ids), size))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000, help="vectors")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--filter-share", type=float, default=0.1)
    parser.add_argument("--seconds", type=float, default=20.0, help="time limit of each latency loop")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data, queries = mixture(args.size, args.queries, 10, 1.0, args.seed)
    ids = np.arange(1, args.size + 1, dtype=np.int64)  # SQLite ids start at 1
    rng = np.random.default_rng(args.seed + 1)
    allowed = np.sort(rng.choice(ids, size=int(args.filter_share * args.size), replace=False))
    truth = exact_top(data, queries, args.k, ids)
    inside = np.searchsorted(ids, allowed)
    truth_filtered = exact_top(data[inside], queries, args.k, allowed)
    exact = {int(i): data[int(i) - 1] for i in ids}

    def stored(wanted: Any) -> dict[int, np.ndarray]:
        return {int(i): exact[int(i)] for i in wanted}

    result: dict[str, Any] = {"benchmark": "vector_stores", "size": args.size, "dimension": DIMENSION}
    for name, kind in (("faiss_flat", FLAT), ("faiss_ivf_sq8", IVF_SQ8)):
        index, seconds = common.timed(
            lambda kind=kind: VectorIndex.build(DIMENSION, batches(data, ids), args.size, kind)
        )
        rerank = stored if kind == IVF_SQ8 else None
        result[name] = {
            "build_seconds": round(seconds, 1),
            "search": measure(index, queries, truth, args.k, args.seconds, None, rerank),
            "search_filtered": measure(index, queries, truth_filtered, args.k, args.seconds, allowed, rerank),
        }
        del index

    with tempfile.TemporaryDirectory() as folder:
        store = MilvusStore(Path(folder), StoreChoice("milvus", "bench.db", "bench"), {})
        try:
            collection, seconds = common.timed(lambda: store._new_collection(1, DIMENSION))
            _, insert_seconds = common.timed(lambda: store._insert(collection, batches(data, ids)(), 1))
            _, flush_seconds = common.timed(lambda: store.client.flush(collection))  # as MilvusStore.save does
            vectors = MilvusVectors(store, collection, 1, args.size)
            result["milvus_lite"] = {
                "create_seconds": round(seconds, 2),
                "insert_seconds": round(insert_seconds, 1),
                "flush_seconds": round(flush_seconds, 2),
                "search": measure(vectors, queries, truth, args.k, args.seconds, None),  # type: ignore[arg-type]
                "search_rescored_by_sqlite": measure(vectors, queries, truth, args.k, args.seconds, None, stored),  # type: ignore[arg-type]
                "search_filtered": measure(vectors, queries, truth_filtered, args.k, args.seconds, allowed),  # type: ignore[arg-type]
            }
        finally:
            store.close()
    result["peak_rss_mb"] = common.peak_rss_mb()
    common.emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
