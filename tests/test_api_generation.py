"""POST /answer, /answer/stream and /quiz, and the generation block of /health, with tiny random models."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from generation_corpus import write_documents
from tiny_index import build

from api import ApiSettings, create_app
from api.routes.generation import configure_generation, resources
from search.generation.answer import Answerer
from search.generation.settings import GenerationSettings
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher
from search.storage.store import Store

MISSING_QA = "/nonexistent/missing-qa-model"
MISSING_QG = "/nonexistent/missing-qg-model"


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("api-gen")
    build(write_documents(root / "docs"), root / "index", tiny_encoder)
    return root / "index"


def generation(**overrides: Any) -> GenerationSettings:
    values: dict[str, Any] = {"qa_model_ja": MISSING_QA, "qa_model_en": MISSING_QA, "qg_model": MISSING_QG}
    values.update({"device": "cpu", "precision": "fp32", "max_new_tokens": 4, "num_beams": 1, **overrides})
    return GenerationSettings(**values)


@contextmanager
def client(index: Path, encoder: Encoder, settings: GenerationSettings, queue_timeout_s: float = 30.0) -> Iterator[Any]:
    app = create_app(
        ApiSettings(index_dir=index, device="cpu", precision="fp32"), searcher=Searcher(index, encoder=encoder)
    )
    configure_generation(app, settings, queue_timeout_s=queue_timeout_s)
    with TestClient(app) as test_client:
        yield test_client


def check_citations(index: Path, body: dict[str, Any]) -> None:
    store = Store(index)
    for c in body["citations"]:
        text = store.conn.execute("SELECT text FROM documents WHERE path = ?", (c["path"],)).fetchone()[0]
        assert text[c["evidence"]["start"] : c["evidence"]["end"]] == c["evidence"]["text"]
        assert text[c["start"] : c["end"]] == store.passage_rows([c["passage_id"]])[c["passage_id"]]["text"]


def test_answer_response_shape_with_citations(index: Path, tiny_encoder: Encoder) -> None:
    with client(index, tiny_encoder, generation()) as c:
        response = c.post("/answer", json={"question": "有給休暇は何日付与されますか", "k": 3, "extractive": True})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["answerable"] and body["mode"] == "extractive" and body["language"] == "ja"
        assert body["model"] == "tiny-sentence-t5", "model directories are shown by name, not path"
        assert body["citations"] and len(body["passages"]) == 3 and body["fallback_reason"] is None
        check_citations(index, body)
        filtered = c.post(
            "/answer", json={"question": "有給休暇", "k": 3, "extractive": True, "filters": {"path_prefix": "IT/"}}
        ).json()
        assert {p["path"] for p in filtered["passages"]} <= {"IT/ヘルプデスク.txt"}


def test_answer_falls_back_to_extractive_when_the_generator_is_missing(index: Path, tiny_encoder: Encoder) -> None:
    with client(index, tiny_encoder, generation()) as c:
        body = c.post("/answer", json={"question": "有給休暇は何日付与されますか", "k": 3}).json()
    assert body["mode"] == "extractive" and body["answerable"] and body["model"] == "tiny-sentence-t5"
    assert (
        body["fallback_reason"]
        == "回答生成モデル「missing-qa-model」がこのマシンにないため、文書から該当する文をそのまま示しています。"
    )
    assert "/nonexistent" not in json.dumps(body)


def test_an_english_question_is_english_even_over_japanese_documents(index: Path, tiny_encoder: Encoder) -> None:
    with client(index, tiny_encoder, generation()) as c:
        body = c.post(
            "/answer", json={"question": "What is CODEN?", "k": 3, "filters": {"path_prefix": "人事/"}}
        ).json()
    assert body["language"] == "en" and body["mode"] == "extractive"
    assert {p["path"] for p in body["passages"]} <= {"人事/就業規則.txt"}, "only Japanese passages were read"
    # The tiny random encoder may find the question answerable; either way the note is in English.
    note = body["fallback_reason"] if body["answerable"] else body["reason"]
    assert note.startswith(("The answer model", "The documents do not seem"))


def test_answer_generates_with_the_configured_model(index: Path, tiny_encoder: Encoder, tiny_seq2seq_dir: Path) -> None:
    with client(index, tiny_encoder, generation(qa_model_ja=str(tiny_seq2seq_dir))) as c:
        body = c.post("/answer", json={"question": "有給休暇は何日付与されますか", "k": 3}).json()
        assert body["mode"] == "generative" and body["model"] == "tiny-seq2seq"
        assert body["answerable"] == bool(body["citations"])
        health = c.get("/health").json()["generation_models"]
        assert health["qa_model_ja"] == "tiny-seq2seq" and health["loaded"] == ["tiny-seq2seq"]


def test_answer_rejects_unknown_fields_and_bad_sizes(index: Path, tiny_encoder: Encoder) -> None:
    with client(index, tiny_encoder, generation()) as c:
        assert c.post("/answer", json={"question": "休暇", "top_k": 3}).status_code == 422
        assert c.post("/answer", json={"question": "休暇", "k": 21}).status_code == 422
        assert c.post("/answer", json={"question": ""}).status_code == 422
        assert c.post("/answer", json={"question": "   "}).status_code == 400  # the core says it is empty


def test_health_shows_generation_models_without_paths(index: Path, tiny_encoder: Encoder) -> None:
    with client(index, tiny_encoder, generation()) as c:
        health = c.get("/health").json()
    models = health["generation_models"]
    assert models["qa_model_ja"] == "missing-qa-model" and models["qg_model"] == "missing-qg-model"
    assert models["loaded"] == [] and models["max_concurrent"] == 1 and models["max_new_tokens"] == 4
    assert "/nonexistent" not in json.dumps(health)


def test_quiz_without_its_model_makes_cloze_questions_and_says_so(index: Path, tiny_encoder: Encoder) -> None:
    with client(index, tiny_encoder, generation()) as c:
        response = c.post("/quiz", json={"document": "人事/就業規則.txt", "n": 2})
        assert response.status_code == 200, response.text  # a missing model is not "busy": no 503, no Retry-After
        body = response.json()
        assert body["mode"] == "cloze" and body["model"] == "tiny-sentence-t5" and body["language"] == "ja"
        assert body["fallback_reason"] == (
            "問題生成モデル「missing-qg-model」がこのマシンにないため、文書の文から穴埋め問題を作りました。"
        )
        assert body["questions"] and all(
            q["mode"] == "cloze" and "＿＿＿＿" in q["question"] for q in body["questions"]
        )
        assert "/nonexistent" not in response.text
        # Asking for generated questions by name, without the model, is a request the server cannot serve.
        refused = c.post("/quiz", json={"query": "有給休暇", "n": 2, "mode": "generated"})
        assert refused.status_code == 400 and "Retry-After" not in refused.headers
        assert "missing-qg-model" in refused.json()["detail"] and "/nonexistent" not in refused.text
        assert c.post("/quiz", json={"query": "有給休暇", "mode": "fancy"}).status_code == 422


def test_quiz_response_and_request_validation(index: Path, tiny_encoder: Encoder, tiny_seq2seq_dir: Path) -> None:
    with client(index, tiny_encoder, generation(qg_model=str(tiny_seq2seq_dir))) as c:
        response = c.post("/quiz", json={"document": "人事/就業規則.txt", "n": 2, "multiple_choice": False})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["source"] == {"document": "人事/就業規則.txt"} and body["model"] == "tiny-seq2seq"
        assert body["mode"] == "generated" and body["fallback_reason"] is None
        assert all(q["mode"] == "generated" for q in body["questions"])
        assert len(body["questions"]) <= 2 and isinstance(body["skipped"], dict)
        assert c.post("/quiz", json={"query": "休暇", "document": "a.txt"}).status_code == 422
        assert c.post("/quiz", json={"n": 2}).status_code == 422
        assert c.post("/quiz", json={"document": "a.txt", "filters": {"path_prefix": "x"}}).status_code == 422
        assert c.post("/quiz", json={"document": "nope.txt"}).status_code == 400


def sse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_answer_stream_sends_deltas_then_the_answer(index: Path, tiny_encoder: Encoder, tiny_seq2seq_dir: Path) -> None:
    with client(index, tiny_encoder, generation(qa_model_ja=str(tiny_seq2seq_dir))) as c:
        response = c.post("/answer/stream", json={"question": "有給休暇は何日付与されますか", "k": 3})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = sse_events(response.text)
    assert events[-1][0] == "answer" and events[-1][1]["mode"] == "generative"
    assert [name for name, _ in events[:-1]] == ["delta"] * (len(events) - 1) and len(events) > 1


def test_generation_is_bounded_and_busy_requests_get_503(
    index: Path, tiny_encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    original = Answerer.answer

    def slow_answer(self: Answerer, *args: Any, **kwargs: Any) -> Any:
        started.set()
        release.wait(10)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Answerer, "answer", slow_answer)
    with client(index, tiny_encoder, generation(), queue_timeout_s=0.2) as c:
        first: dict[str, Any] = {}
        worker = threading.Thread(
            target=lambda: first.update(r=c.post("/answer", json={"question": "有給休暇", "extractive": True}))
        )
        worker.start()
        assert started.wait(10)
        busy = c.post("/answer", json={"question": "有給休暇", "extractive": True})
        assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
        streaming = c.post("/answer/stream", json={"question": "有給休暇"})
        assert streaming.status_code == 503
        assert c.get("/health").json()["generation_models"]["in_use"] == 1
        release.set()
        worker.join(10)
        assert first["r"].status_code == 200
        assert resources(c.app.state.docsearch).in_use == 0
