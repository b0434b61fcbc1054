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
from dataclasses import dataclass, replace
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
# A question that asks for an amount, a count, a date or a place (何日, いくら, いつ, どこ) is answered by a
# sentence that states one: without this, 「有給休暇は何日もらえますか」 picked a sentence about half-day leave
# that repeats 有給休暇 but states no number of days granted, over the one granting 10日.
ANSWER_TYPE_WEIGHT = 0.3
# Headings (第20条（年次有給休暇）), FAQ question lines (Q3. 健康診断はいつ受けられますか？) and fragments
# ("A.") repeat the question's words without answering it: they lose to a sentence that states the rule.
SHAPE_PENALTY = 0.4
# Sentences in passages that share more of the question (heading included) are more likely on topic.
PASSAGE_WEIGHT = 0.15
# Citations beyond the best sentence: other passages' sentences that score nearly as well.
SUPPORT_RATIO = 0.8
MAX_CITATIONS = 3

_N = r"[0-9０-９一二三四五六七八九十百千万]"
# What each kind of question asks for, and what a sentence that answers it contains.
ASKED_TYPES: tuple[tuple[str, re.Pattern[str], re.Pattern[str]], ...] = (
    (
        "days",
        re.compile(r"何\s*日間?|日数|\bhow\s+many\s+days\b", re.IGNORECASE),
        re.compile(
            rf"{_N}+\s*(?:(?:営業)?日(?!本)|週間|か月|ヶ月)|\b\d+\s+(?:business\s+)?(?:days?|weeks?)\b", re.IGNORECASE
        ),
    ),
    (
        "time",
        re.compile(r"何時(?!間)|\bwhat\s+time\b", re.IGNORECASE),
        re.compile(rf"{_N}+\s*時|\d{{1,2}}:\d{{2}}|午前|午後", re.IGNORECASE),
    ),
    (
        "date",
        re.compile(r"いつ|何月|何曜|締め日|支払日|期限|\bwhen\b|\bwhat\s+date\b|\bby\s+when\b", re.IGNORECASE),
        re.compile(
            rf"{_N}+\s*[月日時]|末日|営業日|曜日|毎[月年週日]|翌[月日]|前日|当日|まで|以内|\d{{1,2}}:\d{{2}}|"
            r"\b(?:January|February|March|April|May|June|July|August|September|October|November|December|"
            r"Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|within|by)\b",
        ),
    ),
    (
        "amount",
        re.compile(r"いくら|金額|何円|費用|上限額|\bhow\s+much\b|\bcost\b|\ballowance\b", re.IGNORECASE),
        re.compile(rf"{_N}+\s*(?:万)?円|[¥$€£]\s?\d|\b\d[\d,]*\s*yen\b|無料|実費", re.IGNORECASE),
    ),
    (
        "count",
        re.compile(
            r"何\s*[回人件年週分度歳枚本個台文字階名桁割か箇ヶ]|何時間|何か月|いくつ|どのくらい|どれくらい|"
            r"\bhow\s+(?:many|long|often)\b",
            re.IGNORECASE,
        ),
        re.compile(rf"{_N}+\s*(?:[回人件年週分度歳枚本個台階名桁割%％]|か月|ヶ月|時間|文字)|\b\d+\b"),
    ),
    (
        "place",
        re.compile(r"どこ|何階|場所|\bwhere\b", re.IGNORECASE),
        re.compile(
            r"[0-9０-９]+\s*階|[室部課]|窓口|受付|デスク|ポータル|フロア|システム|サイト|https?://|"
            r"\b(?:floor|room|reception|desk|portal|office)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "who",
        re.compile(r"誰|だれ|どの部署|連絡先|問い合わせ先|\bwho\b|\bwhom\b|\bcontact\b", re.IGNORECASE),
        re.compile(
            r"[部課]|担当|所属長|窓口|デスク|内線|@|\b(?:extension|department|helpdesk|manager|HR)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "how",
        re.compile(
            r"どうすれば|どうしたら|どうやって|どうなり|方法|手続き|\bhow\s+(?:do|can|to|should)\b", re.IGNORECASE
        ),
        re.compile(
            r"ください|できます|できる|申請|届け出|報告|されます|なります|\b(?:can|must|should|will|use|call)\b",
            re.IGNORECASE,
        ),
    ),
)
# 何 + counter (+ the word after it) in a question: 何週間先 asks for 「N週間先」, which beats any count of weeks.
_ASKED_COUNTER = re.compile(
    r"何\s*((?:か月|ヶ月|時間|週間|営業日|文字|[日時回円人件年週分度歳枚本個台階名桁割])[一-龥]{0,2})"
)
_HEADING = re.compile(
    r"^(?:第\s*[0-9０-９一二三四五六七八九十百]+\s*[章節条款]|#{1,6}\s|[0-9０-９]+(?:[.．][0-9０-９]+)*[.．]?\s|附則$)"
)
_FAQ_QUESTION = re.compile(r"^(?:Q|Ｑ)\s*[0-9０-９]*\s*[.．:：、]|[？?]$")
_TERMINATED = re.compile(r"[。．！？!?.][)）」』]?$")
# A sentence that announces a list or table (次の金額を上限として…), and how much of what follows it takes.
_ANNOUNCES = re.compile(r"次の|以下の|下記|次のとおり|次の順番|the following", re.IGNORECASE)
MAX_LISTED = 8
MAX_WINDOW_CHARS = 400
# A sentence that continues the one before it: it cannot be understood alone.
_CONTINUES = re.compile(r"^(?:ただし|なお|また、|この|その|それ|これ|However|This|These|It\b)")


def asked_type(question: str) -> str | None:
    """What the question asks for (days, time, date, amount, count, place, who), or None."""
    for name, asks, _ in ASKED_TYPES:
        if asks.search(question):
            return name
    return None


def states_type(kind: str | None, sentence: str) -> bool:
    """Whether a sentence states what a question of this kind asks for."""
    if kind is None:
        return False
    return next(states for name, _, states in ASKED_TYPES if name == kind).search(sentence) is not None


def answer_type_match(question: str, kind: str | None, sentence: str) -> float:
    """1.0 when the sentence states exactly what was asked (何週間先 → 4週間先), 0.7 for the right kind of
    fact (any count of weeks), 0.0 otherwise."""
    asked = _ASKED_COUNTER.search(question)
    if asked is not None:
        counter = asked.group(1)
        for end in range(len(counter), 0, -1):  # the longest tail the sentence states with a number
            if re.search(rf"{_N}+\s*{re.escape(counter[:end])}", sentence):
                return 1.0 if end == len(counter) and end > 1 else 0.7
    return 0.7 if states_type(kind, sentence) else 0.0


def shape_penalty(sentence: str, heading: str, previous: str = "") -> float:
    """1.0 for a line that only names a subject (heading, FAQ question, fragment), else 0.0. `previous` is
    the sentence before it: after a bare "Q2." the next sentence is the FAQ's question, not its answer."""
    body = re.sub(r"[\s\W_]+", "", sentence)
    if len(body) < 4 or (not has_cjk(sentence) and len(sentence.split()) < 4):
        return 1.0
    if _FAQ_QUESTION.search(previous.strip()) and len(re.sub(r"[\s\W_]+", "", previous)) < 4:
        return 1.0
    if _FAQ_QUESTION.search(sentence.strip()):
        return 1.0
    short_unterminated = len(sentence) < 40 and not _TERMINATED.search(sentence.strip())
    if short_unterminated and (_HEADING.search(sentence.strip()) or sentence.strip() in heading):
        return 1.0
    return 0.0


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
    """One sentence (or a sentence-complete window) of a retrieved passage; `start`/`end` index the passage."""

    hit: Hit
    passage_rank: int
    start: int
    end: int
    cosine: float
    overlap: float
    passage_overlap: float
    answer_type: float = 0.0  # 1.0 when the question asks for a kind of fact (何日, いつ) and the sentence states one
    shape: float = 0.0  # 1.0 for headings, FAQ question lines and fragments

    @property
    def text(self) -> str:
        return self.hit.text[self.start : self.end]

    @property
    def score(self) -> float:
        return (
            COSINE_WEIGHT * self.cosine
            + KEYWORD_WEIGHT * self.overlap
            + ANSWER_TYPE_WEIGHT * self.answer_type
            + PASSAGE_WEIGHT * self.passage_overlap
            - SHAPE_PENALTY * self.shape
        )

    @property
    def document_start(self) -> int:
        """Offset in the document text: passage offset + sentence offset."""
        return self.hit.start + self.start

    @property
    def document_end(self) -> int:
        return self.hit.start + self.end


def best_overlap(token_sets: list[set[str]], text: str) -> float:
    """The share of content tokens `text` holds, for the wording of the question that fits it best."""
    return max((keyword_overlap(tokens, text) for tokens in token_sets), default=0.0)


def score_sentences(
    question: str, hits: list[Hit], encoder: Encoder, variants: list[str] | None = None
) -> list[ScoredSentence]:
    """Every distinct sentence of the hits, best first (overlapping passages repeat sentences: the
    higher-ranked passage keeps it). `variants` are rewordings of the question (thesaurus.variants): keyword
    overlap counts the best of them, so an everyday word finds the regulation's formal one."""
    token_sets = [content_tokens(v) for v in (variants or [question])]
    kind = asked_type(question)
    seen: set[tuple[str, int]] = set()
    spans: list[tuple[int, Hit, int, int, float]] = []
    previous: dict[tuple[int, int], str] = {}  # (passage id, start) → the sentence before it
    for rank, hit in enumerate(hits):
        passage_overlap = best_overlap(token_sets, f"{hit.heading}\n{hit.text}")
        before = ""
        for start, end in split_sentences(hit.text):
            previous[(hit.passage_id, start)] = before
            before = hit.text[start:end]
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
            overlap=best_overlap(token_sets, hit.text[start:end]),
            passage_overlap=passage_overlap,
            answer_type=answer_type_match(question, kind, hit.text[start:end]),
            shape=shape_penalty(hit.text[start:end], hit.heading, previous[(hit.passage_id, start)]),
        )
        for (rank, hit, start, end, passage_overlap), cosine in zip(spans, cosines, strict=True)
    ]
    # Ties break on retrieval rank, then position, so the choice is deterministic.
    scored.sort(key=lambda s: (-s.score, s.passage_rank, s.start))
    return scored


def answerability(scored: list[ScoredSentence], thresholds: Thresholds) -> str | None:
    """None when the retrieved passages may answer the question, else the technical reason they cannot
    (for the log: people are told in plain words, see answer.py)."""
    if not scored:
        return "no passages were retrieved"
    best_overlap = max(s.passage_overlap for s in scored)
    # A fragment ("SakuraTech Co., Ltd.") sits close to any question that names the company: only whole
    # sentences may prove answerability by meaning alone.
    best_cosine = max((s.cosine for s in scored if s.shape == 0), default=0.0)
    if best_overlap >= thresholds.min_overlap or best_cosine >= thresholds.min_cosine:
        return None
    return (
        f"retrieval is too weak: the closest passages share {best_overlap:.0%} of the question's content words "
        f"(at least {thresholds.min_overlap:.0%} needed) and the closest sentence has cosine {best_cosine:.2f} "
        f"(at least {thresholds.min_cosine:.2f} needed)"
    )


def complete_window(sentence: ScoredSentence) -> ScoredSentence:
    """The sentence widened until it reads alone: a line ending in a colon or a fragment takes the next
    sentence of its passage, a sentence opening with ただし/この/その takes the one before."""
    spans = split_sentences(sentence.hit.text)
    index = next((i for i, (s, _) in enumerate(spans) if s == sentence.start), None)
    if index is None:
        return sentence
    start, end = sentence.start, sentence.end
    text = sentence.hit.text
    if index > 0 and _CONTINUES.search(text[start:end]):
        start = spans[index - 1][0]
    following = index + 1
    while following < len(spans) and (_is_fragment(text[start:end])):
        end = spans[following][1]
        following += 1
    if _ANNOUNCES.search(text[sentence.start : sentence.end]):  # 「次の金額を上限として」: take the list it announces
        last = min(len(spans), following + MAX_LISTED)
        while following < last and len(text[start : spans[following][1]]) <= MAX_WINDOW_CHARS:
            end = spans[following][1]
            following += 1
    return replace(sentence, start=start, end=end)


def _is_fragment(text: str) -> bool:
    """Too short to read alone ("A.", "① 土曜日") or announcing what follows ("次のとおりとする：")."""
    return len(re.sub(r"[\s\W_]+", "", text)) < 8 or text.rstrip().endswith((":", "："))


def evidence(scored: list[ScoredSentence]) -> list[ScoredSentence]:
    """The best sentence (widened to read alone), plus up to two near-equal sentences from other passages."""
    if not scored:
        return []
    best = scored[0]
    chosen = [complete_window(best)]
    passages = {best.hit.passage_id}
    for sentence in scored[1:]:
        if len(chosen) == MAX_CITATIONS or sentence.score < SUPPORT_RATIO * best.score:
            break
        if sentence.hit.passage_id not in passages and sentence.overlap > 0 and sentence.shape == 0:
            chosen.append(sentence)
            passages.add(sentence.hit.passage_id)
    return chosen
