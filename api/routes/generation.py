"""POST /answer, POST /answer/stream (Server-Sent Events) and POST /quiz.

Generation holds a core (or the GPU) for seconds, so it runs in the thread pool under its own small bound
(`INDEXER_GENERATION_CONCURRENCY`, default 1), separate from the search model slots: a long answer must not
make searches wait. Requests beyond the bound wait up to GENERATION_QUEUE_TIMEOUT_S and then get a 503
with Retry-After. Models load on first use (search/models/seq2seq.py) and stay loaded.

- /answer falls back to the extractive answer when the configured generator is unavailable, and says so
  (`fallback_reason`, plain words; the detail goes to the server log); it never fails because a generator
  is missing.
- /quiz makes fill-in-the-blank questions when the question-generation model is unavailable (`mode`
  "cloze", with `fallback_reason`); only a request for `mode: "generated"` without the model is refused
  (400: the request cannot be served as asked). 503 with Retry-After means one thing: the server is busy.
Model names leave the API as hub ids or bare directory names, never server paths.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from api.concurrency import ModelBusyError
from api.deps import AppState, app_state, get_state, public_model_name
from api.errors import redact_paths
from api.schemas import MAX_QUERY_CHARS, NOT_BLANK, JsonInt, SearchFilters, StrictModel
from search.errors import ModelUnavailableError, SearchError
from search.generation.answer import MAX_K, Answerer
from search.generation.quiz import MAX_N, QuizGenerator
from search.generation.settings import GenerationSettings, generation_precision
from search.models.seq2seq import GenerationTimeoutError, ModelPool

log = logging.getLogger("docsearch.api")
router = APIRouter(tags=["answers"])

GENERATION_QUEUE_TIMEOUT_S = 30.0
_EXTRAS_KEY = "generation"


# -- shared resources ----------------------------------------------------------------------------------


@dataclass
class GenerationResources:
    """One per app: the settings, the model pool every request shares, and the concurrency bound."""

    settings: GenerationSettings
    pool: ModelPool
    limit: int
    queue_timeout_s: float = GENERATION_QUEUE_TIMEOUT_S
    in_use: int = 0
    _semaphore: asyncio.Semaphore | None = field(default=None, repr=False)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one generation slot; ModelBusyError (503 + Retry-After) after the queue timeout."""
        if self._semaphore is None:  # created on first use, inside the serving event loop
            self._semaphore = asyncio.Semaphore(self.limit)
        try:
            await asyncio.wait_for(self._semaphore.acquire(), timeout=self.queue_timeout_s)
        except asyncio.TimeoutError:  # not the builtin TimeoutError on Python 3.10
            raise ModelBusyError(max(1, math.ceil(self.queue_timeout_s))) from None
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1
            self._semaphore.release()


def configure_generation(
    app: Any, settings: GenerationSettings, queue_timeout_s: float = GENERATION_QUEUE_TIMEOUT_S
) -> None:
    """Use these settings instead of the environment's (tests, embedding applications)."""
    app.state.docsearch.extras[_EXTRAS_KEY] = GenerationResources(
        settings, ModelPool(settings.device, settings.precision), settings.max_concurrent, queue_timeout_s
    )


def resources(state: AppState) -> GenerationResources:
    """The app's generation resources, from the environment (INDEXER_QA_MODEL_JA, ...) unless configured.
    Nothing is loaded here: models load on the first request that needs them."""
    found = state.extras.get(_EXTRAS_KEY)
    if found is None:
        settings = GenerationSettings.from_env(
            device=state.settings.device, precision=generation_precision(state.settings.precision)
        )
        found = state.extras[_EXTRAS_KEY] = GenerationResources(
            settings, ModelPool(settings.device, settings.precision), settings.max_concurrent
        )
    assert isinstance(found, GenerationResources)
    return found


def health_info(request: Request) -> dict[str, Any]:
    """For /health: which models answer and quiz (hub ids or directory names), loaded or not, and bounds."""
    res = resources(app_state(request))
    s = res.settings
    return {
        "qa_model_ja": public_model_name(s.qa_model_ja),
        "qa_model_en": public_model_name(s.qa_model_en),
        "qg_model": public_model_name(s.qg_model),
        "loaded": [public_model_name(m) for m in (s.qa_model_ja, s.qa_model_en, s.qg_model) if res.pool.is_loaded(m)],
        "max_input_tokens": s.max_input_tokens,
        "max_new_tokens": s.max_new_tokens,
        "max_time_s": s.max_time,
        "max_concurrent": s.max_concurrent,
        "in_use": res.in_use,
    }


def _public(data: dict[str, Any], settings: GenerationSettings) -> dict[str, Any]:
    """Model ids that are local directories leave the API by their name only (also inside messages)."""
    data["model"] = public_model_name(data["model"])
    if isinstance(data.get("fallback_reason"), str):
        for model in (settings.qa_model_ja, settings.qa_model_en):
            shown = public_model_name(model)
            if shown is not None and shown != model:
                data["fallback_reason"] = data["fallback_reason"].replace(model, shown)
    return data


def _message(exc: Exception, state: AppState) -> str:
    """An error's message for a client: core messages name models by their id, which for a local model
    directory is a server path (e.g. the time limit's "Generation with '/models/mt5' stopped ...")."""
    return redact_paths(str(exc), state.settings.index_dir)


# -- request and response models ------------------------------------------------------------------------


class AnswerRequest(StrictModel):
    question: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="the question, Japanese or English",
        json_schema_extra=NOT_BLANK,
    )
    k: JsonInt = Field(5, ge=1, le=MAX_K, description="passages to retrieve")
    filters: SearchFilters | None = None
    extractive: bool = Field(False, description="answer with the best sentence, without a generation model")


class Evidence(BaseModel):
    text: str
    start: int = Field(description="character offset of the sentence in the document text")
    end: int


class Citation(BaseModel):
    passage_id: int
    path: str
    title: str
    start: int = Field(description="character offset of the passage in the document text")
    end: int
    evidence: Evidence


class ClosestPassage(BaseModel):
    passage_id: int
    path: str
    title: str
    heading: str
    start: int
    end: int
    score: float
    text: str


class AnswerResponse(BaseModel):
    question: str
    answer: str | None
    answerable: bool
    mode: str = Field(
        description="generative (a generation model wrote the answer) or extractive (a sentence quoted "
        "from the documents, or no answer)"
    )
    model: str = Field(
        description="what produced the answer: the generator, or for extractive answers the embedding "
        "model that chose the sentence"
    )
    language: str = Field(description="the question's language (ja or en); messages are written in it")
    citations: list[Citation]
    passages: list[ClosestPassage]
    reason: str | None = Field(description="why the question is not answerable from the documents (plain words)")
    fallback_reason: str | None = Field(
        description="which configured generation model is missing, so that the answer was quoted instead"
    )
    generated_answer: str | None = Field(description="generated text that was rejected as unsupported")


# The JSON-schema form of `_one_source` below: without it the schema would call `{}` a valid request.
QUIZ_SOURCE_SCHEMA = {
    "oneOf": [
        {"required": ["query"], "properties": {"query": {"type": "string"}, "document": {"type": "null"}}},
        {
            "required": ["document"],
            "properties": {"document": {"type": "string"}, "query": {"type": "null"}, "filters": {"type": "null"}},
        },
    ]
}


class QuizRequest(StrictModel):
    query: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="questions from its hits",
        json_schema_extra=NOT_BLANK,
    )
    document: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="questions from this document path",
        json_schema_extra=NOT_BLANK,
    )
    n: JsonInt = Field(5, ge=1, le=MAX_N, description="number of questions")
    multiple_choice: bool = True
    verify: bool = Field(False, description="keep only questions the QA model answers with their own answer")
    filters: SearchFilters | None = Field(None, description="with `query` only")
    mode: Literal["auto", "generated", "cloze"] = Field(
        "auto",
        description="generated: questions written by the question-generation model; cloze: fill-in-the-blank "
        "questions from the documents' sentences (no model needed); auto: generated when the model is available",
    )

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=QUIZ_SOURCE_SCHEMA)

    @model_validator(mode="after")
    def _one_source(self) -> QuizRequest:
        if (self.query is None) == (self.document is None):
            raise ValueError("give exactly one of `query` or `document`")
        if self.filters is not None and self.query is None:
            raise ValueError("`filters` apply to `query` only")
        return self


class QuizQuestionOut(BaseModel):
    question: str
    answer: str
    answer_type: str
    options: list[str]
    distractors: list[str]
    passage_id: int
    path: str
    title: str
    start: int
    end: int
    answer_start: int
    answer_end: int
    verified: bool | None
    mode: str = Field(description="how this question was made: generated or cloze")


class QuizResponse(BaseModel):
    source: dict[str, str]
    mode: str = Field(description="how the questions were made: generated or cloze")
    model: str = Field(description="the question-generation model, or for cloze questions the embedding model")
    language: str
    fallback_reason: str | None = Field(description="which configured model is missing, so that questions are cloze")
    multiple_choice: bool
    questions: list[QuizQuestionOut]
    skipped: dict[str, int]


# -- routes -----------------------------------------------------------------------------------------------

StateDep = Annotated[AppState, Depends(get_state)]
BUSY = {503: {"description": "generation busy (Retry-After) or a required model is unavailable"}}
# Every generation route: a request the core cannot serve as asked (e.g. the model cannot read the text, an
# unknown document) is a 400 with the reason; a body over the limit is a 413 (api/body_limit.py).
REJECTED = {
    400: {"description": "the request could not be served as asked (the message says why)"},
    413: {"description": "request body over the size limit"},
}
TIME_LIMIT = {504: {"description": "generation stopped at its time limit (INDEXER_GENERATION_MAX_TIME)"}}


@router.post("/answer", response_model=AnswerResponse, responses={**REJECTED, **BUSY, **TIME_LIMIT})
async def answer(body: AnswerRequest, state: StateDep) -> dict[str, Any]:
    """A short answer with citations, or `answerable: false` with the closest passages."""
    assert state.searcher is not None
    res = resources(state)
    answerer = Answerer(state.searcher, res.settings, res.pool)
    filters = body.filters.to_filters() if body.filters is not None else None
    async with res.slot():
        try:
            result = await run_in_threadpool(answerer.answer, body.question, body.k, filters, body.extractive)
        except GenerationTimeoutError as exc:
            raise HTTPException(status_code=504, detail=_message(exc, state)) from exc
    return _public(result.as_dict(), res.settings)


@router.post(
    "/answer/stream",
    responses={200: {"content": {"text/event-stream": {}}}, **REJECTED, **BUSY},
    response_class=StreamingResponse,
)
async def answer_stream(body: AnswerRequest, state: StateDep) -> StreamingResponse:
    """Server-Sent Events: `delta` events with answer text as it is generated, then one `answer` event with
    the full response (as POST /answer returns it); `error` with {"detail"} if generation fails."""
    assert state.searcher is not None
    res = resources(state)
    answerer = Answerer(state.searcher, res.settings, res.pool)
    filters = body.filters.to_filters() if body.filters is not None else None

    if res.in_use >= res.limit:  # refuse now, while a 503 can still be sent (not once the stream has begun)
        raise ModelBusyError(max(1, math.ceil(res.queue_timeout_s)))

    async def events() -> AsyncIterator[str]:
        async with res.slot():
            try:
                async for event in iterate_in_threadpool(answerer.stream(body.question, body.k, filters)):
                    payload = event.get("data", {"text": event.get("text")})
                    if event["event"] == "answer":
                        payload = _public(payload, res.settings)
                    yield f"event: {event['event']}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
            except SearchError as exc:  # the status line is already sent: report in-band
                detail = "generation failed" if isinstance(exc, ModelUnavailableError) else _message(exc, state)
                yield f"event: error\ndata: {json.dumps({'detail': detail}, ensure_ascii=False)}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


@router.post("/quiz", response_model=QuizResponse, responses={**REJECTED, **BUSY, **TIME_LIMIT})
async def quiz(body: QuizRequest, state: StateDep) -> dict[str, Any]:
    """Study questions with their answer, source citation and (multiple choice) three wrong options."""
    assert state.searcher is not None
    res = resources(state)
    generator = QuizGenerator(state.searcher, res.settings, res.pool)
    async with res.slot():
        try:
            if body.query is not None:
                filters = body.filters.to_filters() if body.filters is not None else None
                result = await run_in_threadpool(
                    generator.from_query, body.query, body.n, body.multiple_choice, body.verify, filters, body.mode
                )
            else:
                assert body.document is not None
                result = await run_in_threadpool(
                    generator.from_document, body.document, body.n, body.multiple_choice, body.verify, body.mode
                )
        except ModelUnavailableError as exc:  # only for mode "generated": auto falls back to cloze
            log.error("quiz model unavailable: %s", exc)
            name = public_model_name(exc.model)
            raise HTTPException(
                status_code=400,
                detail=f"問題生成モデル「{name}」がサーバーにないため、生成モードの問題は作れません。"
                "穴埋めモード（mode: cloze または auto）を使ってください。"
                f" / The question model '{name}' is not installed on the server: use mode cloze or auto.",
            ) from exc
        except GenerationTimeoutError as exc:
            raise HTTPException(status_code=504, detail=_message(exc, state)) from exc
    data = result.as_dict()
    data["model"] = public_model_name(data["model"])
    if isinstance(data.get("fallback_reason"), str):
        data["fallback_reason"] = data["fallback_reason"].replace(
            res.settings.qg_model, public_model_name(res.settings.qg_model) or ""
        )
    return data
