"""What the commands print for people: build summaries, hits and status, safe for a terminal and a log.

File names come from the indexed folder and may hold control characters (a newline forges a log line, ESC
drives the terminal), so every name and reason is shown escaped.
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any


def safe(text: str) -> str:
    """`text` with control and other invisible format characters escaped (\\n, \\x1b, \\u202e ...)."""
    out = []
    for char in text:
        if unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}:
            out.append(char.encode("unicode_escape").decode("ascii"))
        else:
            out.append(char)
    return "".join(out)


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False))


def print_build_summary(s: dict[str, Any]) -> None:
    if s["full_rebuild"]:
        print(f"Full rebuild: {s['full_rebuild']}")
    if s["vectors_repaired"]:
        print("FAISS vectors were missing or out of step with SQLite: rebuilt from stored embeddings")
    print(f"Index {safe(s['index'])} (generation {s['generation']}, model {s['model']})")
    print(
        f"  files:    {s['files_seen']} seen, {s['files_indexed']} indexed, {s['files_unchanged']} unchanged, "
        f"{s['files_removed']} removed, {len(s['files_failed'])} failed, {len(s['files_skipped'])} skipped"
    )
    print(
        f"  passages: {s['passages_added']} added, {s['passages_removed']} removed, "
        f"{s['passages_reused']} re-used, {s['passages_encoded']} encoded"
    )
    print(f"  time:     {s['seconds']:.2f} s")
    for item in s["files_failed"]:
        print(f"  FAILED  {safe(item['path'])}: {safe(item['reason'])}")
    for item in s["files_skipped"]:
        print(f"  skipped {safe(item['path'])}: {safe(item['reason'])}")


def mode_used(result: Any) -> str:
    """The mode that actually ranked the hits: hybrid whose dense leg had no weight is a keyword search."""
    weights = result.weights
    if result.mode == "hybrid" and weights is not None and weights.dense == 0:
        if not weights.model_knows_language:
            return "keyword search (hybrid asked; the embedding model cannot read this query's language)"
        if weights.keyword_coverage is not None and weights.keyword_coverage >= 1:
            return "keyword search (hybrid asked; the keyword match holds every word, so word vectors add nothing)"
        return "keyword search (hybrid asked; nothing matched by meaning)"
    return f"{result.mode} search"


def print_hits(query: str, result: Any, model: str | None) -> None:
    """`model`: the index's; the line names what actually answered the meaning half (word vectors for a
    Japanese query the model cannot read) and the reranker, if any."""
    by = getattr(result, "dense_model", None) or model
    reranked = f", reranked by {result.reranker}" if getattr(result, "reranker", None) else ""
    print(f"Query: {safe(query)}   [{mode_used(result)}, model {by}{reranked}, generation {result.generation}]")
    expansions = getattr(result.query, "expansions", ())
    if expansions:
        print("  also searched: " + ", ".join(f"{safe(e.term)} (for {safe(e.source)})" for e in expansions))
    if not result.hits:
        print("  (no results)")
    for rank, hit in enumerate(result.hits, 1):
        where = f"{hit.path} > {hit.heading}" if hit.heading and hit.heading != hit.title else hit.path
        print(f"{rank:>3}. {hit.score:.4f}  {safe(hit.title)}  ({safe(where)}, chars {hit.start}-{hit.end})")
        text = " ".join(hit.text.split())
        print(f"       {safe(text[:160])}{'…' if len(text) > 160 else ''}")


def print_status(status: dict[str, Any]) -> None:
    width = max(len(k) for k in status)
    for key, value in status.items():
        shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
        print(f"{key:<{width}}  {shown}")
