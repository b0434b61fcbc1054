"""Who a caller is: identities from an API keys file, one per line, never a key in clear.

    # SHA256-HEX-OF-KEY                                               NAME    GROUPS
    5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8  sato    hr,legal

`printf %s KEY | sha256sum` gives the first field. Every identity also belongs to `all`. Why hashes: the file
can be read by backups and administrators without handing out the keys; a key is high-entropy, so an unsalted
SHA-256 is not guessable from its hash the way a password would be.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from search.access.rules import AccessRulesError, check_groups
from search.access.scope import caller_groups
from search.errors import SearchError
from search.storage.store import Groups

HEX_DIGEST = re.compile(r"[0-9a-f]{64}")
NAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}")


@dataclass(frozen=True)
class Identity:
    """A caller: a name for the audit log, and the groups whose documents it sees (None: every document)."""

    name: str
    groups: Groups


EVERYTHING = Identity("api-key", None)
"""The single API key of INDEXER_API_KEY / --api-key-file, and a server without keys: sees every document."""


class IdentitiesError(SearchError):
    """The API keys file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Identities:
    """The identities of one keys file, looked up by the SHA-256 of a presented key."""

    by_digest: tuple[tuple[str, Identity], ...]

    def find(self, key: str) -> Identity | None:
        """The identity of `key`, or None. Every entry is compared (constant-time), whichever matches."""
        digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest().encode("ascii")
        found = None
        for known, identity in self.by_digest:
            if hmac.compare_digest(digest, known.encode("ascii")):
                found = identity
        return found

    def __len__(self) -> int:
        return len(self.by_digest)


def load_identities(path: Path) -> Identities:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IdentitiesError(f"Cannot read the API keys file {path}: {exc}") from exc
    return parse_identities(text, str(path))


def parse_identities(text: str, source: str = "API keys file") -> Identities:
    """`SHA256-HEX NAME GROUP[,GROUP…]` per line; blank lines and lines starting with # are ignored."""
    entries: list[tuple[str, Identity]] = []
    names: set[str] = set()
    digests: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        where = f"{source}, line {number}"
        fields = stripped.split()
        if len(fields) != 3:
            raise IdentitiesError(
                f"{where}: expected 3 fields `SHA256-HEX NAME GROUP[,GROUP…]` separated by spaces, found {len(fields)}"
            )
        digest, name, groups = fields
        digest = digest.lower()
        if not HEX_DIGEST.fullmatch(digest):
            raise IdentitiesError(
                f"{where}: the first field must be the SHA-256 of the key as 64 hex digits (`printf %s KEY | "
                "sha256sum`), never the key itself"
            )
        if not NAME.fullmatch(name):
            raise IdentitiesError(f"{where}: {name!r} is not a name (1-64 characters, no control characters)")
        try:
            checked = check_groups(groups.split(","), where)
        except AccessRulesError as exc:
            raise IdentitiesError(str(exc)) from exc
        if digest in digests:
            raise IdentitiesError(f"{where}: this key hash is already listed: give each key one line")
        if name in names:
            raise IdentitiesError(f"{where}: the name {name} is already used: each identity needs its own")
        digests.add(digest)
        names.add(name)
        entries.append((digest, Identity(name, caller_groups(checked))))
    if not entries:
        raise IdentitiesError(f"{source}: no keys in it; add lines `SHA256-HEX NAME GROUP[,GROUP…]`")
    return Identities(tuple(entries))
