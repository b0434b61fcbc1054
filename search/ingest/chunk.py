"""Japanese-aware chunking: sentences packed into passages under a token budget.

Sentences end at 。！？!? (and ". " in English) outside brackets, so 「…。」 stays whole; line breaks and block
boundaries always end a sentence. Budgets are measured with the encoder's own tokenizer because the model
was trained on short inputs (sonoisa Sentence-T5: 72 tokens) and silently truncates longer ones.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from search.documents import Block, Document, Passage
from search.errors import SearchError
from search.ingest.deadline import Deadline, deadline_or_never
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


Unit = tuple[tuple[int, int], int]  # a sentence or a piece of one: (start, end) in the text, its token count

# Over-long sentences are cut into pieces by a character width estimated from the token counts seen so far,
# and each piece is counted once: counting both halves again at every cut (the former bisection) made
# one megabyte-long line without punctuation cost minutes (issue #14). Everything below keeps the work
# linear in the length of the text: each character is tokenized a bounded number of times.
_FILL = 0.9  # aim each piece at this share of the budget, so that most first guesses fit
_FIRST_GUESS_CHARS_PER_TOKEN = 4.0  # before anything is counted: generous, a piece that does not fit shrinks
# While the guesses keep fitting, each tokenizer call counts twice as many pieces as the last, up to this
# many characters: a piece that does not fit wastes the count of the pieces after it in the same call.
_PIECE_CALL_CHARS = 4096
_COUNT_CALL_CHARS = 65_536  # characters of sentences per tokenizer call (and per deadline check)
# A sentence longer than this many characters per budget token goes straight to the cutting, without first
# being counted whole (a 2 MB line counted whole took 378 MB of tokenizer output with MiniLM). It
# cannot fit in any case unless its tokens averaged more characters than that; should such pieces
# all fit together after all, the packing below puts them back into one passage.
_UNCOUNTED_CHARS_PER_TOKEN = 32


def chunk_document(
    document: Document, count: TokenCounter, settings: ChunkSettings, deadline: Deadline | None = None
) -> list[Passage]:
    """Passages in document order; each one's text is exactly document.text[start:end].

    With a `deadline`, a document whose chunking outlasts its file's time budget raises ExtractionError
    (checked per tokenizer call), so the caller can report it like a file that could not be read.
    """
    deadline = deadline_or_never(deadline)
    text = document.text
    groups: list[tuple[str, list[Unit]]] = []
    for heading, blocks in _group_by_heading(document.blocks):
        spans = [s for b in blocks for s in split_sentences(text, b.start, b.end)]
        units = [
            piece
            for span, n in _counted(text, spans, settings.max_tokens, count, deadline)
            for piece in _hard_split(text, span, n, settings.max_tokens, count, deadline)
        ]
        groups.append((heading or document.title, units))

    passages: list[Passage] = []
    for heading, units in groups:
        for first, last in _pack(units, settings):
            start, end = units[first][0][0], units[last][0][1]
            passages.append(Passage(len(passages), start, end, text[start:end], heading))
    return passages


def _counted(
    text: str, spans: Sequence[tuple[int, int]], max_tokens: int, count: TokenCounter, deadline: Deadline
) -> list[tuple[tuple[int, int], int | None]]:
    """Each sentence with its token count, counted in tokenizer calls of bounded size; None for a sentence
    too long to be worth counting whole (see _UNCOUNTED_CHARS_PER_TOKEN)."""
    longest = max_tokens * _UNCOUNTED_CHARS_PER_TOKEN
    counts: list[int | None] = [None] * len(spans)
    for batch in _count_calls([i for i, (start, end) in enumerate(spans) if end - start <= longest], spans):
        deadline.check()
        for i, n in zip(batch, count([text[spans[i][0] : spans[i][1]] for i in batch]), strict=True):
            counts[i] = n
    return list(zip(spans, counts, strict=True))


def _count_calls(indices: list[int], spans: Sequence[tuple[int, int]]) -> list[list[int]]:
    """`indices` of `spans` grouped into runs of at most _COUNT_CALL_CHARS characters (at least one span)."""
    calls: list[list[int]] = []
    chars = 0
    for i in indices:
        length = spans[i][1] - spans[i][0]
        if not calls or chars + length > _COUNT_CALL_CHARS:
            calls.append([])
            chars = 0
        calls[-1].append(i)
        chars += length
    return calls


def _hard_split(
    text: str, span: tuple[int, int], tokens: int | None, max_tokens: int, count: TokenCounter, deadline: Deadline
) -> list[Unit]:
    """Cut an over-long sentence into pieces that each fit the budget, every piece counted once.

    A piece ends after a comma outside brackets when there is one in the last quarter of its width, else
    after a space or colon there, else at the width. Widths follow the characters per token measured on
    the pieces so far; a piece that does not fit is cut narrower and counted again, and while pieces keep
    fitting, more of them are counted per tokenizer call. A single character is never cut.
    """
    start, end = span
    if tokens is not None and (tokens <= max_tokens or end - start < 2):
        return [(span, tokens)]
    per_token = (end - start) / tokens if tokens else _FIRST_GUESS_CHARS_PER_TOKEN
    width = max(1, int(per_token * max_tokens * _FILL))
    cuts = _CutPoints(text, start, end)
    units: list[Unit] = []
    batch = 1
    position = start
    while position < end:
        deadline.check()
        pieces = _next_pieces(cuts, position, end, width, min(batch, max(1, _PIECE_CALL_CHARS // width)))
        counts = count([text[a:b] for a, b in pieces])
        for (a, b), n in zip(pieces, counts, strict=True):
            if n > max_tokens and b - a > 1:
                width = max(1, min(int((b - a) * max_tokens / n * _FILL), (b - a) * 3 // 4))
                batch = 1
                break
            units.append(((a, b), n))
            position = b
        else:
            chars, tokens_seen = pieces[-1][1] - pieces[0][0], sum(counts)
            width = max(1, min(int(chars / max(1, tokens_seen) * max_tokens * _FILL), 2 * width))
            batch *= 2
    return units


def _next_pieces(cuts: _CutPoints, position: int, end: int, width: int, batch: int) -> list[tuple[int, int]]:
    pieces: list[tuple[int, int]] = []
    while len(pieces) < batch and position < end:
        cut = cuts.choose(position, width)
        pieces.append((position, cut))
        position = cut
    return pieces


class _CutPoints:
    """Where a sentence may be cut: just after a character of SPLIT_PREFERENCE at bracket depth 0.

    Found in one pass over the sentence, so choosing each cut is a binary search rather than a rescan.
    """

    def __init__(self, text: str, start: int, end: int) -> None:
        self.end = end
        self._by_preference: list[list[int]] = [[] for _ in SPLIT_PREFERENCE]
        depth = 0
        for match in _CUT_CANDIDATES.finditer(text, start, end - 1):  # a cut at the very end cuts nothing
            ch = match.group()
            if ch in OPENERS:
                depth += 1
            elif ch in CLOSERS:
                depth = max(0, depth - 1)
            elif depth == 0:
                rank = next(r for r, breaks in enumerate(SPLIT_PREFERENCE) if ch in breaks)
                self._by_preference[rank].append(match.end())

    def choose(self, position: int, width: int) -> int:
        """The end of the piece starting at `position`: the preferred cut in the last quarter of `width`."""
        limit = position + width
        if limit >= self.end:
            return self.end
        lowest = max(position + 1, limit - width // 4)
        for cuts in self._by_preference:
            i = bisect_right(cuts, limit) - 1
            if i >= 0 and cuts[i] >= lowest:
                return cuts[i]
        return limit


_CUT_CANDIDATES = re.compile("[" + re.escape(OPENERS + CLOSERS + "".join(SPLIT_PREFERENCE)) + "]")


def _group_by_heading(blocks: Sequence[Block]) -> list[tuple[str, list[Block]]]:
    groups: list[tuple[str, list[Block]]] = []
    for block in blocks:
        if groups and groups[-1][0] == block.heading:
            groups[-1][1].append(block)
        else:
            groups.append((block.heading, [block]))
    return groups


def _pack(units: Sequence[Unit], settings: ChunkSettings) -> list[tuple[int, int]]:
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
