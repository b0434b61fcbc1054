"""The index's source of truth: one SQLite database (documents, passages, FTS, manifest).

FAISS only mirrors the passage embeddings stored here, under the same integer ids, and can always be rebuilt
from this file. Writes happen in a single IMMEDIATE transaction per build, so readers (WAL mode) see either
the previous generation or the new one, never a mixture.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlite_utils

from search.errors import IndexNotFoundError, SearchError
from search.storage import schema as sql
from search.storage.schema import ALL_GROUP, DB_NAME, SCHEMA_VERSION
from search.text import keyword

ALLOWED_CACHE_SIZE = 8
"""Passage-id sets of recent filters kept per connection (a few groups and filter combinations in use)."""
Groups = tuple[str, ...] | None
"""Access control (search/access): the groups whose documents a read may return; None: every document."""


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


def fts_columns(heading: str, text: str) -> tuple[str, str, str, str]:
    """Keyword index columns: the heading (document title or section path) is searchable context too, in a
    column of its own so that BM25 can weight it (search.text.keyword.HEADING_WEIGHT); each of heading and
    text is indexed twice, as character bigrams and as content-word lemmas (search.text.keyword.WORD_WEIGHT)."""
    return (
        keyword.index_text(heading),
        keyword.index_text(text),
        keyword.index_words(heading),
        keyword.index_words(text),
    )


class Store:
    """Typed access to the SQLite index; callers never write SQL of their own (statements: schema.py)."""

    def __init__(self, index_dir: Path, create: bool = False) -> None:
        self.index_dir = index_dir
        self.path = index_dir / DB_NAME
        if not self.path.is_file():
            if not create:
                raise IndexNotFoundError(
                    f"No index at {index_dir}: run `indexer build DOCS_DIR --index {index_dir}` first"
                )
            index_dir.mkdir(parents=True, exist_ok=True)
        self._allowed: OrderedDict[tuple[Any, ...], np.ndarray] = OrderedDict()  # filtered_passage_ids
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        self.db = sqlite_utils.Database(conn)
        try:
            for pragma in sql.PRAGMAS:
                conn.execute(pragma)
            if create:
                # One transaction: a build killed here leaves either no tables or all of them.
                conn.executescript(f"BEGIN;\n{sql.CREATE_TABLES}\nCOMMIT;")
            has_schema = conn.execute(sql.HAS_SCHEMA).fetchone()
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
            why = "; ".join(sql.SCHEMA_CHANGES[v] for v in sorted(sql.SCHEMA_CHANGES) if v > int(version))
            raise SearchError(
                f"{self.path} has index format {version}, this version reads {SCHEMA_VERSION}"
                + (f" ({why})" if why else "")
                + ": rebuild it into a new --index folder (indexer build DOCS_DIR --index NEW_DIR)"
            )

        self._ensure_groups_column()

    def _ensure_groups_column(self) -> None:
        """Access control: an index made before documents had groups gets the column (every document in `all`)."""
        if self.conn.execute(sql.HAS_GROUPS_COLUMN).fetchone():
            return
        try:
            self.conn.execute(sql.ADD_GROUPS_COLUMN)
        except sqlite3.OperationalError as exc:
            if self.conn.execute(sql.HAS_GROUPS_COLUMN).fetchone():
                return  # another process added it first
            self.conn.close()
            raise SearchError(
                f"{self.path} predates access control and cannot be upgraded here ({exc}): run `indexer build` "
                "on it once with write access (nothing is re-encoded)"
            ) from exc

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def close(self) -> None:
        self.conn.close()

    # -- transactions -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def write_transaction(self) -> Iterator[None]:
        """All of a build's changes commit together or not at all."""
        self.conn.execute(sql.BEGIN_WRITE)
        try:
            yield
        except BaseException:
            self.conn.execute(sql.ROLLBACK)
            raise
        self.conn.execute(sql.COMMIT)

    @contextlib.contextmanager
    def read_snapshot(self) -> Iterator[None]:
        """Several reads that must see one generation (WAL gives the transaction a fixed snapshot)."""
        self.conn.execute(sql.BEGIN_READ)
        try:
            yield
        finally:
            self.conn.execute(sql.COMMIT)

    # -- manifest -----------------------------------------------------------------------------------

    def manifest(self) -> dict[str, Any]:
        try:
            rows = self.conn.execute(sql.SELECT_MANIFEST).fetchall()
        except sqlite3.OperationalError:
            return {}
        return {key: json.loads(value) for key, value in rows}

    def set_manifest(self, values: dict[str, Any]) -> None:
        self.conn.executemany(
            sql.UPSERT_MANIFEST,
            [(k, json.dumps(v, ensure_ascii=False)) for k, v in values.items()],
        )

    def generation(self) -> int:
        return int(self.manifest().get("generation", 0))

    # -- documents ----------------------------------------------------------------------------------

    def documents_by_path(self, groups: Groups = None) -> dict[str, StoredDocument]:
        rows = self.conn.execute(*_visible(sql.SELECT_DOCUMENT_KEYS, sql.SELECT_DOCUMENT_KEYS_VISIBLE, groups))
        return {r[1]: StoredDocument(*r) for r in rows}

    def upsert_document(self, values: dict[str, Any]) -> int:
        """Insert or update by path; the row id (and so every citation of it) survives an update. `groups`
        (access control) defaults to `all`."""
        values = {
            **values,
            "tags": json.dumps(values.get("tags", []), ensure_ascii=False),
            "groups": json.dumps(values.get("groups", [ALL_GROUP]), ensure_ascii=False),
        }
        return int(self.conn.execute(sql.UPSERT_DOCUMENT, values).fetchone()[0])

    # -- access control: each document's groups ------------------------------------------------------

    def document_labels(self) -> list[tuple[int, str, list[str], list[str]]]:
        """(id, path, tags, groups) of every document: what access rules are matched against."""
        rows = self.conn.execute(sql.SELECT_DOCUMENT_LABELS)
        return [(int(r[0]), str(r[1]), json.loads(r[2]), json.loads(r[3])) for r in rows]

    def set_document_groups(self, document_id: int, groups: Sequence[str]) -> None:
        self.conn.execute(sql.SET_DOCUMENT_GROUPS, (json.dumps(list(groups), ensure_ascii=False), document_id))

    def count_documents_by_group(self) -> dict[str, int]:
        """Documents per group (a document in several groups counts in each)."""
        return {str(g): int(n) for g, n in self.conn.execute(sql.COUNT_DOCUMENTS_BY_GROUP)}

    def touch_document(self, document_id: int, mtime: float) -> None:
        self.conn.execute(sql.TOUCH_DOCUMENT, (mtime, document_id))

    def delete_document(self, document_id: int) -> list[int]:
        """Remove a document and its passages; returns the removed passage ids (for FAISS)."""
        ids = [p.id for p in self.document_passages(document_id)]
        self.delete_passages(ids)
        self.conn.execute(sql.DELETE_DOCUMENT, (document_id,))
        return ids

    def count_documents(self, groups: Groups = None) -> int:
        return int(self.conn.execute(*_visible(sql.COUNT_DOCUMENTS, sql.COUNT_DOCUMENTS_VISIBLE, groups)).fetchone()[0])

    def list_documents(self, limit: int, offset: int, groups: Groups = None) -> list[dict[str, Any]]:
        """One page of documents ordered by path (stable across requests and generations)."""
        statement, params = _visible(sql.LIST_DOCUMENTS, sql.LIST_DOCUMENTS_VISIBLE, groups)
        return _records(self.conn.execute(statement, [*params, limit, offset]))

    def get_document(self, document_id: int, groups: Groups = None) -> dict[str, Any] | None:
        statement, params = _visible(sql.GET_DOCUMENT, sql.GET_DOCUMENT_VISIBLE, groups)
        records = _records(self.conn.execute(statement, [document_id, *params]))
        return records[0] if records else None

    def document_text(self, document_id: int, groups: Groups = None) -> str | None:
        statement, params = _visible(sql.DOCUMENT_TEXT, sql.DOCUMENT_TEXT_VISIBLE, groups)
        row = self.conn.execute(statement, [document_id, *params]).fetchone()
        return None if row is None else str(row[0])

    def document_texts(self, ids: Iterable[int]) -> dict[int, str]:
        """The text of several documents in one read, keyed by id: a page of search hits needs each of its
        documents once (for the sentence windows), not once per hit. Callers pass ids they may already see."""
        out: dict[int, str] = {}
        for chunk in _chunks(sorted(set(ids)), 500):
            for document_id, text in self.conn.execute(sql.DOCUMENT_TEXTS.format(ids=sql.marks(len(chunk))), chunk):
                out[document_id] = str(text)
        return out

    # -- passages -----------------------------------------------------------------------------------

    def document_passages(self, document_id: int, groups: Groups = None) -> list[StoredPassage]:
        statement, params = _visible(sql.SELECT_DOCUMENT_PASSAGE_KEYS, sql.SELECT_DOCUMENT_PASSAGE_KEYS_VISIBLE, groups)
        rows = self.conn.execute(statement, [document_id, *params])
        return [StoredPassage(*r) for r in rows]

    def passages_of_document(self, document_id: int, groups: Groups = None) -> list[dict[str, Any]]:
        """A document's passages in reading order, with their character offsets into the document text."""
        statement, params = _visible(sql.DOCUMENT_PASSAGES, sql.DOCUMENT_PASSAGES_VISIBLE, groups)
        return _records(self.conn.execute(statement, [document_id, *params]))

    def get_passage(self, passage_id: int, groups: Groups = None) -> dict[str, Any] | None:
        statement, params = _visible(sql.GET_PASSAGE, sql.GET_PASSAGE_VISIBLE, groups)
        records = _records(self.conn.execute(statement, [passage_id, *params]))
        return records[0] if records else None

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
        blob = np.ascontiguousarray(embedding, dtype=np.float32).tobytes()
        cursor = self.conn.execute(
            sql.INSERT_PASSAGE, (document_id, ordinal, heading, text, start, end, content_hash, blob)
        )
        passage_id = int(cursor.lastrowid or 0)
        self.conn.execute(sql.INSERT_PASSAGE_FTS, (passage_id, *fts_columns(heading, text)))
        return passage_id

    def move_passage(self, passage_id: int, ordinal: int, start: int, end: int, heading: str, text: str) -> None:
        """A kept passage whose text is unchanged but whose position in the document moved."""
        self.conn.execute(sql.MOVE_PASSAGE, (ordinal, start, end, heading, text, passage_id))

    def delete_passages(self, ids: Sequence[int]) -> None:
        for chunk in _chunks(ids, 500):
            self.conn.execute(sql.DELETE_PASSAGES.format(ids=sql.marks(len(chunk))), chunk)
            self.conn.execute(sql.DELETE_PASSAGES_FTS.format(ids=sql.marks(len(chunk))), chunk)

    def passage_ids(self) -> np.ndarray:
        return np.fromiter((r[0] for r in self.conn.execute(sql.SELECT_PASSAGE_IDS)), dtype=np.int64)

    def passage_words(self) -> Iterator[tuple[int, str, str]]:
        """(passage id, heading lemmas, body lemmas) of every passage; lemmas separated by spaces."""
        return iter(self.conn.execute(sql.SELECT_PASSAGE_WORDS))

    def passage_lemmas(self, ids: Sequence[int]) -> list[tuple[str, str]]:
        """(heading lemmas, body lemmas) of these passages."""
        ids = list(ids)
        return [tuple(r) for r in self.conn.execute(sql.SELECT_PASSAGE_WORDS_OF.format(ids=sql.marks(len(ids))), ids)]

    def embeddings_by_hash(self, hashes: Iterable[str], dimension: int) -> dict[str, np.ndarray]:
        """Embeddings already computed for identical passage text anywhere in the index."""
        found: dict[str, np.ndarray] = {}
        for chunk in _chunks(sorted(set(hashes)), 500):
            for h, blob in self.conn.execute(sql.EMBEDDINGS_BY_HASH.format(ids=sql.marks(len(chunk))), chunk):
                vector = np.frombuffer(blob, dtype=np.float32)
                if vector.shape[0] == dimension:
                    found[h] = vector
        return found

    def iter_embeddings(self, batch: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, vectors) in id order, in batches, for rebuilding FAISS without re-encoding."""
        last = -1
        while True:
            rows = self.conn.execute(sql.EMBEDDINGS_AFTER, (last, batch)).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
            yield ids, vectors
            last = int(ids[-1])

    def embeddings_for(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        out: dict[int, np.ndarray] = {}
        for chunk in _chunks(list(ids), 500):
            for pid, blob in self.conn.execute(sql.EMBEDDINGS_BY_ID.format(ids=sql.marks(len(chunk))), chunk):
                out[pid] = np.frombuffer(blob, dtype=np.float32)
        return out

    def passage_rows(self, ids: Sequence[int], groups: Groups = None) -> dict[int, dict[str, Any]]:
        """Passages joined with their documents, keyed by passage id (only those `groups` may see)."""
        out: dict[int, dict[str, Any]] = {}
        for chunk in _chunks(list(ids), 500):
            statement, params = _visible(sql.HIT_ROWS, sql.HIT_ROWS_VISIBLE, groups)
            for record in _records(self.conn.execute(statement.format(ids=sql.marks(len(chunk))), [*chunk, *params])):
                out[record["id"]] = record
        return out

    def counts(self) -> dict[str, int]:
        one = self.conn.execute
        return {
            "documents": one(sql.COUNT_DOCUMENTS).fetchone()[0],
            "passages": one(sql.COUNT_PASSAGES).fetchone()[0],
        }

    # -- retrieval ----------------------------------------------------------------------------------

    def filtered_passage_ids(self, where: str, params: Sequence[Any]) -> np.ndarray:
        """Ids of the passages whose documents satisfy `where` (a clause from FILTER_* fragments); read-only.

        The last few sets are kept per connection until another connection commits (PRAGMA data_version, which
        a read transaction sees as of its snapshot): a caller's groups are part of every one of its searches,
        and reading 30k passage ids costs more than the rest of a keyword search."""
        key = (int(self.conn.execute(sql.DATA_VERSION).fetchone()[0]), where, tuple(params))
        found = self._allowed.get(key)
        if found is not None:
            self._allowed.move_to_end(key)
            return found
        rows = self.conn.execute(sql.FILTERED_PASSAGE_IDS.format(where=where), list(params))
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64)
        ids.setflags(write=False)
        self._allowed[key] = ids
        while len(self._allowed) > ALLOWED_CACHE_SIZE:
            self._allowed.popitem(last=False)
        return ids

    def keyword_search(
        self, expression: str, depth: int, where: str | None = None, params: Sequence[Any] = ()
    ) -> list[tuple[int, float]]:
        """(passage id, BM25 score) for an FTS5 MATCH expression, best first; `where` restricts documents."""
        if where is None:
            statement, bound = sql.KEYWORD_SEARCH.format(rank=keyword.BM25_RANK), [expression, depth]
        else:
            statement = sql.KEYWORD_SEARCH_FILTERED.format(rank=keyword.BM25_RANK, where=where)
            bound = [expression, *params, depth]
        return [(int(r[0]), float(r[1])) for r in self.conn.execute(statement, bound)]

    def passage_documents(self, ids: Sequence[int]) -> dict[int, int]:
        """passage id -> document id, to collapse a ranking by document without reading passage texts."""
        out: dict[int, int] = {}
        for chunk in _chunks(ids, 500):
            rows = self.conn.execute(sql.PASSAGE_DOCUMENTS.format(ids=sql.marks(len(chunk))), chunk)
            out.update((int(r[0]), int(r[1])) for r in rows)
        return out


def groups_clause(groups: Sequence[str]) -> tuple[str, list[str]]:
    """Access control: a WHERE fragment over documents `d` for documents sharing a group with `groups`."""
    if not groups:
        return sql.FILTER_NOTHING, []
    return sql.FILTER_GROUPS.format(ids=sql.marks(len(groups))), list(groups)


def _visible(plain: str, restricted: str, groups: Groups) -> tuple[str, list[Any]]:
    """`plain` for an unrestricted read; else `restricted` with its `{where}` limited to `groups`.

    `{where}` is filled with str.replace, not str.format, so that an `{ids}` placeholder stays for the caller."""
    if groups is None:
        return plain, []
    where, params = groups_clause(groups)
    return restricted.replace("{where}", where), params


def _records(cursor: sqlite3.Cursor) -> list[dict[str, Any]]:
    """Rows as dicts keyed by column name, with the JSON `tags` column decoded."""
    names = [c[0] for c in cursor.description]
    out = []
    for row in cursor:
        record = dict(zip(names, row, strict=True))
        if "tags" in record:
            record["tags"] = json.loads(record["tags"])
        out.append(record)
    return out


def _chunks(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]
