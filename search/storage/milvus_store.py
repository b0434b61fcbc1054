"""Vectors in Milvus (optional extra `[milvus]`), kept consistent with SQLite generations.

`pymilvus.MilvusClient(uri)` reaches a Milvus Standalone or Distributed server (`http://host:19530`) or a Milvus
Lite file (tests, one machine; a Lite file is opened by one process at a time). Keyword search, filters and
the passages themselves stay in SQLite; Milvus holds one row per passage:
`id` (the SQLite passage id, primary key), `generation` (the build that wrote the row) and `vector`.

How a build stays atomic although Milvus and SQLite commit separately:
- Rows of generation G+1 are written before SQLite commits G+1, and every search filters
  `generation <= committed generation`, so readers of G never see them; a build killed before its commit leaves
  rows that no reader sees, and the next writer (holding the lock) deletes every row newer than the committed
  generation before it writes.
- Rows of passages deleted by G+1 are deleted after SQLite commits G+1 (`finish`). Until then readers of G+1 can
  get such ids from Milvus: the dense leg looks every hit up in SQLite (`exact`, which also gives the exact
  cosine) and drops ids SQLite no longer has. A build killed before `finish` leaves them; the next writer
  finds Milvus disagreeing with SQLite and deletes them.
- A full rebuild (first build, another model, or a switch from FAISS) writes a new collection
  `<prefix>_g<generation>`; the manifest names the current one, so readers switch at the commit, and the
  writer drops the others afterwards (or the next writer does).
A reader that finds fewer rows than SQLite has passages (the collection damaged or dropped by hand) searches
an in-memory FAISS index rebuilt from SQLite instead, as with a missing FAISS file, and `status` says so.
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import SearchError
from search.storage.store import Store
from search.storage.vector_store import MILVUS, Exact, StoreChoice, VectorCheck, VectorSet, VectorStore, lite_path
from search.storage.vectors import VectorIndex, choose_index_type

ID, GENERATION, VECTOR = "id", "generation", "vector"
INDEX_TYPE = "milvus-flat"  # exact inner product; a server can use HNSW/IVF/DiskANN (docs/scaling.md)
WRITE_BATCH = 2_000
IDS_PER_FILTER = 16_384  # `id in [...]` terms per expression: Milvus parses the expression on every search
NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,200}$")
# pymilvus warns on every query iterator that Milvus Lite has no MVCC timestamp to give; nothing to act on.
logging.getLogger("pymilvus.client.iterator.query_iterator").setLevel(logging.ERROR)
_clients: dict[str, list[Any]] = {}  # target -> [client, users]
_clients_lock = threading.Lock()


def _target(uri: str, index_dir: Path) -> str:
    path = lite_path(uri, index_dir)
    return str(path) if path is not None else uri


def connect(uri: str, index_dir: Path) -> Any:
    """One MilvusClient per URI in this process, counted: a Milvus Lite file admits one process at a time, so
    the last user's `disconnect` closes it and another process (the next build, a server) can open it."""
    with _clients_lock:
        entry = _clients.get(_target(uri, index_dir))
        if entry is None:
            entry = _clients[_target(uri, index_dir)] = [_open(uri, index_dir), 0]
        entry[1] += 1
        return entry[0]


def disconnect(uri: str, index_dir: Path) -> None:
    with _clients_lock:
        target = _target(uri, index_dir)
        entry = _clients.get(target)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] <= 0:
            del _clients[target]
            entry[0].close()
            if lite_path(uri, index_dir) is not None:
                # Closing the client leaves Milvus Lite's in-process server holding the file's lock until exit.
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(target)


def _open(uri: str, index_dir: Path) -> Any:
    path = lite_path(uri, index_dir)
    target = _target(uri, index_dir)
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise SearchError(
            "the milvus vector store needs pymilvus: pip install 'jp-docsearch[milvus]' (or '.[milvus]' here)"
        ) from exc
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        client = MilvusClient(target)
    except Exception as exc:  # pymilvus raises its own and grpc errors; all mean "cannot open"
        where = f"the Milvus Lite file {path}" if path is not None else f"the Milvus server at {uri}"
        hint = (
            "a Milvus Lite file is opened by one process at a time: stop the other process (a server or a "
            "build) or use a Milvus server (milvus_uri http://HOST:19530)"
            if path is not None
            else "check milvus_uri and that the server is running"
        )
        raise SearchError(f"cannot open {where} ({type(exc).__name__}: {exc}); {hint}") from exc
    return client


class MilvusVectors:
    """The rows of one collection visible at one generation; searched in Milvus, checked against SQLite."""

    approximate = False

    def __init__(self, owner: MilvusStore, collection: str, generation: int, count: int) -> None:
        self.owner = owner
        self.collection = collection
        self.generation = generation
        self.count = count
        # Staged, not yet saved: a new collection filled from SQLite, or rows added to the current one.
        self.fill_from_sqlite = False
        self.pending: tuple[list[int], list[np.ndarray]] = ([], [])

    @property
    def index_type(self) -> str:
        return INDEX_TYPE

    def __len__(self) -> int:
        return self.count

    def ids(self) -> np.ndarray:
        return self.owner.collection_ids(self.collection, f"{GENERATION} <= {self.generation}")

    def search(
        self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None, exact: Exact | None = None
    ) -> list[tuple[int, float]]:
        """Top-k (id, cosine) among rows of this generation (and `allowed_ids`); with `exact`, hits SQLite no
        longer has are dropped (deleted by a newer generation, not yet removed from Milvus) and scores are
        SQLite's float32 inner products, the same as FAISS gives."""
        if self.count == 0 or k <= 0 or (allowed_ids is not None and len(allowed_ids) == 0):
            return []
        vector = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        wanted = min(16_384, k + 16)  # a few spare hits for ids dropped below
        hits: dict[int, float] = {}
        for expression in self._filters(allowed_ids):
            found = self.owner.client.search(
                self.collection, data=[vector], limit=wanted, filter=expression, output_fields=[ID]
            )
            for hit in found[0]:
                hits[int(hit[ID])] = float(hit["distance"])
        if exact is not None and hits:
            stored = exact(list(hits))
            flat = np.asarray(query, dtype=np.float32).reshape(-1)
            hits = {i: float(stored[i] @ flat) for i in hits if i in stored}
        return sorted(hits.items(), key=lambda hit: (-hit[1], hit[0]))[:k]

    def _filters(self, allowed_ids: np.ndarray | None) -> Iterator[str]:
        visible = f"{GENERATION} <= {self.generation}"
        if allowed_ids is None:
            yield visible
            return
        allowed = np.unique(np.asarray(allowed_ids, dtype=np.int64))
        for start in range(0, len(allowed), IDS_PER_FILTER):
            part = ",".join(str(int(i)) for i in allowed[start : start + IDS_PER_FILTER])
            yield f"{visible} and {ID} in [{part}]"


class MilvusStore(VectorStore):
    """An index's vectors in Milvus collections named `<prefix>_g<generation of their full build>`."""

    kind = MILVUS
    repairs_in_place = True

    def __init__(self, index_dir: Path, choice: StoreChoice, manifest: dict[str, Any]) -> None:
        self.index_dir = index_dir
        self.uri = choice.milvus_uri or "milvus.db"
        self.prefix = choice.milvus_collection or "passages"
        if not NAME_PATTERN.match(self.prefix):
            raise SearchError(
                f"milvus_collection {self.prefix!r} is not a valid Milvus collection name: use letters, digits "
                "and underscores, starting with a letter or underscore"
            )
        same = manifest.get("vector_store") == MILVUS and manifest.get("milvus_uri") == self.uri
        self.collection: str | None = manifest.get("milvus_collection") if same else None
        self._client: Any = None
        self._release: weakref.finalize | None = None

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = connect(self.uri, self.index_dir)
            # Released with this object too: a searcher drops a generation's vectors without closing them.
            self._release = weakref.finalize(self, disconnect, self.uri, self.index_dir)
        return self._client

    def manifest_entries(self) -> dict[str, Any]:
        return {
            "vector_store": MILVUS,
            "milvus_uri": self.uri,
            "milvus_collection_prefix": self.prefix,
            "milvus_collection": self.collection,
        }

    # -- reading ------------------------------------------------------------------------------------------

    def visible_count(self, collection: str, generation: int) -> int:
        rows = self.client.query(collection, filter=f"{GENERATION} <= {generation}", output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def collection_ids(self, collection: str, expression: str) -> np.ndarray:
        parts = [np.zeros(0, dtype=np.int64)]
        self.client.load_collection(collection)  # a reopened Milvus Lite file starts with collections released
        iterator = self.client.query_iterator(collection, batch_size=8_192, filter=expression, output_fields=[ID])
        try:
            while batch := iterator.next():
                parts.append(np.fromiter((int(row[ID]) for row in batch), dtype=np.int64, count=len(batch)))
        finally:
            iterator.close()
        return np.concatenate(parts)

    def _usable(self) -> bool:
        if not self.collection or not self.client.has_collection(self.collection):
            return False
        self.client.load_collection(self.collection)
        return True

    def open(self, store: Store, save_repair: bool) -> tuple[VectorSet, int, bool]:
        generation = store.generation()
        dimension = int(store.manifest().get("dimension", 0))
        passages = store.counts()["passages"]
        if save_repair:
            return self._repair(store, generation, dimension, passages)
        if self._usable():
            assert self.collection is not None
            count = self.visible_count(self.collection, generation)
            # More rows than passages: deletions not yet applied, dropped at search time (module docstring).
            if count >= passages:
                return MilvusVectors(self, self.collection, generation, passages), generation, False
        return _from_sqlite(store, dimension), generation, True

    def _repair(self, store: Store, generation: int, dimension: int, passages: int) -> tuple[VectorSet, int, bool]:
        """Under the write lock: make the collection hold exactly SQLite's passages at `generation`."""
        self.drop_other_collections()
        if not self._usable():
            self.collection = self._new_collection(generation, dimension)
            self._insert(self.collection, store.iter_embeddings(), generation)
            self.client.flush(self.collection)
            return MilvusVectors(self, self.collection, generation, passages), generation, passages > 0
        assert self.collection is not None
        self.client.delete(self.collection, filter=f"{GENERATION} > {generation}")  # a killed build's rows
        repaired = False
        if self.visible_count(self.collection, generation) != passages:
            in_milvus = self.collection_ids(self.collection, f"{GENERATION} <= {generation}")
            in_sqlite = store.passage_ids()
            extra = np.setdiff1d(in_milvus, in_sqlite)
            missing = np.setdiff1d(in_sqlite, in_milvus)
            for start in range(0, len(extra), WRITE_BATCH):
                self.client.delete(self.collection, ids=[int(i) for i in extra[start : start + WRITE_BATCH]])
            if len(missing):
                stored = store.embeddings_for([int(i) for i in missing])
                ids = np.fromiter(stored, dtype=np.int64, count=len(stored))
                self._insert(self.collection, iter([(ids, np.vstack(list(stored.values())))]), generation)
            repaired = True
        self.client.flush(self.collection)
        return MilvusVectors(self, self.collection, generation, passages), generation, repaired

    # -- writing --------------------------------------------------------------------------------------------

    def stage(
        self,
        store: Store,
        current: VectorSet | None,
        generation: int,
        dimension: int,
        added: tuple[list[int], list[np.ndarray]],
        deleted_ids: list[int],
    ) -> VectorSet:
        if not isinstance(current, MilvusVectors) or current.collection != self.collection:
            self.collection = f"{self.prefix}_g{generation}"
            staged = MilvusVectors(self, self.collection, generation, store.counts()["passages"])
            staged.fill_from_sqlite = True
            return staged
        staged = MilvusVectors(self, current.collection, generation, store.counts()["passages"])
        staged.pending = added
        return staged

    def save(self, store: Store, vectors: VectorSet, generation: int) -> None:
        if not isinstance(vectors, MilvusVectors):
            raise TypeError(f"MilvusStore.save got {type(vectors).__name__}")
        if vectors.fill_from_sqlite:
            if self.client.has_collection(vectors.collection):  # left by a build killed before its commit
                self.client.drop_collection(vectors.collection)
            self._new_collection(generation, int(store.manifest()["dimension"]), vectors.collection)
            self._insert(vectors.collection, store.iter_embeddings(), generation)
        else:
            ids, rows = vectors.pending
            if ids:
                rows_in = iter([(np.asarray(ids, dtype=np.int64), np.vstack(rows))])
                self._insert(vectors.collection, rows_in, generation)
        # Sealed and persisted before SQLite commits; unflushed rows are also searched by brute force in Milvus
        # Lite (4 s instead of 0.1 s per query at 20,000 rows, benchmarks/README.md).
        self.client.flush(vectors.collection)

    def finish(self, generation: int, deleted_ids: Sequence[int]) -> None:
        self.drop_other_collections()
        if self.collection and deleted_ids:
            for start in range(0, len(deleted_ids), WRITE_BATCH):
                self.client.delete(self.collection, ids=[int(i) for i in deleted_ids[start : start + WRITE_BATCH]])
            self.client.flush(self.collection)

    def drop_other_collections(self) -> None:
        """Collections of this index (its prefix) other than the current one: older full builds, or a killed
        build's new collection."""
        own = re.compile(rf"^{re.escape(self.prefix)}_g\d+$")
        for name in self.client.list_collections():
            if own.match(name) and name != self.collection:
                self.client.drop_collection(name)

    def _new_collection(self, generation: int, dimension: int, name: str | None = None) -> str:
        from pymilvus import DataType

        name = name or f"{self.prefix}_g{generation}"
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field(ID, DataType.INT64, is_primary=True)
        schema.add_field(GENERATION, DataType.INT64)
        schema.add_field(VECTOR, DataType.FLOAT_VECTOR, dim=dimension)
        index = self.client.prepare_index_params()
        index.add_index(field_name=VECTOR, index_type="FLAT", metric_type="IP")
        # Strong: a search right after a commit sees the rows written before it.
        self.client.create_collection(name, schema=schema, index_params=index, consistency_level="Strong")
        self.client.load_collection(name)
        return name

    def _insert(self, collection: str, batches: Iterator[tuple[np.ndarray, np.ndarray]], generation: int) -> None:
        """Upsert, so that writing a row again (a repair, a retried build) replaces it instead of doubling it."""
        for ids, vectors in batches:
            for start in range(0, len(ids), WRITE_BATCH):
                rows = [
                    {ID: int(i), GENERATION: generation, VECTOR: v.tolist()}
                    for i, v in zip(ids[start : start + WRITE_BATCH], vectors[start : start + WRITE_BATCH], strict=True)
                ]
                self.client.upsert(collection, rows)

    # -- status ---------------------------------------------------------------------------------------------

    def check(self, store: Store, generation: int) -> tuple[VectorCheck, int, list[str]]:
        names = sorted(n for n in self.client.list_collections() if n.startswith(f"{self.prefix}_g"))
        if not self._usable():
            agrees = generation == 0 and store.counts()["passages"] == 0
            detail = (
                "empty index: no build has committed yet"
                if agrees
                else f"Milvus collection {self.collection} is missing"
            )
            return VectorCheck(generation, False, agrees, detail), 0, names
        assert self.collection is not None
        in_milvus = self.collection_ids(self.collection, f"{GENERATION} <= {generation}")
        in_sqlite = store.passage_ids()
        if len(in_milvus) != len(in_sqlite):
            detail = f"SQLite has {len(in_sqlite)} passages, Milvus has {len(in_milvus)} vectors"
            return VectorCheck(generation, True, False, detail), len(in_milvus), names
        if not np.array_equal(np.sort(in_milvus), np.sort(in_sqlite)):
            return (
                VectorCheck(generation, True, False, "SQLite passage ids and Milvus ids differ"),
                len(in_milvus),
                names,
            )
        return VectorCheck(generation, True, True, "SQLite and Milvus agree"), len(in_milvus), names

    def close(self) -> None:
        if self._release is not None:
            self._client = None
            self._release()
            self._release = None


def _from_sqlite(store: Store, dimension: int) -> VectorIndex:
    """In-memory FAISS vectors from SQLite's embeddings: what a reader searches while Milvus lacks rows."""
    count = store.counts()["passages"]
    return VectorIndex.build(dimension, store.iter_embeddings, count, index_type=choose_index_type(count))
