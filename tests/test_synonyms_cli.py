"""`indexer build --synonyms FILE`: a company's own jargon reaches the documents' words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from indexer.cli import main


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "休暇.txt").write_text("有給休暇は入社から六か月後に十日付与されます。", encoding="utf-8")
    (root / "it.md").write_text("# ヘルプデスク\n\nパスワードを忘れた場合は内線1234へ。", encoding="utf-8")
    return root


def search(capsys: pytest.CaptureFixture[str], index: Path, query: str) -> dict:
    capsys.readouterr()
    assert main(["search", query, "--index", str(index), "--mode", "keyword", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_users_synonym_finds_the_documents_word(
    docs: Path, tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "index"
    rules = tmp_path / "synonyms.txt"
    rules.write_text("# our jargon: PTO is what the US office calls it\nPTO, 有給休暇\n", encoding="utf-8")
    args = ["build", str(docs), "--index", str(index), "--model", str(tiny_model_dir), "--precision", "fp32"]
    assert main([*args, "--synonyms", str(rules)]) == 0
    assert (index / "synonyms.txt").read_text(encoding="utf-8") == rules.read_text(encoding="utf-8")
    found = search(capsys, index, "PTOは何日")
    assert [hit["path"] for hit in found["results"]][:1] == ["休暇.txt"]
    assert {"term": "有給休暇", "source": "pto", "origin": "user"} in found["expansions"]


def test_a_bad_synonyms_file_is_refused_naming_its_line_and_nothing_is_built(
    docs: Path, tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "synonyms.txt"
    rules.write_text("有休, 有給休暇\n=> 年休\n", encoding="utf-8")
    index = tmp_path / "index"
    code = main(["build", str(docs), "--index", str(index), "--model", str(tiny_model_dir), "--synonyms", str(rules)])
    err = capsys.readouterr().err
    assert code == 2 and "synonyms.txt" in err and "2" in err
    assert not (index / "index.sqlite").exists()
