"""Dense, keyword and hybrid retrieval over one index generation at a time.

Filters resolve in SQLite to a set of passage ids *before* ranking (search.retrieval.filters), and both legs
search only inside that set, so a selective filter never comes back empty while matching passages exist. The
two legs' rankings are fused by search.retrieval.fusion.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from search import settings as config
from search.errors import IndexNotFoundError, SearchError
from search.models import word_vectors as wv
from search.models.hub import is_english_only
from search.retrieval import fusion
from search.retrieval.filters import Filters
from search.retrieval.query_cache import DEFAULT_QUERY_CACHE_SIZE, QueryEmbeddingCache
from search.retrieval.results import Hit, SearchResult
from search.retrieval.windows import sentence_window
from search.retrieval.word_vector_leg import WordVectorLeg
from search.storage.generations import open_vectors
from search.storage.store import Store
from search.storage.vectors import VectorIndex
from search.text import analysis, highlight, keyword, synonyms
from search.text.synonyms import Thesaurus

if TYPE_CHECKING:
    from search.models.encoder import Encoder
    from search.models.reranker import Reranker

MODES = ("hybrid", "dense", "keyword")
MIN_CANDIDATES = 100
COLLAPSE_DEPTH_FACTOR = 10
"""With collapse on, candidates per requested hit: one document can fill many of the first places."""


def _collapse(ranked: fusion.Ranked, documents: dict[int, int]) -> tuple[fusion.Ranked, dict[int, int]]:
    """The best passage of each document, in rank order, and how many more passages of it were ranked."""
    best: dict[int, int] = {}
    kept: fusion.Ranked = []
    more: dict[int, int] = {}
    for entry in ranked:
        document = documents[entry[0]]
        if document in best:
            more[best[document]] += 1
            continue
        best[document] = entry[0]
        more[entry[0]] = 0
        kept.append(entry)
    return kept, more


def dense_models(model: str | None, word_vectors: str | None) -> dict[str, str | None]:
    """What answers the dense leg of a Japanese and of an English query (None: nothing; keyword only): the
    index's model where it reads the language, the word vectors for Japanese where it does not."""
    if not model or not is_english_only(model):
        return {"ja": model, "en": model}
    return {"ja": word_vectors, "en": model}


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
        bundled_synonyms: bool = True,
        word_vectors: str | None = None,
        reranker: Reranker | None = None,
        rerank_depth: int = config.RERANK_DEPTH.default,
    ) -> None:
        """`word_vectors`: the `word_vectors` setting (None: its environment variable or default). `reranker`
        re-scores the first `rerank_depth` results of every search (off when None)."""
        self.index_dir = index_dir
        self.device = device
        self.precision = precision
        self._local = threading.local()
        self._reload_lock = threading.Lock()
        self._encoder = encoder
        self._vectors: tuple[int, VectorIndex] | None = None
        self.query_cache = QueryEmbeddingCache(query_cache_size)
        self.bundled_synonyms = bundled_synonyms
        self._thesaurus: tuple[int | None, Thesaurus | None] | None = None
        self.word_vectors_source: str = config.WORD_VECTORS.value() if word_vectors is None else word_vectors
        self._words: tuple[wv.WordVectors | None] | None = None
        self._word_leg: tuple[int, WordVectorLeg] | None = None
        self.reranker = reranker
        self.rerank_depth = config.RERANK_DEPTH.check(rerank_depth)
        self.manifest = self.store.manifest()  # fails early, saying to run `indexer build`, without an index
        if not self.manifest.get("model"):  # tables, but no build committed: a first build failed or was stopped
            self.store.close()
            raise IndexNotFoundError(
                f"No index at {index_dir} yet: no build has completed there; run `indexer build DOCS_DIR --index "
                f"{index_dir}`"
            )

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
    def loaded_encoder(self) -> Encoder | None:
        """The encoder if it is loaded already (never loads it): for health and status reports."""
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
        collapse: bool = False,
    ) -> SearchResult:
        """`query_vector`, when given, stands in for encoding `query` (evaluation encodes all queries in
        batches, several times faster than one by one); it must come from the index's own encoder.

        `collapse` keeps the best passage of each document (each hit says how many more it has). Nothing is
        returned when nothing matches: no keyword match and no passage above the dense floor."""
        if mode not in MODES:
            raise SearchError(f"Unknown search mode '{mode}': use one of {', '.join(MODES)}")
        filters = filters or Filters()
        depth = max(MIN_CANDIDATES, (COLLAPSE_DEPTH_FACTOR if collapse else 2) * (offset + k))
        analyzed = analysis.analyze(query, self.thesaurus())
        store = self.store
        with store.read_snapshot():
            generation, vectors = self.vectors_for(store)
            allowed = None if filters.is_empty() else self._allowed_ids(store, filters)
            word_leg = (
                self._word_leg_for(store, generation)
                if mode != "keyword" and self._reads_with_words(analyzed)
                else None
            )
            if word_leg is not None:
                dense = word_leg.search(analyzed.terms, depth, allowed)
                floor, dense_model, base_weight = (
                    fusion.WORD_VECTOR_FLOOR,
                    word_leg.words.name,
                    fusion.WORD_VECTOR_WEIGHT,
                )
            else:
                if mode == "keyword" or not len(vectors):
                    query_vector = None
                elif query_vector is None:
                    query_vector = self.query_cache.vector(self.encoder_for(self.manifest), query, filters.groups)
                dense = self._dense(vectors, query_vector, depth, allowed, store) if query_vector is not None else []
                floor, dense_model, base_weight = fusion.DENSE_FLOOR, self.manifest.get("model"), fusion.DENSE_WEIGHT
            lexical = self._keyword(store, analyzed, depth, filters) if mode != "dense" else []
            knows_language = word_leg is not None or self._model_knows_language(analyzed)
            coverage = None
            if word_leg is not None:
                best = [pid for pid, _ in lexical[: fusion.COVERAGE_PASSAGES]]
                coverage = word_leg.coverage(analyzed.terms, store, best)
            weights = fusion.leg_weights(dense, lexical, knows_language, base_weight, coverage)
            if mode == "hybrid":
                dense = fusion.matched(dense, lexical, weights, floor)
            elif mode == "dense":
                dense = [(pid, score) for pid, score in dense if score >= floor]
            ranked = fusion.fuse(mode, dense, lexical, weights)
            rerank_scores: dict[int, float] = {}
            if self.reranker is not None and ranked:
                ranked, rerank_scores = self._rerank(store, query, ranked)
            more: dict[int, int] = {}
            if collapse:
                ranked, more = _collapse(ranked, store.passage_documents([pid for pid, _, _, _ in ranked]))
            page = ranked[offset : offset + k]
            rows = store.passage_rows([pid for pid, _, _, _ in page])
            texts = store.document_texts(row["document_id"] for row in rows.values())
        hits = []
        for pid, score, dense_leg, keyword_leg in page:
            row = rows[pid]
            spans = highlight.match_spans(row["text"], analyzed)
            window = sentence_window(texts[row["document_id"]], row["char_start"], row["char_end"])
            hits.append(
                Hit.from_row(
                    row,
                    score=score,
                    snippet=highlight.snippet(row["text"], spans),
                    highlights=spans,
                    dense=dense_leg,
                    keyword=keyword_leg,
                    more_in_document=more.get(pid, 0),
                    rerank_score=rerank_scores.get(pid),
                    window_start=window.start,
                    window_end=window.end,
                    window_text=window.text,
                )
            )
        return SearchResult(
            generation=generation,
            mode=mode,
            total_candidates=len(ranked),
            hits=hits,
            query=analyzed,
            weights=weights if mode == "hybrid" else None,
            collapsed=collapse,
            # Only what ranked the hits: a dense leg that weighed nothing in hybrid answered nothing.
            dense_model=None if mode == "keyword" or (mode == "hybrid" and weights.dense <= 0) else dense_model,
            reranker=None if self.reranker is None else self.reranker.model_id,
        )

    def _rerank(self, store: Store, query: str, ranked: fusion.Ranked) -> tuple[fusion.Ranked, dict[int, float]]:
        """The first `rerank_depth` results in the reranker's order (ties keep the fused order), the rest after
        them as they were; and the reranker's score of each re-scored passage."""
        assert self.reranker is not None
        top = ranked[: self.rerank_depth]
        rows = store.passage_rows([pid for pid, *_ in top])
        texts = [f"{rows[pid]['heading']}\n{rows[pid]['text']}".strip() for pid, *_ in top]
        scores = dict(zip((pid for pid, *_ in top), self.reranker.score(query, texts), strict=True))
        order = sorted(range(len(top)), key=lambda i: (-scores[top[i][0]], i))
        return [top[i] for i in order] + ranked[self.rerank_depth :], scores

    def word_vectors(self) -> wv.WordVectors | None:
        """The Japanese word vectors (loaded once), or None when the setting is `off` or the default package
        is not installed (status and /health say so, and how to install it). Any other source that cannot be
        read is an error: the user asked for it."""
        if self._words is None:
            with self._reload_lock:
                if self._words is None:
                    source = self.word_vectors_source
                    missing = source == wv.OFF or (source == wv.PACKAGE and not wv.installed())
                    self._words = (None if missing else wv.load_word_vectors(source),)
        return self._words[0]

    def word_vectors_note(self) -> str | None:
        """Why no word vectors answer Japanese queries (None when they do)."""
        return None if self.word_vectors() is not None else wv.availability(self.word_vectors_source)[1]

    def dense_models(self) -> dict[str, str | None]:
        """Which model answers the dense leg for each query language (None: none, keyword only); loads the word
        vectors only where they are needed (an English-only model)."""
        model = self.manifest.get("model")
        words = self.word_vectors() if model and is_english_only(model) else None
        return dense_models(model, words.name if words is not None else None)

    def needs_word_vectors(self) -> bool:
        """True when Japanese queries' dense leg is the word vectors' (the index's model is English-only)."""
        model = self.manifest.get("model")
        return bool(model) and is_english_only(model) and self.word_vectors() is not None

    def warm_word_leg(self) -> None:
        """Build the word-vector leg of the current generation now (a server start), not on the first query."""
        if self.needs_word_vectors():
            store = self.store
            with store.read_snapshot():
                generation, _ = self.vectors_for(store)
                self._word_leg_for(store, generation)

    def _reads_with_words(self, query: analysis.AnalyzedQuery) -> bool:
        """True when the word vectors, not the index's model, answer this query's dense leg."""
        return not self._model_knows_language(query) and self.word_vectors() is not None

    def _word_leg_for(self, store: Store, generation: int) -> WordVectorLeg | None:
        """The word-vector leg of the generation visible in `store`'s read snapshot (built once per generation)."""
        words = self.word_vectors()
        if words is None:
            return None
        current = self._word_leg
        if current is not None and current[0] == generation:
            return current[1]
        with self._reload_lock:
            current = self._word_leg
            if current is None or current[0] != generation:
                current = self._word_leg = (generation, WordVectorLeg.from_store(words, store))
        return current[1]

    def thesaurus(self) -> Thesaurus | None:
        """The synonyms that expand queries: the index's synonyms.txt (re-read when it changes) over the bundled
        Sudachi dictionary; None when both are off."""
        path = self.index_dir / synonyms.INDEX_SYNONYMS_NAME
        try:
            stamp: int | None = path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        current = self._thesaurus
        if current is not None and current[0] == stamp:
            return current[1]
        with self._reload_lock:
            current = self._thesaurus
            if current is None or current[0] != stamp:
                user_file = path if stamp is not None else None
                loaded = None
                if user_file is not None or self.bundled_synonyms:
                    loaded = synonyms.load_thesaurus(user_file, bundled=self.bundled_synonyms)
                current = self._thesaurus = (stamp, loaded)
        return current[1]

    @staticmethod
    def _allowed_ids(store: Store, filters: Filters) -> np.ndarray:
        return store.filtered_passage_ids(*filters.sql())

    @staticmethod
    def _dense(
        vectors: VectorIndex, query_vector: np.ndarray, depth: int, allowed: np.ndarray | None, store: Store
    ) -> list[tuple[int, float]]:
        """The dense leg: nearest passages by cosine. An approximate (IVF-SQ8) index re-ranks its short list
        with the exact embeddings stored in SQLite."""
        return vectors.search(query_vector, depth, allowed, exact=store.embeddings_for)

    @staticmethod
    def _keyword(store: Store, query: analysis.AnalyzedQuery, depth: int, filters: Filters) -> list[tuple[int, float]]:
        """The keyword leg: BM25 over the FTS5 index of CJK bigrams, whole Latin words and word lemmas, for
        the typed words, plus keyword.EXPANSION_WEIGHT times the BM25 of their synonyms."""
        where = () if filters.is_empty() else filters.sql()
        scores: dict[int, float] = {}
        for expression, weight in (
            (keyword.match_expression(query.bigrams, query.terms), 1.0),
            (keyword.expansion_expression([(e.bigrams, e.lemmas) for e in query.expansions]), keyword.EXPANSION_WEIGHT),
        ):
            if expression is None or weight <= 0:
                continue
            for pid, score in store.keyword_search(expression, depth, *where):
                scores[pid] = scores.get(pid, 0.0) + weight * score
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:depth]

    def _model_knows_language(self, query: analysis.AnalyzedQuery) -> bool:
        model = self.manifest.get("model")
        return fusion.model_knows_language(query.language == "ja", bool(model) and is_english_only(model))

    def close(self) -> None:
        store = getattr(self._local, "store", None)
        if store is not None:
            store.close()
            self._local.store = None
