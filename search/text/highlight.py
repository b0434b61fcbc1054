"""Snippets that show why a passage matched: meaningful query matches marked inside a short window.

A match is a whole word of the passage (as the morphological analyser splits it) whose lemma is one of the
query's content words or synonyms, or a sequence of whole words that spells one of the query's content-word
runs. So particles and endings (ます, でき) are never marked, and ロード is not marked inside ダウンロード.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from search.text import morphology
from search.text.analysis import AnalyzedQuery

_MAX_RUN_WORDS = 8


def match_spans(text: str, query: AnalyzedQuery) -> list[tuple[int, int]]:
    """Merged (start, end) character spans of `text` that meaningfully match the query."""
    lemmas, runs = query.highlight_terms()
    if not lemmas and not runs:
        return []
    words = morphology.words(text)
    norms = [morphology.normalize(w.surface) for w in words]
    spans = [
        (w.start, w.end) for w, n in zip(words, norms, strict=True) if w.content and (w.lemma in lemmas or n in runs)
    ]
    spans.extend(_run_spans(words, norms, runs))
    return _merge(spans)


def _run_spans(words: Sequence[morphology.Word], norms: Sequence[str], runs: frozenset[str]) -> list[tuple[int, int]]:
    """Consecutive words (no gap between them) whose joined surfaces equal a query run: 有給 + 休暇 = 有給休暇.

    A join grows only while it is the beginning of some run of two or more characters (`prefixes`), so each
    word is looked at a few times, not once per run."""
    prefixes = {run[:n] for run in runs if len(run) > 1 for n in range(1, len(run))}
    spans: list[tuple[int, int]] = []
    for i, first in enumerate(words):
        joined = norms[i]
        for j in range(i + 1, min(i + _MAX_RUN_WORDS, len(words))):
            if joined not in prefixes or words[j].start != words[j - 1].end:
                break
            joined += norms[j]
            if joined in runs:
                spans.append((first.start, words[j].end))
    return spans


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def snippet(text: str, spans: Sequence[tuple[int, int]], width: int = 160) -> str:
    """HTML-safe snippet of about `width` characters around the first match, matches in <mark>."""
    if len(text) <= width:
        window_start, window_end = 0, len(text)
    else:
        centre = spans[0][0] if spans else 0
        window_start = max(0, min(centre - width // 4, len(text) - width))
        window_end = window_start + width
    parts: list[str] = ["…" if window_start > 0 else ""]
    cursor = window_start
    for start, end in spans:
        if end <= window_start or start >= window_end:
            continue
        start, end = max(start, window_start), min(end, window_end)
        parts.append(html.escape(text[cursor:start]))
        parts.append(f"<mark>{html.escape(text[start:end])}</mark>")
        cursor = end
    parts.append(html.escape(text[cursor:window_end]))
    parts.append("…" if window_end < len(text) else "")
    return "".join(parts)
