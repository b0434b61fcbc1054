"""Every SQL statement the index runs, each named once (the pattern of txtai's database/schema/statement.py).

`search.storage.store.Store` is the only code that executes these; the rest of the library calls its typed
methods. Statements that take a variable number of ids carry an `{ids}` placeholder for `?, ?, ...` (values
are always bound, never interpolated); `{where}` takes a clause built from the FILTER_* fragments below.
"""

from __future__ import annotations

# 2: passages_fts has a heading column of its own (weighted in BM25, see search.text.keyword.HEADING_WEIGHT).
# 3: passages_fts also holds the lemmas of content words (heading_words, body_words; search.text.morphology).
SCHEMA_VERSION = 3
SCHEMA_CHANGES = {
    2: "the keyword index gained a heading column",
    3: "the keyword index gained Japanese word lemmas next to character bigrams",
}
"""Why each format came to be, for the message that asks to rebuild an older index."""
DB_NAME = "index.sqlite"
ALL_GROUP = "all"
"""Access control: the group of every document no rule matches, and of every identity (search/access)."""

CREATE_TABLES = """
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
    groups TEXT NOT NULL DEFAULT '["all"]',
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
    heading, body, heading_words, body_words, tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TABLE IF NOT EXISTS manifest (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# -- connection -------------------------------------------------------------------------------------------
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON")
HAS_SCHEMA = "SELECT 1 FROM sqlite_master WHERE name = 'manifest'"
# Access control (search/access): an index made before it gains the column in place, every document in `all`
# (ALTER TABLE ... ADD COLUMN with a constant default rewrites nothing), so no rebuild or re-encoding is needed.
HAS_GROUPS_COLUMN = "SELECT 1 FROM pragma_table_info('documents') WHERE name = 'groups'"
ADD_GROUPS_COLUMN = "ALTER TABLE documents ADD COLUMN groups TEXT NOT NULL DEFAULT '[\"all\"]'"
BEGIN_WRITE = "BEGIN IMMEDIATE"
BEGIN_READ = "BEGIN"
COMMIT = "COMMIT"
ROLLBACK = "ROLLBACK"

# -- manifest ---------------------------------------------------------------------------------------------
SELECT_MANIFEST = "SELECT key, value FROM manifest"
UPSERT_MANIFEST = "INSERT INTO manifest(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"

# -- documents --------------------------------------------------------------------------------------------
SELECT_DOCUMENT_KEYS = "SELECT id, path, size, mtime, content_hash FROM documents"
UPSERT_DOCUMENT = (
    "INSERT INTO documents (path, title, format, encoding, size, mtime, content_hash, tags, text, indexed_at, groups) "
    "VALUES (:path, :title, :format, :encoding, :size, :mtime, :content_hash, :tags, :text, :indexed_at, :groups) "
    "ON CONFLICT(path) DO UPDATE SET title = excluded.title, format = excluded.format, "
    "encoding = excluded.encoding, size = excluded.size, mtime = excluded.mtime, "
    "content_hash = excluded.content_hash, tags = excluded.tags, text = excluded.text, "
    "indexed_at = excluded.indexed_at, groups = excluded.groups RETURNING id"
)
TOUCH_DOCUMENT = "UPDATE documents SET mtime = ? WHERE id = ?"
DELETE_DOCUMENT = "DELETE FROM documents WHERE id = ?"
COUNT_DOCUMENTS = "SELECT count(*) FROM documents"
DOCUMENT_COLUMNS = (
    "d.id, d.path, d.title, d.format, d.encoding, d.size, d.mtime, d.tags, d.indexed_at, "
    "(SELECT count(*) FROM passages p WHERE p.document_id = d.id) AS passage_count"
)
LIST_DOCUMENTS = f"SELECT {DOCUMENT_COLUMNS} FROM documents d ORDER BY d.path, d.id LIMIT ? OFFSET ?"
GET_DOCUMENT = f"SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.id = ?"
DOCUMENT_TEXT = "SELECT text FROM documents WHERE id = ?"
# Search hits read their documents' text once per page of hits, for the sentence windows around them.
DOCUMENT_TEXTS = "SELECT id, text FROM documents WHERE id IN ({ids})"
# Access control: each document's groups (a JSON list), re-labelled in place when the rules change.
SELECT_DOCUMENT_LABELS = "SELECT id, path, tags, groups FROM documents"
SET_DOCUMENT_GROUPS = "UPDATE documents SET groups = ? WHERE id = ?"
COUNT_DOCUMENTS_BY_GROUP = (
    "SELECT g.value, count(*) FROM documents d, json_each(d.groups) g GROUP BY g.value ORDER BY g.value"
)
# The reads above restricted to the documents a caller may see: `{where}` is FILTER_GROUPS (or FILTER_NOTHING).
SELECT_DOCUMENT_KEYS_VISIBLE = "SELECT d.id, d.path, d.size, d.mtime, d.content_hash FROM documents d WHERE {where}"
COUNT_DOCUMENTS_VISIBLE = "SELECT count(*) FROM documents d WHERE {where}"
LIST_DOCUMENTS_VISIBLE = (
    f"SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE {{where}} ORDER BY d.path, d.id LIMIT ? OFFSET ?"
)
GET_DOCUMENT_VISIBLE = f"SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.id = ? AND {{where}}"
DOCUMENT_TEXT_VISIBLE = "SELECT d.text FROM documents d WHERE d.id = ? AND {where}"

# -- passages ---------------------------------------------------------------------------------------------
SELECT_DOCUMENT_PASSAGE_KEYS = "SELECT id, ordinal, content_hash FROM passages WHERE document_id = ? ORDER BY ordinal"
INSERT_PASSAGE = (
    "INSERT INTO passages (document_id, ordinal, heading, text, char_start, char_end, content_hash, embedding) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_PASSAGE_FTS = "INSERT INTO passages_fts(rowid, heading, body, heading_words, body_words) VALUES (?, ?, ?, ?, ?)"
MOVE_PASSAGE = "UPDATE passages SET ordinal = ?, char_start = ?, char_end = ?, heading = ?, text = ? WHERE id = ?"
DELETE_PASSAGES = "DELETE FROM passages WHERE id IN ({ids})"
DELETE_PASSAGES_FTS = "DELETE FROM passages_fts WHERE rowid IN ({ids})"
COUNT_PASSAGES = "SELECT count(*) FROM passages"
SELECT_PASSAGE_IDS = "SELECT id FROM passages"
# The stored content-word lemmas of every passage (the word-vector leg builds its passage vectors from them).
SELECT_PASSAGE_WORDS = "SELECT rowid, heading_words, body_words FROM passages_fts"
SELECT_PASSAGE_WORDS_OF = "SELECT heading_words, body_words FROM passages_fts WHERE rowid IN ({ids})"
EMBEDDINGS_BY_HASH = "SELECT content_hash, embedding FROM passages WHERE content_hash IN ({ids})"
EMBEDDINGS_AFTER = "SELECT id, embedding FROM passages WHERE id > ? ORDER BY id LIMIT ?"
EMBEDDINGS_BY_ID = "SELECT id, embedding FROM passages WHERE id IN ({ids})"
# A passage joined with its document: what a search hit or a citation shows.
HIT_COLUMNS = (
    "p.id, p.document_id, p.ordinal, p.heading, p.text, p.char_start, p.char_end, "
    "d.path, d.title, d.format, d.mtime, d.tags"
)
HIT_ROWS = f"SELECT {HIT_COLUMNS} FROM passages p JOIN documents d ON d.id = p.document_id WHERE p.id IN ({{ids}})"
# A passage as the document viewer shows it, with offsets under the API's names.
PASSAGE_COLUMNS = "p.id, p.document_id, p.ordinal, p.heading, p.text, p.char_start AS start, p.char_end AS end"
DOCUMENT_PASSAGES = f"SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.document_id = ? ORDER BY p.ordinal, p.id"
GET_PASSAGE = f"SELECT {PASSAGE_COLUMNS} FROM passages p WHERE p.id = ?"
# Access control: the passage reads above for a caller's groups (`{where}` over documents `d`).
HIT_ROWS_VISIBLE = f"{HIT_ROWS} AND {{where}}"
DOCUMENT_PASSAGES_VISIBLE = (
    f"SELECT {PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.id = p.document_id "
    "WHERE p.document_id = ? AND {where} ORDER BY p.ordinal, p.id"
)
SELECT_DOCUMENT_PASSAGE_KEYS_VISIBLE = (
    "SELECT p.id, p.ordinal, p.content_hash FROM passages p JOIN documents d ON d.id = p.document_id "
    "WHERE p.document_id = ? AND {where} ORDER BY p.ordinal"
)
GET_PASSAGE_VISIBLE = (
    f"SELECT {PASSAGE_COLUMNS} FROM passages p JOIN documents d ON d.id = p.document_id WHERE p.id = ? AND {{where}}"
)

# -- retrieval --------------------------------------------------------------------------------------------
# The documents are filtered once each, then their passages come from the passages_document index: joining
# first would evaluate `{where}` (the groups' json_each, say) once per passage, 6x slower at 30k passages.
FILTERED_PASSAGE_IDS = "SELECT p.id FROM passages p WHERE p.document_id IN (SELECT d.id FROM documents d WHERE {where})"
DATA_VERSION = "PRAGMA data_version"  # changes when another connection commits: what a cached read depends on
# `{rank}` is search.text.keyword.BM25_RANK (column weights); lower bm25() is better, so the score negates it.
KEYWORD_SEARCH = (
    "SELECT f.rowid, -{rank} AS score FROM passages_fts f WHERE passages_fts MATCH ? ORDER BY {rank} LIMIT ?"
)
KEYWORD_SEARCH_FILTERED = (
    "SELECT f.rowid, -{rank} AS score FROM passages_fts f JOIN passages p ON p.id = f.rowid "
    "WHERE passages_fts MATCH ? AND p.document_id IN (SELECT d.id FROM documents d WHERE {where}) "
    "ORDER BY {rank} LIMIT ?"
)
# The document of each passage, to collapse hits by document before their rows are read.
PASSAGE_DOCUMENTS = "SELECT id, document_id FROM passages WHERE id IN ({ids})"
# Filter fragments over documents `d`, joined with AND by search.retrieval.filters.Filters.
FILTER_PATH_PREFIX = "substr(d.path, 1, ?) = ?"
FILTER_PATH_GLOB = "d.path GLOB ?"
FILTER_FORMATS = "d.format IN ({ids})"
FILTER_MODIFIED_AFTER = "d.mtime >= ?"
FILTER_MODIFIED_BEFORE = "d.mtime < ?"
FILTER_TAG = "EXISTS (SELECT 1 FROM json_each(d.tags) WHERE json_each.value = ?)"
# Access control: the document shares at least one group with the caller (search/access).
FILTER_GROUPS = "EXISTS (SELECT 1 FROM json_each(d.groups) WHERE json_each.value IN ({ids}))"
FILTER_NOTHING = "0"  # a caller with no group sees no document
FILTER_NONE = "1"


def marks(count: int) -> str:
    """`?, ?, ...` for an `{ids}` placeholder."""
    return ", ".join("?" for _ in range(count))
