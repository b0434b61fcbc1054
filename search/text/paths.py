"""Glob patterns on relative document paths, as `--include`, `--exclude` and access rules write them."""

from __future__ import annotations

import fnmatch
import itertools
from collections.abc import Sequence


def path_matches(patterns: Sequence[str], rel: str) -> bool:
    """fnmatch on the relative path (so `*` also crosses folders and `*.md` matches at any depth), where
    `**/` may also match zero folders, and a pattern naming a folder (`archive`, `archive/`,
    `archive/**`) matches everything inside it.
    """
    candidates = [rel, *_folder_prefixes(rel)]
    return any(
        fnmatch.fnmatchcase(candidate, variant)
        for pattern in patterns
        for variant in _pattern_variants(_clean_pattern(pattern))
        for candidate in candidates
    )


def _folder_prefixes(rel: str) -> list[str]:
    """`a/b/c.md` -> `a`, `a/`, `a/b`, `a/b/`: a folder pattern then covers the folder's files."""
    parts = rel.split("/")[:-1]
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return [variant for prefix in prefixes for variant in (prefix, prefix + "/")]


def _clean_pattern(pattern: str) -> str:
    pattern = pattern.strip().replace("\\", "/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern


def _pattern_variants(pattern: str) -> list[str]:
    """Every way of letting each `**/` match zero folders (fnmatch alone needs at least one)."""
    pieces = pattern.split("**/")
    variants = []
    for keep in itertools.product((True, False), repeat=len(pieces) - 1):
        joined = pieces[0]
        for piece, kept in zip(pieces[1:], keep, strict=True):
            joined += ("**/" if kept else "") + piece
        variants.append(joined)
    return variants
