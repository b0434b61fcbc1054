"""Answer candidates for quiz questions: spans of a passage worth asking about, each typed and verbatim.

The question-generation model does not choose answers (shared/REFERENCE.md §1), so we extract them:
Japanese with fugashi + unidic-lite (the dictionary ships in the wheel, nothing is downloaded), English with
a few regular expressions. Types drive distractors (a date is only ever confused with another date):
- date:   4月1日, 2025年4月, 2025年4月1日, 令和7年, 12月29日～1月3日 / April 1, 2025, 2025-04-01
- time:   午前9時, 9:30, 午前10時～午後3時, 9:00～18:00
- number: numbers with counters 10日, 3か月, 5万円, 5,000円, 1人5,000円以下, 第20条, 8割, 60分 / 10 days, $5, 25%
- name:   proper nouns (unidic 固有名詞: person, place, organisation) / Capitalized Phrases
- quote:  「…」『…』 spans / "…"
- noun:   noun phrases (consecutive nouns with prefixes/suffixes), Japanese only

Numbers, dates and times are found by regular expressions before MeCab runs, because MeCab splits 5,000
into 5 / , / 000 and a quiz then asked for 「000円」: a span is whole or it is not a candidate.

Every candidate's (start, end) indexes the passage text exactly: `text[start:end] == candidate.text` is
asserted, so a quiz answer can always be highlighted in its source.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from search.text import morphology
from search.text.language import is_japanese

CandidateType = Literal["date", "time", "number", "name", "quote", "noun"]
# Preferred order when choosing which candidates to ask about: specific facts first.
TYPE_PRIORITY: tuple[CandidateType, ...] = ("number", "date", "time", "name", "quote", "noun")

MAX_CHARS = 30  # longer spans make poor quiz answers (and poor distractors)


@dataclass(frozen=True)
class Candidate:
    text: str
    type: CandidateType
    start: int
    end: int


# -- Japanese (fugashi + unidic-lite) -------------------------------------------------------------------


_DATE_COUNTERS = {"年", "月", "日"}
_ERA = re.compile(r"(令和|平成|昭和|大正|明治)$")
_KANJI_DIGITS = set("〇一二三四五六七八九十百千万億兆")
_N = "[0-9０-９〇一二三四五六七八九十]"
_JA_DATE = re.compile(rf"(?:(?:令和|平成|昭和)?(?:{_N}{{1,4}}|元)年)?{_N}{{1,3}}月{_N}{{1,3}}日")
_D = "[0-9０-９]"
_NUM = rf"(?:{_D}+(?:[,，]{_D}{{3}})*(?:[.．]{_D}+)?|[〇一二三四五六七八九十百千]+)(?:万|億)?"
_COUNTER = (
    r"(?:か月|ヶ月|カ月|箇月|か所|週間|時間|営業日|文字|インチ|種類|親等|km|GB|MB|cm|kg|%|％|円|日|年|月|回|人|名|"
    r"件|台|枚|本|個|点|階|泊|割|分|秒|歳|号|条|章|節|倍|度|桁|社|週|時)"
)
_PER = r"(?:[1１一](?:人|泊|日|点|件|回|週|か月|年|台|名)(?:あたり|当たり|につき)?)"
_QUALIFIER = r"(?:以上|以下|未満|以内|超)"
_DK = "[0-9０-９〇一二三四五六七八九十]"  # month and day numbers, kanji included (四月一日)
_ERA_YEAR = rf"(?:令和|平成|昭和)(?:{_D}{{1,2}}|元)年"
_YMD = (
    rf"(?:(?:{_ERA_YEAR}|{_D}{{4}}年)?{_DK}{{1,3}}月{_DK}{{1,3}}日|(?:{_D}{{4}}年|{_ERA_YEAR}){_D}{{1,2}}月|{_ERA_YEAR}"
    rf"|{_D}{{4}}[-/]{_D}{{1,2}}[-/]{_D}{{1,2}}|{_D}{{4}}年)"
)
_HM = rf"(?:(?:午前|午後)?{_D}{{1,2}}(?:時(?!間)(?:{_D}{{1,2}}分|半)?|[:：]{_D}{{2}}))"
_RANGE = "[～〜~]"
_JA_NUMERIC = re.compile(
    rf"(?P<date>{_YMD}(?:{_RANGE}{_YMD})?)"
    rf"|(?P<time>{_HM}(?:{_RANGE}{_HM})?)"
    rf"|(?P<number>(?:第|約|最大)?{_PER}?{_NUM}\s?{_COUNTER}(?<!時)(?:間)?(?:{_NUM}\s?{_COUNTER}(?:間)?)*{_QUALIFIER}?)"
)


_MONTH_ONLY = re.compile(f"^{_DK}{{1,2}}月$")


def numeric_spans(text: str) -> list[Candidate]:
    """Numbers with their counters, dates and clock times, each whole (5,000円, 1人5,000円以下, 2025年4月1日)."""
    out: list[Candidate] = []
    for match in _JA_NUMERIC.finditer(text):
        kind: CandidateType = "date" if match.group("date") else "time" if match.group("time") else "number"
        if kind == "number" and _MONTH_ONLY.match(match.group()):
            kind = "date"  # 十月, 4月: a month is a date, not a count
        out.append(Candidate(match.group(), kind, match.start(), match.end()))
    return out


# Nouns that make no sense as an answer on their own.
_WEAK_NOUNS = {
    "こと",
    "もの",
    "ため",
    "とき",
    "時",
    "場合",
    "ほか",
    "他",
    "等",
    "など",
    "よう",
    "方",
    "上",
    "中",
    "後",
    "前",
    "際",
    "間",
    "うち",
    "以上",
    "以下",
    "以内",
    "以外",
    "以降",
    "まで",
    "ところ",
    "次",
    "各号",
    "該当",
    "原則",
}


@dataclass(frozen=True)
class _Token:
    surface: str
    start: int
    end: int
    pos1: str
    pos2: str
    pos3: str

    @property
    def is_weak_alone(self) -> bool:
        """Verbal nouns (勤務, 付与) and adverbial nouns (毎月, 一日) make poor answers on their own."""
        return self.surface in _WEAK_NOUNS or self.pos2 == "代名詞" or self.pos3 in {"サ変可能", "副詞可能"}

    @property
    def is_number(self) -> bool:
        return self.pos2 == "数詞" or (bool(self.surface) and all(c in _KANJI_DIGITS for c in self.surface))

    @property
    def is_counter(self) -> bool:
        return self.pos3 in {"助数詞可能", "助数詞"}


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    cursor = 0
    for node in morphology.tag(text):
        surface, pos1, pos2, pos3 = node.surface, node.pos1, node.pos2, node.pos3
        start = text.find(surface, cursor)
        # MeCab returns surfaces verbatim and in order, only skipping whitespace between them.
        assert start >= 0 and not text[cursor:start].strip(), f"token {surface!r} not found in order"
        tokens.append(_Token(surface, start, start + len(surface), pos1, pos2 or "", pos3 or ""))
        cursor = start + len(surface)
    return tokens


def _adjacent(tokens: list[_Token], i: int) -> bool:
    """Token i directly follows token i-1 (no space between)."""
    return tokens[i].start == tokens[i - 1].end


def _numeric(tokens: list[_Token], i: int) -> tuple[int, CandidateType] | None:
    """A number with its counters starting at token i (optionally after 第): (end index, type)."""
    j = i
    if tokens[j].surface == "第" and j + 1 < len(tokens) and tokens[j + 1].is_number:
        j += 1
    if not tokens[j].is_number:
        return None
    units: list[str] = []
    while True:  # digits, then a counter, repeated for 2025年4月1日 / 1年6か月
        while j + 1 < len(tokens) and _adjacent(tokens, j + 1) and tokens[j + 1].is_number:
            j += 1
        if not (j + 1 < len(tokens) and _adjacent(tokens, j + 1) and tokens[j + 1].is_counter):
            break
        j += 1
        units.append(tokens[j].surface)
        # Only dates (2025年4月1日) and year-month spans (1年6か月) chain; 1日8時間 is two numbers.
        if units[-1] not in {"年", "月"}:
            break
        if not (j + 1 < len(tokens) and _adjacent(tokens, j + 1) and tokens[j + 1].is_number):
            break
        j += 1
    if not units:
        return None
    digits = tokens[i].surface
    is_date = (
        ("月" in units and ("日" in units or "年" in units))  # 4月1日, 2025年4月
        or units == ["月"]  # 4月
        or (units[0] == "年" and (len(digits) == 4 or (i > 0 and _ERA.search(tokens[i - 1].surface) is not None)))
    )
    return j, "date" if is_date else "number"


def _japanese(text: str) -> list[Candidate]:
    tokens = _tokens(text)
    found: list[Candidate] = []

    def add(first: int, last: int, kind: CandidateType) -> None:
        start, end = tokens[first].start, tokens[last].end
        if kind == "date" and first > 0 and _adjacent(tokens, first) and _ERA.search(tokens[first - 1].surface):
            start = tokens[first - 1].start  # 令和7年: the era belongs to the date
        found.append(Candidate(text[start:end], kind, start, end))

    i = 0
    while i < len(tokens):
        numeric = _numeric(tokens, i)
        if numeric is not None:
            end_index, kind = numeric
            add(i, end_index, kind)
            i = end_index + 1
            continue
        if tokens[i].pos1 in {"名詞", "接頭辞"} and not tokens[i].is_number:
            j = i
            while (
                j + 1 < len(tokens)
                and _adjacent(tokens, j + 1)
                and tokens[j + 1].pos1 in {"名詞", "接尾辞", "接頭辞"}
                and not tokens[j + 1].is_number
            ):
                j += 1
            while j > i and tokens[j].pos1 == "接頭辞":  # a phrase does not end in a prefix
                j -= 1
            phrase = tokens[i : j + 1]
            era_date = j + 1 < len(tokens) and tokens[j + 1].is_number and _ERA.search(tokens[j].surface)
            if era_date:
                pass  # 令和 of 令和7年 is part of the date that follows
            elif all(t.pos2 == "固有名詞" for t in phrase if t.pos1 == "名詞") and any(
                t.pos2 == "固有名詞" for t in phrase
            ):
                add(i, j, "name")
            elif not (len(phrase) == 1 and phrase[0].is_weak_alone):
                add(i, j, "noun")
            i = j + 1
            continue
        i += 1
    # Dates in kanji numerals (四月一日) come out of MeCab as 四月 + 一日 (one noun): the regex wins there, as
    # the numeric expressions do everywhere (MeCab splits 5,000円 into 5 / , / 000円).
    numeric = numeric_spans(text)
    numeric += [
        Candidate(m.group(), "date", m.start(), m.end())
        for m in _JA_DATE.finditer(text)
        if not any(m.start() < c.end and c.start < m.end() for c in numeric)
    ]
    found = [c for c in found if not any(c.start < n.end and n.start < c.end for n in numeric)]
    found += numeric
    for match in re.finditer(r"「([^「」\n]{1,40})」|『([^『』\n]{1,40})』", text):
        group = 1 if match.group(1) is not None else 2
        found.append(Candidate(match.group(group), "quote", match.start(group), match.end(group)))
    return found


# -- English (regular expressions) ---------------------------------------------------------------------

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_EN_DATE = re.compile(
    rf"\b(?:(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,\s*\d{{4}})?|\d{{1,2}}\s+(?:{_MONTHS})(?:\s+\d{{4}})?"
    rf"|(?:{_MONTHS})\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{4}}/\d{{1,2}}/\d{{1,2}})\b"
)
_EN_NUMBER = re.compile(
    r"(?:[$¥€£]\s?\d[\d,]*(?:\.\d+)?|\b\d[\d,]*(?:\.\d+)?(?:\s?%|st|nd|rd|th|\s+(?:days?|weeks?|months?|years?"
    r"|hours?|minutes?|yen|dollars?|people|persons|employees|times|floors?|percent))?)(?![\w])"
)
_EN_NAME = re.compile(r"\b[A-Z][a-zA-Z]+(?:[ \-][A-Z][a-zA-Z]+)*\b")
_EN_QUOTE = re.compile(r"\"([^\"\n]{1,40})\"|“([^”\n]{1,40})”")
_SENTENCE_START = re.compile(r"(?:(?:^|\n)\s*(?:[-*#>|]\s*)*|[.!?]\s+)$")
_EN_STOP_NAMES = {"The", "A", "An", "If", "When", "For", "In", "On", "At", "To", "This", "That", "It", "We", "You"}


def _english(text: str) -> list[Candidate]:
    found: list[Candidate] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for pattern, kind in ((_EN_DATE, "date"), (_EN_NUMBER, "number")):
        for m in pattern.finditer(text):
            if m.group().strip() and free(m.start(), m.end()):
                taken.append((m.start(), m.end()))
                found.append(Candidate(m.group(), kind, m.start(), m.end()))  # type: ignore[arg-type]
    for m in _EN_NAME.finditer(text):
        words = m.group().split()
        start = m.start()
        # A single capitalized word at the start of a sentence is just a sentence start.
        if len(words) == 1 and (words[0] in _EN_STOP_NAMES or _SENTENCE_START.search(text[:start])):
            continue
        if words[0] in _EN_STOP_NAMES:
            start += len(words[0]) + 1
        if free(start, m.end()):
            found.append(Candidate(text[start : m.end()], "name", start, m.end()))
    for m in _EN_QUOTE.finditer(text):
        group = 1 if m.group(1) is not None else 2
        found.append(Candidate(m.group(group), "quote", m.start(group), m.end(group)))
    return found


# -- public -----------------------------------------------------------------------------------------------


def extract_candidates(text: str) -> list[Candidate]:
    """Typed answer candidates of a passage in text order, one per distinct (text, type), each verbatim."""
    raw = _japanese(text) if is_japanese(text) else _english(text)
    out: list[Candidate] = []
    seen: set[tuple[str, str]] = set()
    for candidate in sorted(raw, key=lambda c: (c.start, -c.end)):
        stripped = candidate.text.strip()
        if not stripped or len(stripped) > MAX_CHARS or (candidate.type == "noun" and len(stripped) < 2):
            continue
        if (stripped, candidate.type) in seen:
            continue
        seen.add((stripped, candidate.type))
        assert text[candidate.start : candidate.end] == candidate.text, candidate
        out.append(candidate)
    return out
