"""Scale: every index type search/storage/vectors.py offers, on synthetic normalized 768-d vectors (100k and 1M).

Prints one JSON object. For each size and index type: build time (through VectorIndex.build, as
`indexer build` does), index memory (bytes of the serialized index, and the RSS growth while building it),
p50/p95 latency of single-query searches through VectorIndex.search (k=10, as the API calls it), recall@10
against exact search computed in the same run, the same with an id filter (a random 10% of the ids, against
exact search over that subset), and a deletion check (1% of the ids removed: none may come back).

Data: a two-level Gaussian mixture on the unit sphere, so that neighbours mean something (uniformly random
768-d vectors are all nearly orthogonal and have no meaningful nearest neighbours): `n / 5000` topic
centres, `n / cluster_size` cluster centres scattered around them, and each vector a cluster centre plus
noise of the same norm (`--spread`). Queries are database vectors perturbed by half that noise, so the
source vector is usually the top hit and the rest of the top 10 are its cluster and topic neighbours (exact
top-1 cosine ~0.89, 10th ~0.39).

    python benchmarks/scale.py --sizes 100000,1000000
"""

from __future__ import annotations

import argparse
import gc
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # the benchmarks are scripts: their helper sits beside them

common.setup_environment()

import faiss  # noqa: E402
import numpy as np  # noqa: E402

from search.storage import vectors as vector_module  # noqa: E402
from search.storage.vectors import VectorIndex  # noqa: E402

# Older versions of search.storage.vectors (before the IVF index) offered the flat index only: measure it the same way.
FLAT = getattr(vector_module, "FLAT", "flat-ip")
IVF_SQ8 = getattr(vector_module, "IVF_SQ8", "ivf-sq8-ip")


def choose_index_type(n: int) -> str:
    chooser = getattr(vector_module, "choose_index_type", None)
    return chooser(n) if chooser else FLAT


def build_index(batches: Any, n: int, kind: str) -> VectorIndex:
    if hasattr(VectorIndex, "build"):
        return VectorIndex.build(DIMENSION, batches, n, index_type=kind)
    if kind != FLAT:
        raise SystemExit(f"this version of search.storage.vectors has no {kind} index")
    return VectorIndex.from_batches(DIMENSION, batches())


DIMENSION = 768
BLOCK = 100_000


def mixture(n: int, queries: int, cluster_size: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(database, queries), float32, unit norm (see the module docstring)."""
    rng = np.random.default_rng(seed)
    scale = spread / np.sqrt(DIMENSION)

    def unit(x: np.ndarray) -> np.ndarray:
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    topics = unit(rng.standard_normal((max(4, n // 5000), DIMENSION), dtype=np.float32))
    clusters = max(16, n // cluster_size)
    centres = unit(
        topics[rng.integers(len(topics), size=clusters)]
        + scale * rng.standard_normal((clusters, DIMENSION), dtype=np.float32)
    )
    assignment = rng.integers(clusters, size=n)
    data = np.empty((n, DIMENSION), dtype=np.float32)
    for start in range(0, n, BLOCK):
        end = min(n, start + BLOCK)
        noise = rng.standard_normal((end - start, DIMENSION), dtype=np.float32)
        data[start:end] = unit(centres[assignment[start:end]] + scale * noise)
    sources = rng.choice(n, size=queries, replace=False)
    noise = rng.standard_normal((queries, DIMENSION), dtype=np.float32)
    return data, unit(data[sources] + 0.5 * scale * noise).astype(np.float32)


def exact_top(data: np.ndarray, queries: np.ndarray, k: int, ids: np.ndarray) -> np.ndarray:
    """Exact inner-product top-k ids (brute force with BLAS, independent of VectorIndex)."""
    _, positions = faiss.knn(queries, data, k, metric=faiss.METRIC_INNER_PRODUCT)
    return ids[positions]


def rss_mb() -> float:
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * 4096 / 2**20


def measure(
    index: VectorIndex,
    queries: np.ndarray,
    truth: np.ndarray,
    k: int,
    seconds: float,
    allowed: np.ndarray | None,
    exact: Any = None,
) -> dict[str, Any]:
    """Single-query latency and recall@k over as many queries as fit in `seconds` (at least 20)."""
    latencies: list[float] = []
    recalls: list[float] = []
    deadline = time.perf_counter() + seconds
    options = {"exact": exact} if exact is not None else {}
    index.search(queries[0], k, allowed, **options)  # first-call set-up outside the timing
    for i, query in enumerate(queries):
        if i >= 20 and time.perf_counter() > deadline:
            break
        began = time.perf_counter()
        hits = index.search(query, k, allowed, **options)
        latencies.append(time.perf_counter() - began)
        recalls.append(len({h for h, _ in hits} & set(truth[i].tolist())) / k)
    return {
        "queries": len(latencies),
        "p50_ms": round(1000 * common.percentile(latencies, 50), 3),
        "p95_ms": round(1000 * common.percentile(latencies, 95), 3),
        f"recall_at_{k}": round(float(np.mean(recalls)), 4),
    }


def serialized_bytes(index: VectorIndex) -> int:
    with tempfile.TemporaryDirectory() as folder:
        path = index.save(Path(folder), 0)
        return path.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated vector counts")
    parser.add_argument("--types", default=f"{FLAT},{IVF_SQ8}", help="index types to measure")
    parser.add_argument("--queries", type=int, default=200, help="perturbed database vectors used as queries")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--filter-share", type=float, default=0.1, help="share of ids a filter allows")
    parser.add_argument("--seconds", type=float, default=30.0, help="time limit of each latency loop")
    parser.add_argument("--nprobes", default="", help="extra IVF nprobe values to sweep, e.g. 8,16,32,128")
    parser.add_argument("--cluster-size", type=int, default=10, help="vectors per mixture cluster")
    parser.add_argument("--spread", type=float, default=1.0, help="noise norm relative to the cluster centre")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result: dict[str, Any] = {
        "benchmark": "scale",
        "dimension": DIMENSION,
        "k": args.k,
        "data": f"two-level Gaussian mixture on the sphere, cluster size {args.cluster_size}, spread {args.spread}",
        "queries": f"{args.queries} database vectors perturbed by noise of norm {args.spread / 2}",
        "filter": f"random {args.filter_share:.0%} of the ids; recall against exact search over that subset",
        "threshold": getattr(vector_module, "approximate_threshold", lambda: None)(),
        # VectorIndex.search runs each query on one faiss thread; older versions used faiss's default.
        "faiss_threads_per_query": 1 if hasattr(vector_module, "FLAT") else "faiss default",
        "sizes": {},
    }
    for n in [int(s) for s in args.sizes.split(",") if s]:
        data, queries = mixture(n, args.queries, args.cluster_size, args.spread, args.seed)
        ids = np.arange(1, n + 1, dtype=np.int64)  # SQLite row ids start at 1
        rng = np.random.default_rng(args.seed + 1)
        allowed = np.sort(rng.choice(ids, size=max(1, int(n * args.filter_share)), replace=False))
        truth = exact_top(data, queries, args.k, ids)
        allowed_truth = exact_top(data[allowed - 1], queries, args.k, allowed)
        top = faiss.knn(queries, data, args.k, metric=faiss.METRIC_INNER_PRODUCT)[0]
        entry: dict[str, Any] = {
            "auto_index_type": choose_index_type(n),
            "exact_cosine_top1_mean": round(float(top[:, 0].mean()), 3),
            f"exact_cosine_top{args.k}_mean": round(float(top[:, -1].mean()), 3),
            "types": {},
        }

        def batches(data: np.ndarray = data, ids: np.ndarray = ids) -> Any:
            return ((ids[s : s + BLOCK], data[s : s + BLOCK]) for s in range(0, len(ids), BLOCK))

        for kind in args.types.split(","):
            gc.collect()
            rss_before = rss_mb()
            began = time.perf_counter()
            index = build_index(batches, n, kind)
            build_seconds = time.perf_counter() - began
            figures: dict[str, Any] = {
                "build_seconds": round(build_seconds, 2),
                "serialized_mb": round(serialized_bytes(index) / 1e6, 1),
                "rss_growth_mb": round(rss_mb() - rss_before, 1),
                "raw_float32_mb": round(n * DIMENSION * 4 / 1e6, 1),
            }
            if getattr(index, "approximate", False):
                assert index.ivf is not None
                figures.update({"nlist": int(index.ivf.nlist), "nprobe": index.nprobe})
            figures["search"] = measure(index, queries, truth, args.k, args.seconds, None)
            figures["filtered_search"] = measure(index, queries, allowed_truth, args.k, args.seconds, allowed)
            if getattr(index, "approximate", False):
                # Re-ranking with the stored float32 embeddings (Searcher passes Store.embeddings_for; here
                # they come from memory, so SQLite's ~1 ms for 20 rows is not included).
                def exact(wanted: Any, data: np.ndarray = data) -> dict[int, np.ndarray]:
                    return {i: data[i - 1] for i in wanted}

                figures["search_reranked"] = measure(index, queries, truth, args.k, args.seconds, None, exact)
                figures["filtered_search_reranked"] = measure(
                    index, queries, allowed_truth, args.k, args.seconds, allowed, exact
                )
            if getattr(index, "approximate", False) and args.nprobes:
                default = index.nprobe
                sweep = {}
                for nprobe in [int(x) for x in args.nprobes.split(",")]:
                    index.nprobe = index.ivf.nprobe = nprobe
                    sweep[str(nprobe)] = measure(index, queries, truth, args.k, args.seconds / 2, None)
                index.nprobe = index.ivf.nprobe = default
                figures["nprobe_sweep"] = sweep
            removed = rng.choice(ids, size=max(1, n // 100), replace=False)
            index.remove(removed)
            gone = set(removed.tolist())
            returned = sum(1 for q in queries[:20] for h, _ in index.search(q, args.k) if h in gone)
            figures["deletion"] = {
                "removed": len(gone),
                "ntotal_after": len(index),
                "removed_ids_returned_in_20_queries": returned,
            }
            entry["types"][kind] = figures
            del index
        best = entry["types"].get(entry["auto_index_type"])
        if best is not None and n >= 1_000_000:
            entry["targets_at_1M"] = {
                "approximate_chosen": entry["auto_index_type"] != FLAT,
                "p50_le_10ms": best["search"]["p50_ms"] <= 10,
                "recall_ge_0.95": best["search"][f"recall_at_{args.k}"] >= 0.95,
                "memory_le_1.6GB": best["serialized_mb"] <= 1600,
            }
        result["sizes"][str(n)] = entry
        del data, queries
    result["peak_rss_mb"] = common.peak_rss_mb()
    result["seconds"] = round(time.perf_counter() - started, 1)
    common.emit(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
