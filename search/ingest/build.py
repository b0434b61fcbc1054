"""Incremental build: a folder of documents into an index, one generation per run.

This module reads: it walks the folder, decides by size, mtime and content hash what changed, and extracts
and chunks those files. It writes nothing itself: the changes go to `search.storage.writer.IndexWriter`, which
owns the lock, the transaction, the FAISS file and the clean-up (its docstring has the crash-safety order).

Every file the walk sees and does not index is reported, with a reason, under one of two headings:
- failed: a file we should have read but could not (unreadable, vanished or changed while being read,
  undecodable, corrupt or password-protected, a name that is not UTF-8, an unexpected parser error). The
  exit code is 1 and the file keeps whatever it had in the index, so a transient failure loses nothing;
- skipped: left out by policy (unsupported format, symbolic link not followed, over the size limit, not a
  regular file). The exit code stays 0; like an excluded file, it is not (or no longer) in the index.
An empty or whitespace-only file is neither: it is indexed, with 0 passages.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from search.access.rules import NO_RULES, AccessRules
from search.errors import ExtractionError
from search.ingest.chunk import ChunkSettings, chunk_document
from search.ingest.deadline import Deadline
from search.ingest.discover import FoundFile, check_root, discover_files
from search.ingest.extract import extract_bytes
from search.models.executors import current_executor
from search.models.spec import EncoderSpec
from search.storage.schema import DB_NAME
from search.storage.store import StoredDocument
from search.storage.writer import Changeset, DocumentChange, IndexWriter

DEFAULT_MAX_FILE_MB = 50.0


@dataclass
class BuildOptions:
    """How to read a folder: which files, how large, how to chunk them."""

    docs_dir: Path
    chunk: ChunkSettings = field(default_factory=ChunkSettings)
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    follow_symlinks: bool = False
    progress: bool = False
    max_file_mb: float | None = DEFAULT_MAX_FILE_MB  # larger files are skipped unread; None: no limit
    file_timeout: float | None = None  # seconds to extract and chunk one file (search.settings.FILE_TIMEOUT)
    # Access control (search/access): new rules to label documents with; None keeps the rules the index
    # recorded (a build without the rules file must never widen who sees what); `clear_acl` removes them.
    acl: AccessRules | None = None
    clear_acl: bool = False


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
    access_rules: int = 0  # access control: rules the documents are labelled with (0: every document in `all`)
    access_rules_sha256: str | None = None
    documents_relabelled: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


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


class Builder:
    """One run of a folder build: discover, read what changed, hand it to the index writer."""

    def __init__(self, index_dir: Path, encoder: EncoderSpec, options: BuildOptions) -> None:
        self.index_dir = index_dir
        self.encoder = encoder
        self.options = options
        self.summary = BuildSummary(index=str(index_dir), model=encoder.model)
        self._bars: list[Any] = []

    def run(self) -> BuildSummary:
        started = time.perf_counter()
        options = self.options
        check_root(options.docs_dir)
        if not (self.index_dir / DB_NAME).exists():
            self.encoder.get()  # a first build with an unusable model must not leave an empty index behind
        # The lock comes before the walk: a second build must fail at once, not after walking a whole shared drive.
        with IndexWriter(self.index_dir, self.encoder, options.chunk.as_dict()) as writer:
            discovery = discover_files(
                options.docs_dir, options.include, options.exclude, options.follow_symlinks, options.max_file_mb
            )
            try:
                self._build(writer, discovery)
            finally:
                for bar in self._bars:
                    bar.close()
        self.summary.seconds = round(time.perf_counter() - started, 3)
        return self.summary

    def _build(self, writer: IndexWriter, discovery: Any) -> None:
        summary = self.summary
        summary.files_seen = len(discovery.files)
        summary.files_skipped = [{"path": p, "reason": r} for p, r in discovery.skipped]
        summary.files_failed = [{"path": p, "reason": r} for p, r in discovery.errors]
        summary.full_rebuild = writer.full_rebuild_reason()
        existing = writer.existing()
        changes = self._detect_changes(discovery.files, existing, full=summary.full_rebuild is not None)
        seen = {f.rel for f in discovery.files}
        # Documents under a file or folder that could not be read this time are kept, not removed.
        unreadable = tuple(p for p, _ in discovery.errors)
        changes.removed = [
            doc
            for path, doc in existing.items()
            if path not in seen and not any(path == u or path.startswith(u.rstrip("/") + "/") for u in unreadable)
        ]
        # A file that fails now keeps its previous passages, unless they came from another model.
        if writer.model_changed:
            failed_paths = {f["path"] for f in summary.files_failed}
            changes.stale = [existing[p] for p in failed_paths if p in existing]
            summary.files_failed += [
                {"path": doc.path, "reason": "previous passages removed: they were encoded by another model"}
                for doc in changes.stale
            ]
        self._label(writer, changes)  # access control
        report = writer.commit(changes, progress=self._progress if self.options.progress else None)
        for name in (
            "generation",
            "files_indexed",
            "files_removed",
            "passages_added",
            "passages_removed",
            "passages_reused",
            "passages_encoded",
            "vectors_repaired",
        ):
            setattr(summary, name, getattr(report, name))

    def _label(self, writer: IndexWriter, changes: Changeset) -> None:
        """Access control: the groups of every changed document, and of kept documents whose groups the rules
        now set differently (re-labelled in the same commit, without reading or encoding them again)."""
        recorded = writer.manifest.get("acl")
        if self.options.clear_acl:
            rules = NO_RULES
        elif self.options.acl is not None:
            rules = self.options.acl
        else:
            rules = AccessRules.from_manifest(recorded) or NO_RULES
        entry = rules.manifest_entry() if rules.rules else None
        if entry != recorded:
            changes.manifest["acl"] = entry
        for change in changes.changed:
            change.groups = rules.groups_for(change.path, change.document.tags)
        changed = {c.path for c in changes.changed}
        removed = {d.id for d in [*changes.removed, *changes.stale]}
        for document_id, path, tags, groups in writer.labels():
            wanted = rules.groups_for(path, tags)
            if path not in changed and document_id not in removed and wanted != groups:
                changes.relabel.append((document_id, wanted))
        self.summary.access_rules = len(rules.rules)
        self.summary.access_rules_sha256 = entry["sha256"] if entry else None
        self.summary.documents_relabelled = len(changes.relabel)

    def _detect_changes(self, files: list[FoundFile], existing: dict[str, StoredDocument], full: bool) -> Changeset:
        """Size + mtime first (no read), then the content hash; extract and chunk what really changed.

        One file's failure never ends the build. Besides our own ExtractionError and OSError, any other
        Exception from reading and extracting one file is reported as failed with its type and message: the
        parsers of third-party formats (pypdf, python-docx, lxml, BeautifulSoup) raise undocumented errors on
        hostile input (RecursionError on deep nesting, struct.error, zlib.error, AttributeError...), and one
        such file must not stop a build over thousands. The catch spans only that per-file work, where
        nothing is written yet: chunking and encoding (model errors must stop the build with exit 2) and all
        SQLite/FAISS work stay outside it, and KeyboardInterrupt/SystemExit are not Exceptions.
        """
        changes = Changeset()
        preloading = False
        advance = self._progress(len(files), "reading", "files") if self.options.progress else None
        for found in files:
            if advance:
                advance(1)
            stored = existing.get(found.rel)
            if not full and stored and stored.size == found.size and stored.mtime == found.mtime:
                self.summary.files_unchanged += 1
                continue
            try:
                data, info = read_file(found.path, self.options.max_file_mb, self.options.follow_symlinks)
                content_hash = hashlib.sha256(data).hexdigest()
                if not full and stored and stored.content_hash == content_hash:
                    self.summary.files_unchanged += 1
                    changes.touched.append((stored.id, info.st_mtime))
                    continue
                deadline = Deadline(self.options.file_timeout) if self.options.file_timeout else None
                document = extract_bytes(data, found.path.name, found.rel, deadline)
            except (ExtractionError, OSError) as exc:
                self.summary.files_failed.append({"path": found.rel, "reason": _reason(exc)})
                continue
            except Exception as exc:  # noqa: BLE001 - one file's parser failure is that file's failure (docstring)
                reason = f"unexpected {type(exc).__name__} while extracting: {exc}"
                self.summary.files_failed.append({"path": found.rel, "reason": reason[:500]})
                continue
            del data  # the raw bytes of a large file need not live on while everything else is read
            if not preloading:  # something will be encoded: load the model while the other files are read
                current_executor().prepare(self.encoder)
                preloading = True
            try:  # only the time budget: a model error must still stop the build (exit 2)
                passages = chunk_document(document, self.encoder.get().count_tokens, self.options.chunk, deadline)
            except ExtractionError as exc:
                self.summary.files_failed.append({"path": found.rel, "reason": _reason(exc)})
                continue
            changes.changed.append(
                DocumentChange(found.rel, content_hash, document, passages, info.st_size, info.st_mtime)
            )
        return changes

    def _progress(self, total: int, desc: str, unit: str) -> Callable[[int], None]:
        """A tqdm bar on the terminal (only when `progress` is on); returns its update function."""
        from tqdm import tqdm

        bar = tqdm(total=total, desc=desc, unit=f" {unit}", disable=total == 0, leave=False)
        self._bars.append(bar)
        return bar.update


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


def build_index(index_dir: Path, encoder: EncoderSpec, options: BuildOptions) -> BuildSummary:
    """Index `options.docs_dir` into `index_dir` with `encoder`; see search.Index.build for the front door."""
    return Builder(index_dir, encoder, options).run()
