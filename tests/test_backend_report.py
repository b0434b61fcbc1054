"""Which encoder backend computes the vectors, and why, is shown where an operator looks: `indexer status`
and GET /health."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from tiny_index import build

from api.app import create_app
from api.settings import ApiSettings
from indexer.cli import main
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher


@pytest.fixture()
def index(tmp_path: Path, tiny_encoder: Encoder) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "休暇.txt").write_text("有給休暇は入社から六か月後に十日付与されます。", encoding="utf-8")
    build(docs, tmp_path / "index", tiny_encoder)
    return tmp_path / "index"


def test_health_names_the_encoder_backend_and_why(index: Path, tiny_encoder: Encoder) -> None:
    app = create_app(
        ApiSettings(index_dir=index, device="cpu", precision="fp32"), searcher=Searcher(index, encoder=tiny_encoder)
    )
    with TestClient(app) as client:
        health = client.get("/health").json()
    assert health["encoder"]["backend"] == tiny_encoder.info.backend != "pending"
    assert health["encoder"]["reason"]


def test_status_shows_the_backend_auto_chose_on_this_cpu(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("経費精算は翌月5日までに申請します。", encoding="utf-8")
    index = str(tmp_path / "index")
    assert main(["build", str(docs), "--index", index, "--model", str(tiny_model_dir), "--precision", "auto"]) == 0
    capsys.readouterr()
    assert main(["status", "--index", index, "--json"]) == 0
    backend = json.loads(capsys.readouterr().out)["encoder_backend"]
    assert backend["backend"] != "pending" and backend["reason"]
