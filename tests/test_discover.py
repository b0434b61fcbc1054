"""File discovery: deterministic, explains what it leaves out, never leaves the root or loops."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from search.errors import SearchError
from search.ingest.discover import Discovery, FoundFile, discover_files
from search.text.paths import path_matches


def touch(root: Path, rel: str, content: str = "本文") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def rels(discovery: Discovery) -> list[str]:
    return [found.rel for found in discovery.files]


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for rel in (
        "a.md",
        "b.txt",
        "guide/c.html",
        "guide/deep/d.pdf",
        "guide/deep/e.docx",
        "archive/old.md",
        "archive/2020/older.txt",
        "image.png",
        "Makefile",
    ):
        touch(root, rel)
    return root


def test_files_in_sorted_order_with_metadata(docs: Path) -> None:
    discovery = discover_files(docs)
    assert rels(discovery) == [
        "a.md",
        "archive/2020/older.txt",
        "archive/old.md",
        "b.txt",
        "guide/c.html",
        "guide/deep/d.pdf",
        "guide/deep/e.docx",
    ]
    first = discovery.files[0]
    assert first == FoundFile(
        path=docs.absolute() / "a.md",
        rel="a.md",
        format="md",
        size=len("本文".encode()),
        mtime=(docs / "a.md").stat().st_mtime,
    )
    assert first.path.is_absolute()
    assert [found.format for found in discovery.files] == ["md", "txt", "md", "txt", "html", "pdf", "docx"]
    assert discovery.errors == []


def test_unsupported_files_are_listed_as_skipped(docs: Path) -> None:
    assert discover_files(docs).skipped == [
        ("Makefile", "unsupported format (no file extension)"),
        ("image.png", "unsupported format .png"),
    ]


def test_hidden_files_and_folders_are_ignored_entirely(docs: Path) -> None:
    touch(docs, ".hidden.md")
    touch(docs, ".git/config.txt")
    touch(docs, "guide/.cache/x.md")
    touch(docs, ".secret/notes.png")
    discovery = discover_files(docs)
    listed = rels(discovery) + [rel for rel, _ in discovery.skipped] + [rel for rel, _ in discovery.errors]
    assert not any("/." in f"/{rel}" for rel in listed)


def test_relative_root(docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(docs.parent)
    discovery = discover_files(Path("docs"))
    assert discovery.files[0].path == docs.absolute() / "a.md"


def test_include(docs: Path) -> None:
    discovery = discover_files(docs, include=["*.md"])
    assert rels(discovery) == ["a.md", "archive/old.md"]
    assert discovery.skipped == []  # files the include leaves out are not reported


def test_include_double_star_matches_zero_folders(docs: Path) -> None:
    assert rels(discover_files(docs, include=["guide/**/*.html"])) == ["guide/c.html"]
    assert rels(discover_files(docs, include=["**/b.txt"])) == ["b.txt"]


def test_include_folder(docs: Path) -> None:
    assert rels(discover_files(docs, include=["guide/deep"])) == ["guide/deep/d.pdf", "guide/deep/e.docx"]


@pytest.mark.parametrize("pattern", ["archive/**", "archive", "archive/", "./archive/*"])
def test_exclude_folder(docs: Path, pattern: str) -> None:
    discovery = discover_files(docs, exclude=[pattern])
    assert not any(rel.startswith("archive") for rel in rels(discovery))
    assert "a.md" in rels(discovery)


def test_include_and_exclude(docs: Path) -> None:
    discovery = discover_files(docs, include=["*.md", "*.txt"], exclude=["**/2020/**", "*.png"])
    assert rels(discovery) == ["a.md", "archive/old.md", "b.txt"]
    assert discovery.skipped == []


def test_path_matches() -> None:
    assert path_matches(["*.md"], "a/b/c.md")
    assert path_matches(["**/c.md"], "c.md")
    assert path_matches(["a/**/c.md"], "a/c.md")
    assert path_matches(["a/**/c.md"], "a/x/y/c.md")
    assert not path_matches(["b/**"], "a/b.md")
    assert not path_matches([], "a.md")


def test_symlinks_are_not_followed_by_default(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    touch(root, "real.md")
    outside = touch(tmp_path / "outside", "secret.md")
    (root / "outside-file.md").symlink_to(outside)
    (root / "outside-dir").symlink_to(outside.parent, target_is_directory=True)
    (root / "inside.md").symlink_to(root / "real.md")
    discovery = discover_files(root)
    assert rels(discovery) == ["real.md"]
    assert discovery.skipped == [
        ("inside.md", "symbolic link (not followed)"),
        ("outside-dir", "symbolic link (not followed)"),
        ("outside-file.md", "symbolic link (not followed)"),
    ]


def test_followed_symlinks_stay_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    touch(root, "real/a.md")
    touch(root, "elsewhere/b.md")
    outside = touch(tmp_path / "outside", "secret.md")
    (root / "escape").symlink_to(outside.parent, target_is_directory=True)
    (root / "escape.md").symlink_to(outside)
    (root / "b-link.md").symlink_to(root / "elsewhere" / "b.md")
    (root / "broken.md").symlink_to(root / "missing.md")
    discovery = discover_files(root, follow_symlinks=True)
    assert rels(discovery) == ["elsewhere/b.md", "real/a.md"]
    reasons = dict(discovery.skipped)
    assert "outside" in reasons["escape"]
    assert "outside" in reasons["escape.md"]
    assert "already included" in reasons["b-link.md"]  # the real path wins, whatever the sort order
    assert reasons["broken.md"] == "broken symbolic link"


def test_followed_symlink_to_a_folder_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    touch(root, "hidden-store/.x/manual.md")
    (root / "manual").symlink_to(root / "hidden-store" / ".x", target_is_directory=True)
    assert rels(discover_files(root, follow_symlinks=True)) == ["manual/manual.md"]


def test_symlink_loop_terminates(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    touch(root, "a/doc.md")
    touch(root, "b/other.md")
    (root / "a" / "loop").symlink_to(root / "a", target_is_directory=True)
    (root / "a" / "to-b").symlink_to(root / "b", target_is_directory=True)
    (root / "b" / "to-a").symlink_to(root / "a", target_is_directory=True)
    (root / "b" / "root").symlink_to(root, target_is_directory=True)
    (root / "x.md").symlink_to(root / "y.md")
    (root / "y.md").symlink_to(root / "x.md")
    discovery = discover_files(root, follow_symlinks=True)
    assert rels(discovery) == ["a/doc.md", "b/other.md"]
    assert {rel for rel, _ in discovery.skipped} == {"a/loop", "a/to-b", "b/to-a", "b/root", "x.md", "y.md"}
    assert dict(discovery.skipped)["x.md"] == "symbolic link loop"


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(SearchError, match=r"No such folder: .*nowhere"):
        discover_files(tmp_path / "nowhere")


def test_root_is_a_file(tmp_path: Path) -> None:
    path = touch(tmp_path, "a.md")
    with pytest.raises(SearchError, match=r"Not a folder: .*a\.md"):
        discover_files(path)


def test_permission_error_is_reported_not_raised(docs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Faked with scandir: tests often run as root, which reads every folder whatever its permissions."""
    real_scandir = os.scandir
    locked = docs / "guide"

    def scandir(path: Path) -> object:
        if Path(path) == locked.absolute():
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr("search.ingest.discover.os.scandir", scandir)
    discovery = discover_files(docs)
    assert discovery.errors == [("guide", "permission denied")]
    assert not any(rel.startswith("guide/") for rel in rels(discovery))
    assert "a.md" in rels(discovery)
