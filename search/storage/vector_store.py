"""Where an index keeps its vectors: the interface, and which store a build writes to.

Two implementations, one contract with SQLite (which stays the source of truth for passages, their ids, their
embeddings and the committed generation):
- FAISS (`search.storage.generations.FaissStore`): a file per generation in the index folder, the default;
- Milvus (`search.storage.milvus_store.MilvusStore`): a collection on a Milvus server, or a Milvus Lite file.

The writer (`search.storage.writer.IndexWriter`) drives either through the same four steps, so the write protocol
is not copied: `open` (the current generation's vectors, repaired from SQLite where they disagree), `stage` (the
next generation's vectors, inside the SQLite write transaction), `save` (made durable, yet invisible to readers
until SQLite commits), and `finish` (after the commit: what the old generation needed is removed). Readers reach
the vectors through `VectorSet`, whose `search` takes the allowed ids that SQLite resolved from filters.

The store an index uses is recorded in its manifest (`vector_store`, and for Milvus `milvus_uri` and
`milvus_collection`); `serve`, `search` and `status` follow the manifest. A build writes to the store named by
`use_vector_store(...)` (the command line's `--vector-store`) or $INDEXER_VECTOR_STORE, else the recorded one.
"""

from __future__ import annotations

import abc
import contextlib
import contextvars
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from search import settings as config
from search.storage.store import Store

FAISS, MILVUS = config.VECTOR_STORES
Exact = Callable[[Sequence[int]], dict[int, np.ndarray]]


class VectorSet(Protocol):
    """The vectors of one generation, as the dense leg searches them."""

    @property
    def index_type(self) -> str: ...

    @property
    def approximate(self) -> bool: ...

    def __len__(self) -> int: ...

    def ids(self) -> np.ndarray: ...

    def search(
        self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None, exact: Exact | None = None
    ) -> list[tuple[int, float]]: ...


@dataclass
class VectorCheck:
    """How the vectors of the current generation compare with the passages in SQLite."""

    generation: int
    file_present: bool
    agrees: bool
    detail: str


class VectorStore(abc.ABC):
    """One index's vectors in one kind of store; see the module docstring for the order of the steps."""

    kind: str
    # True when the next generation starts from the current one's vectors in the store itself (Milvus rows),
    # so the writer repairs them in place before staging; False when it writes a fresh copy (a FAISS file).
    repairs_in_place: bool = False

    @abc.abstractmethod
    def manifest_entries(self) -> dict[str, Any]:
        """What the manifest records so that readers open this store."""

    @abc.abstractmethod
    def open(self, store: Store, save_repair: bool) -> tuple[VectorSet, int, bool]:
        """The vectors of the store's current generation: (vectors, generation, repaired).

        Vectors that disagree with SQLite are rebuilt from SQLite's embeddings; `save_repair` (only under the
        write lock) also writes the repair back. Call inside `store.read_snapshot()` when others may write."""

    @abc.abstractmethod
    def stage(
        self,
        store: Store,
        current: VectorSet | None,
        generation: int,
        dimension: int,
        added: tuple[list[int], list[np.ndarray]],
        deleted_ids: list[int],
    ) -> VectorSet:
        """Generation `generation`'s vectors from `current` (None: all from SQLite, whose uncommitted writes this
        connection sees), nothing durable yet. Runs inside the write transaction."""

    @abc.abstractmethod
    def save(self, store: Store, vectors: VectorSet, generation: int) -> None:
        """Make `vectors` durable as `generation`, invisible to readers of the committed generation."""

    @abc.abstractmethod
    def finish(self, generation: int, deleted_ids: Sequence[int]) -> None:
        """After SQLite committed `generation`: remove what only older generations needed (or what a killed
        build left behind). Readers tolerate a crash before this step; the next writer repeats it."""

    @abc.abstractmethod
    def check(self, store: Store, generation: int) -> tuple[VectorCheck, int, list[str]]:
        """(agreement with SQLite, vectors visible, the store's files or collections) for `indexer status`."""

    def close(self) -> None:  # noqa: B027 - optional: only stores with connections override it
        """Release connections; nothing to do for a file."""


@dataclass(frozen=True)
class StoreChoice:
    """A build's request: which store, and for Milvus where (`uri`) and under which collection prefix."""

    kind: str
    milvus_uri: str | None = None
    milvus_collection: str | None = None

    def __post_init__(self) -> None:
        config.VECTOR_STORE.check(self.kind)


_requested: contextvars.ContextVar[StoreChoice | None] = contextvars.ContextVar("vector_store", default=None)


@contextlib.contextmanager
def use_vector_store(choice: StoreChoice) -> Iterator[StoreChoice]:
    """Builds inside this block write their vectors to `choice` (a context, not a parameter, for the same
    reason as search.models.executors.use_executor: the folder build does not pass it down yet)."""
    token = _requested.set(choice)
    try:
        yield choice
    finally:
        _requested.reset(token)


def requested_store(manifest: dict[str, Any]) -> StoreChoice:
    """The store the next build writes to: `use_vector_store`, else the environment, else the manifest's,
    else FAISS. Milvus settings not given keep the recorded ones."""
    chosen = _requested.get()
    if chosen is None:
        kind = config.VECTOR_STORE.value() if os.environ.get(str(config.VECTOR_STORE.env), "").strip() else None
        chosen = StoreChoice(kind or manifest.get("vector_store") or FAISS)
    if chosen.kind != MILVUS:
        return chosen
    recorded = manifest if manifest.get("vector_store") == MILVUS else {}
    return StoreChoice(
        MILVUS,
        milvus_uri=chosen.milvus_uri
        or _env(config.MILVUS_URI)
        or recorded.get("milvus_uri")
        or config.MILVUS_URI.default,
        milvus_collection=chosen.milvus_collection
        or _env(config.MILVUS_COLLECTION)
        or recorded.get("milvus_collection_prefix")
        or config.MILVUS_COLLECTION.default,
    )


def recorded_store(manifest: dict[str, Any]) -> StoreChoice:
    """The store the manifest names (an index built before stores existed is FAISS)."""
    kind = manifest.get("vector_store") or FAISS
    if kind != MILVUS:
        return StoreChoice(FAISS)
    return StoreChoice(MILVUS, manifest.get("milvus_uri"), manifest.get("milvus_collection_prefix"))


def _env(setting: config.Setting) -> str | None:
    return setting.value() if os.environ.get(str(setting.env), "").strip() else None


def lite_path(uri: str, index_dir: Path) -> Path | None:
    """The Milvus Lite file a URI names (a relative path lies inside the index folder), or None for a server."""
    if "://" in uri:
        return None
    path = Path(uri).expanduser()
    return path if path.is_absolute() else index_dir / path
