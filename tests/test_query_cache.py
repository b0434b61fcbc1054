"""The query-embedding cache: a repeated query never reaches the model, equivalent spellings share an entry,
a rebuild with another model never gets the old model's vectors, and the LRU keeps to its size.

The model's forward passes are counted with a forward hook on the token embedding (every forward pass of
both the Hugging Face path and search.models.fast_t5 goes through it), so nothing here depends on timing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from api_corpus import write_corpus
from fastapi.testclient import TestClient
from tiny_index import build
from tiny_models import make_sentence_t5

from api import ApiSettings, create_app
from search.models.encoder import Encoder
from search.retrieval.query_cache import QueryEmbeddingCache, normalize_query
from search.retrieval.searcher import Searcher


def fresh_encoder(model_dir: Path) -> Encoder:
    """Its own instance (not the session's tiny_encoder), so hooks and counts stay local to a test."""
    return Encoder(str(model_dir), device="cpu", precision="fp32")


@contextmanager
def forward_passes(encoder: Encoder) -> Iterator[list[int]]:
    """A one-element list holding the number of model forward passes run inside the block."""
    count = [0]

    def hook(*_args: object) -> None:
        count[0] += 1

    handle = encoder.model.encoder.embed_tokens.register_forward_hook(hook)
    try:
        yield count
    finally:
        handle.remove()


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same architecture and tokenizer as the session's tiny model, other weights (seed)."""
    return make_sentence_t5(tmp_path_factory.mktemp("models") / "tiny-sentence-t5-other", seed=1)


def test_a_repeated_query_does_not_run_the_model(tiny_model_dir: Path) -> None:
    encoder = fresh_encoder(tiny_model_dir)
    cache = QueryEmbeddingCache(8)
    with forward_passes(encoder) as passes:
        first = cache.vector(encoder, "有給休暇の申請")
        assert passes[0] == 1
        again = [cache.vector(encoder, "有給休暇の申請") for _ in range(3)]
        assert passes[0] == 1
    assert all(np.array_equal(first, v) for v in again)
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries) == (3, 1, 1)


def test_the_cached_vector_is_what_the_encoder_computes(tiny_model_dir: Path) -> None:
    encoder = fresh_encoder(tiny_model_dir)
    cache = QueryEmbeddingCache(8)
    vector = cache.vector(encoder, "経費精算の締め日")
    np.testing.assert_allclose(vector, encoder.encode_query("経費精算の締め日"), rtol=0, atol=1e-6)
    with pytest.raises(ValueError):
        vector[0] = 1.0  # shared between requests: read-only


def test_spellings_that_encode_alike_share_one_entry(tiny_model_dir: Path) -> None:
    encoder = fresh_encoder(tiny_model_dir)
    cache = QueryEmbeddingCache(8)
    # Full-width letters and digits, an ideographic space, half-width katakana, extra and outer whitespace:
    # NFKC and whitespace collapsing make them one text, and the tokenizer gives them one token sequence.
    variants = ["ＶＰＮ　接続 ２４時間", "VPN 接続 24時間", "  VPN   接続 24時間\n", "VPN 接続 24時間"]
    with forward_passes(encoder) as passes:
        vectors = [cache.vector(encoder, v) for v in variants]
    assert passes[0] == 1 and cache.stats().hits == len(variants) - 1 and len(cache) == 1
    assert len({normalize_query(encoder, v) for v in variants}) == 1
    for variant, vector in zip(variants, vectors, strict=True):
        np.testing.assert_allclose(vector, encoder.encode_query(variant), rtol=0, atol=1e-6)
    half_width = cache.vector(encoder, "ｶﾀｶﾅ")
    assert cache.vector(encoder, "カタカナ") is half_width
    assert cache.vector(encoder, "VPN 接続 24時") is not vectors[0]  # a different text is a different entry


def test_lru_evicts_the_least_recently_used_entry_at_the_limit(tiny_model_dir: Path) -> None:
    encoder = fresh_encoder(tiny_model_dir)
    cache = QueryEmbeddingCache(2)
    with forward_passes(encoder) as passes:
        cache.vector(encoder, "休暇")
        cache.vector(encoder, "経費")
        cache.vector(encoder, "休暇")  # now the most recently used
        cache.vector(encoder, "契約")  # evicts 経費
        assert passes[0] == 3 and len(cache) == 2 and cache.stats().evictions == 1
        cache.vector(encoder, "休暇")
        cache.vector(encoder, "契約")
        assert passes[0] == 3
        cache.vector(encoder, "経費")  # was evicted: encoded again
        assert passes[0] == 4
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.entries, stats.max_entries) == (3, 4, 2, 2)


def test_size_zero_turns_the_cache_off(tiny_model_dir: Path) -> None:
    encoder = fresh_encoder(tiny_model_dir)
    cache = QueryEmbeddingCache(0)
    with forward_passes(encoder) as passes:
        for _ in range(3):
            cache.vector(encoder, "休暇")
    assert passes[0] == 3 and len(cache) == 0 and cache.stats().misses == 3
    with pytest.raises(ValueError):
        QueryEmbeddingCache(-1)


def test_concurrent_lookups_stay_consistent(tiny_model_dir: Path) -> None:
    encoder = fresh_encoder(tiny_model_dir)
    _ = encoder.model
    cache = QueryEmbeddingCache(16)
    queries = [f"質問{n}" for n in range(24)]
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for query in queries * 3:
                cache.vector(encoder, query)
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    stats = cache.stats()
    assert stats.hits + stats.misses == 6 * 3 * len(queries)
    # Two threads missing on one text both encode it and store it once: evictions never exceed the excess.
    assert stats.entries == 16 and stats.misses - stats.evictions >= 16


def test_searcher_reuses_the_vector_across_modes_and_pages(tmp_path: Path, tiny_model_dir: Path) -> None:
    encoder = fresh_encoder(tiny_model_dir)
    build(write_corpus(tmp_path / "docs"), tmp_path / "index", encoder)
    searcher = Searcher(tmp_path / "index", encoder=encoder)
    with forward_passes(encoder) as passes:
        first = searcher.search("有給休暇の申請", k=3, mode="dense")
        assert passes[0] == 1
        again = searcher.search("有給休暇の申請 ", k=3, mode="dense")
        searcher.search("有給休暇の申請", k=3, mode="hybrid", offset=3)
        searcher.search("有給休暇の申請", k=3, mode="keyword")  # never encodes
        assert passes[0] == 1
    assert [h.passage_id for h in first.hits] == [h.passage_id for h in again.hits]
    searcher.close()


def test_a_rebuild_with_another_model_never_reuses_stale_vectors(
    tmp_path: Path, tiny_model_dir: Path, other_model_dir: Path
) -> None:
    docs = write_corpus(tmp_path / "docs")
    old = fresh_encoder(tiny_model_dir)
    build(docs, tmp_path / "index", old)
    # fp32 like the test's encoders, so that the swapped-in encoder computes exactly their vectors.
    searcher = Searcher(tmp_path / "index", device="cpu", precision="fp32", encoder=old)
    query = "経費精算の締め日"
    searcher.search(query, k=5, mode="dense")
    assert searcher.query_cache.stats().misses == 1 and len(searcher.query_cache) == 1

    new = fresh_encoder(other_model_dir)
    summary = build(docs, tmp_path / "index", new)
    assert summary.generation == 2
    old_vector, new_vector = old.encode_query(query), new.encode_query(query)
    assert not np.allclose(old_vector, new_vector, atol=1e-3)  # otherwise this test could not tell them apart

    result = searcher.search(query, k=5, mode="dense")
    assert result.generation == 2 and searcher.encoder.model_id == str(other_model_dir)
    assert searcher.query_cache.stats().misses == 2  # encoded again, by the new model
    _, vectors = searcher.vectors_for(searcher.store)
    expected = vectors.search(new_vector, 5)
    assert [h.passage_id for h in result.hits] == [pid for pid, _ in expected]
    np.testing.assert_allclose([h.score for h in result.hits], [s for _, s in expected], atol=1e-5)
    searcher.close()


def test_metrics_count_cache_hits_and_misses(tmp_path: Path, tiny_model_dir: Path) -> None:
    encoder = fresh_encoder(tiny_model_dir)
    build(write_corpus(tmp_path / "docs"), tmp_path / "index", encoder)
    searcher = Searcher(tmp_path / "index", encoder=encoder)
    app = create_app(ApiSettings(index_dir=tmp_path / "index"), searcher=searcher)
    with TestClient(app) as client:
        for mode in ("dense", "hybrid", "dense"):
            assert client.post("/search", json={"query": "休暇の申請", "mode": mode}).status_code == 200
        text = client.get("/metrics").text
    assert "docsearch_query_cache_hits_total 2.0" in text
    assert "docsearch_query_cache_misses_total 1.0" in text
    assert "docsearch_query_cache_entries 1.0" in text
