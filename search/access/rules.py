"""Access rules: which groups may read which documents, decided at build time from a TOML file.

    [[rule]]
    prefix = "人事/"            # or: glob = "経理/契約/**", or: tag = "confidential" (Markdown front matter)
    groups = ["hr"]

A document matched by rules belongs to the union of their groups; a document no rule matches belongs to `all`.
Each document's groups are stored in the index (documents.groups), so every read can be restricted in SQLite
before anything is ranked. Why groups are computed at build time and not at query time: the rules are then part
of the index's state (their hash is in the manifest), a reader can never apply other rules than the ones the
index was labelled with, and a query pays one indexed join instead of matching globs over every path.

Mistakes in the file are errors naming the file and line, never a silently wider audience.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from search.errors import SearchError
from search.storage.schema import ALL_GROUP
from search.storage.store import Store
from search.text.paths import path_matches

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 reads TOML with the backport, same API
    import tomli as tomllib

MATCHERS = ("prefix", "glob", "tag")
GROUP_NAME = re.compile(r"[^\s,\x00-\x1f\x7f]{1,64}")
"""A group name: no whitespace (the API keys file separates fields with it), no comma (it separates groups)."""
_RULE_HEADER = re.compile(r"^[ \t]*\[\[[ \t]*rule[ \t]*\]\]", re.MULTILINE)


class AccessRulesError(SearchError):
    """The access rules file cannot be used; the message names the file, the line and what to change."""


@dataclass(frozen=True)
class Rule:
    """Documents matched by `kind` (prefix, glob or tag) = `pattern` belong to `groups`."""

    kind: str
    pattern: str
    groups: tuple[str, ...]
    line: int

    def matches(self, path: str, tags: Sequence[str]) -> bool:
        if self.kind == "prefix":
            return path.startswith(self.pattern)
        if self.kind == "glob":
            return path_matches([self.pattern], path)
        return self.pattern in tags

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: self.pattern, "groups": list(self.groups)}


@dataclass(frozen=True)
class AccessRules:
    """The rules of one file, in file order, and the SHA-256 of their meaning (what the manifest records)."""

    rules: tuple[Rule, ...]
    source: str = ""

    @property
    def digest(self) -> str:
        """Of the rules, not the file's bytes: a comment or a reformatting does not count as a change."""
        canonical = repr([(r.kind, r.pattern, r.groups) for r in self.rules])
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def groups_for(self, path: str, tags: Sequence[str]) -> list[str]:
        """The sorted union of the groups of every matching rule; [`all`] when none matches."""
        found = {g for rule in self.rules if rule.matches(path, tags) for g in rule.groups}
        return sorted(found) if found else [ALL_GROUP]

    def manifest_entry(self) -> dict[str, Any]:
        """What the index records: enough to re-apply these rules when a later build gives no file."""
        return {"sha256": self.digest, "source": self.source, "rules": [r.as_dict() for r in self.rules]}

    @classmethod
    def from_manifest(cls, entry: dict[str, Any] | None) -> AccessRules | None:
        if not entry:
            return None
        rules = tuple(_rule(item, i + 1, 0, "the index manifest") for i, item in enumerate(entry.get("rules", [])))
        return cls(rules, str(entry.get("source", "")))


NO_RULES = AccessRules(())


def load_rules(path: Path) -> AccessRules:
    """Read and check an access rules file; AccessRulesError names the line of the first mistake."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AccessRulesError(f"Cannot read the access rules file {path}: {exc}") from exc
    return parse_rules(text, str(path))


def parse_rules(text: str, source: str = "access rules") -> AccessRules:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:  # its message ends with "(at line N, column M)"
        raise AccessRulesError(f"{source}: not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"rule"})
    if unknown:
        raise AccessRulesError(
            f"{source}: unknown top-level key(s) {', '.join(unknown)}: the file holds only [[rule]] tables"
        )
    items = data.get("rule", [])
    if not isinstance(items, list):
        raise AccessRulesError(f"{source}: `rule` must be written as [[rule]] tables, one per rule")
    lines = [text.count("\n", 0, m.start()) + 1 for m in _RULE_HEADER.finditer(text)]
    return AccessRules(
        tuple(_rule(item, i + 1, lines[i] if i < len(lines) else 0, source) for i, item in enumerate(items)),
        source,
    )


def _rule(item: Any, number: int, line: int, source: str) -> Rule:
    where = f"{source}, line {line} (rule {number})" if line else f"{source}, rule {number}"
    if not isinstance(item, dict):
        raise AccessRulesError(f"{where}: a rule is a [[rule]] table")
    unknown = sorted(set(item) - {*MATCHERS, "groups"})
    if unknown:
        raise AccessRulesError(
            f"{where}: unknown key(s) {', '.join(unknown)}; a rule has one of {', '.join(MATCHERS)} and groups"
        )
    given = [k for k in MATCHERS if k in item]
    if len(given) != 1:
        raise AccessRulesError(
            f"{where}: give exactly one of prefix, glob or tag (found {', '.join(given) or 'none'}); "
            "write a second [[rule]] for a second match"
        )
    kind = given[0]
    pattern = item[kind]
    if not isinstance(pattern, str) or not pattern.strip():
        raise AccessRulesError(f"{where}: {kind} must be a non-empty string")
    if kind == "prefix":
        pattern = pattern.replace("\\", "/").removeprefix("./")
    groups = item.get("groups")
    if not isinstance(groups, list) or not groups:
        raise AccessRulesError(f'{where}: groups must be a non-empty list of group names, e.g. groups = ["hr"]')
    return Rule(kind, pattern, check_groups(groups, where), line)


def check_groups(groups: Iterable[Any], where: str) -> tuple[str, ...]:
    """Group names as a sorted tuple, or AccessRulesError naming `where` and the bad name."""
    checked = set()
    for group in groups:
        if not isinstance(group, str) or not GROUP_NAME.fullmatch(group):
            raise AccessRulesError(
                f"{where}: {group!r} is not a group name (1-64 characters, no spaces, commas or control characters)"
            )
        checked.add(group)
    return tuple(sorted(checked))


def group_counts(index_dir: Path) -> dict[str, int]:
    """Documents per group in the index at `index_dir` (a document in several groups counts in each)."""
    store = Store(index_dir)
    try:
        return store.count_documents_by_group()
    finally:
        store.close()
