"""Dense, keyword and hybrid retrieval over one index generation at a time.

Filters resolve in SQLite to a set of passage ids *before* ranking, and both legs search only inside that
set, so a selective filter never comes back empty while matching passages exist. Hybrid mode fuses the two
legs' rankings with reciprocal rank fusion (k = 60).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search.errors import SearchError
from search.models.hub import is_english_only
from search.retrieval.query_cache import DEFAULT_QUERY_CACHE_SIZE, QueryEmbeddingCache
from search.storage.generations import open_vectors
from search.storage.store import Store
from search.storage.vectors import VectorIndex
from search.text import highlight, keyword

if TYPE_CHECKING:
    from search.models.encoder import Encoder

MODES = ("hybrid", "dense", "keyword")
RRF_K = 60
MIN_CANDIDATES = 100
FOREIGN_DENSE_WEIGHT = 0.0
"""RRF weight of the dense leg when the embedding model was not trained on the query's language (the bundled
English all-MiniLM-L6-v2 and a Japanese query); otherwise both legs weigh 1.0 (plain RRF, k = 60).

Measured on JSQuAD with the legs `indexer eval` runs (4,442 Japanese questions, MiniLM, 64-token chunks,
keyword leg alone MRR@10 .9319): hybrid MRR@10 by dense weight 1.0 .778, 0.5 .820, 0.3 .846, 0.1 .891,
0.05 .914, 0.02 .930, 0.01 and below .9319. It only falls as the weight grows: MiniLM ranks the right
paragraph first for 37 questions where keyword does not, and misses it for 1,735 that keyword ranks first;
similarity floors (fusing only dense hits with cosine >= 0.8 / 0.85 / 0.9) still cost .041 / .008 / .001.
So such a leg gets no say in the order of what keyword found: at weight 0 it only breaks ties and appends
the passages keyword missed. English queries, and models not known to be English-only, keep plain RRF.
"""


@dataclass(frozen=True)
class Filters:
    """Restrictions on which documents' passages may be returned."""

    path_prefix: str | None = None
    path_glob: str | None = None
    formats: tuple[str, ...] = ()
    modified_after: float | None = None  # POSIX seconds
    modified_before: float | None = None
    tags: tuple[str, ...] = ()  # a document must carry all of them

    def is_empty(self) -> bool:
        return self == Filters()

    def sql(self) -> tuple[str, list[Any]]:
        """A WHERE clause over documents `d`, with parameters: values are bound, never interpolated."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.path_prefix:
            clauses.append("substr(d.path, 1, ?) = ?")
            params += [len(self.path_prefix), self.path_prefix]
        if self.path_glob:
            clauses.append("d.path GLOB ?")
            params.append(self.path_glob)
        if self.formats:
            clauses.append(f"d.format IN ({', '.join('?' for _ in self.formats)})")
            params += list(self.formats)
        if self.modified_after is not None:
            clauses.append("d.mtime >= ?")
            params.append(self.modified_after)
        if self.modified_before is not None:
            clauses.append("d.mtime < ?")
            params.append(self.modified_before)
        for tag in self.tags:
            clauses.append("EXISTS (SELECT 1 FROM json_each(d.tags) WHERE json_each.value = ?)")
            params.append(tag)
        return " AND ".join(clauses) or "1", params


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


@dataclass
class LegResult:
    rank: int
    score: float


@dataclass
class Hit:
    passage_id: int
    score: float
    document_id: int
    path: str
    title: str
    format: str
    heading: str
    text: str
    start: int
    end: int
    ordinal: int
    snippet: str = ""
    highlights: list[tuple[int, int]] = field(default_factory=list)
    dense: LegResult | None = None
    keyword: LegResult | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any], score: float = 0.0, **extra: Any) -> Hit:
        """A hit from a `Store.passage_rows` record (passage joined with its document)."""
        return cls(
            passage_id=row["id"],
            score=score,
            document_id=row["document_id"],
            path=row["path"],
            title=row["title"],
            format=row["format"],
            heading=row["heading"],
            text=row["text"],
            start=row["char_start"],
            end=row["char_end"],
            ordinal=row["ordinal"],
            **extra,
        )

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in {"dense", "keyword"}}
        out["highlights"] = [list(s) for s in self.highlights]
        for leg in ("dense", "keyword"):
            value = getattr(self, leg)
            out[leg] = None if value is None else {"rank": value.rank, "score": value.score}
        return out


@dataclass
class SearchResult:
    generation: int
    mode: str
    total_candidates: int
    hits: list[Hit]


class Searcher:
    """Thread-safe searcher that follows the index's generations (hot reload) without a restart.

    Each thread gets its own SQLite connection; the vectors of the current generation are shared and
    swapped as a whole when a build commits a new generation. Query embeddings are cached (search.retrieval.query_cache,
    `query_cache_size` entries, 0 to turn it off) and dropped whenever the encoder is swapped.
    """

    def __init__(
        self,
        index_dir: Path,
        device: str = "auto",
        precision: str = "auto",
        encoder: Encoder | None = None,
        query_cache_size: int = DEFAULT_QUERY_CACHE_SIZE,
    ) -> None:
        self.index_dir = index_dir
        self.device = device
        self.precision = precision
        self._local = threading.local()
        self._reload_lock = threading.Lock()
        self._encoder = encoder
        self._vectors: tuple[int, VectorIndex] | None = None
        self.query_cache = QueryEmbeddingCache(query_cache_size)
        self.manifest = self.store.manifest()  # fails early, saying to run `indexer build`, without an index

    @property
    def store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store(self.index_dir)
        return store

    def encoder_for(self, manifest: dict[str, Any]) -> Encoder:
        """The index's own embedding model (loaded once); a rebuild with another model swaps it."""
        model = manifest.get("model")
        if not model:
            raise SearchError(f"The index at {self.index_dir} has no embedding model yet: run `indexer build`")
        encoder = self._encoder
        if encoder is not None and encoder.model_id == model:
            return encoder
        with self._reload_lock:
            if self._encoder is None or self._encoder.model_id != model:
                from search.models.encoder import Encoder

                self.query_cache.clear()  # the old model's vectors must never answer for the new one
                self._encoder = Encoder(
                    model,
                    device=self.device,
                    precision=self.precision,
                    max_length=int(manifest.get("max_length", 128)),
                )
            return self._encoder

    @property
    def encoder(self) -> Encoder:
        return self.encoder_for(self.manifest)

    def vectors_for(self, store: Store) -> tuple[int, VectorIndex]:
        """Vectors for the generation visible in `store`'s current read snapshot."""
        generation = store.generation()
        current = self._vectors
        if current is not None and current[0] == generation:
            return current
        with self._reload_lock:
            current = self._vectors
            if current is None or current[0] != generation:
                vectors, loaded_generation, _ = open_vectors(store, self.index_dir, save_repair=False)
                current = (loaded_generation, vectors)
                self._vectors = current
                self.manifest = store.manifest()
        return current

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        filters: Filters | None = None,
        offset: int = 0,
        query_vector: np.ndarray | None = None,
    ) -> SearchResult:
        """`query_vector`, when given, stands in for encoding `query` (evaluation encodes all queries in
        batches, several times faster than one by one); it must come from the index's own encoder."""
        if mode not in MODES:
            raise SearchError(f"Unknown search mode '{mode}': use one of {', '.join(MODES)}")
        filters = filters or Filters()
        depth = max(MIN_CANDIDATES, 2 * (offset + k))
        store = self.store
        with store.read_snapshot():
            generation, vectors = self.vectors_for(store)
            if mode == "keyword" or not len(vectors):
                query_vector = None
            elif query_vector is None:
                query_vector = self.query_cache.vector(self.encoder_for(self.manifest), query)
            allowed = None if filters.is_empty() else self._allowed_ids(store, filters)
            dense = self._dense(vectors, query_vector, depth, allowed, store) if query_vector is not None else []
            lexical = self._keyword(store, query, depth, filters) if mode != "dense" else []
            ranked = self._fuse(mode, dense, lexical, dense_weight(self.manifest.get("model"), query))
            page = ranked[offset : offset + k]
            rows = store.passage_rows([pid for pid, _, _, _ in page])
        hits = []
        for pid, score, dense_leg, keyword_leg in page:
            row = rows[pid]
            spans = highlight.match_spans(row["text"], query)
            hits.append(
                Hit.from_row(
                    row,
                    score=score,
                    snippet=highlight.snippet(row["text"], spans),
                    highlights=spans,
                    dense=dense_leg,
                    keyword=keyword_leg,
                )
            )
        return SearchResult(generation=generation, mode=mode, total_candidates=len(ranked), hits=hits)

    @staticmethod
    def _allowed_ids(store: Store, filters: Filters) -> np.ndarray:
        where, params = filters.sql()
        rows = store.conn.execute(
            f"SELECT p.id FROM passages p JOIN documents d ON d.id = p.document_id WHERE {where}", params
        )
        return np.fromiter((r[0] for r in rows), dtype=np.int64)

    @staticmethod
    def _dense(
        vectors: VectorIndex, query_vector: np.ndarray, depth: int, allowed: np.ndarray | None, store: Store
    ) -> list[tuple[int, float]]:
        # An approximate (IVF-SQ8) index re-ranks its short list with the exact embeddings stored in SQLite.
        return vectors.search(query_vector, depth, allowed, exact=store.embeddings_for)

    @staticmethod
    def _keyword(store: Store, query: str, depth: int, filters: Filters) -> list[tuple[int, float]]:
        expression = keyword.match_expression(query)
        if expression is None:
            return []
        sql = f"SELECT f.rowid, -{keyword.BM25_RANK} AS score FROM passages_fts f"
        params: list[Any] = [expression]
        if filters.is_empty():
            sql += " WHERE passages_fts MATCH ?"
        else:
            where, filter_params = filters.sql()
            sql += (
                " JOIN passages p ON p.id = f.rowid JOIN documents d ON d.id = p.document_id"
                f" WHERE passages_fts MATCH ? AND {where}"
            )
            params += filter_params
        sql += f" ORDER BY {keyword.BM25_RANK} LIMIT ?"
        params.append(depth)
        return [(int(r[0]), float(r[1])) for r in store.conn.execute(sql, params)]

    @staticmethod
    def _fuse(
        mode: str, dense: Sequence[tuple[int, float]], lexical: Sequence[tuple[int, float]], weight: float = 1.0
    ) -> list[tuple[int, float, LegResult | None, LegResult | None]]:
        """Weighted RRF: sum over legs of leg_weight / (RRF_K + rank); `weight` is the dense leg's."""
        dense_legs = {pid: LegResult(rank, score) for rank, (pid, score) in enumerate(dense, 1)}
        keyword_legs = {pid: LegResult(rank, score) for rank, (pid, score) in enumerate(lexical, 1)}
        if mode == "dense":
            return [(pid, score, dense_legs[pid], None) for pid, score in dense]
        if mode == "keyword":
            return [(pid, score, None, keyword_legs[pid]) for pid, score in lexical]
        fused: dict[int, float] = {}
        for leg_weight, legs in ((weight, dense_legs), (1.0, keyword_legs)):
            for pid, leg in legs.items():
                fused[pid] = fused.get(pid, 0.0) + leg_weight / (RRF_K + leg.rank)
        # Ties (same fused score) break on the dense rank, then on the passage id so that pages are stable
        # across requests; with a dense weight of 0 the dense leg still orders what keyword did not find.
        unranked = len(dense_legs) + 1
        order = sorted(fused, key=lambda pid: (-fused[pid], getattr(dense_legs.get(pid), "rank", unranked), pid))
        return [(pid, fused[pid], dense_legs.get(pid), keyword_legs.get(pid)) for pid in order]

    def close(self) -> None:
        store = getattr(self._local, "store", None)
        if store is not None:
            store.close()
            self._local.store = None


def dense_weight(model: str | None, query: str) -> float:
    """The dense leg's RRF weight for this query: FOREIGN_DENSE_WEIGHT when an English-only embedding model
    meets a Japanese query, else 1.0."""
    if model and keyword.has_cjk(query) and is_english_only(model):
        return FOREIGN_DENSE_WEIGHT
    return 1.0
