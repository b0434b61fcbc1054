"""Read-only browsing of what an index holds: documents, their passages, single passages.

Everything here reads the SQLite index only, never the indexed folder: the HTTP API's document endpoints
must not become a way to read arbitrary files, and the index is the record of what was searched. Callers
wrap several calls in `Store.read_snapshot()` when they must all see one generation.
"""

from __future__ import annotations

import json
from typing import Any

from search.storage.store import Store

DOCUMENT_COLUMNS = (
    "d.id, d.path, d.title, d.format, d.encoding, d.size, d.mtime, d.tags, d.indexed_at, "
    "(SELECT count(*) FROM passages p WHERE p.document_id = d.id) AS passage_count"
)
PASSAGE_COLUMNS = "p.id, p.document_id, p.ordinal, p.heading, p.text, p.char_start AS start, p.char_end AS end"


def _records(cursor: Any) -> list[dict[str, Any]]:
    names = [c[0] for c in cursor.description]
    out = []
    for row in cursor:
        record = dict(zip(names, row, strict=True))
        if "tags" in record:
            record["tags"] = json.loads(record["tags"])
        out.append(record)
    return out


def count_documents(store: Store) -> int:
    return int(store.conn.execute("SELECT count(*) FROM documents").fetchone()[0])


def list_documents(store: Store, limit: int, offset: int) -> list[dict[str, Any]]:
    """One page of documents ordered by path (stable across requests and generations)."""
    cursor = store.conn.execute(
        f"SELECT {DOCUMENT_COLUMNS} FROM documents d ORDER BY d.path, d.id LIMIT ? OFFSET ?", (limit, offset)
    )
    return _records(cursor)


def get_document(store: Store, document_id: int) -> dict[str, Any] | None:
    cursor = store.conn.execute(f"SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.id = ?", (document_id,))
    records = _records(cursor)
    return records[0] if records else None


def document_passages(store: Store, document_id: int) -> list[dict[str, Any]]:
    """A document's passages in reading order, with their character offsets into the document text."""
    cursor = store.conn.execute(
        f"SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.document_id = ? ORDER BY p.ordinal, p.id", (document_id,)
    )
    return _records(cursor)


def get_passage(store: Store, passage_id: int) -> dict[str, Any] | None:
    cursor = store.conn.execute(f"SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.id = ?", (passage_id,))
    records = _records(cursor)
    return records[0] if records else None
