"""`indexer ask` and `indexer quiz` end to end (tiny random models, offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from generation_corpus import write_documents
from tiny_index import build

from indexer.cli import EXIT_ERROR, EXIT_OK, main
from search.generation.export import read_table
from search.models.encoder import Encoder

RUNTIME = ["--device", "cpu", "--precision", "fp32"]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("cli-gen")
    build(write_documents(root / "docs"), root / "index", tiny_encoder)
    return root / "index"


def test_ask_extractive_json(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["ask", "有給休暇は何日付与されますか", "--index", str(index), "-k", "3", "--extractive", "--json", *RUNTIME]
    )
    assert code == EXIT_OK
    body = json.loads(capsys.readouterr().out)
    assert body["answerable"] and body["mode"] == "extractive" and body["citations"][0]["evidence"]["text"]


def test_ask_reports_the_fallback_when_the_configured_model_is_missing(
    index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INDEXER_QA_MODEL_JA", "/nonexistent/qa")  # configured, not typed on this command line
    code = main(["ask", "有給休暇は何日付与されますか", "--index", str(index), *RUNTIME])
    out = capsys.readouterr().out
    assert code == EXIT_OK and "[extractive answer" in out
    assert (
        "note: 回答生成モデル「/nonexistent/qa」がこのマシンにないため、文書から該当する文をそのまま示しています。"
        in out
    )
    assert "Sources:" in out and "人事/就業規則.txt" in out


def test_ask_with_a_model_flag_that_is_not_on_the_machine_exits_2(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["ask", "有給休暇は何日付与されますか", "--index", str(index), *RUNTIME]
    # Whichever language the question is in: a mistyped flag must not turn into a quietly different answer.
    for flag in ("--qa-model-ja", "--qa-model-en"):
        code = main([*args, flag, "/nonexistent/qa"])
        captured = capsys.readouterr()
        assert code == EXIT_ERROR and captured.out == "" and "'/nonexistent/qa' is not available" in captured.err
        assert f"(option {flag} or " in captured.err
    assert main([*args, "--qa-model-ja", "/nonexistent/qa", "--extractive"]) == EXIT_OK, "no generator is used"


def test_quiz_csv_from_the_environment_model(
    index: Path, tiny_seq2seq_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INDEXER_QG_MODEL", str(tiny_seq2seq_dir))
    args = ["quiz", "--document", "人事/就業規則.txt", "--index", str(index), "-n", "2", "--no-multiple-choice"]
    code = main([*args, "--format", "csv", "--max-new-tokens", "4", *RUNTIME])
    captured = capsys.readouterr()
    rows = read_table(captured.out, "csv")
    assert code == (EXIT_OK if rows else 1) and len(rows) <= 2
    assert all(r["path"] == "人事/就業規則.txt" and r["options"] == [] for r in rows)


def test_quiz_with_a_missing_model_flag_exits_2_naming_the_flag(
    index: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["quiz", "--query", "有給休暇", "--index", str(index), "--qg-model", "/nonexistent/qg", *RUNTIME])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR and "'/nonexistent/qg' is not available" in err
    assert "(option --qg-model or $INDEXER_QG_MODEL)" in err


def test_quiz_without_the_configured_model_makes_cloze_questions(
    index: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INDEXER_QG_MODEL", "/nonexistent/qg")
    code = main(["quiz", "--document", "人事/就業規則.txt", "-n", "2", "--index", str(index), *RUNTIME])
    captured = capsys.readouterr()
    body = json.loads(captured.out)
    assert code == EXIT_OK and body["mode"] == "cloze" and body["questions"]
    assert all(q["mode"] == "cloze" for q in body["questions"])
    assert (
        "note: 問題生成モデル「/nonexistent/qg」がこのマシンにないため、文書の文から穴埋め問題を作りました。"
        in captured.err
    )
    code = main(
        ["quiz", "--query", "休暇", "--mode", "cloze", "--qg-model", "/nonexistent/qg", "--index", str(index), *RUNTIME]
    )
    assert code == EXIT_OK, "cloze needs no model, so an unused --qg-model is not checked"
    assert json.loads(capsys.readouterr().out)["mode"] == "cloze"


def test_quiz_needs_exactly_one_source(index: Path) -> None:
    with pytest.raises(SystemExit):
        main(["quiz", "--index", str(index)])
    with pytest.raises(SystemExit):
        main(["quiz", "--query", "a", "--document", "b", "--index", str(index)])
