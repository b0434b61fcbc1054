"""Fill-in-the-blank (穴埋め) questions: a quiz that needs no generation model.

Why: the question-generation model is a 900 MB download that many machines (air-gapped sites, a first
day) do not have; without it `indexer quiz`, POST /quiz and the page's quiz tab did nothing at all. A
cloze question is made from a key sentence of a retrieved passage by blanking one answer candidate
(search/generation/candidates.py): the sentence is the document's own words, so the question is always
grammatical and always answered by its source, and the answer is the exact span that was blanked.

Which sentences and spans make good questions (the same rules also filter the generated mode's answers):
- a sentence that states something: not a heading, not an FAQ question line, not a fragment, not the
  document's administrative preamble (制定日, 最終改定, 文書番号, Last updated ...);
- an answer that is not the quiz's own query and not boilerplate (本書, 会社, 当社 ...).
Distractors of the same type and unit come from other passages (quiz.py); when the index has too few,
numbers are varied (10日 → 5日, 20日), never into the answer itself.
"""

from __future__ import annotations

import re

from search.generation.candidates import Candidate
from search.generation.extractive import shape_penalty
from search.text.language import is_japanese
from search.text.overlap import compact
from search.text.sentences import split_sentences

BLANK_JA = "＿＿＿＿"
BLANK_EN = "_____"
PROMPT_JA = "空欄に入る語句は何ですか。"
PROMPT_EN = "Fill in the blank:"
MIN_SENTENCE_CHARS = 12
_STATEMENT_END = re.compile(r"[。．.!?！？][)）」』]?$")
_CUT_START = re.compile(r"^[）)」』、。，,.:：a-z]")
MAX_SENTENCE_CHARS = 160
# Lines that record the document rather than state a rule: asking for an enactment date teaches nothing.
BOILERPLATE_LINE = re.compile(
    r"制定|改定|施行|最終更新|更新日|作成日|文書番号|第\s*[0-9０-９]+\s*版|年度版|所管|"
    r"\b(?:last\s+updated|effective|version)\b",
    re.IGNORECASE,
)
# Words every in-house document uses about itself: an answer of 会社 or 本書 tests nothing.
BOILERPLATE_WORDS = frozenset(
    {
        "本書",
        "本規程",
        "本規則",
        "本ポリシー",
        "本ガイド",
        "この規則",
        "この規程",
        "会社",
        "当社",
        "弊社",
        "従業員",
        "社員",
        "全従業員",
        "規則",
        "規程",
        "ガイド",
        "全文",
        "内容",
        "以下",
        "次",
        "各号",
        "事項",
        "場合",
        "部門",
        "部署",
        "本社",
        "株式会社",
        "company",
        "employees",
        "employee",
        "policy",
        "guide",
    }
)


def is_boilerplate(candidate: Candidate, sentence: str, title: str) -> bool:
    """An answer not worth asking: a preamble line's date, a word documents use about themselves, the title."""
    word = candidate.text.strip()
    if word.lower() in BOILERPLATE_WORDS or compact(word) == compact(title):
        return True
    if candidate.type == "noun" and (compact(word) in {compact(w) for w in BOILERPLATE_WORDS}):
        return True
    return BOILERPLATE_LINE.search(sentence) is not None


_HIRAGANA_ONLY = re.compile(r"^[\u3041-\u309fー]+$")


def is_weak_noun(candidate: Candidate) -> bool:
    """A common noun too general to test anything (期間, 業務, 誠実, とおり): two characters or fewer, or all
    hiragana. Compound and specific nouns (労使協定, 締め日, サクラ勤怠) stay."""
    word = candidate.text.strip()
    return candidate.type == "noun" and (len(word) <= 2 or _HIRAGANA_ONLY.match(word) is not None)


def is_query(candidate: Candidate, query: str) -> bool:
    """The answer is the quiz's query, or inside it (経費精算 for the query 経費精算の締め日): a question whose
    answer the learner just typed teaches nothing."""
    a, q = compact(candidate.text), compact(query)
    return bool(a) and bool(q) and (a in q or q in a)


def sentence_of(text: str, candidate: Candidate) -> tuple[int, int] | None:
    """The sentence of `text` that holds the candidate whole."""
    return next(((s, e) for s, e in split_sentences(text) if s <= candidate.start and candidate.end <= e), None)


def key_sentence(text: str, heading: str, candidate: Candidate) -> tuple[int, int] | None:
    """The candidate's sentence when it is one worth asking about (states something, not too long)."""
    span = sentence_of(text, candidate)
    if span is None:
        return None
    sentence = text[span[0] : span[1]]
    if not MIN_SENTENCE_CHARS <= len(sentence) <= MAX_SENTENCE_CHARS:
        return None
    # A statement ends like one; a table row (| 会議費 | …) or a letterhead line out of its layout does not.
    if not _STATEMENT_END.search(sentence) or sentence.count("|") >= 2:
        return None
    if _CUT_START.match(sentence):  # the passage begins inside a sentence (「xample）を通じて手配する。」)
        return None
    previous = [text[s:e] for s, e in split_sentences(text) if e <= span[0]]
    if shape_penalty(sentence, heading, previous[-1] if previous else "") > 0:
        return None
    if len(compact(candidate.text)) * 2 > len(compact(sentence)):  # the blank would be most of the sentence
        return None
    return span


def cloze_text(text: str, span: tuple[int, int], candidate: Candidate, heading: str) -> str:
    """The question: the sentence with every occurrence of the answer blanked, after the section it is in
    (a list item such as 「① 土曜日および日曜日」 needs its 第13条（休日） to mean anything)."""
    sentence = text[span[0] : span[1]]
    japanese = is_japanese(sentence)
    blanked = sentence.replace(candidate.text, BLANK_JA if japanese else BLANK_EN)
    section = heading.split(" > ")[-1].strip() if heading else ""
    if section and candidate.text not in section and compact(section) not in compact(sentence):
        blanked = f"【{section}】{blanked}" if japanese else f"[{section}] {blanked}"
    # One line: the question is a cell of the CSV export and a legend on the page.
    return f"{PROMPT_JA}{blanked}" if japanese else f"{PROMPT_EN} {blanked}"


# -- number variants for distractors ------------------------------------------------------------------

_NUMBER = re.compile(r"[0-9０-９]+(?:[,，][0-9０-９]{3})*")
_FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def numeric_variants(answer: str, kind: str) -> list[str]:
    """Other plausible values of the same unit: the answer's main number halved, doubled, 1.5×, ±1 ...,
    kept in range for dates and times (month ≤ 12, day ≤ 28, hour ≤ 23) and written the same way
    (thousands separators, full-width digits)."""
    numbers = list(_NUMBER.finditer(answer))
    if not numbers:
        return []
    # The quantity is the last number (1人5,000円 → 5,000); in a clock time the hour (9:30 → 9).
    match = numbers[0] if re.search(r"[:：]", answer) else numbers[-1]
    raw = match.group()
    fullwidth = any("０" <= c <= "９" for c in raw)
    value = int(re.sub(r"[,，]", "", raw.translate(str.maketrans("０１２３４５６７８９", "0123456789"))))
    after = answer[match.end() : match.end() + 1]
    limit = {"月": 12, "日": 28, "時": 23, ":": 23, "：": 23}.get(after) if kind in {"date", "time"} else None
    step = 1000 if value >= 1000 else 100 if value >= 100 else 1
    raw_values = [value // 2, value * 2, value * 3 // 2, value + step, value - step, value * 3, value + 2 * step]
    out: list[str] = []
    for candidate in raw_values:
        candidate = max(step, round(candidate / step) * step)
        if candidate == value or candidate <= 0 or (limit is not None and candidate > limit):
            continue
        text = f"{candidate:,}" if "," in raw or "，" in raw else str(candidate)
        if fullwidth:
            text = text.translate(_FULLWIDTH)
        variant = answer[: match.start()] + text + answer[match.end() :]
        if variant not in out:
            out.append(variant)
    return out
