from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from reportlab.pdfgen import canvas
from tiny_index import build

from api.app import create_app
from api.settings import ApiSettings
from indexer.cli import main
from search import settings as config
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher
from search.storage import writer

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


# -- a failed first build leaves no index (#14 item 7) ------------------------------------------------


@pytest.mark.parametrize("model", ["/nope", "unloadable"])
def test_a_first_build_without_a_usable_model_leaves_no_index(
    docs: Path, tmp_path: Path, model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if model == "unloadable":  # a folder that exists but holds no model
        (tmp_path / model).mkdir()
        (tmp_path / model / "config.json").write_text("{}", encoding="utf-8")
        model = str(tmp_path / model)
    index = tmp_path / "new"
    code, out, err = run(capsys, "build", str(docs), "--index", str(index), "--model", model)
    assert code == 2 and "is not available" in err and out == ""
    assert not (index / "index.sqlite").exists()
    code, out, err = run(capsys, "search", "休暇", "--index", str(index))
    assert code == 2 and "indexer build" in err and out == ""


def test_search_refuses_an_index_whose_first_build_never_committed(
    docs: Path, tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    def stop_before_commit(point: str) -> None:
        if point == "sqlite-written":
            raise KeyboardInterrupt  # as Ctrl+C inside the write transaction

    monkeypatch.setattr(writer, "pause_point", stop_before_commit)
    index = tmp_path / "index"
    code, _, _ = run(capsys, "build", str(docs), "--index", str(index), "--model", str(tiny_model_dir))
    assert code == 130 and (index / "index.sqlite").exists(), "the tables exist, no build has committed"
    for mode in ("hybrid", "keyword"):
        code, out, err = run(capsys, "search", "休暇", "--index", str(index), "--mode", mode, "--device", "cpu")
        assert code == 2 and out == "", "not '(no results)' as if the documents did not match"
        assert f"No index at {index} yet" in err and "indexer build" in err
    code, out, _ = run(capsys, "search", "休暇", "--index", str(index), "--json")
    assert code == 2 and json.loads(out)["type"] == "IndexNotFoundError"


# -- one validation for the CLI and the API (#14 item 9) ---------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("cli-validation")
    (root / "docs").mkdir()
    (root / "docs" / "休暇.txt").write_text("有給休暇は入社から六か月後に十日付与されます。", encoding="utf-8")
    assert build(root / "docs", root / "index", tiny_encoder).files_failed == []
    return root / "index"


MAX_K, MAX_OFFSET, MAX_CHARS = (
    int(config.K.maximum or 0),
    int(config.OFFSET.maximum or 0),
    config.QUERY_MAX_CHARS.default,
)


@pytest.mark.parametrize(
    ("query", "k", "offset", "refusal"),
    [
        ("", 5, 0, "query is empty"),
        ("   ", 5, 0, "query is empty"),
        ("休" * (MAX_CHARS + 1), 5, 0, "characters long"),
        ("休暇", 5, -3, "--offset: offset must be at least 0"),
        ("休暇", 5, MAX_OFFSET + 1, f"--offset: offset must be at most {MAX_OFFSET}"),
        ("休暇", 0, 0, "-k: k must be at least 1"),
        ("休暇", MAX_K + 1, 0, f"-k: k must be at most {MAX_K}"),
        ("休" * MAX_CHARS, MAX_K, MAX_OFFSET, None),
        ("休暇", 1, 0, None),
    ],
)
def test_cli_and_api_give_the_same_verdict_on_a_search(
    built: Path, tiny_encoder: Encoder, query: str, k: int, offset: int, refusal: str | None, capsys
) -> None:
    args = ("search", query, "--index", str(built), "-k", str(k), "--offset", str(offset), "--mode", "keyword")
    code, out, err = run(capsys, *args)
    app = create_app(ApiSettings(index_dir=built), searcher=Searcher(built, encoder=tiny_encoder))
    with TestClient(app) as client:
        api = client.post("/search", json={"query": query, "k": k, "offset": offset, "mode": "keyword"})
    if refusal is None:
        assert (code, api.status_code) == (0, 200), (err, api.text)
        return
    assert (code, api.status_code) == (2, 422), api.text
    assert out == "" and err.startswith("error: ") and refusal in err, "refused, not '(no results)'"
    code, out, _ = run(capsys, *args, "--json")
    assert code == 2 and refusal in json.loads(out)["error"]


# -- newcomer friction (#14 item 11) -----------------------------------------------------------------


def test_version_names_the_program_and_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"indexer {version('jp-docsearch')}"


def test_bare_indexer_prints_help_not_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys)
    assert code == 0 and err == ""
    assert out.startswith("usage: indexer") and all(f"\n    {name} " in out for name in ("build", "search", "serve"))


def test_json_refusal_of_a_held_lock_is_json_on_stdout(
    docs: Path, tmp_path: Path, tiny_model_dir: Path, capsys
) -> None:
    index = tmp_path / "index"
    with writer.write_lock(index):  # another build is writing
        code, out, err = run(
            capsys, "build", str(docs), "--index", str(index), "--model", str(tiny_model_dir), "--json"
        )
    refusal = json.loads(out)
    assert code == 2 and refusal["type"] == "IndexLockedError" and "Another build is writing" in refusal["error"]
    assert err.startswith("error: Another build is writing")


@pytest.mark.slow  # a fresh interpreter loads torch and two models: about 20 s
def test_non_interactive_runs_keep_third_party_noise_off_stderr(
    tmp_path: Path, tiny_model_dir: Path, tiny_seq2seq_dir: Path
) -> None:
    """A recoverable PDF defect (pypdf logs it without naming the file) and the "Loading weights" bar of a
    generation model stay off stderr when it is a file, as in CI or a cron job."""
    docs = tmp_path / "docs"
    docs.mkdir()
    pdf = canvas.Canvas(str(docs / "leave.pdf"))
    pdf.drawString(72, 700, "Paid leave: ten days after six months.")
    pdf.showPage()
    pdf.save()
    data = (docs / "leave.pdf").read_bytes()
    (docs / "leave.pdf").write_bytes(re.sub(rb"startxref\s+\d+", b"startxref\n12", data))  # a wrong xref offset
    index, model, qa = str(tmp_path / "index"), str(tiny_model_dir), str(tiny_seq2seq_dir)
    script = (
        "import sys; from indexer.cli import main\n"
        f"assert main(['build', {str(docs)!r}, '--index', {index!r}, '--model', {model!r}]) == 0\n"
        f"sys.exit(main(['ask', 'How many days of leave?', '--index', {index!r}, '--qa-model-en', {qa!r},"
        f" '--qa-model-ja', {qa!r}, '--device', 'cpu', '--precision', 'fp32']))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TQDM_DISABLE")}
    with open(tmp_path / "stderr.txt", "w+b") as stderr:
        done = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=stderr, env=env)
        stderr.seek(0)
        errors = stderr.read().decode("utf-8", "replace")
    assert done.returncode == 0, errors
    assert "leave.pdf" in done.stdout.decode("utf-8") and "Loading weights" not in errors
    assert "startxref" not in errors and errors == "", errors
