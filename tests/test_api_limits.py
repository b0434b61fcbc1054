"""Every bound the API enforces, each with the clear error a client gets past it.

- request body size: 413 on every route that takes a body (declared or chunked), before authentication;
- text lengths: query/question 2,000 characters, quiz document path 1,000, filter values (422);
- counts: `k` 1..100 for /search, 1..20 for /answer, quiz `n` 1..50, pages (422);
- concurrent generation: one generation slot by default, then 503 with Retry-After, while searches go on;
- generation time: `max_time` per generate() call, then 504 (or an `error` event in a stream) saying which
  limit was hit and how to raise it, never a 500 and never a server path.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from api_routes import app_routes
from fastapi.testclient import TestClient
from generation_corpus import write_documents
from tiny_index import build

from api import ApiSettings, create_app
from api.routes.generation import configure_generation
from api.schemas import MAX_K, MAX_QUERY_CHARS
from search.generation.answer import MAX_K as MAX_ANSWER_K
from search.generation.quiz import MAX_N, QuizGenerator
from search.generation.settings import GenerationSettings
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher

KEY = "limits-key"
AUTH = {"X-API-Key": KEY}
QUESTION = "有給休暇は何日付与されますか"
DOCUMENT = "人事/就業規則.txt"
DEFAULT_BODY_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("limits")
    build(write_documents(root / "docs"), root / "index", tiny_encoder)
    return root / "index"


def generation(model: Path, **overrides: Any) -> GenerationSettings:
    """Every generation model is the tiny one (4 new tokens, greedy): fast, and able to read the corpus."""
    values: dict[str, Any] = {"device": "cpu", "precision": "fp32", "max_new_tokens": 4, "num_beams": 1}
    models = {"qa_model_ja": str(model), "qa_model_en": str(model), "qg_model": str(model)}
    return GenerationSettings(**models, **values, **overrides)


@contextmanager
def client(
    index: Path, encoder: Encoder, settings: GenerationSettings, queue_timeout_s: float = 30.0, **api: Any
) -> Iterator[TestClient]:
    app = create_app(
        ApiSettings(index_dir=index, api_key=KEY, device="cpu", precision="fp32", **api),
        searcher=Searcher(index, encoder=encoder),
    )
    configure_generation(app, settings, queue_timeout_s=queue_timeout_s)
    with TestClient(app, headers=AUTH, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def api(index: Path, tiny_encoder: Encoder, tiny_seq2seq_dir: Path) -> Iterator[TestClient]:
    with client(index, tiny_encoder, generation(tiny_seq2seq_dir)) as test_client:
        yield test_client


def detail_fields(response: Any) -> dict[str, str]:
    assert response.status_code == 422, response.text
    return {item["field"]: item["msg"] for item in response.json()["detail"]}


# -- body size ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [DEFAULT_BODY_LIMIT, 2048])
def test_every_route_with_a_body_refuses_one_over_the_limit(
    index: Path, tiny_encoder: Encoder, tiny_seq2seq_dir: Path, limit: int
) -> None:
    """413 with the limit in the message, for a declared Content-Length and for a chunked body that grows
    past it, with or without a key (refused before anything else is read), on every POST route of the app."""
    settings = {} if limit == DEFAULT_BODY_LIMIT else {"max_body_bytes": limit}
    message = {"detail": f"Request body too large: the limit is {limit} bytes"}
    big = json.dumps({"query": "休" * limit}).encode()
    with client(index, tiny_encoder, generation(tiny_seq2seq_dir), **settings) as c:
        posts = [url for method, url in app_routes(c.app) if method == "POST"]
        assert {"/search", "/answer", "/answer/stream", "/quiz"} <= set(posts)
        for url in posts:
            for headers in (AUTH, {"X-API-Key": ""}):
                declared = c.post(url, content=big, headers={**headers, "Content-Type": "application/json"})
                assert (declared.status_code, declared.json()) == (413, message), url
                chunks = iter([big[:1000], big[1000:]])
                chunked = c.post(url, content=chunks, headers={**headers, "Content-Type": "application/json"})
                assert (chunked.status_code, chunked.json()) == (413, message), url
        # Just under the limit the body is read and judged on its content (here: too long a query).
        fits = json.dumps({"query": "a" * (limit - 20)}).encode()
        assert len(fits) <= limit
        assert c.post("/search", content=fits, headers={"Content-Type": "application/json"}).status_code == 422


def test_a_malformed_content_length_is_a_clean_400(api: TestClient) -> None:
    response = api.post("/search", content=b"{}", headers={"Content-Length": "12abc"})
    assert (response.status_code, response.json()) == (400, {"detail": "Invalid Content-Length header"})


# -- text length ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "field", "valid", "status"),
    [
        ("/search", "query", {"mode": "keyword"}, 200),
        ("/answer", "question", {"extractive": True}, 200),
        ("/quiz", "query", {"n": 1, "multiple_choice": False}, 200),
    ],
)
def test_text_is_bounded_at_2000_characters(
    api: TestClient, url: str, field: str, valid: dict[str, Any], status: int
) -> None:
    at_limit = api.post(url, json={field: "休暇" * (MAX_QUERY_CHARS // 2), **valid})
    assert at_limit.status_code == status, at_limit.text
    over = detail_fields(api.post(url, json={field: "休" * (MAX_QUERY_CHARS + 1), **valid}))
    assert over == {field: f"String should have at most {MAX_QUERY_CHARS} characters"}


@pytest.mark.parametrize(
    ("url", "body", "field", "message"),
    [
        ("/quiz", {"document": "a" * 1001}, "document", "String should have at most 1000 characters"),
        ("/search", {"query": "休暇", "filters": {"path_prefix": "a" * 1001}}, "filters.path_prefix", "at most 1000"),
        ("/search", {"query": "休暇", "filters": {"path_glob": "*" * 1001}}, "filters.path_glob", "at most 1000"),
        ("/search", {"query": "休暇", "filters": {"tags": ["t" * 201]}}, "filters.tags.0", "at most 200"),
        ("/search", {"query": "休暇", "filters": {"tags": ["t"] * 21}}, "filters.tags", "at most 20 items"),
        ("/search", {"query": "休暇", "filters": {"formats": ["md"] * 21}}, "filters.formats", "at most 20 items"),
    ],
)
def test_other_text_inputs_are_bounded(
    api: TestClient, url: str, body: dict[str, Any], field: str, message: str
) -> None:
    fields = detail_fields(api.post(url, json=body))
    assert message in fields[field], fields


# -- counts ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "field", "low", "high"),
    [
        ("/search", {"query": "休暇"}, "k", 1, MAX_K),
        ("/search", {"query": "休暇"}, "offset", 0, 1000),
        ("/answer", {"question": QUESTION, "extractive": True}, "k", 1, MAX_ANSWER_K),
        ("/quiz", {"document": DOCUMENT, "multiple_choice": False}, "n", 1, MAX_N),
    ],
)
def test_counts_are_bounded_with_a_message_naming_the_bound(
    api: TestClient, url: str, body: dict[str, Any], field: str, low: int, high: int
) -> None:
    for value in (low, high):
        if field != "n" or value == low:  # 50 quiz questions would take long; the bound itself is checked below
            assert api.post(url, json={**body, field: value}).status_code == 200, (field, value)
    below = detail_fields(api.post(url, json={**body, field: low - 1}))
    assert below == {field: f"Input should be greater than or equal to {low}"}
    above = detail_fields(api.post(url, json={**body, field: high + 1}))
    assert above == {field: f"Input should be less than or equal to {high}"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": 0}, "greater than or equal to 1"),
        ({"limit": 501}, "less than or equal to 500"),
        ({"offset": -1}, "greater than or equal to 0"),
    ],
)
def test_document_pages_are_bounded(api: TestClient, params: dict[str, int], message: str) -> None:
    response = api.get("/documents", params=params)
    assert response.status_code == 422 and message in response.json()["detail"][0]["msg"]


# -- concurrent generation ------------------------------------------------------------------------------------


def test_busy_generation_gives_503_with_retry_after_on_every_generation_route(
    index: Path, tiny_encoder: Encoder, tiny_seq2seq_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One generation slot (the default): while a quiz holds it, /answer, /answer/stream and /quiz wait up to
    the queue timeout, then get 503 + Retry-After with a message; searches and /health are not held up."""
    started, release = threading.Event(), threading.Event()
    original = QuizGenerator.from_document

    def slow_quiz(self: QuizGenerator, *args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(30)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(QuizGenerator, "from_document", slow_quiz)
    settings = generation(tiny_seq2seq_dir)
    assert settings.max_concurrent == 1
    with client(index, tiny_encoder, settings, queue_timeout_s=0.2) as c:
        first: dict[str, Any] = {}
        holder = threading.Thread(target=lambda: first.update(r=c.post("/quiz", json={"document": DOCUMENT, "n": 1})))
        holder.start()
        try:
            assert started.wait(30), "the first quiz never started"
            for url, body in (
                ("/quiz", {"document": DOCUMENT, "n": 1}),
                ("/answer", {"question": QUESTION, "extractive": True}),
                ("/answer/stream", {"question": QUESTION}),
            ):
                busy = c.post(url, json=body)
                assert busy.status_code == 503 and busy.headers["Retry-After"] == "1", (url, busy.text)
                assert busy.json() == {"detail": "The search service is busy: try again in 1 s"}
            assert c.post("/search", json={"query": "休暇"}).status_code == 200
            health = c.get("/health").json()
            assert health["status"] == "ok" and health["generation_models"]["in_use"] == 1
        finally:
            release.set()
            holder.join(30)
        assert first["r"].status_code == 200, first["r"].text
        assert c.get("/health").json()["generation_models"]["in_use"] == 0
        metrics = c.get("/metrics").text
        assert 'docsearch_http_requests_total{endpoint="/quiz",method="POST",status="503"} 1.0' in metrics


# -- generation time ------------------------------------------------------------------------------------------


def test_the_generation_time_limit_is_a_504_naming_the_limit(
    index: Path, tiny_encoder: Encoder, tiny_seq2seq_dir: Path
) -> None:
    """max_time bounds every generate() call; past it the answer or quiz would be cut short, so the client
    gets 504 saying which limit stopped it and how to raise it, with the model named, never its path."""
    with client(index, tiny_encoder, generation(tiny_seq2seq_dir, max_time=1e-6)) as c:
        assert c.get("/health").json()["generation_models"]["max_time_s"] == 1e-6
        for url, body in (
            ("/answer", {"question": QUESTION, "k": 3}),
            ("/quiz", {"document": DOCUMENT, "n": 1, "multiple_choice": False}),
        ):
            response = c.post(url, json=body)
            assert response.status_code == 504, (url, response.text)
            detail = response.json()["detail"]
            assert "stopped at the time limit of 1e-06 s" in detail and "INDEXER_GENERATION_MAX_TIME" in detail
            assert "'tiny-seq2seq'" in detail and str(tiny_seq2seq_dir.parent) not in response.text
        # A stream has sent its 200 before generating: the limit arrives as its last event.
        stream = c.post("/answer/stream", json={"question": QUESTION, "k": 3})
        assert stream.status_code == 200
        last = stream.text.strip().split("\n\n")[-1]
        assert last.startswith("event: error\n"), stream.text
        detail = json.loads(last.split("data: ", 1)[1])["detail"]
        assert "time limit" in detail and "'tiny-seq2seq'" in detail and str(tiny_seq2seq_dir.parent) not in stream.text
        # The extractive answer needs no generation and is not affected by the limit.
        assert c.post("/answer", json={"question": QUESTION, "extractive": True}).status_code == 200
