"""Incremental build: a folder of documents into an index directory, one generation per run.

Order of work, chosen so that nothing already indexed can be lost:
1. read, extract, chunk and encode everything that changed, outside any transaction;
2. in one SQLite transaction write new passages, then delete vanished ones, then bump the generation;
3. write the new generation's FAISS file atomically, then commit, then delete older FAISS files.
A crash before the commit leaves the previous generation untouched; a crash after it leaves a FAISS file
for the new generation already on disk. Files a killed build leaves behind (a FAISS temporary file, the
FAISS file of a generation that never committed, the previous generation's file) are removed by the next
build, which holds the lock, so nobody else can be writing them. `search.storage.crashpoints` names the steps above
so tests can SIGKILL a build at each of them.

Every file the walk sees and does not index is reported, with a reason, under one of two headings:
- failed: a file we should have read but could not (unreadable, vanished or changed while being read,
  undecodable, corrupt or password-protected, a name that is not UTF-8, an unexpected parser error). The
  exit code is 1 and the file keeps whatever it had in the index, so a transient failure loses nothing;
- skipped: left out by policy (unsupported format, symbolic link not followed, over the size limit, not a
  regular file). The exit code stays 0; like an excluded file, it is not (or no longer) in the index.
An empty or whitespace-only file is neither: it is indexed, with 0 passages.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search.documents import Document, Passage
from search.errors import ExtractionError, IndexLockedError
from search.ingest.chunk import ChunkSettings, chunk_document
from search.ingest.discover import FoundFile, check_root, discover_files
from search.ingest.extract import extract_bytes
from search.storage.crashpoints import pause_point
from search.storage.generations import open_vectors, rebuild_vectors
from search.storage.schema import SCHEMA_VERSION
from search.storage.store import Store
from search.storage.vectors import remove_other_generations

if TYPE_CHECKING:
    from search.models.encoder import Encoder

LOCK_NAME = "build.lock"
DEFAULT_MAX_FILE_MB = 50.0


@dataclass
class BuildOptions:
    docs_dir: Path
    index_dir: Path
    model: str
    device: str = "auto"
    batch_size: int = 32
    max_length: int = 128
    precision: str = "auto"
    chunk: ChunkSettings = field(default_factory=ChunkSettings)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = False
    progress: bool = False
    max_file_mb: float | None = DEFAULT_MAX_FILE_MB  # larger files are skipped unread; None: no limit


@dataclass
class BuildSummary:
    index: str
    model: str
    generation: int = 0
    files_seen: int = 0
    files_indexed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    files_failed: list[dict[str, str]] = field(default_factory=list)
    files_skipped: list[dict[str, str]] = field(default_factory=list)
    passages_added: int = 0
    passages_removed: int = 0
    passages_reused: int = 0
    passages_encoded: int = 0
    full_rebuild: str | None = None
    vectors_repaired: bool = False
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Changed:
    """A file whose content changed (or is new), extracted and chunked, waiting to be written."""

    found: FoundFile
    content_hash: str
    document: Document
    passages: list[Passage]
    hashes: list[str]
    size: int  # of the bytes read (discovery's stat may predate a rewrite)
    mtime: float


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """One writer per index; a second build fails at once instead of waiting or interleaving."""
    index_dir.mkdir(parents=True, exist_ok=True)
    handle = open(index_dir / LOCK_NAME, "a+")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexLockedError(
                f"Another `indexer build` is writing {index_dir} right now; wait for it to finish and run again"
            ) from exc
        yield
    finally:
        handle.close()


def passage_hash(passage: Passage) -> str:
    return hashlib.sha256(passage.embedding_text().encode("utf-8")).hexdigest()


def read_file(path: Path, max_file_mb: float | None, follow_symlinks: bool) -> tuple[bytes, os.stat_result]:
    """A file's bytes and stat, read once (the hash and the text then come from the same bytes).

    Discovery's view of the file may be stale by now, so: O_NONBLOCK, so a file replaced by a FIFO cannot
    hang the build; O_NOFOLLOW unless links are followed, so a file swapped for a link (to anything outside
    the folder) is not read; at most the size limit plus one byte, so a file that grew cannot exhaust memory;
    and a stat before and after, so a file rewritten during the read fails instead of being indexed torn.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow_symlinks else getattr(os, "O_NOFOLLOW", 0))
    with open(os.open(path, flags), "rb") as handle:
        before = os.fstat(handle.fileno())
        if not stat.S_ISREG(before.st_mode):
            raise ExtractionError("is no longer a regular file")
        limit = None if max_file_mb is None else int(max_file_mb * (1 << 20))
        data = handle.read(-1 if limit is None else limit + 1)
    if limit is not None and len(data) > limit:
        raise ExtractionError(f"grew past the {max_file_mb:g} MB limit during the build")
    after = os.stat(path)
    if (after.st_ino, after.st_size, after.st_mtime_ns) != (before.st_ino, before.st_size, before.st_mtime_ns):
        raise ExtractionError("changed while it was being read; run the build again to index it")
    return data, after


def _settings(options: BuildOptions) -> dict[str, Any]:
    """Everything that changes what a passage or its vector is; any difference means a full rebuild."""
    return {"model": options.model, "max_length": options.max_length, "chunker": options.chunk.as_dict()}


def _full_rebuild_reason(manifest: dict[str, Any], settings: dict[str, Any]) -> str | None:
    if not manifest.get("model"):
        return None
    changed = [key for key, value in settings.items() if manifest.get(key) != value]
    if not changed:
        return None
    return "settings changed (" + ", ".join(f"{k}: {manifest.get(k)!r} -> {settings[k]!r}" for k in changed) + ")"


class Builder:
    """One run of `indexer build`."""

    def __init__(self, options: BuildOptions, encoder_factory: Callable[[], Encoder]) -> None:
        self.options = options
        self._encoder_factory = encoder_factory
        self._encoder: Encoder | None = None
        self.summary = BuildSummary(index=str(options.index_dir), model=options.model)

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = self._encoder_factory()
        return self._encoder

    def run(self) -> BuildSummary:
        started = time.perf_counter()
        options = self.options
        check_root(options.docs_dir)
        # The lock comes before the walk: a second build must fail at once, not after walking a whole shared drive.
        with build_lock(options.index_dir):
            discovery = discover_files(
                options.docs_dir, options.include, options.exclude, options.follow_symlinks, options.max_file_mb
            )
            store = Store(options.index_dir, create=True)
            try:
                self._build(store, discovery)
            finally:
                store.close()
        self.summary.seconds = round(time.perf_counter() - started, 3)
        return self.summary

    def _build(self, store: Store, discovery: Any) -> None:
        options, summary = self.options, self.summary
        summary.files_seen = len(discovery.files)
        summary.files_skipped = [{"path": p, "reason": r} for p, r in discovery.skipped]
        summary.files_failed = [{"path": p, "reason": r} for p, r in discovery.errors]
        manifest = store.manifest()
        settings = _settings(options)
        summary.full_rebuild = _full_rebuild_reason(manifest, settings)
        model_changed = bool(manifest.get("model")) and (
            manifest.get("model") != options.model or manifest.get("max_length") != options.max_length
        )
        existing = store.documents_by_path()
        full = summary.full_rebuild is not None

        changed, touched = self._detect_changes(discovery.files, existing, full)
        seen = {f.rel for f in discovery.files}
        # Documents under a file or folder that could not be read this time are kept, not removed.
        unreadable = tuple(p for p, _ in discovery.errors)
        removed = [
            doc
            for path, doc in existing.items()
            if path not in seen and not any(path == u or path.startswith(u.rstrip("/") + "/") for u in unreadable)
        ]
        failed_paths = {f["path"] for f in summary.files_failed}
        # A file that fails now keeps its previous passages, unless they came from another model.
        stale = [existing[p] for p in failed_paths if p in existing] if model_changed else []

        if not (changed or removed or stale or not manifest.get("model")):
            vectors, generation, repaired = open_vectors(store, options.index_dir, save_repair=True)
            if touched:
                with store.write_transaction():
                    for document_id, mtime in touched:
                        store.touch_document(document_id, mtime)
            remove_other_generations(options.index_dir, keep=generation)  # leftovers of a killed build
            summary.generation, summary.vectors_repaired = generation, repaired
            return

        if model_changed or not manifest.get("model"):
            vectors = None
        else:
            vectors, _, summary.vectors_repaired = open_vectors(store, options.index_dir, save_repair=False)
        new_vectors = self._encode_missing(store, changed, reuse=not model_changed)
        pause_point("encoded")

        generation = int(manifest.get("generation", 0)) + 1
        with store.write_transaction():
            added_ids, added_vecs, deleted_ids = self._write(store, changed, existing, new_vectors, model_changed)
            for document_id, mtime in touched:
                store.touch_document(document_id, mtime)
            for doc in removed:
                deleted_ids.extend(store.delete_document(doc.id))
            for doc in stale:
                deleted_ids.extend(store.delete_document(doc.id))
                summary.files_failed.append(
                    {"path": doc.path, "reason": "previous passages removed: they were encoded by another model"}
                )
            summary.files_removed = len(removed)
            summary.passages_removed += len(deleted_ids)
            info = self.encoder.info
            store.set_manifest(
                {
                    "schema_version": SCHEMA_VERSION,
                    **settings,
                    "dimension": info.dimension,
                    "pooling": info.pooling,
                    "normalization": info.normalization,
                    "keyword_tokenizer": "cjk-bigram",
                    "generation": generation,
                    "built_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                }
            )
            if vectors is None:
                vectors = rebuild_vectors(store, info.dimension)
            else:
                vectors.remove(deleted_ids)
                if added_ids:
                    vectors.add(added_ids, np.vstack(added_vecs))
                if vectors.needs_rebuild():
                    # The size crossed the approximate-index threshold, or an IVF index outgrew its lists.
                    vectors = rebuild_vectors(store, info.dimension)
            store.set_manifest({"index_type": vectors.index_type})
            pause_point("sqlite-written")
            vectors.save(options.index_dir, generation)
            pause_point("faiss-saved")
        pause_point("committed")
        remove_other_generations(options.index_dir, keep=generation)
        summary.generation = generation

    def _detect_changes(
        self, files: list[FoundFile], existing: dict[str, Any], full: bool
    ) -> tuple[list[_Changed], list[tuple[int, float]]]:
        """Size + mtime first (no read), then the content hash; extract and chunk what really changed.

        One file's failure never ends the build. Besides our own ExtractionError and OSError, any other
        Exception from reading and extracting one file is reported as failed with its type and message: the
        parsers of third-party formats (pypdf, python-docx, lxml, BeautifulSoup) raise undocumented errors on
        hostile input (RecursionError on deep nesting, struct.error, zlib.error, AttributeError...), and one
        such file must not stop a build over thousands. The catch spans only that per-file work, where
        nothing is written yet: chunking and encoding (model errors must stop the build with exit 2) and all
        SQLite/FAISS work stay outside it, and KeyboardInterrupt/SystemExit are not Exceptions.
        """
        changed: list[_Changed] = []
        touched: list[tuple[int, float]] = []
        bar = _progress(self.options.progress, len(files), "reading", "files")
        for found in files:
            bar.update(1)
            stored = existing.get(found.rel)
            if not full and stored and stored.size == found.size and stored.mtime == found.mtime:
                self.summary.files_unchanged += 1
                continue
            try:
                data, info = read_file(found.path, self.options.max_file_mb, self.options.follow_symlinks)
                content_hash = hashlib.sha256(data).hexdigest()
                if not full and stored and stored.content_hash == content_hash:
                    self.summary.files_unchanged += 1
                    touched.append((stored.id, info.st_mtime))
                    continue
                document = extract_bytes(data, found.path.name, found.rel)
            except (ExtractionError, OSError) as exc:
                self.summary.files_failed.append({"path": found.rel, "reason": _reason(exc)})
                continue
            except Exception as exc:  # noqa: BLE001 - one file's parser failure is that file's failure (docstring)
                reason = f"unexpected {type(exc).__name__} while extracting: {exc}"
                self.summary.files_failed.append({"path": found.rel, "reason": reason[:500]})
                continue
            del data  # the raw bytes of a large file need not live on while everything else is read
            passages = chunk_document(document, self.encoder.count_tokens, self.options.chunk)
            hashes = [passage_hash(p) for p in passages]
            changed.append(_Changed(found, content_hash, document, passages, hashes, info.st_size, info.st_mtime))
        bar.close()
        return changed, touched

    def _encode_missing(self, store: Store, changed: list[_Changed], reuse: bool) -> dict[str, np.ndarray]:
        """Embeddings for every passage hash: reused from the index when the text is known, else encoded."""
        texts: dict[str, str] = {}
        for item in changed:
            for passage, h in zip(item.passages, item.hashes, strict=True):
                texts.setdefault(h, passage.embedding_text())
        known = store.embeddings_by_hash(texts, self.encoder.dimension) if reuse else {}
        missing = [h for h in texts if h not in known]
        if missing:
            bar = _progress(self.options.progress, len(missing), "encoding", "passages")
            vectors = self.encoder.encode([texts[h] for h in missing], progress=bar.update)
            bar.close()
            known.update(zip(missing, vectors, strict=True))
        self.summary.passages_encoded = len(missing)
        return known

    def _write(
        self,
        store: Store,
        changed: list[_Changed],
        existing: dict[str, Any],
        embeddings: dict[str, np.ndarray],
        model_changed: bool,
    ) -> tuple[list[int], list[np.ndarray], list[int]]:
        """New passages are inserted before vanished ones are deleted; kept passages keep their ids."""
        added_ids: list[int] = []
        added_vecs: list[np.ndarray] = []
        deleted_ids: list[int] = []
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        for item in changed:
            doc, found = item.document, item.found
            document_id = store.upsert_document(
                {
                    "path": found.rel,
                    "title": doc.title,
                    "format": doc.format,
                    "encoding": doc.encoding,
                    "size": item.size,
                    "mtime": item.mtime,
                    "content_hash": item.content_hash,
                    "tags": doc.tags,
                    "text": doc.text,
                    "indexed_at": now,
                }
            )
            old: dict[str, list[int]] = {}
            if found.rel in existing:
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
                    self.summary.passages_reused += 1
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
                self.summary.passages_added += 1
            vanished = [i for ids in old.values() for i in ids]
            store.delete_passages(vanished)
            deleted_ids.extend(vanished)
            self.summary.files_indexed += 1
        self.summary.passages_reused += self.summary.passages_added - self.summary.passages_encoded
        return added_ids, added_vecs, deleted_ids


def _reason(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, FileNotFoundError):
        return "file disappeared during the build"
    if isinstance(exc, OSError) and exc.errno == errno.ELOOP:
        return "became a symbolic link during the build (not followed)"
    return str(exc) or type(exc).__name__


def _progress(enabled: bool, total: int, desc: str, unit: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=f" {unit}", disable=not enabled or total == 0, leave=False)


def build_index(options: BuildOptions, encoder_factory: Callable[[], Encoder]) -> BuildSummary:
    return Builder(options, encoder_factory).run()
