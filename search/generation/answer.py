"""Question answering over the index: retrieve (hybrid, filtered) → generate or extract → cite.

The response always says how the answer was produced (`mode`, `model`) and where it comes from
(`citations`: passage id, document path and title, passage offsets and the evidence sentence with its
document offsets). It says `answerable: false`, with the closest passages, instead of inventing an answer
when retrieval is too weak or when a generated answer is not backed by any retrieved passage.

Routing: Japanese question or passages → the Japanese QA model (lmqg template); English only → FLAN-T5
with numbered passages. `language` is the question's own language (the one the messages are written in).
When the configured generator cannot be loaded the answer is extracted instead: `mode` and `model` then
name the extraction (and the embedding model that scored the sentences), never the missing generator, and
`fallback_reason` says in plain words which model is missing; the exception goes to the log. A model the
caller named explicitly (`explicit_models`, e.g. a command-line flag) is not replaced: its absence is an error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from search.errors import ModelUnavailableError, SearchError
from search.generation.extractive import ScoredSentence, Thresholds, answerability, evidence, score_sentences
from search.generation.messages import message
from search.generation.prompts import UNANSWERABLE, fit_passages, flan_qa_input, lmqg_qa_input
from search.generation.settings import DEFAULT_QA_MODEL_EN, DEFAULT_QA_MODEL_JA, GenerationSettings
from search.generation.thesaurus import variants
from search.models.seq2seq import GenerationOptions, ModelPool, Seq2SeqModel
from search.text.language import Language, detect_language, question_language
from search.text.overlap import MIN_SUPPORT_F1, char_f1, compact, occurs_in

if TYPE_CHECKING:
    from search.retrieval.filters import Filters
    from search.retrieval.results import Hit
    from search.retrieval.searcher import Searcher

log = logging.getLogger("docsearch.generation")

MAX_K = 20
_CITATION_MARK = re.compile(r"\[\d+\]")


@dataclass
class AnswerResult:
    question: str
    answer: str | None
    answerable: bool
    mode: str  # generative (a generator wrote it) | extractive (a sentence of the documents, or no answer)
    model: str  # the generator that wrote it, or for extractive answers the embedding model that scored sentences
    language: Language  # the question's language
    citations: list[dict[str, Any]] = field(default_factory=list)
    passages: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None  # why the question is not answerable
    fallback_reason: str | None = None  # why a generative request was answered extractively
    generated_answer: str | None = None  # a generated answer that was rejected as unsupported

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def citation(sentence: ScoredSentence) -> dict[str, Any]:
    hit = sentence.hit
    return {
        "passage_id": hit.passage_id,
        "path": hit.path,
        "title": hit.title,
        "start": hit.start,
        "end": hit.end,
        "evidence": {"text": sentence.text, "start": sentence.document_start, "end": sentence.document_end},
    }


def passage_summary(hit: Hit) -> dict[str, Any]:
    return {
        "passage_id": hit.passage_id,
        "path": hit.path,
        "title": hit.title,
        "heading": hit.heading,
        "start": hit.start,
        "end": hit.end,
        "score": hit.score,
        "text": hit.text,
    }


@dataclass
class _Prepared:
    """Retrieval and sentence scores, shared by the blocking and the streaming paths."""

    question: str
    hits: list[Hit]
    scored: list[ScoredSentence]
    language: Language  # the question's: messages are written in it
    route: Language  # which QA model reads question and passages: ja when either is Japanese
    weak: str | None


class Answerer:
    """Thread-safe: the searcher and the model pool are; generation models load on first use and stay."""

    def __init__(
        self,
        searcher: Searcher,
        settings: GenerationSettings | None = None,
        pool: ModelPool | None = None,
        thresholds: Thresholds | None = None,
        context_passages: int = 3,
        explicit_models: frozenset[str] = frozenset(),
    ) -> None:
        self.searcher = searcher
        self.settings = settings or GenerationSettings()
        self.pool = pool or ModelPool(self.settings.device, self.settings.precision)
        self.thresholds = thresholds or Thresholds()
        self.context_passages = context_passages
        self.explicit_models = explicit_models

    # -- public ------------------------------------------------------------------------------------

    def answer(
        self, question: str, k: int = 5, filters: Filters | None = None, extractive: bool = False
    ) -> AnswerResult:
        """Answer from the top-k hybrid hits. Weak retrieval short-circuits (no generator is loaded for a
        question the documents cannot answer); a missing generator falls back to extraction, reported in
        `fallback_reason`; an unreadable input (<unk> guard), an over-long question or the time limit raise."""
        prepared = self._prepare(question, k, filters)
        if prepared.weak is not None:
            return self._unanswerable(prepared, prepared.weak)
        if extractive:
            return self._extractive(prepared)
        model_id = self.model_for(prepared.route)
        try:
            model, text_input = self._generation_input(prepared, model_id)
            options = self._options()
            text = model.generate([text_input], self.settings.max_input_tokens, options)[0]
        except ModelUnavailableError as exc:
            return self._extractive(prepared, fallback_reason=self._fallback_reason(exc, prepared.language))
        return self._finish(prepared, model_id, text)

    def stream(self, question: str, k: int = 5, filters: Filters | None = None) -> Iterator[dict[str, Any]]:
        """Events for Server-Sent Events: {"event": "delta", "text": ...} while generating, then one
        {"event": "answer", "data": <the full response>} (the same shape `answer()` returns)."""
        prepared = self._prepare(question, k, filters)
        if prepared.weak is not None:
            yield {"event": "answer", "data": self._unanswerable(prepared, prepared.weak).as_dict()}
            return
        model_id = self.model_for(prepared.route)
        try:
            model, text_input = self._generation_input(prepared, model_id)
        except ModelUnavailableError as exc:
            result = self._extractive(prepared, fallback_reason=self._fallback_reason(exc, prepared.language))
            yield {"event": "answer", "data": result.as_dict()}
            return
        pieces: list[str] = []
        for piece in model.stream(text_input, self.settings.max_input_tokens, self._options()):
            if piece:
                pieces.append(piece)
                yield {"event": "delta", "text": piece}
        yield {"event": "answer", "data": self._finish(prepared, model_id, "".join(pieces).strip()).as_dict()}

    def model_for(self, language: Language) -> str:
        return self.settings.qa_model_ja if language == "ja" else self.settings.qa_model_en

    # -- steps -------------------------------------------------------------------------------------

    def _prepare(self, question: str, k: int, filters: Filters | None) -> _Prepared:
        question = question.strip()
        if not question:
            raise SearchError("The question is empty")
        if not 1 <= k <= MAX_K:
            raise SearchError(f"k must be between 1 and {MAX_K}, got {k}")
        wordings = variants(question)
        hits = self._search(wordings, k, filters)
        scored = score_sentences(question, hits, self.searcher.encoder, wordings) if hits else []
        context = [h.text for h in self._context_hits(hits, scored)]
        return _Prepared(
            question,
            hits,
            scored,
            question_language(question, *context),
            detect_language(question, *context),
            answerability(scored, self.thresholds),
        )

    def _search(self, wordings: list[str], k: int, filters: Filters | None) -> list[Hit]:
        """Hybrid search for the question and each rewording, fused by reciprocal rank (k=60), top k kept:
        a passage found by the question's own words and by a rewording ranks above one found by either."""
        fused: dict[int, float] = {}
        hits: dict[int, Hit] = {}
        for wording in wordings:
            for rank, hit in enumerate(self.searcher.search(wording, k=k, mode="hybrid", filters=filters).hits):
                fused[hit.passage_id] = fused.get(hit.passage_id, 0.0) + 1.0 / (60 + rank)
                hits.setdefault(hit.passage_id, hit)
        order = sorted(fused, key=lambda pid: -fused[pid])
        return [hits[pid] for pid in order[:k]]

    def _context_hits(self, hits: list[Hit], scored: list[ScoredSentence]) -> list[Hit]:
        """The passages a generator reads: ordered by their best sentence, so that cutting the context to
        the token limit drops the least relevant passage first."""
        order: list[Hit] = []
        seen: set[int] = set()
        for sentence in scored:
            if sentence.hit.passage_id not in seen:
                seen.add(sentence.hit.passage_id)
                order.append(sentence.hit)
        order += [h for h in hits if h.passage_id not in seen]
        return order[: self.context_passages]

    def _generation_input(self, prepared: _Prepared, model_id: str) -> tuple[Seq2SeqModel, str]:
        """Load the model (ModelUnavailableError if it cannot be), check it can read the text, build the
        input within max_input_tokens (the question is kept whole, the context is cut)."""
        setting = "qa_model_ja" if prepared.route == "ja" else "qa_model_en"
        model = self.pool.get(model_id, setting)
        model.load()
        texts = [h.text for h in self._context_hits(prepared.hits, prepared.scored)]
        suggestion = (
            f"{DEFAULT_QA_MODEL_JA} (setting `qa_model_ja`)"
            if prepared.route == "ja"
            else f"{DEFAULT_QA_MODEL_EN} (setting `qa_model_en`)"
        )
        model.check_readable([prepared.question, *texts], suggestion)
        if prepared.route == "ja":
            render = lambda passages: lmqg_qa_input(prepared.question, "\n".join(passages))  # noqa: E731
        else:
            render = lambda passages: flan_qa_input(prepared.question, passages)  # noqa: E731
        text, _ = fit_passages(render, texts, model.count_tokens, self.settings.max_input_tokens)
        return model, text

    def _options(self) -> GenerationOptions:
        return GenerationOptions(
            max_new_tokens=self.settings.max_new_tokens,
            num_beams=self.settings.num_beams,
            max_time=self.settings.max_time,
        )

    def _finish(self, prepared: _Prepared, model_id: str, text: str) -> AnswerResult:
        """Accept a generated answer only when a retrieved passage backs it."""
        cleaned = " ".join(_CITATION_MARK.sub(" ", text).split())
        base = {
            "question": prepared.question,
            "mode": "generative",
            "model": model_id,
            "language": prepared.language,
            "passages": [passage_summary(h) for h in prepared.hits],
        }
        if compact(cleaned) in {"", UNANSWERABLE}:
            return AnswerResult(
                answer=None,
                answerable=False,
                generated_answer=text or None,
                reason=message("model_declined", prepared.language),
                **base,
            )
        support = supporting_sentences(cleaned, prepared.scored)
        if not support:
            log.info(
                "generated answer %r rejected: it neither occurs in a retrieved passage nor shares %.0f%% of its "
                "characters with an evidence sentence",
                text,
                100 * MIN_SUPPORT_F1,
            )
            return AnswerResult(
                answer=None,
                answerable=False,
                generated_answer=text,
                reason=message("unsupported", prepared.language),
                **base,
            )
        return AnswerResult(answer=cleaned, answerable=True, citations=[citation(s) for s in support], **base)

    def _extractive(self, prepared: _Prepared, fallback_reason: str | None = None) -> AnswerResult:
        chosen = evidence(prepared.scored)
        return AnswerResult(
            question=prepared.question,
            answer=chosen[0].text,
            answerable=True,
            mode="extractive",
            model=str(self.searcher.manifest.get("model")),
            language=prepared.language,
            citations=[citation(s) for s in chosen],
            passages=[passage_summary(h) for h in prepared.hits],
            fallback_reason=fallback_reason,
        )

    def _unanswerable(self, prepared: _Prepared, detail: str) -> AnswerResult:
        """No generator is consulted for a question the passages cannot answer: the sentence scores decided,
        so the response names the extraction and the embedding model behind those scores."""
        log.info("question %r not answerable: %s", prepared.question, detail)
        return AnswerResult(
            question=prepared.question,
            answer=None,
            answerable=False,
            mode="extractive",
            model=str(self.searcher.manifest.get("model")),
            language=prepared.language,
            passages=[passage_summary(h) for h in prepared.hits],
            reason=message("not_found", prepared.language),
        )

    def _fallback_reason(self, exc: ModelUnavailableError, language: Language) -> str:
        """Plain words for people; the exception, with its path and cause, for the log. A model named
        explicitly is not replaced: the error goes up."""
        if exc.model in self.explicit_models:
            raise exc
        log.warning("answer model %s unavailable (%s): answering extractively", exc.model, exc.reason)
        return message("qa_fallback", language, model=exc.model)


def supporting_sentences(answer: str, scored: list[ScoredSentence], limit: int = 3) -> list[ScoredSentence]:
    """Sentences that back an answer: those containing it verbatim (normalized), else the one sharing most
    of its characters when that share reaches MIN_SUPPORT_F1. At most one per passage, best first."""
    containing = [s for s in scored if occurs_in(answer, [s.text])]
    if not containing:
        # The answer may span two sentences of one passage: accept containment in the passage, cite its
        # best-scored sentence.
        containing = [s for s in scored if occurs_in(answer, [s.hit.text])]
    if not containing:
        best = max(scored, key=lambda s: char_f1(answer, s.text), default=None)
        containing = [best] if best is not None and char_f1(answer, best.text) >= MIN_SUPPORT_F1 else []
    out: list[ScoredSentence] = []
    passages: set[int] = set()
    for sentence in containing:
        if sentence.hit.passage_id not in passages:
            passages.add(sentence.hit.passage_id)
            out.append(sentence)
    return out[:limit]
