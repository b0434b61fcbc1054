from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from tiny_index import build

from search.errors import IndexLockedError
from search.ingest.chunk import ChunkSettings
from search.models.encoder import Encoder
from search.models.executors import LocalExecutor
from search.models.spec import EncoderSpec
from search.retrieval.searcher import Searcher
from search.storage.generations import index_status
from search.storage.store import Store
from search.storage.vectors import VectorIndex, vectors_path
from search.storage.writer import write_lock

RULES = (
    "就業規則\n\n第1条 この規則は従業員に適用されます。\n\n"
    "第2条 有給休暇は十日付与されます。申請は三日前までに行います。"
)
EXPENSE = (
    "# 経費精算\n\n## 締め日\n\n経費精算の締め日は毎月二十五日です。\n\n"
    "## 領収書\n\n領収書の原本を経理部に提出してください。"
)
HELPDESK = (
    "パスワードを忘れた場合は、ITヘルプデスク（内線1234）に連絡してください。\n\n"
    "VPNに接続できないときは設定を確認してください。"
)


@pytest.fixture()
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "人事").mkdir(parents=True)
    (root / "人事" / "就業規則.txt").write_bytes(RULES.encode("cp932"))
    (root / "expense.md").write_text(EXPENSE, encoding="utf-8")
    (root / "helpdesk.txt").write_text(HELPDESK, encoding="utf-8")
    (root / "photo.png").write_bytes(b"\x89PNG\r\n")
    return root


def test_first_build_indexes_supported_files(docs: Path, tmp_path: Path, tiny_encoder: Encoder) -> None:
    summary = build(docs, tmp_path / "index", tiny_encoder)
    assert summary.files_seen == 3 and summary.files_indexed == 3 and summary.files_failed == []
    assert summary.files_skipped == [{"path": "photo.png", "reason": "unsupported format .png"}]
    assert summary.passages_added == summary.passages_encoded > 0
    status = index_status(tmp_path / "index")
    assert status["consistent"] and status["passages"] == status["vectors"] == summary.passages_added
    assert status["documents"] == 3 and status["generation"] == 1 and status["model"] == tiny_encoder.model_id
    store = Store(tmp_path / "index")
    rows = store.conn.execute("SELECT path, encoding, format, title FROM documents ORDER BY path").fetchall()
    assert ("人事/就業規則.txt", "cp932", "txt", "就業規則") in rows
    # Every passage's offsets point at its exact text inside the stored document text.
    for text, start, end, doc_text in store.conn.execute(
        "SELECT p.text, p.char_start, p.char_end, d.text FROM passages p JOIN documents d ON d.id = p.document_id"
    ):
        assert doc_text[start:end] == text


def test_rebuild_of_unchanged_folder_encodes_nothing(docs: Path, tmp_path: Path, tiny_encoder: Encoder) -> None:
    first = build(docs, tmp_path / "index", tiny_encoder)
    os.utime(docs / "helpdesk.txt")  # touched, same content
    second = build(docs, tmp_path / "index", tiny_encoder)
    assert second.passages_encoded == 0 and second.passages_added == 0 and second.passages_removed == 0
    assert second.files_unchanged == 3 and second.generation == first.generation


def test_editing_one_file_reencodes_only_its_changed_passages(docs: Path, tmp_path: Path, tiny_encoder) -> None:
    build(docs, tmp_path / "index", tiny_encoder)
    store = Store(tmp_path / "index")
    before = dict(store.conn.execute("SELECT text, id FROM passages").fetchall())
    (docs / "expense.md").write_text(EXPENSE.replace("二十五日", "二十日"), encoding="utf-8")
    summary = build(docs, tmp_path / "index", tiny_encoder)
    assert summary.files_indexed == 1 and summary.files_unchanged == 2
    assert summary.passages_encoded == 1 and summary.passages_added == 1 and summary.passages_removed == 1
    after = dict(store.conn.execute("SELECT text, id FROM passages").fetchall())
    kept = set(before) & set(after)
    assert all(before[t] == after[t] for t in kept), "unchanged passages keep their ids"
    assert "経費精算の締め日は毎月二十日です。" in after and "経費精算の締め日は毎月二十五日です。" not in after
    assert index_status(tmp_path / "index")["consistent"]


def test_deleting_a_file_removes_exactly_its_passages(docs: Path, tmp_path: Path, tiny_encoder) -> None:
    build(docs, tmp_path / "index", tiny_encoder)
    store = Store(tmp_path / "index")
    doomed = store.conn.execute(
        "SELECT count(*) FROM passages p JOIN documents d ON d.id = p.document_id WHERE d.path = 'helpdesk.txt'"
    ).fetchone()[0]
    total = store.counts()["passages"]
    (docs / "helpdesk.txt").unlink()
    summary = build(docs, tmp_path / "index", tiny_encoder)
    assert summary.files_removed == 1 and summary.passages_removed == doomed and summary.passages_encoded == 0
    status = index_status(tmp_path / "index")
    assert status["passages"] == status["vectors"] == total - doomed and status["consistent"]


def test_changed_chunk_settings_rebuild_everything_and_say_so(docs: Path, tmp_path: Path, tiny_encoder) -> None:
    build(docs, tmp_path / "index", tiny_encoder)
    summary = build(docs, tmp_path / "index", tiny_encoder, chunk=ChunkSettings(max_tokens=16, overlap_tokens=0))
    assert summary.full_rebuild and "chunker" in summary.full_rebuild
    assert summary.files_indexed == 3
    assert index_status(tmp_path / "index")["consistent"]


def test_changed_model_reencodes_everything(docs: Path, tmp_path: Path, tiny_encoder, minilm_dir) -> None:
    build(docs, tmp_path / "index", tiny_encoder)
    minilm = Encoder(str(minilm_dir), device="cpu", precision="fp32")
    summary = build(docs, tmp_path / "index", minilm)
    assert summary.full_rebuild and "model" in summary.full_rebuild
    status = index_status(tmp_path / "index")
    assert summary.passages_encoded == status["passages"] == status["vectors"]
    assert status["dimension"] == 384 and status["consistent"]


def test_faiss_top_k_equals_brute_force(docs: Path, tmp_path: Path, tiny_encoder: Encoder) -> None:
    build(docs, tmp_path / "index", tiny_encoder)
    store = Store(tmp_path / "index")
    ids, vectors = next(store.iter_embeddings())
    query = tiny_encoder.encode_query("有給休暇")
    expected = [int(ids[i]) for i in np.argsort(-(vectors @ query))[:5]]
    hits = Searcher(tmp_path / "index", encoder=tiny_encoder).search("有給休暇", k=5, mode="dense").hits
    assert [h.passage_id for h in hits] == expected


def test_missing_faiss_file_is_rebuilt_without_reencoding(docs: Path, tmp_path: Path, tiny_encoder) -> None:
    first = build(docs, tmp_path / "index", tiny_encoder)
    vectors_path(tmp_path / "index", first.generation).unlink()
    assert not index_status(tmp_path / "index")["consistent"]
    summary = build(docs, tmp_path / "index", tiny_encoder)
    assert summary.vectors_repaired and summary.passages_encoded == 0
    assert index_status(tmp_path / "index")["consistent"]


def test_stale_faiss_file_is_detected(docs: Path, tmp_path: Path, tiny_encoder: Encoder) -> None:
    first = build(docs, tmp_path / "index", tiny_encoder)
    VectorIndex.empty(tiny_encoder.dimension).save(tmp_path / "index", first.generation)
    status = index_status(tmp_path / "index")
    assert not status["consistent"] and "FAISS has 0 vectors" in status["consistency"]
    hits = Searcher(tmp_path / "index", encoder=tiny_encoder).search("有給休暇", k=3, mode="dense").hits
    assert len(hits) == 3, "search repairs its in-memory vectors from SQLite"


def test_undecodable_file_is_reported_and_others_indexed(docs: Path, tmp_path: Path, tiny_encoder) -> None:
    (docs / "broken.txt").write_bytes(bytes(range(128, 256)) * 4)
    summary = build(docs, tmp_path / "index", tiny_encoder)
    assert [f["path"] for f in summary.files_failed] == ["broken.txt"]
    assert summary.files_indexed == 3


def test_a_file_that_breaks_later_keeps_its_previous_passages(docs: Path, tmp_path: Path, tiny_encoder) -> None:
    build(docs, tmp_path / "index", tiny_encoder)
    before = index_status(tmp_path / "index")["passages"]
    (docs / "helpdesk.txt").write_bytes(b"\xff\xfe\x00" + bytes(range(128, 256)) * 4)
    summary = build(docs, tmp_path / "index", tiny_encoder)
    assert [f["path"] for f in summary.files_failed] == ["helpdesk.txt"]
    assert index_status(tmp_path / "index")["passages"] == before


def test_second_writer_is_refused(docs: Path, tmp_path: Path, tiny_encoder: Encoder) -> None:
    with write_lock(tmp_path / "index"), pytest.raises(IndexLockedError, match="Another build is writing"):
        build(docs, tmp_path / "index", tiny_encoder)


def test_documents_under_an_unreadable_folder_are_kept(tmp_path: Path, tiny_encoder, monkeypatch) -> None:
    import os as os_module

    docs = tmp_path / "docs"
    (docs / "人事").mkdir(parents=True)
    (docs / "人事" / "rules.txt").write_text(RULES, encoding="utf-8")
    (docs / "helpdesk.txt").write_text(HELPDESK, encoding="utf-8")
    build(docs, tmp_path / "index", tiny_encoder)
    before = index_status(tmp_path / "index")["passages"]
    real_scandir = os_module.scandir

    def scandir(path):
        if Path(path).name == "人事":
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr("search.ingest.discover.os.scandir", scandir)
    summary = build(docs, tmp_path / "index", tiny_encoder)
    assert summary.files_removed == 0 and summary.files_failed == [{"path": "人事", "reason": "permission denied"}]
    assert index_status(tmp_path / "index")["passages"] == before


def test_a_file_over_its_time_budget_fails_alone_and_the_build_goes_on(
    tmp_path: Path, tiny_encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The per-file budget (file_timeout) is checked per unit of work: a clock that advances one second per
    look makes the long file run out of budget, deterministically, while the short one fits."""
    import itertools

    import search.ingest.build as build_module
    from search.ingest.deadline import Deadline

    ticks = itertools.count()
    monkeypatch.setattr(build_module, "Deadline", lambda seconds: Deadline(seconds, clock=lambda: float(next(ticks))))
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "short.txt").write_text("有給休暇は年10日です。\n", encoding="utf-8")
    (docs / "slow.txt").write_text("経費精算の手順。\n" * 5000, encoding="utf-8")
    summary = build(docs, tmp_path / "index", tiny_encoder, file_timeout=50)
    assert [f["path"] for f in summary.files_failed] == ["slow.txt"]
    assert "file_timeout" in summary.files_failed[0]["reason"]
    assert summary.files_indexed == 1


def test_the_model_loads_while_files_are_read_but_never_beside_a_calibration(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build loads the weights in the background once it knows it will encode (issue #16: the build's
    time outside the forward pass); with precision auto and no calibration yet, it leaves the load to the
    first encode, because the calibration times candidates and must not share the CPU with reading."""
    known = EncoderSpec(str(tiny_model_dir), max_length=32, device="cpu", precision="fp32")
    thread = LocalExecutor().prepare(known)
    assert thread is not None
    thread.join(timeout=120)
    assert not thread.is_alive() and known.get().loaded

    monkeypatch.setenv("INDEXER_CACHE_DIR", str(tmp_path / "empty-cache"))  # other tests calibrate this model
    pending = EncoderSpec(str(tiny_model_dir), max_length=32, device="cpu", precision="auto")
    assert pending.get().backend_choice is None
    assert LocalExecutor().prepare(pending) is None
    assert not pending.get().loaded
