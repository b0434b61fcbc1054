"""Japanese-aware sentence splitting, shared by the chunker (indexer/) and answer extraction (search/).

Sentences end at 。！？!? (and ". " in English) outside brackets, so 「…。」 stays whole; line breaks always
end a sentence. It lives in search/ because both the indexer and the answer/quiz code need the same
boundaries, and search/ must not import from indexer/.
"""

from __future__ import annotations

import re

OPENERS = "「『（(【［[〈《〔｛{“‘"
CLOSERS = "」』）)】］]〉》〕｝}”’"
TERMINATORS = "。！？!?．"
# After 「…。」 a quotation usually continues the sentence (「はい。」と言った); these start such a continuation.
CONTINUATIONS = "とっのにがをはもでへや、，。」』）)"
_SIGNIFICANT = re.compile("[\n." + re.escape(OPENERS + CLOSERS + TERMINATORS) + "]")


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Sentence spans (start, end) inside text[start:end], whitespace trimmed, brackets kept whole.

    Only the characters that can matter (line breaks, brackets, terminators, '.') are visited: a search
    splits the text around every hit it shows, and stepping through each character in Python cost about a
    quarter of a keyword search."""
    end = len(text) if end is None else end
    spans: list[tuple[int, int]] = []
    depth = 0
    sentence_start = start
    resume = start  # characters before it were consumed by a run of terminators
    for match in _SIGNIFICANT.finditer(text, start, end):
        i = match.start()
        if i < resume:
            continue
        ch = text[i]
        boundary = None
        if ch == "\n":
            depth = 0
            boundary = i
        elif ch in OPENERS:
            depth += 1
        elif ch in CLOSERS:
            depth = max(0, depth - 1)
            after = text[i + 1] if i + 1 < end else "\n"
            if depth == 0 and i > start and text[i - 1] in TERMINATORS and after not in CONTINUATIONS:
                boundary = i + 1
        elif depth == 0 and (ch in TERMINATORS or (ch == "." and i + 1 < end and text[i + 1] in " \t\n")):
            j = i + 1
            while j < end and (text[j] in TERMINATORS or text[j] in CLOSERS):
                j += 1
            boundary = resume = j
        if boundary is not None:
            _append_trimmed(text, sentence_start, boundary, spans)
            sentence_start = boundary
    _append_trimmed(text, sentence_start, end, spans)
    return spans


def _append_trimmed(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start < end:
        spans.append((start, end))
