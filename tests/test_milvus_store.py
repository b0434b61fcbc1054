"""Vectors in Milvus (`--vector-store milvus`, issue #13), in a Milvus Lite file.

The manifest records the store so that search and status follow it; passage ids are SQLite's; filters resolved
in SQLite restrict the dense leg; deletes and generations stay consistent with SQLite, and what a killed build
leaves in Milvus is invisible to readers and repaired by the next build.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_index import SMALL_PASSAGES, build

from indexer.cli import main
from search import Index
from search.models.encoder import Encoder
from search.storage.generations import index_status
from search.storage.store import Store
from search.storage.vector_store import StoreChoice, use_vector_store

pytest.importorskip("pymilvus", reason="the [milvus] extra is installed by `make test` in CI (.ci/run)")
from search.storage.milvus_store import MilvusStore, connect, disconnect

pytestmark = pytest.mark.slow

TEXTS = {
    "hr/leave.txt": "有給休暇は入社から六か月後に十日付与されます。申請は三日前までに人事部へ提出してください。",
    "hr/remote.txt": "在宅勤務の申請は前日までに上長の承認を得てください。VPN の設定も確認してください。",
    "it/password.md": "# パスワード\n\nパスワードを忘れた場合はヘルプデスクに連絡してください。",
    "finance/expenses.txt": "経費精算の締め日は毎月二十五日です。領収書の原本は経理部に提出してください。",
    "en/policy.txt": "Paid leave is granted after six months. Submit the request three days in advance.",
}
QUERIES = ("有給休暇の申請", "パスワードを忘れた", "経費精算", "paid leave request", "VPN")


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for rel, text in TEXTS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def milvus(tmp_path: Path) -> StoreChoice:
    return StoreChoice("milvus", milvus_uri=str(tmp_path / "vectors.db"), milvus_collection="test_passages")


def build_milvus(docs: Path, index: Path, encoder: Encoder, tmp_path: Path):
    with use_vector_store(milvus(tmp_path)):
        return build(docs, index, encoder)


def dense(index: Path, encoder: Encoder, query: str, **filters: str) -> list[tuple[str, int, float]]:
    with Index(index, encoder=encoder) as opened:
        hits = opened.search(query, k=5, mode="dense", filters=filters or None).hits
        return [(hit.path, hit.passage_id, round(hit.score, 5)) for hit in hits]


def milvus_ids(index: Path, tmp_path: Path, generation: int) -> np.ndarray:
    store = Store(index)
    try:
        backend = MilvusStore(index, milvus(tmp_path), store.manifest())
        assert backend.collection is not None
        try:
            return np.sort(backend.collection_ids(backend.collection, f"generation <= {generation}"))
        finally:
            backend.close()
    finally:
        store.close()


def test_a_milvus_index_answers_like_a_faiss_index(docs: Path, tmp_path: Path, tiny_encoder: Encoder) -> None:
    build(docs, tmp_path / "faiss", tiny_encoder)
    build_milvus(docs, tmp_path / "milvus", tiny_encoder, tmp_path)
    status = index_status(tmp_path / "milvus")
    assert status["vector_store"] == "milvus" and status["consistent"], status["consistency"]
    assert status["vectors"] == status["passages"] > 0
    assert not list((tmp_path / "milvus").glob("vectors.*.faiss"))  # the vectors live in Milvus only
    for query in QUERIES:
        assert dense(tmp_path / "milvus", tiny_encoder, query) == dense(tmp_path / "faiss", tiny_encoder, query)


def test_filters_restrict_the_dense_leg_before_ranking(docs: Path, tmp_path: Path, tiny_encoder: Encoder) -> None:
    build_milvus(docs, tmp_path / "index", tiny_encoder, tmp_path)
    hits = dense(tmp_path / "index", tiny_encoder, "有給休暇の申請", path_prefix="it/")
    assert hits and {path for path, _, _ in hits} == {"it/password.md"}


def test_deletes_and_edits_follow_sqlite(docs: Path, tmp_path: Path, tiny_encoder: Encoder) -> None:
    index = tmp_path / "index"
    build_milvus(docs, index, tiny_encoder, tmp_path)
    (docs / "it/password.md").unlink()
    (docs / "hr/remote.txt").write_text("慶弔休暇の日数は就業規則の別表に定めます。", encoding="utf-8")
    summary = build_milvus(docs, index, tiny_encoder, tmp_path)
    assert summary.files_removed == 1 and summary.passages_encoded == 1
    status = index_status(index)
    assert status["consistent"], status["consistency"]
    store = Store(index)
    try:
        assert np.array_equal(milvus_ids(index, tmp_path, summary.generation), np.sort(store.passage_ids()))
    finally:
        store.close()
    assert all(path != "it/password.md" for path, _, _ in dense(index, tiny_encoder, "パスワードを忘れた"))


def test_search_and_status_follow_the_manifest_without_flags(
    docs: Path, tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = str(tmp_path / "index")
    chunk = ("--chunk-tokens", str(SMALL_PASSAGES.max_tokens), "--chunk-overlap", "0")
    uri = str(tmp_path / "cli.db")
    args = ["build", str(docs), "--index", index, "--model", str(tiny_model_dir), *chunk, "--json"]
    assert main([*args, "--vector-store", "milvus", "--milvus-uri", uri]) == 0
    capsys.readouterr()
    assert main(["status", "--index", index, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["vector_store"] == "milvus" and status["milvus_uri"] == uri and status["consistent"]
    assert main(["search", "パスワード", "--index", index, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["path"] == "it/password.md"
    # A later build without flags keeps the recorded store.
    (docs / "hr/new.txt").write_text("健康診断は年に一回、全従業員が受診します。", encoding="utf-8")
    assert main(["build", str(docs), "--index", index, "--json"]) == 0
    capsys.readouterr()
    assert main(["status", "--index", index, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["vector_store"] == "milvus" and status["consistent"] and status["generation"] == 2


def test_moving_a_faiss_index_to_milvus_copies_vectors_without_encoding(
    docs: Path, tmp_path: Path, tiny_encoder: Encoder
) -> None:
    index = tmp_path / "index"
    build(docs, index, tiny_encoder)
    before = dense(index, tiny_encoder, "有給休暇の申請")
    moved = build_milvus(docs, index, tiny_encoder, tmp_path)
    assert moved.passages_encoded == 0 and moved.generation == 2
    status = index_status(index)
    assert status["vector_store"] == "milvus" and status["consistent"], status["consistency"]
    assert dense(index, tiny_encoder, "有給休暇の申請") == before


def test_rows_a_killed_build_left_are_invisible_and_the_next_build_removes_them(
    docs: Path, tmp_path: Path, tiny_encoder: Encoder
) -> None:
    index = tmp_path / "index"
    first = build_milvus(docs, index, tiny_encoder, tmp_path)
    before = dense(index, tiny_encoder, "有給休暇の申請")
    store = Store(index)
    manifest = store.manifest()
    deleted = int(store.passage_ids()[0])
    store.close()
    client = connect(milvus(tmp_path).milvus_uri or "", index)
    try:
        collection = manifest["milvus_collection"]
        # A build killed before its commit: a row of the next generation, whose id SQLite never committed ...
        stray = np.ones(int(manifest["dimension"]), dtype=np.float32) / np.sqrt(int(manifest["dimension"]))
        client.upsert(collection, [{"id": 10_000, "generation": first.generation + 1, "vector": stray.tolist()}])
        # ... and one killed after its commit, before it deleted a removed passage's row: here, a row gone.
        client.delete(collection, ids=[deleted])
    finally:
        disconnect(milvus(tmp_path).milvus_uri or "", index)
    assert not index_status(index)["consistent"]
    # Readers never return the stray row; with a row missing they search vectors rebuilt from SQLite.
    assert dense(index, tiny_encoder, "有給休暇の申請") == before
    repaired = build_milvus(docs, index, tiny_encoder, tmp_path)
    assert repaired.vectors_repaired and repaired.generation == first.generation
    status = index_status(index)
    assert status["consistent"], status["consistency"]
    assert 10_000 not in milvus_ids(index, tmp_path, first.generation + 1)


def test_milvus_flags_without_the_milvus_store_are_refused(
    docs: Path, tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index = tmp_path / "index"
    args = ["build", str(docs), "--index", str(index), "--model", str(tiny_model_dir)]
    assert main([*args, "--milvus-uri", str(tmp_path / "x.db")]) == 2
    assert "vector_store milvus" in capsys.readouterr().err
    assert not (tmp_path / "x.db").exists()
