"""Where the passages of a build are encoded: in the building process, or as a Ray Data job on a cluster.

Why an abstraction: encoding is the one step of a build that outgrows a machine (Sentence-T5 base encodes ~50
passages/s per CPU process; ten million passages take days), while discovery, change detection and the write
protocol must stay in one process with one writer. So `search.storage.writer.IndexWriter._encode_missing` asks
an `EncodingExecutor` for the vectors of the texts SQLite says are missing and commits them itself, whatever
encoded them: the lock, the transaction and the crash-safety order are never copied.

- `LocalExecutor`: today's `Encoder.encode` in this process (the default).
- `RayExecutor` (`search.models.ray_executor`, optional extra `[ray]`): `map_batches` over an actor pool,
  one encoder per actor, one GPU per actor where the cluster has GPUs.

A build picks its executor from `use_executor(...)` (the command line's `--executor`), else from the
`executor` setting ($INDEXER_EXECUTOR); see `current_executor`.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np

from search import settings as config
from search.models.spec import EncoderSpec

Progress = Callable[[int], None]


class EncodingExecutor(Protocol):
    """Encodes texts with the model an `EncoderSpec` names; rows of the result follow the input order."""

    name: str

    def prepare(self, spec: EncoderSpec) -> threading.Thread | None:
        """Start, in the background, what encoding will need; called once a build knows it will encode."""
        ...

    def encode(self, spec: EncoderSpec, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


class LocalExecutor:
    """The encoder of this process (loaded once through the spec), exactly as before executors existed."""

    name = "local"

    def prepare(self, spec: EncoderSpec) -> threading.Thread | None:
        """Load the weights in a background thread while the build still reads and chunks files: ~2 s (the
        weights, and int8 quantization) that a build would otherwise spend before its first forward pass
        (issue #16's time outside the forward pass). The first `encode` waits for it under the encoder's lock.

        Not when the backend is still to be calibrated: the calibration times candidates against each other
        and must not share the CPU with the build's reading. A load that fails here is not reported from
        this thread: the first `encode` loads again and raises the same error itself, naming the model,
        exactly as without the preload."""
        if spec.get().backend_choice is None:
            return None

        def load() -> None:
            try:
                _ = spec.get().model
            except Exception:  # noqa: BLE001 - raised again, and reported, by the first encode (docstring)
                return

        thread = threading.Thread(target=load, name="encoder-preload", daemon=True)
        thread.start()
        return thread

    def encode(self, spec: EncoderSpec, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        return spec.get().encode(list(texts), progress=progress)


def make_executor(name: str, ray_address: str | None = None) -> EncodingExecutor:
    """The executor called `name` (search.settings.EXECUTOR's choices); Ray is imported only when chosen."""
    config.EXECUTOR.check(name)
    if name == "ray":
        from search.models.ray_executor import RayExecutor

        return RayExecutor(address=ray_address)
    return LocalExecutor()


_chosen: contextvars.ContextVar[EncodingExecutor | None] = contextvars.ContextVar("encoding_executor", default=None)


@contextlib.contextmanager
def use_executor(executor: EncodingExecutor) -> Iterator[EncodingExecutor]:
    """Builds inside this block (in this thread or task) encode with `executor`.

    A context rather than a parameter because the folder build (`search.Index.build` ->
    `search.ingest.build`) does not pass an executor down to the writer yet; the writer asks
    `current_executor()`.
    """
    token = _chosen.set(executor)
    try:
        yield executor
    finally:
        _chosen.reset(token)


def current_executor() -> EncodingExecutor:
    """The executor of the enclosing `use_executor`, else the one the `executor` and `ray_address` settings
    name (their environment variables), else local encoding."""
    chosen = _chosen.get()
    if chosen is not None:
        return chosen
    return make_executor(config.EXECUTOR.value(), config.RAY_ADDRESS.value())
