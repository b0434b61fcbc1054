"""Japanese-aware chunking: sentences packed into passages under a token budget.

Sentences end at 。！？!? (and ". " in English) outside brackets, so 「…。」 stays whole; line breaks and block
boundaries always end a sentence. Budgets are measured with the encoder's own tokenizer because the model
was trained on short inputs (sonoisa Sentence-T5: 72 tokens) and silently truncates longer ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from search.documents import Block, Document, Passage
from search.errors import SearchError
from search.text.sentences import CLOSERS, OPENERS, split_sentences

TokenCounter = Callable[[Sequence[str]], list[int]]

# Where an over-long sentence is cut, in order of preference.
SPLIT_PREFERENCE = ("、，,；;", "：: 　")


@dataclass(frozen=True)
class ChunkSettings:
    """Stored in the index manifest: changing any of these re-chunks and re-encodes everything."""

    max_tokens: int = 64
    overlap_tokens: int = 16

    def __post_init__(self) -> None:
        if self.max_tokens < 8:
            raise SearchError(f"chunk size must be at least 8 tokens, got {self.max_tokens}")
        if not 0 <= self.overlap_tokens < self.max_tokens:
            raise SearchError(f"chunk overlap must be between 0 and the chunk size - 1, got {self.overlap_tokens}")

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _hard_split(
    text: str, span: tuple[int, int], tokens: int, max_tokens: int, count: TokenCounter
) -> list[tuple[tuple[int, int], int]]:
    """Split an over-long sentence near its middle until it fits: after a comma outside brackets when one is
    close, else after a space or colon, else in the middle."""
    if tokens <= max_tokens or span[1] - span[0] < 2:
        return [(span, tokens)]
    start, end = span
    middle = (start + end) // 2
    window = max(1, (end - start) // 4)
    cut = next((c for breaks in SPLIT_PREFERENCE for c in _cuts_near(text, start, end, middle, window, breaks)), middle)
    left, right = (start, cut), (cut, end)
    left_tokens, right_tokens = count([text[start:cut], text[cut:end]])
    return _hard_split(text, left, left_tokens, max_tokens, count) + _hard_split(
        text, right, right_tokens, max_tokens, count
    )


def _cuts_near(text: str, start: int, end: int, middle: int, window: int, breaks: str) -> list[int]:
    """Positions just after a character of `breaks` at bracket depth 0, nearest to the middle first."""
    depth = 0
    found: list[int] = []
    for i in range(start, end - 1):
        ch = text[i]
        if ch in OPENERS:
            depth += 1
        elif ch in CLOSERS:
            depth = max(0, depth - 1)
        elif depth == 0 and ch in breaks and abs(i + 1 - middle) <= window:
            found.append(i + 1)
    return sorted(found, key=lambda c: abs(c - middle))


def chunk_document(document: Document, count: TokenCounter, settings: ChunkSettings) -> list[Passage]:
    """Passages in document order; each one's text is exactly document.text[start:end]."""
    text = document.text
    groups: list[tuple[str, list[tuple[tuple[int, int], int]]]] = []
    for heading, blocks in _group_by_heading(document.blocks):
        spans = [s for b in blocks for s in split_sentences(text, b.start, b.end)]
        counts = count([text[s:e] for s, e in spans])
        units = [
            piece
            for span, n in zip(spans, counts, strict=True)
            for piece in _hard_split(text, span, n, settings.max_tokens, count)
        ]
        groups.append((heading or document.title, units))

    passages: list[Passage] = []
    for heading, units in groups:
        for first, last in _pack(units, settings):
            start, end = units[first][0][0], units[last][0][1]
            passages.append(Passage(len(passages), start, end, text[start:end], heading))
    return passages


def _group_by_heading(blocks: Sequence[Block]) -> list[tuple[str, list[Block]]]:
    groups: list[tuple[str, list[Block]]] = []
    for block in blocks:
        if groups and groups[-1][0] == block.heading:
            groups[-1][1].append(block)
        else:
            groups.append((block.heading, [block]))
    return groups


def _pack(units: Sequence[tuple[tuple[int, int], int]], settings: ChunkSettings) -> list[tuple[int, int]]:
    """Greedy packing into (first, last) unit ranges, starting each passage with up to overlap_tokens of
    the previous passage's tail so that a fact cut at a boundary is still found whole somewhere."""
    ranges: list[tuple[int, int]] = []
    i = 0
    while i < len(units):
        first = i
        if ranges:
            carried = 0
            j = i - 1
            while j > ranges[-1][0] and carried + units[j][1] <= settings.overlap_tokens:
                carried += units[j][1]
                j -= 1
            if carried and carried + units[i][1] <= settings.max_tokens:
                first = j + 1
        total = sum(n for _, n in units[first:i])
        last = i
        total += units[i][1]
        while last + 1 < len(units) and total + units[last + 1][1] <= settings.max_tokens:
            last += 1
            total += units[last][1]
        ranges.append((first, last))
        i = last + 1
    return ranges
