"""Encoding as a Ray Data job: the one step of a build that runs beyond this machine (optional extra `[ray]`).

The building process keeps discovery, chunking, change detection and the commit; only the texts SQLite says need
vectors travel. They become a Ray dataset of (row, text) pairs; `map_batches` runs `EncodeActor` in an actor
pool (one encoder loaded per actor, then reused for every batch it receives; `num_gpus=1` per actor when the
cluster has GPUs, else one CPU each), and the results stream back through `iter_batches`, so Ray Data's
back-pressure keeps at most a few batches in flight per actor however large the build is. Each actor builds
the same `Encoder` (model, max_length, precision) as a local build, so the vectors are the same function of the
text (tests/test_ray_executor.py compares them with a local build).

Ray is imported when a Ray executor encodes, never by a default build or `make demo`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from search import settings as config
from search.errors import SearchError
from search.models.spec import EncoderSpec

ROW, TEXT, VECTOR = "row", "text", "vector"
Progress = Callable[[int], None]  # as search.models.executors.Progress (that module imports this one)


class EncodeActor:
    """One encoder per Ray actor: loading the weights costs seconds, so an actor keeps them for every batch."""

    def __init__(self, model: str, max_length: int, device: str, precision: str, batch_size: int) -> None:
        from search.models.encoder import Encoder

        self.encoder = Encoder(model, device=device, precision=precision, max_length=max_length, batch_size=batch_size)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        vectors = self.encoder.encode([str(text) for text in batch[TEXT]])
        return {ROW: np.asarray(batch[ROW], dtype=np.int64), VECTOR: vectors}


class RayExecutor:
    """Encodes on the Ray cluster at `address` (None: $RAY_ADDRESS, else the runtime this process already
    started with `ray.init`, else a new local one)."""

    name = "ray"

    def __init__(self, address: str | None = None, actors: int | None = None, rows_per_batch: int = 256) -> None:
        self.address = address
        self.actors = actors
        self.rows_per_batch = rows_per_batch

    def prepare(self, spec: EncoderSpec) -> None:
        """Nothing to start here: the actors load their own encoders when the job starts."""
        return None

    def encode(self, spec: EncoderSpec, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        ray = self._connect()
        out = np.zeros((len(texts), spec.get().dimension), dtype=np.float32)
        if not texts:
            return out
        gpus = int(ray.cluster_resources().get("GPU", 0))
        actors = self._pool_size(ray, gpus, len(texts))
        from ray import data as ray_data

        _quiet(ray_data.DataContext.get_current())
        dataset = ray_data.from_items([{ROW: i, TEXT: text} for i, text in enumerate(texts)])
        encoded = dataset.map_batches(
            EncodeActor,
            fn_constructor_kwargs={
                "model": spec.model,
                "max_length": spec.max_length,
                # Each actor decides for its own hardware: "auto" is CUDA on a GPU actor, CPU elsewhere.
                "device": spec.device,
                "precision": spec.precision,
                "batch_size": spec.batch_size,
            },
            batch_size=self.rows_per_batch,
            batch_format="numpy",
            # An actor pool of a fixed size (Ray >= 2.9; `concurrency=` is deprecated from 2.51).
            compute=ray_data.ActorPoolStrategy(size=actors),
            num_gpus=1 if gpus else 0,
            num_cpus=0 if gpus else 1,
        )
        seen = 0
        for batch in encoded.iter_batches(batch_size=None, batch_format="numpy"):
            rows = np.asarray(batch[ROW], dtype=np.int64)
            out[rows] = np.asarray(batch[VECTOR], dtype=np.float32)
            seen += len(rows)
            if progress is not None:
                progress(len(rows))
        if seen != len(texts):
            raise SearchError(f"the Ray encoding job returned {seen} vectors for {len(texts)} passages; run again")
        return out

    def _pool_size(self, ray: Any, gpus: int, count: int) -> int:
        """One actor per GPU, else one per CPU of the cluster; never more actors than batches to encode."""
        batches = max(1, -(-count // self.rows_per_batch))
        if self.actors is not None:
            return max(1, min(self.actors, batches))
        slots = gpus or int(ray.cluster_resources().get("CPU", 1))
        return max(1, min(slots, batches))

    def _connect(self) -> Any:
        try:
            import ray
        except ImportError as exc:
            raise SearchError(
                "the ray executor needs Ray: pip install 'jp-docsearch[ray]' (or '.[ray]' in a checkout)"
            ) from exc
        if ray.is_initialized():
            return ray
        address = self.address or os.environ.get("RAY_ADDRESS") or None
        try:
            ray.init(address=address, include_dashboard=False, logging_level="warning", log_to_driver=False)
        except ConnectionError as exc:
            raise SearchError(
                f"cannot reach the Ray cluster at {address} ({exc}); check {config.RAY_ADDRESS.name} "
                f"(${config.RAY_ADDRESS.env}) or start one with `ray start --head`"
            ) from exc
        return ray


def _quiet(context: Any) -> None:
    """Ray Data's progress bars, execution banners and statistics dumps off: the build shows its own progress,
    and `--json` output must stay one JSON object (the dumps otherwise reach the terminal through logging)."""
    context.enable_progress_bars = False
    context.enable_operator_progress_bars = False
    context.enable_auto_log_stats = False
    context.verbose_stats_logs = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
