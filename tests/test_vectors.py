"""Vector index types: the approximate IVF-SQ8 index must keep results, deletions and filters correct.

The approximate type is forced on small synthetic sets with a low threshold (a parameter, or the
INDEXER_IVF_THRESHOLD environment variable for the build path), so these tests stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from tiny_index import build

from search.ingest.chunk import ChunkSettings
from search.models.encoder import Encoder
from search.retrieval.filters import Filters
from search.retrieval.searcher import Searcher
from search.settings import IVF_THRESHOLD
from search.storage.generations import index_status
from search.storage.store import Store
from search.storage.vectors import (
    FLAT,
    IVF_SQ8,
    VectorIndex,
    choose_index_type,
    ivf_lists,
    vectors_path,
)

DIMENSION = 32


def clustered(n: int = 3000, clusters: int = 60, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around `clusters` centres, with ids that are not positions (as SQLite's are not)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, DIMENSION)).astype(np.float32)
    data = centres[rng.integers(clusters, size=n)] + 0.3 * rng.standard_normal((n, DIMENSION)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return np.arange(1000, 1000 + 3 * n, 3, dtype=np.int64), data


def batches(
    ids: np.ndarray, data: np.ndarray, size: int = 500
) -> Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]:
    return lambda: ((ids[s : s + size], data[s : s + size]) for s in range(0, len(ids), size))


def exact_top(ids: np.ndarray, data: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in ids[np.argsort(-(data @ query), kind="stable")[:k]]]


@pytest.fixture(scope="module")
def dataset() -> tuple[np.ndarray, np.ndarray]:
    return clustered()


@pytest.fixture()
def ivf(dataset: tuple[np.ndarray, np.ndarray]) -> VectorIndex:
    ids, data = dataset
    return VectorIndex.build(DIMENSION, batches(ids, data), len(ids), threshold=100)


def queries(data: np.ndarray, count: int = 30, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = data[rng.choice(len(data), size=count, replace=False)]
    noisy = picked + 0.05 * rng.standard_normal(picked.shape).astype(np.float32)
    return noisy / np.linalg.norm(noisy, axis=1, keepdims=True)


def test_type_follows_the_threshold_with_hysteresis(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_index_type(50_000) == FLAT
    assert choose_index_type(5_000_000) == IVF_SQ8
    assert choose_index_type(101, threshold=100) == IVF_SQ8
    assert choose_index_type(100, threshold=100) == FLAT
    # An IVF index that shrinks a little stays IVF (no re-training on every build); far below, it goes flat.
    assert choose_index_type(80, current=IVF_SQ8, threshold=100) == IVF_SQ8
    assert choose_index_type(40, current=IVF_SQ8, threshold=100) == FLAT
    monkeypatch.setenv(IVF_THRESHOLD.env, "10")
    assert choose_index_type(11) == IVF_SQ8


def test_small_sets_stay_exact(dataset: tuple[np.ndarray, np.ndarray]) -> None:
    ids, data = dataset
    flat = VectorIndex.build(DIMENSION, batches(ids, data), len(ids))
    assert flat.index_type == FLAT and not flat.approximate
    query = data[7]
    assert [i for i, _ in flat.search(query, 5)] == exact_top(ids, data, query, 5)


def test_ivf_top_k_matches_exact_search_on_easy_data(ivf: VectorIndex, dataset: tuple[np.ndarray, np.ndarray]) -> None:
    ids, data = dataset
    assert ivf.index_type == IVF_SQ8 and ivf.approximate and len(ivf) == len(ids)
    assert ivf.ivf is not None and ivf.ivf.nlist == ivf_lists(len(ids)) > 1
    assert sorted(ivf.ids().tolist()) == ids.tolist()

    def lookup(wanted: list[int]) -> dict[int, np.ndarray]:
        return {i: data[(i - 1000) // 3] for i in wanted}

    recall, reranked = [], []
    for query in queries(data):
        truth = exact_top(ids, data, query, 10)
        hits = ivf.search(query, 10)
        recall.append(len({i for i, _ in hits} & set(truth)) / 10)
        exact_hits = ivf.search(query, 10, exact=lookup)
        reranked.append(len({i for i, _ in exact_hits} & set(truth)) / 10)
        assert hits[0][0] == truth[0]
        # Re-ranked scores are the exact cosines.
        assert exact_hits[0][1] == pytest.approx(float(data[(truth[0] - 1000) // 3] @ query), abs=1e-5)
    assert np.mean(recall) >= 0.95
    assert np.mean(reranked) >= 0.99


def test_ivf_deletions_are_honoured(ivf: VectorIndex, dataset: tuple[np.ndarray, np.ndarray]) -> None:
    ids, data = dataset
    removed = ids[::7]
    ivf.remove(removed.tolist())
    assert len(ivf) == len(ids) - len(removed)
    assert not set(ivf.ids().tolist()) & set(removed.tolist())
    gone = set(removed.tolist())
    for position in range(0, len(ids), 7)[:40]:  # each removed vector, searched for with itself
        hits = ivf.search(data[position], 20)
        assert hits and not {i for i, _ in hits} & gone


def test_ivf_filters_are_honoured(ivf: VectorIndex, dataset: tuple[np.ndarray, np.ndarray]) -> None:
    ids, data = dataset
    rng = np.random.default_rng(2)
    allowed = np.sort(rng.choice(ids, size=len(ids) // 20, replace=False))
    subset = data[(allowed - 1000) // 3]

    def lookup(wanted: list[int]) -> dict[int, np.ndarray]:
        return {i: data[(i - 1000) // 3] for i in wanted}

    recall = []
    for query in queries(data, count=20, seed=3):
        truth = exact_top(allowed, subset, query, 10)
        hits = ivf.search(query, 10, allowed_ids=allowed)
        assert len(hits) == 10 and {i for i, _ in hits} <= set(allowed.tolist())
        recall.append(len({i for i, _ in hits} & set(truth)) / 10)
        # 8-bit codes may swap near-ties; re-ranked with the exact vectors, the order is the exact one.
        assert [i for i, _ in ivf.search(query, 10, allowed_ids=allowed, exact=lookup)][:3] == truth[:3]
    assert np.mean(recall) >= 0.95
    # A filter naming a few ids (some of them unknown) returns just those that exist.
    few = np.array([ids[0], ids[5], 10**12], dtype=np.int64)
    assert {i for i, _ in ivf.search(data[0], 10, allowed_ids=few)} == {int(ids[0]), int(ids[5])}
    assert ivf.search(data[0], 10, allowed_ids=np.array([], dtype=np.int64)) == []


def test_ivf_save_and_load_round_trip(ivf: VectorIndex, dataset: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    ids, data = dataset
    ivf.remove(ids[:10].tolist())
    path = ivf.save(tmp_path, 4)
    assert path == vectors_path(tmp_path, 4)
    loaded = VectorIndex.load(path)
    assert loaded.index_type == IVF_SQ8 and len(loaded) == len(ivf) and loaded.nprobe == ivf.nprobe
    for query in queries(data, count=5):
        assert loaded.search(query, 10) == ivf.search(query, 10)


def test_rebuild_is_needed_when_the_size_crosses_the_threshold(dataset: tuple[np.ndarray, np.ndarray]) -> None:
    ids, data = dataset
    small = VectorIndex.build(DIMENSION, batches(ids[:50], data[:50]), 50, threshold=100)
    assert small.index_type == FLAT and not small.needs_rebuild(threshold=100)
    small.add(ids[50:200], data[50:200])
    assert small.needs_rebuild(threshold=100)
    ivf = VectorIndex.build(DIMENSION, batches(ids[:200], data[:200]), 200, threshold=100)
    assert ivf.index_type == IVF_SQ8 and not ivf.needs_rebuild(threshold=100)
    ivf.remove(ids[:160].tolist())
    assert ivf.needs_rebuild(threshold=100)


TEXTS = {
    f"doc{i:02d}.txt": "\n\n".join(
        f"第{i}章の{j}番目の段落です。有給休暇と経費精算について説明します。" for j in range(4)
    )
    for i in range(12)
}


def test_build_chooses_ivf_above_the_threshold_and_stays_consistent(
    tmp_path: Path, tiny_encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(IVF_THRESHOLD.env, "20")
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    for name, text in TEXTS.items():
        (docs / name).write_text(text, encoding="utf-8")
    summary = build(docs, index, tiny_encoder, chunk=ChunkSettings(max_tokens=16, overlap_tokens=0))
    assert summary.passages_added > 20
    status = index_status(index)
    assert status["index_type"] == IVF_SQ8 and status["consistent"]
    searcher = Searcher(index, encoder=tiny_encoder)
    try:
        hits = searcher.search("有給休暇", k=5, mode="dense").hits
        assert len(hits) == 5
        only = searcher.search("有給休暇", k=5, mode="dense", filters=Filters(path_prefix="doc03")).hits
        assert only and {h.path for h in only} == {"doc03.txt"}
    finally:
        searcher.close()
    # Deleting files removes exactly their passages from the IVF index; SQLite and FAISS stay in step.
    for name in list(TEXTS)[:3]:
        (docs / name).unlink()
    build(docs, index, tiny_encoder, chunk=ChunkSettings(max_tokens=16, overlap_tokens=0))
    status = index_status(index)
    assert status["consistent"] and status["passages"] == status["vectors"]
    store = Store(index)
    try:
        assert store.manifest()["index_type"] == status["index_type"]
    finally:
        store.close()
