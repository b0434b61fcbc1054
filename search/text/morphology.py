"""Japanese words and their dictionary forms (lemmas), from fugashi + unidic-lite, for search.

Bigrams alone let grammatical endings drive ranking (「接続できません」 shares できません with any sentence
that says something cannot be done) and miss inflected forms (取得します / 取得した). The morphological
analyser the project already ships splits text into words, tells content words (nouns, verbs, adjectives)
from particles, auxiliary verbs and symbols, and gives each word its lemma, so 忘れて / 忘れた / 忘れる meet.
"""

from __future__ import annotations

import threading
import unicodedata
from functools import lru_cache
from typing import Any, NamedTuple

from search.text.language import is_kanji

# Parts of speech (unidic pos1) that carry meaning a searcher types on purpose.
_CONTENT_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "副詞", "接尾辞"})
# Verbs that mostly serve grammar (する, できる, いる, ある, しまう, なる, もらう, くださる ...): by lemma, because
# unidic's 非自立可能 also tags content verbs such as 忘れる.
_FUNCTION_LEMMAS = frozenset(
    {
        "為る",
        "出来る",
        "居る",
        "有る",
        "仕舞う",
        "成る",
        "貰う",
        "下さる",
        "頂く",
        "呉れる",
        "御座る",
        "致す",
        "遣る",
        "良い",
        "無い",
        "様",
        "事",
        "物",
        "所",
        "為",
        "何",
        "等",
    }
)
_NOMINAL_POS = frozenset({"名詞", "接尾辞", "形状詞"})
# Suffixes that are grammar rather than meaning (さん, たち, など ...).
_FUNCTION_SUFFIX_POS2 = frozenset({"形容詞的", "動詞的", "形状詞的"})


class Word(NamedTuple):
    """One word of a text: where it is (character offsets into the analysed text) and what it means.

    A named tuple, not a frozen dataclass: a search analyses every hit it shows, and building a frozen
    dataclass per word took a third of that time."""

    surface: str
    start: int
    end: int
    lemma: str  # normalized dictionary form: NFKC, lower case, unidic's English gloss ("-download") removed
    pos: str
    content: bool

    @property
    def nominal(self) -> bool:
        """Nouns and their suffixes keep their surface form; verbs and adjectives inflect (滑っ, 忘れ)."""
        return self.pos in _NOMINAL_POS

    def stem(self) -> str:
        """The leading kanji of an inflecting word (滑っ -> 滑, 取り消し -> 取), normalized; '' for kana-only words."""
        surface = normalize(self.surface)
        end = 0
        while end < len(surface) and is_kanji(surface[end]):
            end += 1
        return surface[:end]


_lock = threading.Lock()
_shared: list[Any] = []  # the process's one tagger, made on first use


class Node(NamedTuple):
    """One MeCab node, copied out of the tagger (its own nodes are only valid until its next call)."""

    surface: str
    pos1: str
    pos2: str
    pos3: str
    lemma: str | None


def tag(text: str) -> list[Node]:
    """MeCab's analysis of `text`. One tagger per process behind a lock: fugashi taggers are not thread-safe,
    each holds ~9 MB, and a query takes ~10 µs, so one per server thread cost memory and bought nothing."""
    with _lock:
        if not _shared:
            from fugashi import Tagger

            _shared.append(Tagger())
        return [_node(n.surface, n.feature) for n in _shared[0](text)]


def _node(surface: str, feature: Any) -> Node:
    return Node(surface, feature.pos1 or "", feature.pos2 or "", feature.pos3 or "", feature.lemma)


def normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _lemma(surface: str, lemma: str | None) -> str:
    """Unidic writes loanword lemmas as `ダウンロード-download`; unknown words (zzqxw, VPN) have none."""
    if not lemma or lemma == "*":
        return normalize(surface)
    return normalize(lemma.split("-", 1)[0] if "-" in lemma[1:] else lemma)


def _is_content(pos1: str, pos2: str, lemma: str, surface: str) -> bool:
    if pos1 not in _CONTENT_POS or lemma in _FUNCTION_LEMMAS:
        return False
    if pos1 == "接尾辞" and pos2 in _FUNCTION_SUFFIX_POS2:
        return False
    return any(c.isalnum() for c in surface)


@lru_cache(maxsize=2048)
def words(text: str) -> tuple[Word, ...]:
    """The words of `text` in order, with offsets into `text` itself (cached: search hits repeat)."""
    out: list[Word] = []
    cursor = 0
    # MeCab reads a C string: a NUL would end the text there (a space has the same length: offsets hold).
    text = text.replace("\x00", " ")
    for node in tag(text):
        surface = node.surface
        start = text.find(surface, cursor)
        # MeCab returns surfaces verbatim and in order, only skipping whitespace between them.
        assert start >= 0 and not text[cursor:start].strip(), f"word {surface!r} not found in order"
        cursor = start + len(surface)
        pos1, pos2 = node.pos1, node.pos2
        lemma = _lemma(surface, node.lemma)
        out.append(Word(surface, start, cursor, lemma, pos1, _is_content(pos1, pos2, lemma, surface)))
    return tuple(out)


def content_lemmas(text: str) -> list[str]:
    """Lemmas of the content words, in order (duplicates kept: BM25 counts term frequency)."""
    return [w.lemma for w in words(text) if w.content]
