from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.cli import main

BUILD_KEYS = {
    "index",
    "model",
    "generation",
    "files_seen",
    "files_indexed",
    "files_unchanged",
    "files_removed",
    "files_failed",
    "files_skipped",
    "passages_added",
    "passages_removed",
    "passages_reused",
    "passages_encoded",
    "full_rebuild",
    "vectors_repaired",
    "seconds",
    "access_rules",  # access control (tests/test_acl.py)
    "access_rules_sha256",
    "documents_relabelled",
}


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "休暇.txt").write_text("有給休暇は入社から六か月後に十日付与されます。", encoding="utf-8")
    (root / "it.md").write_text("# ヘルプデスク\n\nパスワードを忘れた場合は内線1234へ。", encoding="utf-8")
    return root


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_build_json_status_and_search(docs: Path, tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    index = str(tmp_path / "index")
    code, out, _ = run(capsys, "build", str(docs), "--index", index, "--model", str(tiny_model_dir), "--json")
    summary = json.loads(out)
    assert code == 0 and set(summary) == BUILD_KEYS
    assert summary["files_indexed"] == 2 and summary["passages_encoded"] == summary["passages_added"] > 0

    code, out, _ = run(capsys, "status", "--index", index, "--json")
    status = json.loads(out)
    assert code == 0 and status["documents"] == 2 and status["consistent"] is True
    assert status["model"] == str(tiny_model_dir) and status["index_type"] == "flat-ip"

    code, out, _ = run(capsys, "search", "休暇", "--index", index, "-k", "1", "--mode", "keyword", "--json")
    results = json.loads(out)["results"]
    assert code == 0 and [r["path"] for r in results] == ["休暇.txt"]
    assert {"score", "path", "title", "text", "start", "end"} <= set(results[0])


def test_human_summary_lists_counts(docs: Path, tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    code, out, _ = run(capsys, "build", str(docs), "--index", str(tmp_path / "i"), "--model", str(tiny_model_dir))
    assert code == 0
    assert "2 seen, 2 indexed, 0 unchanged, 0 removed, 0 failed" in out and "encoded" in out


def test_failed_file_gives_exit_code_1_and_names_it(docs: Path, tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    (docs / "garbage.txt").write_bytes(bytes(range(128, 256)) * 8)
    code, out, _ = run(capsys, "build", str(docs), "--index", str(tmp_path / "i"), "--model", str(tiny_model_dir))
    assert code == 1 and "FAILED  garbage.txt" in out


def test_missing_folder_is_a_clear_error(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    code, _, err = run(
        capsys, "build", str(tmp_path / "nope"), "--index", str(tmp_path / "i"), "--model", str(tiny_model_dir)
    )
    assert code == 2 and "No such folder" in err and "nope" in err
    assert not (tmp_path / "i").exists(), "a mistyped folder creates no index folder"


def test_unavailable_model_is_a_clear_error(docs: Path, tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "build", str(docs), "--index", str(tmp_path / "i"), "--model", "nobody/missing-model")
    assert code == 2 and "nobody/missing-model" in err and "--model" in err and "Traceback" not in err


def test_search_without_index_says_what_to_run(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "search", "休暇", "--index", str(tmp_path / "none"))
    assert code == 2 and "indexer build" in err


def test_bad_filter_is_rejected(docs: Path, tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    run(capsys, "build", str(docs), "--index", str(tmp_path / "i"), "--model", str(tiny_model_dir))
    code, _, err = run(capsys, "search", "休暇", "--index", str(tmp_path / "i"), "--filter", "colour=red")
    assert code == 2 and "unknown key 'colour'" in err
