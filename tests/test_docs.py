"""The documentation is executable: every Python example in docs/python-api.md runs as written, every
setting is in docs/settings.md, and every command has help (after sqlite-utils' tests/test_docs.py)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from indexer.cli import build_parser
from search.settings import SETTINGS, settings_markdown

ROOT = Path(__file__).resolve().parent.parent
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def test_python_api_examples_run_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    shutil.copytree(ROOT / "data" / "sample", tmp_path / "docs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    blocks = PYTHON_BLOCK.findall((ROOT / "docs" / "python-api.md").read_text(encoding="utf-8"))
    assert len(blocks) >= 5
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/python-api.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "人事/" in printed and "is encoded with sentence-transformers/all-MiniLM-L6-v2" in printed
    assert (tmp_path / "idx" / "index.sqlite").is_file()


def test_settings_page_is_generated_from_the_settings() -> None:
    """docs/settings.md is `python -m search.settings` output: a changed default cannot leave it stale."""
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == settings_markdown()
    assert all(f"`{name}`" in settings_markdown() for name in SETTINGS)


def test_every_command_and_option_has_help() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    assert set(commands.choices) >= {"build", "status", "search", "serve", "demo", "eval", "ask", "quiz"}
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, f"indexer {name} {'/'.join(action.option_strings) or action.dest} has no help"


def test_readme_mentions_every_command() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("build", "status", "search", "serve", "demo", "eval", "ask", "quiz"):
        assert f"indexer {name}" in readme or f"`{name}`" in readme, name
