"""Which language a text is written in, judged by its script: enough kana/kanji means Japanese.

Routing needs only one decision: can an English-only model (FLAN-T5, whose vocabulary maps kana and kanji
to <unk>) read this text? So the share is taken over letters only (digits, punctuation and spaces say
nothing about the language), and a modest share of kana/kanji already counts as Japanese: Japanese
business text is full of Latin acronyms (VPN, IT, PDF), while English text rarely contains more than a
stray name in kanji.
"""

from __future__ import annotations

import re
from typing import Literal

Language = Literal["ja", "en"]

# The one definition of "a Japanese character" (character-class bodies for re): every module that asks
# uses these. Kanji include extension A, the compatibility ideographs and the iteration marks 々〆; katakana
# include the phonetic extensions and the half-width forms (which NFKC folds into full-width ones).
HIRAGANA = "\u3041-\u309f"
KATAKANA = "\u30a0-\u30ff\u31f0-\u31ff\uff66-\uff9f"
KANJI = "\u3005\u3006\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
JAPANESE_LETTERS = HIRAGANA + KATAKANA + KANJI
# 、。「」・ and the other CJK symbols, full-width and half-width; full-width ASCII and brackets.
JAPANESE_PUNCTUATION = "\u3001-\u303f\uff61-\uff65"
FULLWIDTH_FORMS = "\uff01-\uff60"

_JAPANESE = re.compile(f"[{JAPANESE_LETTERS}]")
_KANJI = re.compile(f"[{KANJI}]")


def is_kanji(char: str) -> bool:
    return _KANJI.match(char) is not None


# A share of 0.2 is far above what a stray Japanese name does to an English paragraph (< 0.05) and far
# below the share in Japanese text that is heavy with Latin acronyms (> 0.5 in the sample documents).
JAPANESE_SHARE = 0.2


def japanese_share(text: str) -> float:
    """Share of letters (str.isalpha) that are kana or kanji; 0.0 for text without letters."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for c in letters if _JAPANESE.match(c)) / len(letters)


def is_japanese(text: str) -> bool:
    return japanese_share(text) >= JAPANESE_SHARE


def detect_language(*texts: str) -> Language:
    """'ja' when any of the texts is Japanese, else 'en'.

    One Japanese text is enough: an English-only model cannot read it, while a Japanese-capable (mT5)
    model also reads the English ones.
    """
    return "ja" if any(is_japanese(t) for t in texts) else "en"


def question_language(question: str, *context: str) -> Language:
    """The language a question is asked in, which is the language its answer and messages are given in.

    Judged on the question alone: the passages it retrieves say nothing about the asker ("What is CODEN?"
    over Japanese documents is an English question). Only a question without letters ("2024?") borrows
    the language of its context.
    """
    if any(c.isalpha() for c in question):
        return "ja" if is_japanese(question) else "en"
    return detect_language(*context)
