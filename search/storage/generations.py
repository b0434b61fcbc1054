"""Open an index directory's vectors consistently with its SQLite generation, and report its health.

The FAISS store (`FaissStore`) lives here; `vector_store_for` picks the store a manifest records or a build
requests (search.storage.vector_store describes the interface, search.storage.milvus_store the Milvus one).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import IndexNotFoundError
from search.storage.schema import DB_NAME
from search.storage.store import Store
from search.storage.vector_store import (
    FAISS,
    MILVUS,
    StoreChoice,
    VectorCheck,
    VectorSet,
    VectorStore,
    recorded_store,
)
from search.storage.vectors import (
    INDEX_TYPE,
    VectorIndex,
    choose_index_type,
    remove_other_generations,
    vector_files,
    vectors_path,
)

__all__ = ["VectorCheck", "check_vectors", "open_vectors", "rebuild_vectors", "vector_store_for"]


def check_vectors(store: Store, vectors: VectorIndex | None, generation: int) -> VectorCheck:
    if vectors is None:
        if generation == 0 and store.counts()["passages"] == 0:
            # A first build that stopped before its commit leaves empty tables and, rightly, no FAISS file.
            return VectorCheck(generation, False, True, "empty index: no build has committed yet")
        return VectorCheck(generation, False, False, f"vectors.{generation}.faiss is missing or unreadable")
    stored_ids = store.passage_ids()
    faiss_ids = vectors.ids()
    if len(stored_ids) != len(faiss_ids):
        return VectorCheck(
            generation, True, False, f"SQLite has {len(stored_ids)} passages, FAISS has {len(faiss_ids)} vectors"
        )
    if not np.array_equal(np.sort(stored_ids), np.sort(faiss_ids)):
        return VectorCheck(generation, True, False, "SQLite passage ids and FAISS ids differ")
    return VectorCheck(generation, True, True, "SQLite and FAISS agree")


def load_vectors(path: Path) -> VectorIndex | None:
    """The FAISS file at `path`, or None when it is missing or unreadable.

    A reader whose snapshot still shows generation N can find vectors.N.faiss deleted between its check and
    its read (a build committed N+1 and cleaned up): faiss then raises RuntimeError. Treated as missing,
    the caller rebuilds the vectors from SQLite instead of failing the search.
    """
    try:
        return VectorIndex.load(path) if path.is_file() else None
    except (RuntimeError, OSError):
        return None


def rebuild_vectors(store: Store, dimension: int) -> VectorIndex:
    """From the embeddings stored in SQLite: no re-encoding needed.

    The index type follows the passage count (search.storage.vectors.choose_index_type, with the manifest's current
    type for hysteresis); an IVF index reads the embeddings twice (training sample, then all) rather than
    holding them all in memory.
    """
    count = store.counts()["passages"]
    current = choose_index_type(count, store.manifest().get("index_type"))
    return VectorIndex.build(dimension, store.iter_embeddings, count, index_type=current)


def open_vectors(store: Store, index_dir: Path, save_repair: bool) -> tuple[VectorSet, int, bool]:
    """The vectors of the store's current generation, in the store its manifest records (FAISS or Milvus):
    (vectors, generation, repaired). See `open_faiss` and search.storage.milvus_store for the repairs."""
    manifest = store.manifest()
    if recorded_store(manifest).kind == FAISS:
        return open_faiss(store, index_dir, save_repair)
    backend = vector_store_for(index_dir, recorded_store(manifest), manifest)
    return backend.open(store, save_repair)


def open_faiss(store: Store, index_dir: Path, save_repair: bool) -> tuple[VectorIndex, int, bool]:
    """The FAISS vectors of the store's current generation: (vectors, generation, repaired).

    A missing or disagreeing FAISS file is rebuilt from SQLite (and written back when `save_repair`), so a
    crash between the SQLite commit and the FAISS write never leaves an index that returns wrong passages.
    Call inside `store.read_snapshot()` when other processes may be writing.
    """
    manifest = store.manifest()
    generation = int(manifest.get("generation", 0))
    dimension = int(manifest.get("dimension", 0))
    vectors = load_vectors(vectors_path(index_dir, generation))
    if vectors is not None and check_vectors(store, vectors, generation).agrees:
        return vectors, generation, False
    vectors = rebuild_vectors(store, dimension)
    if save_repair:
        vectors.save(index_dir, generation)
    return vectors, generation, True


def read_manifest(index_dir: Path) -> dict[str, Any]:
    """The manifest of the index at `index_dir`, or {} when there is no index (yet) or no build committed."""
    if not (index_dir / DB_NAME).is_file():
        return {}
    try:
        store = Store(index_dir)
    except IndexNotFoundError:
        return {}
    try:
        return store.manifest()
    finally:
        store.close()


def index_status(index_dir: Path) -> dict[str, Any]:
    """Everything `indexer status` shows; read-only."""
    store = Store(index_dir)
    try:
        with store.read_snapshot():
            manifest = store.manifest()
            generation = int(manifest.get("generation", 0))
            backend = vector_store_for(index_dir, recorded_store(manifest), manifest)
            try:
                check, vector_count, files = backend.check(store, generation)
            finally:
                backend.close()
            counts = store.counts()
    finally:
        store.close()
    status = {
        "index": str(index_dir),
        "documents": counts["documents"],
        "passages": counts["passages"],
        "vectors": vector_count,
        "model": manifest.get("model"),
        "dimension": manifest.get("dimension"),
        "pooling": manifest.get("pooling"),
        "normalization": manifest.get("normalization"),
        "max_length": manifest.get("max_length"),
        "chunker": manifest.get("chunker"),
        "index_type": manifest.get("index_type", INDEX_TYPE),
        "generation": generation,
        "built_at": manifest.get("built_at"),
        "consistent": check.agrees,
        "consistency": check.detail,
        "vector_files": files,
    }
    if backend.kind == MILVUS:
        status.update(vector_store=MILVUS, milvus_uri=manifest.get("milvus_uri"), milvus_collections=files)
    status["encoder_backend"] = encoder_backend(status.get("model"))
    return status


class FaissStore(VectorStore):
    """Vectors in `vectors.<generation>.faiss` files in the index folder: the default store."""

    kind = FAISS

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = index_dir

    def manifest_entries(self) -> dict[str, Any]:
        return {"vector_store": FAISS}

    def open(self, store: Store, save_repair: bool) -> tuple[VectorSet, int, bool]:
        return open_faiss(store, self.index_dir, save_repair)

    def stage(
        self,
        store: Store,
        current: VectorSet | None,
        generation: int,
        dimension: int,
        added: tuple[list[int], list[np.ndarray]],
        deleted_ids: list[int],
    ) -> VectorSet:
        if not isinstance(current, VectorIndex):
            return rebuild_vectors(store, dimension)
        added_ids, added_vecs = added
        current.remove(deleted_ids)
        if added_ids:
            current.add(added_ids, np.vstack(added_vecs))
        if current.needs_rebuild():
            # The size crossed the approximate-index threshold, or an IVF index outgrew its lists.
            return rebuild_vectors(store, dimension)
        return current

    def save(self, store: Store, vectors: VectorSet, generation: int) -> None:
        if not isinstance(vectors, VectorIndex):
            raise TypeError(f"FaissStore.save got {type(vectors).__name__}")
        vectors.save(self.index_dir, generation)

    def finish(self, generation: int, deleted_ids: Sequence[int]) -> None:
        remove_other_generations(self.index_dir, keep=generation)  # and a killed build's leftovers

    def check(self, store: Store, generation: int) -> tuple[VectorCheck, int, list[str]]:
        vectors = load_vectors(vectors_path(self.index_dir, generation))
        files = sorted(p.name for p in vector_files(self.index_dir).values())
        return check_vectors(store, vectors, generation), len(vectors) if vectors is not None else 0, files


def vector_store_for(index_dir: Path, choice: StoreChoice, manifest: dict[str, Any]) -> VectorStore:
    """The store `choice` names for the index at `index_dir`; Milvus is imported only when named."""
    if choice.kind == MILVUS:
        from search.storage.milvus_store import MilvusStore

        return MilvusStore(index_dir, choice, manifest)
    return FaissStore(index_dir)


def encoder_backend(model: str | None) -> dict[str, str] | None:
    """The backend precision `auto` chose for this model on this CPU, from the machine's cache (the model is
    not loaded for it); None before the first search or build here with precision auto."""
    if not model:
        return None
    from search.models.backend import cached_choice  # torch: only when a status is asked for

    choice = cached_choice(model, "cpu")
    return None if choice is None else {"backend": choice.backend, "reason": choice.reason}
