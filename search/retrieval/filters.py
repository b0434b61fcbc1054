"""Which documents a search may return: resolved in SQLite before ranking, so both legs search inside them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from search.errors import SearchError
from search.storage import schema as sql
from search.storage.store import groups_clause

FILTER_KEYS = ("path_prefix", "path_glob", "formats", "modified_after", "modified_before", "tags")


@dataclass(frozen=True)
class Filters:
    """Restrictions on which documents' passages may be returned."""

    path_prefix: str | None = None
    path_glob: str | None = None
    formats: tuple[str, ...] = ()
    modified_after: float | None = None  # POSIX seconds
    modified_before: float | None = None
    tags: tuple[str, ...] = ()  # a document must carry all of them
    # Access control (search/access): the caller's groups; a document must share one. None: no restriction.
    # Never read from a request or a command line's --filter: only `restricted_to` sets it.
    groups: tuple[str, ...] | None = None

    def is_empty(self) -> bool:
        return self == Filters()

    def restricted_to(self, groups: tuple[str, ...] | None) -> Filters:
        """These filters, further limited to documents of `groups` (None: no further limit). Restricting
        twice keeps the groups both allow, so a restriction can only narrow, never widen."""
        if groups is None:
            return self
        allowed = tuple(sorted(set(groups))) if self.groups is None else tuple(sorted(set(self.groups) & set(groups)))
        return replace(self, groups=allowed)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> Filters:
        """From a plain dict as the front door and the HTTP API take it: times as ISO text or POSIX seconds,
        `formats`/`tags` as lists (a single string counts as one item)."""
        if not values:
            return cls()
        unknown = sorted(set(values) - set(FILTER_KEYS))
        if unknown:
            raise SearchError(f"filters: unknown key(s) {', '.join(unknown)}; use {', '.join(FILTER_KEYS)}")

        def items(name: str) -> tuple[str, ...]:
            value = values.get(name) or ()
            return (value,) if isinstance(value, str) else tuple(value)

        return cls(
            path_prefix=values.get("path_prefix") or None,
            path_glob=values.get("path_glob") or None,
            formats=items("formats"),
            modified_after=parse_time(values.get("modified_after"), "modified_after"),
            modified_before=parse_time(values.get("modified_before"), "modified_before"),
            tags=items("tags"),
        )

    def sql(self) -> tuple[str, list[Any]]:
        """A WHERE clause over documents `d`, with parameters: values are bound, never interpolated."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.path_prefix:
            clauses.append(sql.FILTER_PATH_PREFIX)
            params += [len(self.path_prefix), self.path_prefix]
        if self.path_glob:
            clauses.append(sql.FILTER_PATH_GLOB)
            params.append(self.path_glob)
        if self.formats:
            clauses.append(sql.FILTER_FORMATS.format(ids=sql.marks(len(self.formats))))
            params += list(self.formats)
        if self.modified_after is not None:
            clauses.append(sql.FILTER_MODIFIED_AFTER)
            params.append(self.modified_after)
        if self.modified_before is not None:
            clauses.append(sql.FILTER_MODIFIED_BEFORE)
            params.append(self.modified_before)
        for tag in self.tags:
            clauses.append(sql.FILTER_TAG)
            params.append(tag)
        if self.groups is not None:
            where, bound = groups_clause(self.groups)
            clauses.append(where)
            params += bound
        return " AND ".join(clauses) or sql.FILTER_NONE, params


def parse_time(value: str | float | None, field_name: str) -> float | None:
    """ISO date/time or POSIX seconds to POSIX seconds."""
    if value is None or isinstance(value, int | float):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise SearchError(f"{field_name}: '{value}' is not an ISO date like 2025-04-01 or 2025-04-01T09:00") from exc
    try:
        return parsed.timestamp()
    except (ValueError, OverflowError):
        # A time without offset is local time, which the platform cannot convert at the calendar's edge
        # (0001-01-01 raised "year 0 is out of range"): there UTC is as good as any offset.
        return parsed.replace(tzinfo=timezone.utc).timestamp()


def parse_filter_items(items: Sequence[str]) -> Filters:
    """`KEY=VALUE` strings (the command line's `--filter`) to Filters; `format`/`tag` may repeat."""
    values: dict[str, Any] = {"formats": [], "tags": []}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise SearchError(f"filter '{item}': expected KEY=VALUE, e.g. format=pdf")
        if key in {"format", "tag"}:
            values[key + "s"].append(value)
        elif key in {"path_prefix", "path_glob", "modified_after", "modified_before"}:
            values[key] = value
        else:
            raise SearchError(
                f"filter '{item}': unknown key '{key}' (use path_prefix, path_glob, format, tag, "
                "modified_after, modified_before)"
            )
    return Filters.from_mapping(values)
