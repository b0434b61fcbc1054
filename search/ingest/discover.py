"""Find the files to index under a folder, and say why every other visible file was left out.

The walk is deterministic (sorted) so builds and their reports are reproducible. Hidden entries are
invisible on purpose (`.git`, editor swap files); everything else that is not indexed is listed as
skipped (a choice, e.g. unsupported format) or as an error (a failure the user should fix, e.g. a
folder we may not read), so nothing disappears from a build without a trace.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from search.errors import SearchError
from search.ingest.extract import SUPPORTED_FORMATS
from search.text.paths import path_matches

NOT_FOLLOWED = "symbolic link (not followed)"
ALREADY_INCLUDED = "symbolic link to something already included (not followed)"
BAD_NAME = "file name is not valid UTF-8 (shown with \\x escapes), so it cannot be stored or cited: rename it"
MB = 1 << 20


@dataclass(frozen=True)
class FoundFile:
    """A file to extract; size and mtime let the build skip unchanged files without reading them."""

    path: Path  # absolute (not resolved: a followed link keeps its own path)
    rel: str  # POSIX path relative to the root
    format: str
    size: int
    mtime: float


@dataclass
class Discovery:
    """Files to index, files deliberately left out (rel, reason) and failures (rel, reason)."""

    files: list[FoundFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def discover_files(
    root: Path,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    follow_symlinks: bool = False,
    max_file_mb: float | None = None,
) -> Discovery:
    """Walk `root` recursively; include/exclude are globs on the relative POSIX path (see `path_matches`).

    Files over `max_file_mb` (MB = 2**20 bytes; None: no limit) are skipped on their size from `stat`, before
    anything reads them, so one huge log or dump cannot exhaust memory.
    """
    root = check_root(root)
    walker = _Walker(root, list(include), list(exclude), follow_symlinks, max_file_mb)
    walker.run()
    return walker.result


def check_root(root: Path) -> Path:
    """Fail before anything is created or locked when the documents folder is mistyped."""
    if not root.exists():
        raise SearchError(f"No such folder: {root}")
    if not root.is_dir():
        raise SearchError(f"Not a folder: {root}")
    return root.absolute()


class _Walker:
    """Walks the real tree first and followed symbolic links afterwards.

    Deferring links means a folder reachable both directly and through a link is indexed under its real
    path, whatever the sort order; resolved paths already walked are not walked again, which also ends loops.
    """

    def __init__(
        self, root: Path, include: list[str], exclude: list[str], follow: bool, max_file_mb: float | None = None
    ) -> None:
        self.root = root
        self.max_file_mb = max_file_mb
        self.real_root = root.resolve()
        self.include = include
        self.exclude = exclude
        self.follow = follow
        self.result = Discovery()
        self._seen: set[Path] = {self.real_root}  # resolved folders and files already taken
        self._links: list[tuple[Path, str]] = []  # (link path, rel) waiting to be followed

    def run(self) -> None:
        self._walk_folder(self.root, "")
        while self._links:
            link, rel = self._links.pop(0)
            self._follow_link(link, rel)
        self.result.files.sort(key=lambda found: found.rel)
        # Reports are printed and stored as JSON: a name that is not UTF-8 is shown with \x escapes.
        self.result.skipped = sorted((shown_path(rel), reason) for rel, reason in self.result.skipped)
        self.result.errors = sorted((shown_path(rel), reason) for rel, reason in self.result.errors)

    def _first_visit(self, real: Path) -> bool:
        """Remember resolved paths (only needed when links are followed: they can reach a path twice)."""
        if real in self._seen:
            return False
        self._seen.add(real)
        return True

    def _walk_folder(self, folder: Path, rel: str) -> None:
        if self.follow and rel and not self._first_visit(folder.resolve()):
            self.result.skipped.append((rel, ALREADY_INCLUDED))
            return
        try:
            with os.scandir(folder) as scan:
                entries = sorted(scan, key=lambda entry: entry.name)
        except OSError as exc:
            self.result.errors.append((rel or ".", _reason(exc)))
            return
        for entry in entries:
            if not entry.name.startswith("."):
                self._entry(Path(entry.path), _join(rel, entry.name), entry)

    def _entry(self, path: Path, rel: str, entry: os.DirEntry[str]) -> None:
        try:
            is_link = entry.is_symlink()
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError as exc:
            self.result.errors.append((rel, _reason(exc)))
            return
        if path_matches(self.exclude, rel):
            return
        if is_link:
            self._link(path, rel)
        elif is_dir:
            self._walk_folder(path, rel)
        else:
            self._file(path, rel)

    def _link(self, path: Path, rel: str) -> None:
        if not self.follow:
            if self._wanted(rel, is_dir=path.is_dir()):
                self.result.skipped.append((rel, NOT_FOLLOWED))
            return
        self._links.append((path, rel))

    def _follow_link(self, link: Path, rel: str) -> None:
        try:
            target = _resolve_link(link)
        except OSError as exc:
            if self._wanted(rel, is_dir=False):
                self.result.errors.append((rel, _reason(exc)))
            return
        if isinstance(target, str):
            self._skip_if_wanted(rel, False, target)
        elif not target.is_relative_to(self.real_root):
            self._skip_if_wanted(rel, target.is_dir(), "symbolic link points outside the folder (not followed)")
        elif target.is_dir():
            self._walk_folder(link, rel)
        else:
            self._file(link, rel)

    def _skip_if_wanted(self, rel: str, is_dir: bool, reason: str) -> None:
        if self._wanted(rel, is_dir):
            self.result.skipped.append((rel, reason))

    def _wanted(self, rel: str, is_dir: bool) -> bool:
        """Include patterns select files; a folder is wanted unless excluded (its files may match)."""
        if path_matches(self.exclude, rel):
            return False
        return is_dir or not self.include or path_matches(self.include, rel)

    def _file(self, path: Path, rel: str) -> None:
        if not self._wanted(rel, is_dir=False):
            return
        try:
            info = path.stat()
        except OSError as exc:
            self.result.errors.append((rel, _reason(exc)))
            return
        if not stat.S_ISREG(info.st_mode):
            self.result.skipped.append((rel, "not a regular file"))
            return
        fmt = SUPPORTED_FORMATS.get(path.suffix.lower())
        if fmt is None:
            self.result.skipped.append((rel, f"unsupported format {path.suffix or '(no file extension)'}"))
            return
        if shown_path(rel) != rel:
            self.result.errors.append((rel, BAD_NAME))
            return
        if self.max_file_mb is not None and info.st_size > self.max_file_mb * MB:
            self.result.skipped.append((rel, f"larger than the {self.max_file_mb:g} MB limit ({info.st_size:,} bytes)"))
            return
        if self.follow and not self._first_visit(path.resolve()):
            self.result.skipped.append((rel, ALREADY_INCLUDED))
            return
        self.result.files.append(FoundFile(path, rel, fmt, info.st_size, info.st_mtime))


def _resolve_link(link: Path) -> Path | str:
    """The link's final target, or why there is none (a reason for `skipped`)."""
    try:
        return link.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 reports a loop of links this way
        return "symbolic link loop"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if isinstance(exc, FileNotFoundError):
            return "broken symbolic link"
        raise


def shown_path(rel: str) -> str:
    """`rel` as printable text: bytes of a name that is not UTF-8 (kept by Python as surrogates) as \\xNN."""
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return exc.strerror or str(exc)
