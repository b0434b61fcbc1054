"""HTTP API through FastAPI's test client, on an index built with the tiny random model.

The tiny model's vectors are random, so dense rankings are arbitrary: assertions about the dense leg are
structural (filters, shapes, fusion arithmetic), while keyword assertions are exact.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from api_corpus import OLD_MTIME, write_corpus
from fastapi.testclient import TestClient
from tiny_index import build

from api import ApiSettings, create_app
from indexer.cli import main
from search.errors import SearchError
from search.models.encoder import Encoder
from search.retrieval.filters import Filters
from search.retrieval.searcher import Searcher
from search.text import analysis
from search.text.synonyms import bundled_thesaurus

HIT_KEYS = {
    "passage_id",
    "score",
    "document_id",
    "path",
    "title",
    "format",
    "heading",
    "text",
    "start",
    "end",
    "ordinal",
    "snippet",
    "highlights",
    "dense",
    "keyword",
    "more_in_document",
    "window_start",
    "window_end",
    "window_text",
    "rerank_score",
}
MODES = ("hybrid", "dense", "keyword")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("api")
    docs = write_corpus(root / "docs")
    summary = build(docs, root / "index", tiny_encoder)
    assert summary.files_failed == [] and summary.generation == 1
    # From here on the documents exist only in the index: the API must never need the files.
    shutil.rmtree(docs)
    return root / "index"


@pytest.fixture(scope="module")
def client(index: Path) -> Iterator[TestClient]:
    """The real start-up path: the lifespan opens the index and loads the model named in its manifest."""
    app = create_app(ApiSettings(index_dir=index, device="cpu", precision="fp32"))
    with TestClient(app) as test_client:
        yield test_client


@contextmanager
def app_client(index: Path, encoder: Encoder, **settings: Any) -> Iterator[TestClient]:
    """An app with its own settings, sharing the already loaded tiny encoder (fast start-up)."""
    searcher = Searcher(index, encoder=encoder)
    app = create_app(ApiSettings(index_dir=index, **settings), searcher=searcher)
    with TestClient(app) as test_client:
        yield test_client


def search(client: TestClient, query: str, **body: Any) -> dict[str, Any]:
    response = client.post("/search", json={"query": query, **body})
    assert response.status_code == 200, response.text
    return response.json()


def ids(response: dict[str, Any]) -> list[int]:
    return [hit["passage_id"] for hit in response["results"]]


# -- search ------------------------------------------------------------------------------------------


def test_search_response_has_the_documented_shape(client: TestClient) -> None:
    body = search(client, "有給休暇の申請", k=3)
    assert set(body) == {
        "query",
        "mode",
        "generation",
        "k",
        "offset",
        "results",
        "legs_used",
        "leg_weights",
        "collapsed",
        "dense_model",
        "reranker",
        "query_terms",
        "expansions",
    }
    # MiniLM-like tiny model: the legs that placed a hit are named, and the analysed words are listed.
    assert body["legs_used"] and set(body["legs_used"]) <= {"dense", "keyword"}
    assert "申請" in body["query_terms"] and body["collapsed"] is False
    assert (body["query"], body["mode"], body["generation"], body["k"], body["offset"]) == (
        "有給休暇の申請",
        "hybrid",
        1,
        3,
        0,
    )
    assert len(body["results"]) == 3
    # Highlights are typed words or their synonyms (年次有給休暇 for 有給休暇), never a particle like の.
    synonyms = {e.term for e in analysis.analyze("有給休暇の申請", bundled_thesaurus()).expansions}
    for hit in body["results"]:
        assert set(hit) == HIT_KEYS
        assert 0 <= hit["start"] < hit["end"] and hit["end"] - hit["start"] == len(hit["text"])
        for start, end in hit["highlights"]:
            marked = hit["text"][start:end]
            assert marked != "の" and (marked in "有給休暇の申請" or marked in synonyms)
        if hit["highlights"]:
            assert "<mark>" in hit["snippet"]
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_reports_only_its_legs(client: TestClient, mode: str) -> None:
    results = search(client, "休暇", k=20, mode=mode)["results"]
    assert results
    if mode == "dense":
        assert all(h["dense"] is not None and h["keyword"] is None for h in results)
    elif mode == "keyword":
        assert all(h["keyword"] is not None and h["dense"] is None for h in results)
    else:
        assert all(h["dense"] is not None or h["keyword"] is not None for h in results)
        assert any(h["dense"] is not None and h["keyword"] is not None for h in results)


@pytest.mark.parametrize("term", ["休暇", "規程"])
def test_two_character_japanese_terms_are_found_by_the_keyword_leg(client: TestClient, term: str) -> None:
    results = search(client, term, k=10, mode="keyword")["results"]
    assert results, f"{term} must be found although it is only two characters long"
    assert all(term in hit["heading"] + "\n" + hit["text"] for hit in results)
    first = results[0]
    if term in first["text"]:
        start, end = first["highlights"][0]
        assert first["text"][start:end] == term and f"<mark>{term}</mark>" in first["snippet"]


def test_regulation_documents_are_found_by_規程(client: TestClient) -> None:
    paths = {hit["path"] for hit in search(client, "規程", k=10, mode="keyword")["results"]}
    assert {"人事/休暇規程.md", "old/旧出張規程.txt"} <= paths


def test_selective_filter_narrows_both_legs_before_ranking(client: TestClient) -> None:
    unfiltered = search(client, "休暇", k=100, mode="keyword")["results"]
    assert len(unfiltered) == 100 and not any(h["path"].startswith("legal/") for h in unfiltered), (
        "precondition: the legal passage ranks outside the unfiltered top 100"
    )
    legal = {"path_prefix": "legal/"}
    keyword = search(client, "休暇", k=10, mode="keyword", filters=legal)["results"]
    assert [h["path"] for h in keyword] == ["legal/契約.md"] and "休暇" in keyword[0]["text"]
    dense = search(client, "休暇", k=10, mode="dense", filters=legal)["results"]
    assert dense and all(h["path"] == "legal/契約.md" for h in dense)
    hybrid = search(client, "休暇", k=10, mode="hybrid", filters=legal)["results"]
    assert hybrid and all(h["path"] == "legal/契約.md" for h in hybrid)
    assert hybrid[0]["passage_id"] == keyword[0]["passage_id"]
    assert hybrid[0]["keyword"] is not None and hybrid[0]["dense"] is not None


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        ({"formats": ["md"]}, lambda h: h["format"] == "md"),
        ({"path_glob": "人事/*.txt"}, lambda h: h["path"] == "人事/就業規則.txt"),
        ({"tags": ["規程"]}, lambda h: h["path"] == "人事/休暇規程.md"),
        ({"tags": ["人事", "規程"]}, lambda h: h["path"] == "人事/休暇規程.md"),
        ({"modified_before": "2021-01-01"}, lambda h: h["path"] == "old/旧出張規程.txt"),
        ({"modified_before": OLD_MTIME + 1}, lambda h: h["path"] == "old/旧出張規程.txt"),
        ({"modified_after": "2021-01-01T00:00"}, lambda h: not h["path"].startswith("old/")),
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_filters_restrict_every_mode(client: TestClient, filters: dict[str, Any], check: Any, mode: str) -> None:
    results = search(client, "規程 休暇", k=50, mode=mode, filters=filters)["results"]
    assert results and all(check(hit) for hit in results)


def test_hybrid_adds_each_legs_normalized_score_with_this_querys_weights(index: Path, tiny_encoder: Encoder) -> None:
    # Restricted to a handful of passages, every candidate of both legs is on the page, so each leg's
    # min-max normalization can be recomputed from the hits themselves.
    searcher = Searcher(index, encoder=tiny_encoder)
    result = searcher.search("休暇", k=50, mode="hybrid", filters=Filters(path_prefix="人事/"))
    weights = result.weights
    assert weights is not None and weights.dense > 0 and weights.keyword > 0
    assert result.legs_used == ["dense", "keyword"]

    def normalized(leg: str) -> dict[int, float]:
        scores = {h.passage_id: getattr(h, leg).score for h in result.hits if getattr(h, leg) is not None}
        low, high = min(scores.values()), max(scores.values())
        return {pid: (score - low) / (high - low) for pid, score in scores.items()}

    dense, lexical = normalized("dense"), normalized("keyword")
    for hit in result.hits:
        expected = weights.dense * dense.get(hit.passage_id, 0.0) + weights.keyword * lexical.get(hit.passage_id, 0.0)
        assert hit.score == pytest.approx(expected)
    searcher.close()


@pytest.mark.parametrize("mode", MODES)
def test_pagination_is_stable_and_has_no_duplicates(client: TestClient, mode: str) -> None:
    k = 7
    top = ids(search(client, "休暇の申請", k=2 * k, mode=mode))
    first = ids(search(client, "休暇の申請", k=k, mode=mode))
    second = ids(search(client, "休暇の申請", k=k, offset=k, mode=mode))
    assert len(top) == 2 * k and first + second == top and len(set(top)) == len(top)
    assert ids(search(client, "休暇の申請", k=k, offset=k, mode=mode)) == second


def test_offset_past_the_end_gives_an_empty_page(client: TestClient) -> None:
    body = search(client, "規程", k=10, offset=1000, mode="keyword")
    assert body["results"] == [] and body["offset"] == 1000


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "あ" * 2001}, "query"),
        ({"query": "休暇", "k": 0}, "k"),
        ({"query": "休暇", "k": 101}, "k"),
        ({"query": "休暇", "k": "5"}, "k"),
        ({"query": "休暇", "k": True}, "k"),
        ({"query": "休暇", "offset": -1}, "offset"),
        ({"query": "休暇", "offset": 1001}, "offset"),
        ({"query": "休暇", "mode": "fuzzy"}, "mode"),
        ({"query": "休暇", "top_k": 5}, "top_k"),
        ({"query": "休暇", "filters": {"path": "人事/"}}, "filters.path"),
        ({"query": "休暇", "filters": {"modified_after": "last tuesday"}}, "filters.modified_after"),
        ({"query": "休暇", "filters": {"formats": "md"}}, "filters.formats"),
        ({"k": 5}, "query"),
    ],
)
def test_invalid_search_input_is_a_clear_422(client: TestClient, body: dict[str, Any], field: str) -> None:
    response = client.post("/search", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert any(item["field"] == field and item["msg"] for item in detail), detail


def test_422_does_not_echo_the_input_back(client: TestClient) -> None:
    response = client.post("/search", json={"query": "秘" * 2001})
    assert response.status_code == 422 and "秘秘" not in response.text
    assert "at most 2000 characters" in response.json()["detail"][0]["msg"]


def test_malformed_json_is_a_422(client: TestClient) -> None:
    response = client.post("/search", content=b'{"query": ', headers={"content-type": "application/json"})
    assert response.status_code == 422 and "detail" in response.json()


def test_search_error_is_a_400_without_server_paths(index: Path, tiny_encoder: Encoder, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise SearchError(f"The index at {index.resolve()} has no embedding model yet: run `indexer build`")

    with app_client(index, tiny_encoder) as test_client:
        monkeypatch.setattr(test_client.app.state.docsearch.searcher, "search", broken)
        response = test_client.post("/search", json={"query": "休暇"})
    assert response.status_code == 400
    assert response.json() == {"detail": "The index at <index> has no embedding model yet: run `indexer build`"}
    assert str(index) not in response.text


def test_unexpected_error_is_a_generic_500(index: Path, tiny_encoder: Encoder, monkeypatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"boom in {index}")

    searcher = Searcher(index, encoder=tiny_encoder)
    app = create_app(ApiSettings(index_dir=index), searcher=searcher)
    monkeypatch.setattr(searcher, "search", broken)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post("/search", json={"query": "休暇"})
    assert response.status_code == 500 and str(index) not in response.text and "Traceback" not in response.text
    assert response.json() == {"detail": "Internal server error; the server log has details"}


# -- documents ---------------------------------------------------------------------------------------


def test_documents_are_listed_by_path_with_stable_pages(client: TestClient) -> None:
    everything = client.get("/documents", params={"limit": 500}).json()
    assert everything["total"] == len(everything["documents"]) == 51 and everything["generation"] == 1
    paths = [d["path"] for d in everything["documents"]]
    assert paths == sorted(paths)
    first = client.get("/documents", params={"limit": 4}).json()["documents"]
    second = client.get("/documents", params={"limit": 4, "offset": 4}).json()["documents"]
    assert first + second == everything["documents"][:8]
    policy = next(d for d in everything["documents"] if d["path"] == "人事/休暇規程.md")
    assert policy["title"] == "休暇規程" and policy["tags"] == ["人事", "規程"] and policy["format"] == "md"
    assert policy["passage_count"] >= 2 and policy["encoding"] == "utf-8" and policy["size"] > 0
    rules = next(d for d in everything["documents"] if d["path"] == "人事/就業規則.txt")
    assert rules["encoding"] == "cp932"


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "many"}])
def test_document_list_rejects_bad_pages(client: TestClient, params: dict[str, Any]) -> None:
    assert client.get("/documents", params=params).status_code == 422


def test_document_detail_has_its_passages_in_order(client: TestClient) -> None:
    listing = client.get("/documents", params={"limit": 500}).json()["documents"]
    policy_id = next(d["id"] for d in listing if d["path"] == "人事/休暇規程.md")
    document = client.get(f"/documents/{policy_id}").json()
    assert document["id"] == policy_id and document["generation"] == 1
    passages = document["passages"]
    assert len(passages) == document["passage_count"]
    assert [p["ordinal"] for p in passages] == sorted(p["ordinal"] for p in passages)
    assert [p["start"] for p in passages] == sorted(p["start"] for p in passages)
    assert all(p["document_id"] == policy_id for p in passages)
    assert any("特別休暇" in p["text"] for p in passages)


def test_passage_detail_names_its_document(client: TestClient) -> None:
    hit = search(client, "締め日", k=1, mode="keyword")["results"][0]
    passage = client.get(f"/passages/{hit['passage_id']}").json()
    assert passage["text"] == hit["text"] and (passage["start"], passage["end"]) == (hit["start"], hit["end"])
    assert passage["document"]["path"] == "expense.md" and passage["document"]["id"] == hit["document_id"]


@pytest.mark.parametrize("url", ["/documents/999999", "/passages/999999"])
def test_missing_ids_are_404(client: TestClient, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 404 and "999999" in response.json()["detail"]


@pytest.mark.parametrize("url", ["/documents/abc", "/passages/0", "/documents/-1"])
def test_malformed_ids_are_422(client: TestClient, url: str) -> None:
    assert client.get(url).status_code == 422


def test_unknown_route_is_a_json_404(client: TestClient) -> None:
    response = client.get("/etc/passwd")
    assert response.status_code == 404 and response.json() == {"detail": "Not Found"}


# -- empty index, health, metrics, docs --------------------------------------------------------------


def test_empty_index_answers_200_with_no_results(tmp_path: Path, tiny_encoder: Encoder) -> None:
    (tmp_path / "empty").mkdir()
    build(tmp_path / "empty", tmp_path / "index", tiny_encoder)
    with app_client(tmp_path / "index", tiny_encoder) as test_client:
        for mode in MODES:
            body = search(test_client, "休暇", mode=mode)
            assert body["results"] == [] and body["generation"] == 1
        assert test_client.get("/documents").json()["total"] == 0
        health = test_client.get("/health").json()
        assert health["status"] == "ok" and health["documents"] == health["passages"] == 0


def test_health_reports_index_and_model_without_paths(client: TestClient, index: Path) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    health = response.json()
    # Other features may add their own keys; these are the search index's.
    expected = {"status": "ok", "generation": 1, "documents": 51, "model": "tiny-sentence-t5"}
    assert {key: health[key] for key in expected} == expected
    assert health["passages"] > 100 and str(index.parent) not in response.text


def test_health_is_starting_before_the_lifespan_has_run(index: Path) -> None:
    app = create_app(ApiSettings(index_dir=index))
    test_client = TestClient(app)  # not entered: start-up has not run
    response = test_client.get("/health")
    assert response.status_code == 503 and response.json() == {"status": "starting"}
    assert test_client.post("/search", json={"query": "休暇"}).status_code == 503


def test_metrics_are_prometheus_text_with_counters_and_index_size(client: TestClient) -> None:
    search(client, "休暇", k=1)
    client.get("/documents/999999")
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'docsearch_http_requests_total{endpoint="/search",method="POST",status="200"}' in text
    assert 'docsearch_http_requests_total{endpoint="/documents/{document_id}",method="GET",status="404"}' in text
    assert 'docsearch_http_request_duration_seconds_bucket{endpoint="/search",le="0.1",method="POST"}' in text
    assert 'docsearch_searches_total{mode="hybrid"}' in text
    assert "docsearch_index_documents 51.0" in text and "docsearch_index_generation 1.0" in text
    assert "docsearch_index_passages " in text and "docsearch_model_busy_rejections_total 0.0" in text


def test_openapi_page_and_schema_are_served(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower() and "/openapi.json" in page.text
    schema = client.get("/openapi.json").json()
    assert {
        "/search",
        "/documents",
        "/documents/{document_id}",
        "/passages/{passage_id}",
        "/health",
        "/metrics",
    } <= set(schema["paths"])
    assert schema["components"]["schemas"]["SearchRequest"]["additionalProperties"] is False


# -- access ------------------------------------------------------------------------------------------

KEY = "s3cret-test-key"


@pytest.fixture()
def secured(index: Path, tiny_encoder: Encoder) -> Iterator[TestClient]:
    with app_client(index, tiny_encoder, api_key=KEY) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/search"),
        ("get", "/documents"),
        ("get", "/documents/1"),
        ("get", "/passages/1"),
        ("get", "/metrics"),
        ("get", "/docs"),
        ("get", "/openapi.json"),
    ],
)
def test_every_endpoint_but_health_requires_the_key(secured: TestClient, method: str, url: str) -> None:
    kwargs: dict[str, Any] = {"json": {"query": "休暇"}} if method == "post" else {}
    missing = getattr(secured, method)(url, **kwargs)
    assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
    assert "Missing API key" in missing.json()["detail"]
    wrong = getattr(secured, method)(url, headers={"Authorization": "Bearer nope"}, **kwargs)
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Invalid API key"}
    for headers in ({"Authorization": f"Bearer {KEY}"}, {"X-API-Key": KEY}):
        assert getattr(secured, method)(url, headers=headers, **kwargs).status_code == 200


def test_health_stays_open_with_a_key(secured: TestClient) -> None:
    assert secured.get("/health").json()["status"] == "ok"


def test_a_wrong_key_in_either_header_is_refused(secured: TestClient) -> None:
    headers = {"Authorization": f"Bearer {KEY}", "X-API-Key": "guess"}
    assert secured.post("/search", json={"query": "休暇"}, headers=headers).status_code == 401
    other_scheme = {"Authorization": f"Basic {KEY}"}
    assert secured.post("/search", json={"query": "休暇"}, headers=other_scheme).status_code == 401


def test_the_key_never_reaches_logs_or_settings_repr(
    index: Path, tiny_encoder: Encoder, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with app_client(index, tiny_encoder, api_key=KEY) as test_client:
        test_client.post("/search", json={"query": "休暇"}, headers={"X-API-Key": "wrong-guess"})
        test_client.post("/search", json={"query": "休暇"}, headers={"X-API-Key": KEY})
        settings = test_client.app.state.docsearch.settings
    assert KEY not in caplog.text and "wrong-guess" not in caplog.text
    assert KEY not in repr(settings)


def test_cors_is_off_unless_configured(client: TestClient, index: Path, tiny_encoder: Encoder) -> None:
    origin = {"Origin": "https://intranet.example"}
    assert "access-control-allow-origin" not in client.get("/health", headers=origin).headers
    with app_client(index, tiny_encoder, cors_origins=("https://intranet.example",)) as test_client:
        preflight = test_client.options(
            "/search",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type,x-api-key",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://intranet.example"
        other = test_client.get("/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


# -- limits ------------------------------------------------------------------------------------------


def test_busy_model_slots_give_503_with_retry_after(index: Path, tiny_encoder: Encoder, monkeypatch) -> None:
    entered, release = threading.Event(), threading.Event()
    with app_client(index, tiny_encoder, max_concurrent_model_calls=1, model_queue_timeout_s=0.1) as test_client:
        searcher = test_client.app.state.docsearch.searcher
        real_search = searcher.search

        def slow_search(*args: Any, **kwargs: Any) -> Any:
            entered.set()
            assert release.wait(10)
            return real_search(*args, **kwargs)

        monkeypatch.setattr(searcher, "search", slow_search)
        first: dict[str, Any] = {}
        holder = threading.Thread(
            target=lambda: first.update(response=test_client.post("/search", json={"query": "休暇"}))
        )
        holder.start()
        try:
            assert entered.wait(10), "the first search never started"
            busy = test_client.post("/search", json={"query": "規程"})
            assert busy.status_code == 503 and busy.headers["retry-after"] == "1"
            assert "busy" in busy.json()["detail"]
            # Requests that need no model slot are not held up by a busy model.
            assert test_client.get("/health").status_code == 200
        finally:
            release.set()
            holder.join(10)
        assert first["response"].status_code == 200
        metrics = test_client.get("/metrics").text
        assert "docsearch_model_busy_rejections_total 1.0" in metrics
        assert 'docsearch_http_requests_total{endpoint="/search",method="POST",status="503"} 1.0' in metrics


def test_a_slot_freed_in_time_is_taken_by_the_waiting_request(index: Path, tiny_encoder: Encoder, monkeypatch) -> None:
    """Three requests queue behind a held slot and each takes it in turn once it is freed.

    Event-driven, so machine speed does not matter: the first search is held until all four requests have
    reached the model slots, and the queue timeout is far longer than any of these searches can take.
    """
    arrived, all_arrived, release = [0], threading.Event(), threading.Event()
    running, most_at_once, counting = [0], [0], threading.Lock()
    with app_client(index, tiny_encoder, max_concurrent_model_calls=1, model_queue_timeout_s=120) as test_client:
        state = test_client.app.state.docsearch
        real_run, real_search = state.slots.run, state.searcher.search

        async def counted_run(*args: Any, **kwargs: Any) -> Any:
            arrived[0] += 1  # on the event loop: no lock needed
            if arrived[0] == 4:
                all_arrived.set()
            return await real_run(*args, **kwargs)

        def held_search(*args: Any, **kwargs: Any) -> Any:
            with counting:
                running[0] += 1
                most_at_once[0] = max(most_at_once[0], running[0])
            try:
                assert release.wait(60), "the test never released the first search"
                return real_search(*args, **kwargs)
            finally:
                with counting:
                    running[0] -= 1

        monkeypatch.setattr(state.slots, "run", counted_run)
        monkeypatch.setattr(state.searcher, "search", held_search)
        responses: list[int] = []
        threads = [
            threading.Thread(
                target=lambda: responses.append(test_client.post("/search", json={"query": "休暇"}).status_code)
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        try:
            assert all_arrived.wait(60), f"only {arrived[0]} of 4 requests reached the model slots"
        finally:
            release.set()
            for thread in threads:
                thread.join(60)
    assert responses == [200, 200, 200, 200]
    assert most_at_once[0] == 1, "one model slot: the searches ran one at a time"


def test_oversized_body_is_413(index: Path, tiny_encoder: Encoder) -> None:
    big = b'{"query": "' + b"a" * 3000 + b'"}'
    with app_client(index, tiny_encoder, max_body_bytes=2048) as test_client:
        declared = test_client.post("/search", content=big, headers={"content-type": "application/json"})
        assert declared.status_code == 413
        assert declared.json() == {"detail": "Request body too large: the limit is 2048 bytes"}
        chunked = test_client.post(
            "/search", content=iter([big[:1000], big[1000:]]), headers={"content-type": "application/json"}
        )
        assert chunked.status_code == 413 and "2048 bytes" in chunked.json()["detail"]
        assert test_client.post("/search", json={"query": "休暇"}).status_code == 200


# -- API and CLI agree -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_api_and_cli_return_the_same_results(
    client: TestClient, index: Path, mode: str, capsys: pytest.CaptureFixture[str]
) -> None:
    query, filters = "有給休暇の申請", ["--filter", "path_prefix=人事/"]
    code = main(
        [
            "search",
            query,
            "--index",
            str(index),
            "-k",
            "5",
            "--mode",
            mode,
            "--device",
            "cpu",
            "--precision",
            "fp32",
            "--json",
            *filters,
        ]
    )
    cli = json.loads(capsys.readouterr().out)
    assert code == 0
    api = search(client, query, k=5, mode=mode, filters={"path_prefix": "人事/"})
    assert api["generation"] == cli["generation"] and api["mode"] == cli["mode"]
    assert len(api["results"]) == len(cli["results"]) > 0
    for from_api, from_cli in zip(api["results"], cli["results"], strict=True):
        assert from_api["score"] == pytest.approx(from_cli["score"], rel=1e-5)
        for leg in ("dense", "keyword"):
            assert (from_api[leg] is None) == (from_cli[leg] is None)
            if from_api[leg]:
                assert from_api[leg]["rank"] == from_cli[leg]["rank"]
                assert from_api[leg]["score"] == pytest.approx(from_cli[leg]["score"], rel=1e-5)
        for key in HIT_KEYS - {"score", "dense", "keyword"}:
            assert from_api[key] == from_cli[key], key


def test_collapse_returns_one_passage_per_document_and_counts_the_rest(client: TestClient) -> None:
    plain = search(client, "休暇", k=20)
    collapsed = search(client, "休暇", k=20, collapse=True)
    paths = [hit["path"] for hit in collapsed["results"]]
    assert collapsed["collapsed"] is True and len(paths) == len(set(paths))
    assert {hit["path"] for hit in plain["results"]} <= set(paths)  # each best passage ranks where it did
    assert any(hit["more_in_document"] > 0 for hit in collapsed["results"])
