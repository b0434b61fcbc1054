"""Extractive answers: the sentence(s) of the top passages that best answer a question, and answerability.

Needs no generation model, so `/answer` is useful before any generator is installed, and the generative
mode uses the same scores to find the evidence sentence behind a generated answer and to decide whether
retrieval found anything relevant at all.

Each sentence of the retrieved passages is scored by
    score = 0.5 * cosine(question, sentence) + 0.5 * keyword overlap(question, sentence)
with the index's own encoder (the space retrieval ranked in) and the keyword index's CJK bigrams (what BM25
matched on). Neither signal alone is reliable: cosine ranks paraphrases but an encoder that does not know
Japanese (the English MiniLM fallback) or a short sentence can score high by accident; keyword overlap is
precise but misses paraphrases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from search.models.hub import is_english_only
from search.text.keyword import has_cjk
from search.text.overlap import content_tokens, keyword_overlap
from search.text.sentences import split_sentences

if TYPE_CHECKING:
    from search.models.encoder import Encoder
    from search.retrieval.results import Hit

COSINE_WEIGHT = 0.5
KEYWORD_WEIGHT = 0.5
# A question that asks for an amount, a count or a time (何日, いくら, いつ, how many) is answered by a sentence
# that states a number: without this, 「有給休暇は何日もらえますか」 picked a sentence about half-day leave that
# repeats 有給休暇 but states no number of days, over the one granting 10日.
ANSWER_TYPE_WEIGHT = 0.2
QUANTITY_QUESTION = re.compile(
    r"何\s*[日時回円人件年月週分度歳枚本個台か箇ヶ営]|いくら|いくつ|いつ|どのくらい|どれくらい|何時間|何か月|"
    r"\bhow\s+(many|much|long|often)\b|\bwhen\b|\bwhat\s+time\b",
    re.IGNORECASE,
)
STATES_A_NUMBER = re.compile(r"[0-9０-９]|[一二三四五六七八九十百千万]+\s*[日時回円人件年月週分か箇ヶ]")
# Citations beyond the best sentence: other passages' sentences that score nearly as well.
SUPPORT_RATIO = 0.8
MAX_CITATIONS = 3


@dataclass(frozen=True)
class Thresholds:
    """When retrieval is too weak to answer from.

    A question is answerable when some retrieved passage (heading included) contains at least 60% of the
    question's content tokens, or some sentence is very close in embedding space. Half, because a
    passage that answers a question nearly always repeats its subject (有給休暇, 経費精算, VPN) while an
    unrelated passage shares at most an incidental word (名前, 説明) with it: on the sample documents,
    answerable questions share 2/3 or more, unrelated ones 1/3 or less; an unrelated question about a
    subject the documents mention (社員食堂のカレーの値段, "price of the curry in the staff canteen") shares
    exactly half, so the bar sits above one half. The cosine threshold is high on
    purpose: cosines depend on the encoder (Sentence-T5 puts unrelated Japanese sentences at 0.5-0.7), so
    it only rescues paraphrases with no shared words when the encoder is confident.
    """

    min_overlap: float = 0.6
    min_cosine: float = 0.75


@dataclass(frozen=True)
class ScoredSentence:
    """One sentence of a retrieved passage; `start`/`end` index into the passage text."""

    hit: Hit
    passage_rank: int
    start: int
    end: int
    cosine: float
    overlap: float
    passage_overlap: float
    answer_type: float = 0.0  # 1.0 when the question asks for a quantity and the sentence states one

    @property
    def text(self) -> str:
        return self.hit.text[self.start : self.end]

    @property
    def score(self) -> float:
        return COSINE_WEIGHT * self.cosine + KEYWORD_WEIGHT * self.overlap + ANSWER_TYPE_WEIGHT * self.answer_type

    @property
    def document_start(self) -> int:
        """Offset in the document text: passage offset + sentence offset."""
        return self.hit.start + self.start

    @property
    def document_end(self) -> int:
        return self.hit.start + self.end


def score_sentences(question: str, hits: list[Hit], encoder: Encoder) -> list[ScoredSentence]:
    """Every distinct sentence of the hits, best first (overlapping passages repeat sentences: the
    higher-ranked passage keeps it)."""
    question_tokens = content_tokens(question)
    wants_quantity = QUANTITY_QUESTION.search(question) is not None
    seen: set[tuple[str, int]] = set()
    spans: list[tuple[int, Hit, int, int, float]] = []
    for rank, hit in enumerate(hits):
        passage_overlap = keyword_overlap(question_tokens, f"{hit.heading}\n{hit.text}")
        for start, end in split_sentences(hit.text):
            key = (hit.path, hit.start + start)
            if key not in seen:
                seen.add(key)
                spans.append((rank, hit, start, end, passage_overlap))
    if not spans:
        return []
    if is_english_only(encoder.model_id) and has_cjk(question):
        # An English-only encoder puts unrelated Japanese sentences at cosine 0.8 (all their characters are
        # near-unknown to it): its similarity would both rank sentences and "prove" answerability by accident.
        cosines = np.zeros(len(spans), dtype=np.float32)
    else:
        vectors = encoder.encode([question] + [hit.text[s:e] for _, hit, s, e, _ in spans])
        cosines = np.clip(vectors[1:] @ vectors[0], -1.0, 1.0)
    scored = [
        ScoredSentence(
            hit=hit,
            passage_rank=rank,
            start=start,
            end=end,
            cosine=float(cosine),
            overlap=keyword_overlap(question_tokens, hit.text[start:end]),
            passage_overlap=passage_overlap,
            answer_type=float(wants_quantity and STATES_A_NUMBER.search(hit.text[start:end]) is not None),
        )
        for (rank, hit, start, end, passage_overlap), cosine in zip(spans, cosines, strict=True)
    ]
    # Ties break on retrieval rank, then position, so the choice is deterministic.
    scored.sort(key=lambda s: (-s.score, s.passage_rank, s.start))
    return scored


def answerability(scored: list[ScoredSentence], thresholds: Thresholds) -> str | None:
    """None when the retrieved passages may answer the question, else the reason they cannot."""
    if not scored:
        return "no passages were retrieved"
    best_overlap = max(s.passage_overlap for s in scored)
    best_cosine = max(s.cosine for s in scored)
    if best_overlap >= thresholds.min_overlap or best_cosine >= thresholds.min_cosine:
        return None
    return (
        f"retrieval is too weak: the closest passages share {best_overlap:.0%} of the question's content words "
        f"(at least {thresholds.min_overlap:.0%} needed) and the closest sentence has cosine {best_cosine:.2f} "
        f"(at least {thresholds.min_cosine:.2f} needed)"
    )


def evidence(scored: list[ScoredSentence]) -> list[ScoredSentence]:
    """The best sentence, plus up to two near-equal sentences from other passages as further support."""
    if not scored:
        return []
    best = scored[0]
    chosen = [best]
    passages = {best.hit.passage_id}
    for sentence in scored[1:]:
        if len(chosen) == MAX_CITATIONS or sentence.score < SUPPORT_RATIO * best.score:
            break
        if sentence.hit.passage_id not in passages and sentence.overlap > 0:
            chosen.append(sentence)
            passages.add(sentence.hit.passage_id)
    return chosen
