"""Study questions from the index: answer candidates → question generation → filtering → distractors.

1. Source passages: the top hybrid-search hits of a query, or every passage of one document.
2. Answer candidates per passage (search/generation/candidates.py), verbatim and typed, specific facts first.
3. Questions from sonoisa/t5-base-japanese-question-generation with its training input
   "answer: {answer} context: {context}" (≤ 512 input tokens, the context cut around the answer's sentence;
   ≤ 64 new tokens; 4 beams; every setting passed explicitly), in batches.
4. Dropped: empty output, questions that contain their own answer (they give it away), duplicates.
   Optionally (`verify`) the QA model answers each question from its source passage and only questions
   that come back with their answer are kept.
5. Multiple choice: three distractors of the answer's type (a date for a date) from other passages of the
   index, nearest to the answer in the index's embedding space (plausible, not random), never equal to,
   containing or contained in the answer (which would make two options correct).

Without the question-generation model (or with `mode="cloze"`) step 3 is replaced by fill-in-the-blank
questions made from the same candidates' sentences (search/generation/cloze.py). Every question says which
way it was made (`mode`: "generated" or "cloze"), and so does the response; when the configured model is
missing, `fallback_reason` says so in plain words and the log has the detail. A model named explicitly
(`explicit_models`: a command-line flag) is never replaced: its absence is an error.

Candidates are never the quiz's own query or boilerplate (制定日, 本書, 会社), and they are taken round robin
over the document's sections so that a quiz covers more than its first article.

Everything dropped is counted in `skipped` by reason, so a short quiz explains itself.
"""

from __future__ import annotations

import hashlib
import logging
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from search.errors import ModelUnavailableError, SearchError
from search.generation.candidates import TYPE_PRIORITY, Candidate, extract_candidates
from search.generation.cloze import (
    cloze_text,
    is_boilerplate,
    is_query,
    is_weak_noun,
    key_sentence,
    numeric_variants,
)
from search.generation.messages import message
from search.generation.prompts import flan_qa_input, lmqg_qa_input, sonoisa_qg_input, window_around
from search.generation.settings import DEFAULT_QG_MODEL, GenerationSettings
from search.models.seq2seq import GenerationOptions, ModelPool, UnreadableInputError
from search.retrieval.results import Hit
from search.text.language import Language, detect_language, question_language
from search.text.overlap import char_f1, compact
from search.text.sentences import split_sentences

if TYPE_CHECKING:
    from search.retrieval.filters import Filters
    from search.retrieval.searcher import Searcher

log = logging.getLogger("docsearch.generation")
MODES = ("auto", "generated", "cloze")

QG_MAX_INPUT_TOKENS = 512
QG_MAX_NEW_TOKENS = 64
QG_NUM_BEAMS = 4
QG_BATCH = 8
DISTRACTORS = 3
# Questions are generated for more candidates than requested, since filtering drops some.
OVERGENERATE = 3
MAX_N = 50
POOL_PASSAGES = 50  # passages searched for distractor candidates
# A round trip passes when the QA model's answer contains (or is contained in) the intended one, or shares
# two thirds of its characters: 0.5 would accept 三日 for 十日 (one of two characters in common).
VERIFY_F1 = 0.67


@dataclass
class QuizQuestion:
    question: str
    answer: str
    answer_type: str
    options: list[str]  # empty unless multiple choice; the answer is one of them
    distractors: list[str]
    passage_id: int
    path: str
    title: str
    start: int  # passage offsets in the document
    end: int
    answer_start: int  # answer offsets in the document: text[answer_start:answer_end] == answer
    answer_end: int
    verified: bool | None = None  # None: not checked
    mode: str = "generated"  # generated (by the QG model) | cloze (the source sentence with the answer blanked)

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class QuizResult:
    source: dict[str, str]
    model: str  # the QG model that wrote the questions, or for cloze questions the embedding model
    multiple_choice: bool
    questions: list[QuizQuestion]
    skipped: dict[str, int] = field(default_factory=dict)
    mode: str = "generated"  # generated | cloze: how every question of this quiz was made
    language: Language = "ja"  # of the query (or the document): messages are written in it
    fallback_reason: str | None = None  # why the questions are cloze although generation was configured

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "mode": self.mode,
            "model": self.model,
            "language": self.language,
            "fallback_reason": self.fallback_reason,
            "multiple_choice": self.multiple_choice,
            "questions": [q.as_dict() for q in self.questions],
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class _Item:
    hit: Hit
    candidate: Candidate


def document_passages(searcher: Searcher, path: str) -> list[Hit]:
    """Every passage of one indexed document, in document order."""
    store = searcher.store
    with store.read_snapshot():
        documents = store.documents_by_path()
        if path not in documents:
            examples = ", ".join(sorted(documents)[:3])
            raise SearchError(
                f"No document '{path}' in the index (paths are relative to the indexed folder, e.g. {examples})"
            )
        ids = [p.id for p in store.document_passages(documents[path].id)]
        rows = store.passage_rows(ids)
    return [Hit.from_row(rows[i]) for i in ids]


def question_filter(question: str, answer: str, seen: set[str]) -> str | None:
    """Why a generated question is dropped (None: keep it). `seen` collects kept questions."""
    key = compact(question)
    if not key:
        return "empty"
    if compact(answer) in key:
        return "contains_answer"
    if key in seen:
        return "duplicate"
    seen.add(key)
    return None


def excluded_distractor(answer: str, candidate: str) -> bool:
    """Equal to, containing or contained in the answer: such an option would also be correct."""
    a, c = compact(answer), compact(candidate)
    return not c or a == c or a in c or c in a


class QuizGenerator:
    """Thread-safe like Answerer; the QG (and QA, for verification) models load on first use."""

    def __init__(
        self,
        searcher: Searcher,
        settings: GenerationSettings | None = None,
        pool: ModelPool | None = None,
        qg_options: GenerationOptions | None = None,
        explicit_models: frozenset[str] = frozenset(),
    ) -> None:
        self.searcher = searcher
        self.explicit_models = explicit_models
        self.settings = settings or GenerationSettings()
        self.pool = pool or ModelPool(self.settings.device, self.settings.precision)
        # The model card's settings; tests pass smaller ones to keep tiny random models fast.
        self.qg_options = qg_options or GenerationOptions(
            max_new_tokens=QG_MAX_NEW_TOKENS, num_beams=QG_NUM_BEAMS, max_time=self.settings.max_time
        )

    def from_query(
        self,
        query: str,
        n: int = 5,
        multiple_choice: bool = True,
        verify: bool = False,
        filters: Filters | None = None,
        mode: str = "auto",
    ) -> QuizResult:
        """`mode`: auto (generated when the QG model is available, else cloze), generated, or cloze."""
        if not query.strip():
            raise SearchError("The quiz query is empty")
        _check_n(n)
        _check_mode(mode)
        hits = self.searcher.search(query, k=min(20, max(5, 2 * n)), mode="hybrid", filters=filters).hits
        language = question_language(query, *(h.text for h in hits[:3]))
        return self._build({"query": query}, hits, query, query, n, multiple_choice, verify, mode, language)

    def from_document(
        self, path: str, n: int = 5, multiple_choice: bool = True, verify: bool = False, mode: str = "auto"
    ) -> QuizResult:
        _check_n(n)
        _check_mode(mode)
        hits = document_passages(self.searcher, path)
        language = detect_language(*(h.text for h in hits[:3])) if hits else "ja"
        pool_query = hits[0].title if hits else path
        return self._build({"document": path}, hits, pool_query, "", n, multiple_choice, verify, mode, language)

    # -- pipeline ----------------------------------------------------------------------------------

    def _build(
        self,
        source: dict[str, str],
        hits: list[Hit],
        pool_query: str,
        query: str,
        n: int,
        multiple_choice: bool,
        verify: bool,
        mode: str,
        language: Language,
    ) -> QuizResult:
        skipped: Counter[str] = Counter()
        fallback_reason = None
        if mode == "auto":
            fallback_reason = self._qg_unavailable(language)
            mode = "cloze" if fallback_reason is not None else "generated"
        if mode == "cloze":
            items = select_candidates(hits, n * OVERGENERATE, query, cloze=True)
            questions = [self._cloze(item) for item in items]
            model_id = str(self.searcher.manifest.get("model"))
        else:
            questions = self._generated(select_candidates(hits, n * OVERGENERATE, query), skipped)
            model_id = self.settings.qg_model
            if verify and questions:
                questions, unverified_by = self._verify(questions, skipped)
                if unverified_by is not None:
                    fallback_reason = message("verify_skipped", language, model=unverified_by)
        if multiple_choice and questions:
            questions = self._add_distractors(questions, hits, pool_query, skipped)
        result = QuizResult(source, model_id, multiple_choice, questions[:n], dict(skipped), mode, language)
        result.fallback_reason = fallback_reason
        return result

    def _qg_unavailable(self, language: Language) -> str | None:
        """None when the QG model loads; else the plain reason quizzes are cloze (the detail is logged). A
        model named explicitly raises instead."""
        try:
            self.pool.get(self.settings.qg_model, "qg_model").load()
        except ModelUnavailableError as exc:
            if exc.model in self.explicit_models:
                raise
            log.warning("question model %s unavailable (%s): making cloze questions", exc.model, exc.reason)
            return message("qg_fallback", language, model=exc.model)
        return None

    def _generated(self, items: list[_Item], skipped: Counter[str]) -> list[QuizQuestion]:
        questions: list[QuizQuestion] = []
        if items:
            seen: set[str] = set()
            for item, question in self._generate_questions(items, skipped):
                reason = question_filter(question, item.candidate.text, seen)
                if reason:
                    skipped[reason] += 1
                else:
                    questions.append(self._question(item, question))
        return questions

    def _cloze(self, item: _Item) -> QuizQuestion:
        hit = item.hit
        span = key_sentence(hit.text, hit.heading, item.candidate)
        assert span is not None, "select_candidates(cloze=True) keeps only candidates in key sentences"
        question = self._question(item, cloze_text(hit.text, span, item.candidate, hit.heading))
        question.mode = "cloze"
        return question

    def _generate_questions(self, items: list[_Item], skipped: Counter[str]) -> list[tuple[_Item, str]]:
        model = self.pool.get(self.settings.qg_model, "qg_model")
        model.load()  # ModelUnavailableError names the QG model
        suggestion = f"{DEFAULT_QG_MODEL} (setting `qg_model`)"
        readable: dict[int, bool] = {}
        last_error: UnreadableInputError | None = None
        inputs: list[tuple[_Item, str]] = []
        for item in items:
            pid = item.hit.passage_id
            if pid not in readable:
                try:
                    model.check_readable([item.hit.text], suggestion)
                    readable[pid] = True
                except UnreadableInputError as exc:
                    readable[pid], last_error = False, exc
            if not readable[pid]:
                skipped["unreadable_passage"] += 1
                continue
            text = qg_input(item, lambda t: model.count_tokens(t) <= QG_MAX_INPUT_TOKENS)
            if text is None:
                skipped["too_long"] += 1
                continue
            inputs.append((item, text))
        if not inputs and last_error is not None:
            raise last_error  # nothing at all was readable: say which model to use
        out: list[tuple[_Item, str]] = []
        for start in range(0, len(inputs), QG_BATCH):
            batch = inputs[start : start + QG_BATCH]
            texts = model.generate([t for _, t in batch], QG_MAX_INPUT_TOKENS, self.qg_options)
            out += [(item, text) for (item, _), text in zip(batch, texts, strict=True)]
        return out

    def _question(self, item: _Item, question: str) -> QuizQuestion:
        hit, candidate = item.hit, item.candidate
        return QuizQuestion(
            question=question,
            answer=candidate.text,
            answer_type=candidate.type,
            options=[],
            distractors=[],
            passage_id=hit.passage_id,
            path=hit.path,
            title=hit.title,
            start=hit.start,
            end=hit.end,
            answer_start=hit.start + candidate.start,
            answer_end=hit.start + candidate.end,
        )

    def _verify(self, questions: list[QuizQuestion], skipped: Counter[str]) -> tuple[list[QuizQuestion], str | None]:
        """Keep questions the QA model answers with their own answer from the source passage. A configured QA
        model that is missing leaves its questions unchecked (verified None) and is returned, to be reported."""
        kept: list[QuizQuestion] = []
        missing: str | None = None
        for question in questions:
            passage = self._passage_text(question)
            language = detect_language(question.question, passage)
            model_id = self.settings.qa_model_ja if language == "ja" else self.settings.qa_model_en
            model = self.pool.get(model_id, "qa_model_ja" if language == "ja" else "qa_model_en")
            try:
                model.load()
            except ModelUnavailableError as exc:
                if exc.model in self.explicit_models:
                    raise
                log.warning("answer model %s unavailable (%s): questions not verified", exc.model, exc.reason)
                missing = exc.model
                kept.append(question)  # verified stays None: not checked
                continue
            text = (
                lmqg_qa_input(question.question, passage)
                if language == "ja"
                else flan_qa_input(question.question, [passage])
            )
            if model.count_tokens(text) > self.settings.max_input_tokens:
                skipped["not_verified"] += 1
                continue
            options = GenerationOptions(self.settings.max_new_tokens, self.settings.num_beams, self.settings.max_time)
            predicted = model.generate([text], self.settings.max_input_tokens, options)[0]
            a, p = compact(question.answer), compact(predicted)
            question.verified = bool(p) and (a in p or p in a or char_f1(predicted, question.answer) >= VERIFY_F1)
            if question.verified:
                kept.append(question)
            else:
                skipped["not_verified"] += 1
        return kept, missing

    def _passage_text(self, question: QuizQuestion) -> str:
        rows = self.searcher.store.passage_rows([question.passage_id])
        return rows[question.passage_id]["text"]

    def _add_distractors(
        self, questions: list[QuizQuestion], hits: list[Hit], pool_query: str, skipped: Counter[str]
    ) -> list[QuizQuestion]:
        pool_hits = {h.passage_id: h for h in hits}
        for hit in self.searcher.search(pool_query, k=POOL_PASSAGES, mode="hybrid").hits:
            pool_hits.setdefault(hit.passage_id, hit)
        types = {q.answer_type for q in questions}
        pool: list[tuple[int, Candidate]] = [
            (pid, c) for pid, hit in pool_hits.items() for c in extract_candidates(hit.text) if c.type in types
        ]
        texts = list(dict.fromkeys([q.answer for q in questions] + [c.text for _, c in pool]))
        vectors = dict(zip(texts, self.searcher.encoder.encode(texts), strict=True)) if texts else {}
        kept: list[QuizQuestion] = []
        for question in questions:
            choices = nearest_distractors(question, pool, vectors)
            if len(choices) < DISTRACTORS:
                skipped["no_distractors"] += 1
                continue
            question.distractors = choices
            question.options = shuffled_options(question.question, question.answer, choices)
            kept.append(question)
        return kept


def usable(hit: Hit, candidate: Candidate, query: str, cloze: bool) -> bool:
    """A candidate worth a question: not the query, not boilerplate, and (cloze) in a key sentence."""
    if is_query(candidate, query) or is_weak_noun(candidate):
        return False
    span = key_sentence(hit.text, hit.heading, candidate)
    sentence = hit.text[span[0] : span[1]] if span is not None else hit.text[candidate.start : candidate.end]
    if is_boilerplate(candidate, sentence, hit.title):
        return False
    return span is not None or not cloze


def select_candidates(hits: list[Hit], limit: int, query: str = "", cloze: bool = False) -> list[_Item]:
    """Up to `limit` candidates, round robin over sections (passages under one heading are one section)
    for coverage, specific types first in each; never the query itself or boilerplate."""
    sections: dict[str, list[_Item]] = {}
    for hit in hits:
        candidates = sorted(extract_candidates(hit.text), key=lambda c: (TYPE_PRIORITY.index(c.type), c.start))
        items = [_Item(hit, c) for c in candidates if usable(hit, c, query, cloze)]
        sections.setdefault(f"{hit.path}\n{hit.heading}", []).extend(items)
    per_passage = [
        sorted(items, key=lambda i: (TYPE_PRIORITY.index(i.candidate.type), i.hit.start, i.candidate.start))
        for items in sections.values()
    ]
    out: list[_Item] = []
    seen: set[str] = set()
    depth = 0
    while len(out) < limit and any(depth < len(p) for p in per_passage):
        for items in per_passage:
            if depth < len(items) and len(out) < limit:
                key = compact(items[depth].candidate.text)
                if key not in seen:  # the same answer from overlapping passages is asked once
                    seen.add(key)
                    out.append(items[depth])
        depth += 1
    return out


def qg_input(item: _Item, fits: Any) -> str | None:
    """The QG input for one candidate, the context cut (around the answer's sentence) to fit the model."""
    text, candidate = item.hit.text, item.candidate
    sentence = next(
        ((s, e) for s, e in split_sentences(text) if s <= candidate.start and candidate.end <= e),
        (candidate.start, candidate.end),
    )
    window = window_around(
        text, candidate.start, candidate.end, sentence, lambda c: fits(sonoisa_qg_input(candidate.text, c))
    )
    return None if window is None else sonoisa_qg_input(candidate.text, window[0])


def nearest_distractors(
    question: QuizQuestion, pool: list[tuple[int, Candidate]], vectors: dict[str, np.ndarray]
) -> list[str]:
    """Three options of the answer's type from other passages, nearest to the answer, never overlapping it
    nor shown in the question. A number, date or time only ever meets the same unit (10日 against 5日, not
    against 4階); when the index has fewer than three, the answer's number is varied (10日 → 5日, 20日)."""
    answer_vector = vectors[question.answer]
    numeric = question.answer_type in NUMERIC_TYPES
    scored: list[tuple[bool, float, str]] = []
    for pid, candidate in pool:
        if pid == question.passage_id or candidate.type != question.answer_type:
            continue
        if excluded_distractor(question.answer, candidate.text) or candidate.text in question.question:
            continue
        same_unit = unit(candidate.text) == unit(question.answer)
        if numeric and not same_unit:
            continue
        scored.append((same_unit, float(vectors[candidate.text] @ answer_vector), candidate.text))
    # A count in days is best confused with other counts in days: same unit first, then nearest.
    scored.sort(key=lambda s: (not s[0], -s[1], s[2]))
    options = [text for _, _, text in scored]
    if numeric:
        options += numeric_variants(question.answer, question.answer_type)
    chosen: list[str] = []
    for text in options:
        if not excluded_distractor(question.answer, text) and all(not excluded_distractor(c, text) for c in chosen):
            chosen.append(text)  # no two options that overlap either
        if len(chosen) == DISTRACTORS:
            break
    return chosen


NUMERIC_TYPES = frozenset({"number", "date", "time"})
_DIGITS = re.compile(r"[0-9０-９〇一二三四五六七八九十百千万億兆.,，．$¥€£]+")


def unit(text: str) -> str:
    """The counter or unit of a number (日, か月, 円, days, %), '' for other types."""
    return _DIGITS.sub("", text).removeprefix("第").strip().lower()


def shuffled_options(question: str, answer: str, distractors: list[str]) -> list[str]:
    """Answer and distractors in an order that is random-looking but the same on every run."""
    options = [answer, *distractors]
    seed = int.from_bytes(hashlib.sha256(f"{question}\n{answer}".encode()).digest()[:8], "big")
    random.Random(seed).shuffle(options)
    return options


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise SearchError(f"quiz mode must be one of {', '.join(MODES)}, got '{mode}'")


def _check_n(n: int) -> None:
    if not 1 <= n <= MAX_N:
        raise SearchError(f"n must be between 1 and {MAX_N}, got {n}")
