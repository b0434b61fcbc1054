"""Text matching for answerability: content-word overlap and whether an answer is backed by a passage.

Both work on the same CJK-bigram tokens as the keyword index (search/text/keyword.py), so "what the question
shares with a passage" means the same thing for retrieval and for answerability.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

from search.text import keyword

_HIRAGANA = re.compile("[\u3041-\u309f]")
# A question word never occurs in its answer, so it must not count as shared content.
_INTERROGATIVES = re.compile("[何誰幾]")
_STOPWORDS = (
    "a an and are as at be by can could do does did for from get got had has have how i if in into is it its me "
    "my of on or our should so than that the their them there these they this those to was we were what when "
    "where which who whom why will with would you your many much"
)
_ENGLISH_STOPWORDS = frozenset(_STOPWORDS.split())
# Characters that say nothing about content when comparing an answer with a passage.
_NOISE = re.compile(r"[\s\W_]+")

# An answer shares most of its characters with its evidence sentence when it paraphrases it: the
# character F1 of two unrelated Japanese sentences of similar length is typically 0.2-0.4 (particles and
# common kanji), so 0.6 demands far more than chance.
MIN_SUPPORT_F1 = 0.6


def normalize_answer(text: str) -> str:
    """NFKC, lower-case, whitespace collapsed: the form answers and passages are compared in."""
    return " ".join(unicodedata.normalize("NFKC", text).lower().split())


def compact(text: str) -> str:
    """normalize_answer without spaces and punctuation (Japanese has no spaces to rely on)."""
    return _NOISE.sub("", normalize_answer(text))


def content_tokens(text: str) -> set[str]:
    """Keyword tokens that carry content: CJK bigrams without hiragana (those straddle particles, e.g.
    "は何"), no question words, no English stop words or single letters."""
    tokens = set(keyword.tokens(text))
    content = {
        t
        for t in tokens
        if not _HIRAGANA.search(t)
        and not _INTERROGATIVES.search(t)
        and t not in _ENGLISH_STOPWORDS
        and not (len(t) == 1 and t.isascii())
    }
    # An all-hiragana question (rare) would otherwise have no content at all.
    return content or {t for t in tokens if not _INTERROGATIVES.search(t)}


def keyword_overlap(question_tokens: set[str], text: str) -> float:
    """Share of the question's content tokens that occur in `text` (0.0 when the question has none)."""
    if not question_tokens:
        return 0.0
    return len(question_tokens & set(keyword.tokens(text))) / len(question_tokens)


def char_f1(prediction: str, reference: str) -> float:
    """SQuAD-style F1 over characters (the JSQuAD convention for Japanese), punctuation and spaces ignored."""
    pred, ref = Counter(compact(prediction)), Counter(compact(reference))
    common = sum((pred & ref).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(pred.values()), common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def occurs_in(answer: str, texts: Iterable[str]) -> bool:
    """Whether the answer (compacted) occurs verbatim in any of the texts (compacted)."""
    needle = compact(answer)
    return bool(needle) and any(needle in compact(t) for t in texts)
