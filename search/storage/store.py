"""The index's source of truth: one SQLite database (documents, passages, FTS, manifest).

FAISS only mirrors the passage embeddings stored here, under the same integer ids, and can always be rebuilt
from this file. Writes happen in a single IMMEDIATE transaction per build, so readers (WAL mode) see either
the previous generation or the new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from search.errors import IndexNotFoundError, SearchError
from search.text import keyword

# 2: passages_fts has a heading column of its own (weighted in BM25, see search.text.keyword.HEADING_WEIGHT).
SCHEMA_VERSION = 2
DB_NAME = "index.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    format TEXT NOT NULL,
    encoding TEXT,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    content_hash TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    text TEXT NOT NULL,
    indexed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS passages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id INTEGER NOT NULL REFERENCES documents(id),
    ordinal INTEGER NOT NULL,
    heading TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS passages_document ON passages(document_id, ordinal);
CREATE INDEX IF NOT EXISTS passages_hash ON passages(content_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS passages_fts USING fts5(
    heading, body, tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

PASSAGE_COLUMNS = (
    "p.id, p.document_id, p.ordinal, p.heading, p.text, p.char_start, p.char_end, "
    "d.path, d.title, d.format, d.mtime, d.tags"
)


@dataclass(frozen=True)
class StoredDocument:
    id: int
    path: str
    size: int
    mtime: float
    content_hash: str


@dataclass(frozen=True)
class StoredPassage:
    id: int
    ordinal: int
    content_hash: str


def fts_columns(heading: str, text: str) -> tuple[str, str]:
    """Keyword index columns: the heading (document title or section path) is searchable context too, in a
    column of its own so that BM25 can weight it (search.text.keyword.HEADING_WEIGHT)."""
    return keyword.index_text(heading), keyword.index_text(text)


class Store:
    """Typed access to the SQLite index; callers never write SQL of their own."""

    def __init__(self, index_dir: Path, create: bool = False) -> None:
        self.index_dir = index_dir
        self.path = index_dir / DB_NAME
        if not self.path.is_file():
            if not create:
                raise IndexNotFoundError(
                    f"No index at {index_dir}: run `indexer build DOCS_DIR --index {index_dir}` first"
                )
            index_dir.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db = sqlite_utils.Database(conn)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            if create:
                # One transaction: a build killed here leaves either no tables or all of them.
                conn.executescript(f"BEGIN;\n{SCHEMA}\nCOMMIT;")
            has_schema = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'manifest'").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise SearchError(f"{self.path} is not a readable index database ({exc})") from exc
        if not has_schema:
            conn.close()
            raise IndexNotFoundError(
                f"No index at {index_dir} yet ({DB_NAME} has no index tables, e.g. a first build was stopped "
                f"early): run `indexer build DOCS_DIR --index {index_dir}`"
            )
        version = self.manifest().get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            conn.close()
            raise SearchError(
                f"{self.path} has index format {version}, this version reads {SCHEMA_VERSION}: rebuild it "
                "into a new --index folder"
            )

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def close(self) -> None:
        self.conn.close()

    # -- transactions -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[None]:
        """All of a build's changes commit together or not at all."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Several reads that must see one generation (WAL gives the transaction a fixed snapshot)."""
        self.conn.execute("BEGIN")
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    # -- manifest -----------------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        try:
            rows = self.conn.execute("SELECT key, value FROM manifest").fetchall()
        except sqlite3.OperationalError:
            return {}
        return {key: json.loads(value) for key, value in rows}

    def set_manifest(self, values: dict[str, Any]) -> None:
        self.conn.executemany(
            "INSERT INTO manifest(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(k, json.dumps(v, ensure_ascii=False)) for k, v in values.items()],
        )

    def generation(self) -> int:
        return int(self.manifest().get("generation", 0))

    # -- documents ----------------------------------------------------------------------------------

    def documents_by_path(self) -> dict[str, StoredDocument]:
        rows = self.conn.execute("SELECT id, path, size, mtime, content_hash FROM documents")
        return {r[1]: StoredDocument(*r) for r in rows}

    def upsert_document(self, values: dict[str, Any]) -> int:
        """Insert or update by path; the row id (and so every citation of it) survives an update."""
        values = {**values, "tags": json.dumps(values.get("tags", []), ensure_ascii=False)}
        columns = ", ".join(values)
        placeholders = ", ".join("?" for _ in values)
        updates = ", ".join(f"{c} = excluded.{c}" for c in values if c != "path")
        row = self.conn.execute(
            f"INSERT INTO documents ({columns}) VALUES ({placeholders}) "
            f"ON CONFLICT(path) DO UPDATE SET {updates} RETURNING id",
            list(values.values()),
        ).fetchone()
        return int(row[0])

    def touch_document(self, document_id: int, mtime: float) -> None:
        self.conn.execute("UPDATE documents SET mtime = ? WHERE id = ?", (mtime, document_id))

    def delete_document(self, document_id: int) -> list[int]:
        """Remove a document and its passages; returns the removed passage ids (for FAISS)."""
        ids = [p.id for p in self.document_passages(document_id)]
        self.delete_passages(ids)
        self.conn.execute("DELETE FROM documents WHERE id = ?", (document_id,))
        return ids

    # -- passages -----------------------------------------------------------------------------------

    def document_passages(self, document_id: int) -> list[StoredPassage]:
        rows = self.conn.execute(
            "SELECT id, ordinal, content_hash FROM passages WHERE document_id = ? ORDER BY ordinal",
            (document_id,),
        )
        return [StoredPassage(*r) for r in rows]

    def insert_passage(
        self,
        document_id: int,
        ordinal: int,
        heading: str,
        text: str,
        start: int,
        end: int,
        content_hash: str,
        embedding: np.ndarray,
    ) -> int:
        cursor = self.conn.execute(
            "INSERT INTO passages (document_id, ordinal, heading, text, char_start, char_end, content_hash,"
            " embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                document_id,
                ordinal,
                heading,
                text,
                start,
                end,
                content_hash,
                np.ascontiguousarray(embedding, dtype=np.float32).tobytes(),
            ),
        )
        passage_id = int(cursor.lastrowid or 0)
        self.conn.execute(
            "INSERT INTO passages_fts(rowid, heading, body) VALUES (?, ?, ?)", (passage_id, *fts_columns(heading, text))
        )
        return passage_id

    def move_passage(self, passage_id: int, ordinal: int, start: int, end: int, heading: str, text: str) -> None:
        """A kept passage whose text is unchanged but whose position in the document moved."""
        self.conn.execute(
            "UPDATE passages SET ordinal = ?, char_start = ?, char_end = ?, heading = ?, text = ? WHERE id = ?",
            (ordinal, start, end, heading, text, passage_id),
        )

    def delete_passages(self, ids: Sequence[int]) -> None:
        for chunk in _chunks(ids, 500):
            marks = ", ".join("?" for _ in chunk)
            self.conn.execute(f"DELETE FROM passages WHERE id IN ({marks})", chunk)
            self.conn.execute(f"DELETE FROM passages_fts WHERE rowid IN ({marks})", chunk)

    def embeddings_by_hash(self, hashes: Iterable[str], dimension: int) -> dict[str, np.ndarray]:
        """Embeddings already computed for identical passage text anywhere in the index."""
        found: dict[str, np.ndarray] = {}
        for chunk in _chunks(sorted(set(hashes)), 500):
            marks = ", ".join("?" for _ in chunk)
            for h, blob in self.conn.execute(
                f"SELECT content_hash, embedding FROM passages WHERE content_hash IN ({marks})", chunk
            ):
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape[0] == dimension:
                    found[h] = vector
        return found

    def iter_embeddings(self, batch: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) in id order, in batches, for rebuilding FAISS without re-encoding."""
        last = -1
        while True:
            rows = self.conn.execute(
                "SELECT id, embedding FROM passages WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            yield ids, vectors
            last = int(ids[-1])

    def embeddings_for(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for chunk in _chunks(list(ids), 500):
            marks = ", ".join("?" for _ in chunk)
            for pid, blob in self.conn.execute(f"SELECT id, embedding FROM passages WHERE id IN ({marks})", chunk):
                out[pid] = np.frombuffer(blob, dtype=np.float32)
        return out

    def passage_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Passages joined with their documents, keyed by passage id."""
        out: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(list(ids), 500):
            marks = ", ".join("?" for _ in chunk)
            cursor = self.conn.execute(
                f"SELECT {PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.id = p.document_id "
                f"WHERE p.id IN ({marks})",
                chunk,
            )
            names = [c[0] for c in cursor.description]
            for row in cursor:
                record = dict(zip(names, row, strict=True))
                record["tags"] = json.loads(record["tags"])
                out[record["id"]] = record
        return out

    def counts(self) -> dict[str, int]:
        one = self.conn.execute
        return {
            "documents": one("SELECT count(*) FROM documents").fetchone()[0],
            "passages": one("SELECT count(*) FROM passages").fetchone()[0],
        }


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]
