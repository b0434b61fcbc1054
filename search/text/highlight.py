"""Snippets that show why a passage matched: query terms marked inside a short window of the passage."""

from __future__ import annotations

import html
from collections.abc import Sequence

from search.text import keyword


def match_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Merged (start, end) spans of `text` covered by any query token (bigrams join into whole words)."""
    lowered = text.lower()
    spans: list[tuple[int, int]] = []
    for term in keyword.query_terms(query):
        start = lowered.find(term)
        while start != -1:
            spans.append((start, start + len(term)))
            start = lowered.find(term, start + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
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
