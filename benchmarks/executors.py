"""Local vs Ray encoding of the same passages (issue #13): passages/s, and what the Ray path costs on 2 CPUs.

The benchmark model (common.ensure_model: the architecture of sonoisa/sentence-t5-base-ja-mean-tokens with random
weights) encodes `--limit` JSQuAD paragraphs twice through `search.models.executors`:
- `local`: `LocalExecutor` in this process (the model loaded beforehand, as a build has it loaded for chunking's
  tokenizer anyway; torch uses every core);
- `ray`: `RayExecutor` on a local Ray runtime started here with `--cpus` CPUs (no dashboard, loopback only):
  one actor per CPU, each loading the model and encoding with one thread. `ray_init_seconds` is the runtime's
  start; `first_job` includes starting the actors and loading the model in each; `second_job` is a new job on
  the warm runtime (each job starts its own actor pool, so it loads the model again).
`local` is the faster of two runs, before and after the Ray runs (the load of a shared machine drifts);
`overhead` compares Ray's passages/s with local ones on the same cores; `min_cosine` compares the vectors.

    python benchmarks/executors.py --limit 256    # ~2-4 min on 2 cores
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # the benchmarks are scripts: their helper sits beside them

common.setup_environment()
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # the local Ray listens on loopback only

import numpy as np  # noqa: E402

from search.models.executors import LocalExecutor  # noqa: E402
from search.models.spec import EncoderSpec  # noqa: E402


def rate(count: int, seconds: float) -> dict[str, float]:
    return {"seconds": round(seconds, 2), "passages_per_s": round(count / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=common.DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=256, help="paragraphs to encode")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray runtime")
    parser.add_argument("--precision", default="fp32", help="encoder precision, in both paths")
    args = parser.parse_args(argv)

    import ray

    from search.models.ray_executor import RayExecutor

    texts = common.spread_sample(common.read_corpus(args.corpus), args.limit)
    model = common.ensure_model(args.corpus)
    spec = EncoderSpec(model=str(model), max_length=128, device="cpu", precision=args.precision)
    spec.get().encode(texts[:8])  # weights loaded and warm, as in a build
    local_vectors, local_seconds = common.timed(lambda: LocalExecutor().encode(spec, texts))
    local_before = local_seconds

    started = time.perf_counter()
    ray.init(num_cpus=args.cpus, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="error")
    init_seconds = time.perf_counter() - started
    try:
        executor = RayExecutor()
        ray_vectors, first_seconds = common.timed(lambda: executor.encode(spec, texts))
        _, second_seconds = common.timed(lambda: executor.encode(spec, texts))
    finally:
        ray.shutdown()
    # Local again: on a shared machine the load drifts, and two local runs bracket the Ray runs.
    _, local_after_seconds = common.timed(lambda: LocalExecutor().encode(spec, texts))
    local_seconds = min(local_seconds, local_after_seconds)
    cosine = np.sum(local_vectors * ray_vectors, axis=1)
    local = rate(len(texts), local_seconds)
    result: dict[str, Any] = {
        "passages": len(texts),
        "model": common.model_info(model),
        "precision": args.precision,
        "ray_cpus": args.cpus,
        "local": local,  # the faster of the runs before and after Ray
        "local_runs_seconds": [round(local_before, 2), round(local_after_seconds, 2)],
        "ray_init_seconds": round(init_seconds, 2),
        "ray_first_job": rate(len(texts), first_seconds),
        "ray_second_job": rate(len(texts), second_seconds),
        "overhead": {
            "second_job_vs_local": round(second_seconds / local_seconds, 2),
            "fixed_seconds_estimate": round(second_seconds - local_seconds, 1),
        },
        "min_cosine": round(float(cosine.min()), 6),
    }
    common.emit(result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
