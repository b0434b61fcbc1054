"""A readable window around a search hit: the passage grown to whole sentences of its document.

Passages are the units the model ranks, and with small ones (median ~57 characters with the offline model)
a top hit can begin or end mid-sentence. People reading a result, and answers quoting one, need whole
sentences, so each hit also carries a window: the sentences the passage touches, plus neighbouring sentences
while the window stays within WINDOW_CHARS. The window's offsets are exact offsets into the document text,
like the passage's own, so `document_text[window_start:window_end] == window_text` always holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from search.text.sentences import split_sentences

WINDOW_CHARS = 300


@dataclass(frozen=True)
class Window:
    start: int
    end: int
    text: str


def sentence_window(document_text: str, start: int, end: int, limit: int = WINDOW_CHARS) -> Window:
    """The passage [start, end) grown to sentence boundaries and then by whole neighbouring sentences, at most
    `limit` characters; the passage itself when the sentences it touches are already longer than that."""
    sentences = _sentences_near(document_text, start, end, limit)
    touched = [i for i, (s, e) in enumerate(sentences) if e > start and s < end]
    if not touched:  # the passage lies in whitespace between sentences: nothing to complete
        return Window(start, end, document_text[start:end])
    first, last = touched[0], touched[-1]
    lo, hi = min(start, sentences[first][0]), max(end, sentences[last][1])
    if hi - lo > limit:
        return Window(start, end, document_text[start:end])
    # Alternate after/before so the passage sits near the middle; a side that no longer fits stops growing.
    grow_after, grow_before = True, True
    while grow_after or grow_before:
        if grow_after:
            grow_after = last + 1 < len(sentences) and sentences[last + 1][1] - lo <= limit
            if grow_after:
                last += 1
                hi = sentences[last][1]
        if grow_before:
            grow_before = first > 0 and hi - sentences[first - 1][0] <= limit
            if grow_before:
                first -= 1
                lo = sentences[first][0]
    return Window(lo, hi, document_text[lo:hi])


def _sentences_near(text: str, start: int, end: int, limit: int) -> list[tuple[int, int]]:
    """Sentence spans of the text near the passage: from the start of its line (at most 4 * limit before the
    passage) to the end of its line (at most 4 * limit after).

    A line break always ends a sentence and resets bracket depth, so splitting from a line's start gives the
    same spans as splitting the whole document, while a search reads only the text near each hit (documents
    can be megabytes; a 1 MB single-line text took 340 ms per hit to split whole). A line longer than the
    margin is entered mid-line instead: the spans resynchronise at the first sentence end, far from any
    window (which reaches at most `limit` from the passage), and a span cut at the margin is longer than
    3 * limit, too long to join a window."""
    margin = 4 * limit
    floor = max(0, start - margin)
    region_start = max(text.rfind("\n", 0, max(0, start - limit)) + 1, floor)
    ceiling = min(len(text), end + margin)
    newline = text.find("\n", min(len(text), end + limit), ceiling)
    region_end = ceiling if newline < 0 else newline
    return split_sentences(text, region_start, region_end)
