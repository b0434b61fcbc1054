"""The write protocol: the only code that changes an index directory.

Order of work, chosen so that nothing already indexed can be lost:
1. everything that changed is read, chunked and encoded by the caller and here, outside any transaction;
2. in one SQLite transaction new passages are written, then vanished ones deleted, then the generation bumped;
3. the new generation's FAISS file is written atomically, then SQLite commits, then older FAISS files go.
A crash before the commit leaves the previous generation untouched; a crash after it leaves a FAISS file for
the new generation already on disk. Files a killed build leaves behind (a FAISS temporary file, the FAISS file
of a generation that never committed, the previous generation's file) are removed by the next writer, which
holds the lock, so nobody else can be writing them. `search.storage.crashpoints` names the steps above so
tests can SIGKILL a build at each of them.

Any writer (the folder build, a future upload endpoint or distributed executor) hands its changes to
`IndexWriter.commit` and so inherits these guarantees instead of copying them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from search.documents import Document, Passage
from search.errors import IndexLockedError
from search.models.executors import current_executor
from search.models.spec import EncoderSpec
from search.storage.crashpoints import pause_point
from search.storage.generations import vector_store_for
from search.storage.schema import ALL_GROUP, SCHEMA_VERSION
from search.storage.store import Store, StoredDocument
from search.storage.vector_store import VectorSet, recorded_store, requested_store

LOCK_NAME = "build.lock"
KEYWORD_TOKENIZER = "cjk-bigram"

Progress = Callable[[int, str, str], Callable[[int], None]]


@contextlib.contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """One writer per index; a second one fails at once instead of waiting or interleaving."""
    index_dir.mkdir(parents=True, exist_ok=True)
    handle = open(index_dir / LOCK_NAME, "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexLockedError(
                f"Another build is writing {index_dir} right now; wait for it to finish and run again"
            ) from exc
        yield
    finally:
        handle.close()


def passage_hash(passage: Passage) -> str:
    """Identity of a passage's embedding input: equal hashes share one vector (re-used, not re-encoded)."""
    return hashlib.sha256(passage.embedding_text().encode("utf-8")).hexdigest()


@dataclass
class DocumentChange:
    """A new or changed document, extracted and chunked, waiting to be written."""

    path: str
    content_hash: str
    document: Document
    passages: list[Passage]
    size: int  # of the bytes read
    mtime: float
    hashes: list[str] = field(init=False)
    groups: list[str] = field(default_factory=lambda: [ALL_GROUP])  # access control: who may read it

    def __post_init__(self) -> None:
        self.hashes = [passage_hash(p) for p in self.passages]


@dataclass
class Changeset:
    """Everything one write applies, decided by the caller from what it read."""

    changed: list[DocumentChange] = field(default_factory=list)
    touched: list[tuple[int, float]] = field(default_factory=list)  # (document id, new mtime): same content
    removed: list[StoredDocument] = field(default_factory=list)  # gone from the source
    stale: list[StoredDocument] = field(default_factory=list)  # unreadable now and encoded by another model
    # Access control: (document id, groups) for kept documents whose groups the rules now set differently (no
    # re-encoding, no new generation: reads restrict by groups in SQLite), and manifest entries to record with
    # them (the rules' hash). Applied in the same transaction as everything else.
    relabel: list[tuple[int, list[str]]] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not (self.changed or self.removed or self.stale)


@dataclass
class WriteReport:
    """What a commit did, in the counts a build summary shows."""

    generation: int = 0
    files_indexed: int = 0
    files_removed: int = 0
    passages_added: int = 0
    passages_removed: int = 0
    passages_reused: int = 0
    passages_encoded: int = 0
    vectors_repaired: bool = False


class IndexWriter:
    """Holds an index's write lock and applies changesets with the protocol above.

    Use as a context manager: entering takes the lock (IndexLockedError if another writer has it) and opens
    or creates the SQLite store; leaving releases both.
    """

    def __init__(self, index_dir: Path, encoder: EncoderSpec, chunker: dict[str, Any]) -> None:
        self.index_dir = index_dir
        self.encoder = encoder
        self.settings = {"model": encoder.model, "max_length": encoder.max_length, "chunker": chunker}
        self._stack = contextlib.ExitStack()
        self.store: Store | None = None

    def __enter__(self) -> IndexWriter:
        self._stack.enter_context(write_lock(self.index_dir))
        store = Store(self.index_dir, create=True)
        self._stack.callback(store.close)
        self.store = store
        self.manifest = store.manifest()
        # Scaling (issue #13): the vectors go to the store this build asks for (FAISS or Milvus), see
        # search.storage.vector_store; every step below reaches them only through it.
        self.vector_store = vector_store_for(self.index_dir, requested_store(self.manifest), self.manifest)
        self._stack.callback(self.vector_store.close)
        return self

    def __exit__(self, *exc: object) -> None:
        self.store = None
        self._stack.close()

    def _open_store(self) -> Store:
        if self.store is None:
            raise RuntimeError("IndexWriter is used outside its `with` block")
        return self.store

    @property
    def is_new(self) -> bool:
        """No build has committed into this index yet."""
        return not self.manifest.get("model")

    def full_rebuild_reason(self) -> str | None:
        """Why every passage must be re-chunked and re-encoded (settings changed), or None."""
        if self.is_new:
            return None
        changed = [key for key, value in self.settings.items() if self.manifest.get(key) != value]
        if not changed:
            return None
        shown = ", ".join(f"{k}: {self.manifest.get(k)!r} -> {self.settings[k]!r}" for k in changed)
        return f"settings changed ({shown})"

    @property
    def vector_store_changed(self) -> bool:
        """The vectors move to another store (FAISS <-> Milvus, another Milvus): copied from SQLite's embeddings,
        nothing re-encoded."""
        return not self.is_new and recorded_store(self.manifest) != requested_store(self.manifest)

    @property
    def model_changed(self) -> bool:
        """Stored vectors come from another model (or input length) and cannot be re-used."""
        return not self.is_new and any(self.manifest.get(k) != self.settings[k] for k in ("model", "max_length"))

    def existing(self) -> dict[str, StoredDocument]:
        return self._open_store().documents_by_path()

    def labels(self) -> list[tuple[int, str, list[str], list[str]]]:
        """Access control: (id, path, tags, groups) of every stored document, for re-labelling."""
        return self._open_store().document_labels()

    def commit(self, changes: Changeset, progress: Progress | None = None) -> WriteReport:
        """Apply `changes` as one new generation (or, when nothing changed, check and repair the current one)."""
        store = self._open_store()
        report = WriteReport()
        if changes.is_empty() and not self.is_new and not self.vector_store_changed:
            vectors, generation, report.vectors_repaired = self.vector_store.open(store, save_repair=True)
            if changes.touched or changes.relabel or changes.manifest:
                with store.write_transaction():
                    for document_id, mtime in changes.touched:
                        store.touch_document(document_id, mtime)
                    _apply_access(store, changes)
            self.vector_store.finish(generation, [])  # leftovers of a killed build
            report.generation = generation
            return report

        model_changed = self.model_changed
        vectors: VectorSet | None = None
        if not (model_changed or self.is_new or self.vector_store_changed):
            # A store that carries its vectors over (Milvus) is repaired in place, under this writer's lock.
            repair = self.vector_store.repairs_in_place
            vectors, _, report.vectors_repaired = self.vector_store.open(store, save_repair=repair)
        embeddings = self._encode_missing(store, changes.changed, not model_changed, report, progress)
        pause_point("encoded")

        generation = int(self.manifest.get("generation", 0)) + 1
        with store.write_transaction():
            added_ids, added_vecs, deleted_ids = self._write(store, changes.changed, embeddings, report)
            for document_id, mtime in changes.touched:
                store.touch_document(document_id, mtime)
            for doc in [*changes.removed, *changes.stale]:
                deleted_ids.extend(store.delete_document(doc.id))
            _apply_access(store, changes)
            report.files_removed = len(changes.removed)
            report.passages_removed += len(deleted_ids)
            info = self.encoder.get().info
            store.set_manifest(
                {
                    "schema_version": SCHEMA_VERSION,
                    **self.settings,
                    "dimension": info.dimension,
                    "pooling": info.pooling,
                    "normalization": info.normalization,
                    "keyword_tokenizer": KEYWORD_TOKENIZER,
                    "generation": generation,
                    "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                }
            )
            vectors = self.vector_store.stage(
                store, vectors, generation, info.dimension, (added_ids, added_vecs), deleted_ids
            )
            store.set_manifest({"index_type": vectors.index_type, **self.vector_store.manifest_entries()})
            pause_point("sqlite-written")
            self.vector_store.save(store, vectors, generation)
            pause_point("faiss-saved")  # the next generation's vectors are in place (a file, or Milvus rows)
        pause_point("committed")
        self.vector_store.finish(generation, deleted_ids)
        self.manifest = store.manifest()
        report.generation = generation
        return report

    def _encode_missing(
        self,
        store: Store,
        changed: list[DocumentChange],
        reuse: bool,
        report: WriteReport,
        progress: Progress | None,
    ) -> dict[str, np.ndarray]:
        """Embeddings for every passage hash: re-used from the index when the text is known, else encoded."""
        texts: dict[str, str] = {}
        for item in changed:
            for passage, h in zip(item.passages, item.hashes, strict=True):
                texts.setdefault(h, passage.embedding_text())
        encoder = self.encoder.get()
        known = store.embeddings_by_hash(texts, encoder.dimension) if reuse else {}
        missing = [h for h in texts if h not in known]
        if missing:
            advance = progress(len(missing), "encoding", "passages") if progress else None
            # Local, or a Ray Data job (search.models.executors); the results are committed here either way.
            vectors = current_executor().encode(self.encoder, [texts[h] for h in missing], progress=advance)
            known.update(zip(missing, vectors, strict=True))
        report.passages_encoded = len(missing)
        return known

    def _write(
        self, store: Store, changed: list[DocumentChange], embeddings: dict[str, np.ndarray], report: WriteReport
    ) -> tuple[list[int], list[np.ndarray], list[int]]:
        """New passages are inserted before vanished ones are deleted; kept passages keep their ids."""
        added_ids: list[int] = []
        added_vecs: list[np.ndarray] = []
        deleted_ids: list[int] = []
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        model_changed = self.model_changed
        existing = set(store.documents_by_path())
        for item in changed:
            doc = item.document
            known = item.path in existing
            document_id = store.upsert_document(
                {
                    "path": item.path,
                    "title": doc.title,
                    "format": doc.format,
                    "encoding": doc.encoding,
                    "size": item.size,
                    "mtime": item.mtime,
                    "content_hash": item.content_hash,
                    "tags": doc.tags,
                    "text": doc.text,
                    "indexed_at": now,
                    "groups": item.groups,
                }
            )
            old: dict[str, list[int]] = {}
            if known:
                for stored in store.document_passages(document_id):
                    old.setdefault(stored.content_hash, []).append(stored.id)
            if model_changed:
                old_ids = [i for ids in old.values() for i in ids]
                store.delete_passages(old_ids)
                deleted_ids.extend(old_ids)
                old = {}
            for passage, h in zip(item.passages, item.hashes, strict=True):
                if old.get(h):
                    store.move_passage(
                        old[h].pop(0), passage.ordinal, passage.start, passage.end, passage.heading, passage.text
                    )
                    report.passages_reused += 1
                    continue
                passage_id = store.insert_passage(
                    document_id,
                    passage.ordinal,
                    passage.heading,
                    passage.text,
                    passage.start,
                    passage.end,
                    h,
                    embeddings[h],
                )
                added_ids.append(passage_id)
                added_vecs.append(embeddings[h])
                report.passages_added += 1
            vanished = [i for ids in old.values() for i in ids]
            store.delete_passages(vanished)
            deleted_ids.extend(vanished)
            report.files_indexed += 1
        report.passages_reused += report.passages_added - report.passages_encoded
        return added_ids, added_vecs, deleted_ids


def _apply_access(store: Store, changes: Changeset) -> None:
    """Access control: new groups of kept documents, and the manifest entries that go with them."""
    for document_id, groups in changes.relabel:
        store.set_document_groups(document_id, groups)
    if changes.manifest:
        store.set_manifest(changes.manifest)
