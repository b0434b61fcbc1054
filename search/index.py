"""The front door: one index directory, built, searched, asked and quizzed through one object.

    from search import Index
    index = Index("idx", model="sonoisa/sentence-t5-base-ja-mean-tokens")
    index.build("docs/")
    index.search("有給休暇は何日", k=5, mode="hybrid", filters={"path_prefix": "人事/"})

The command line (`indexer`) and the HTTP API (`api/`) are thin clients of this class: they translate flags
and requests into these calls, and errors (SearchError and subclasses) into their own words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search import settings as config
from search.access.scope import ScopedSearcher, caller_groups
from search.errors import ModelMismatchError
from search.ingest.build import BuildOptions, BuildSummary, build_index
from search.ingest.chunk import ChunkSettings
from search.ingest.discover import check_root
from search.models.spec import EncoderSpec
from search.retrieval.filters import Filters
from search.retrieval.results import SearchResult
from search.storage.generations import index_status, read_manifest

if TYPE_CHECKING:
    from search.generation.answer import AnswerResult
    from search.generation.quiz import QuizResult
    from search.generation.settings import GenerationSettings
    from search.models.encoder import Encoder
    from search.retrieval.searcher import Searcher

FiltersLike = Filters | Mapping[str, Any] | None


class Index:
    """An index directory (SQLite + FAISS) and the embedding model that encodes it.

    `model` is a hub id or a local directory. An existing index opened without `model` uses the model recorded
    in its manifest; naming a different one raises ModelMismatchError unless `reencode=True`, in which case the
    next `build` re-encodes every passage with it. The same holds for the passage settings (`max_length`,
    `chunk_tokens`, `chunk_overlap`): None means "as recorded, else the default". `encoder` passes an already
    loaded encoder (tests, notebooks); its model must agree with `model`. `groups` reads the index as a member
    of those access groups (and `all`) would: every search, answer and quiz sees only their documents.
    `reranker` (a cross-encoder's hub id or folder) re-scores the first `rerank_depth` results of each search.
    """

    def __init__(
        self,
        path: str | Path,
        model: str | None = None,
        *,
        reencode: bool = False,
        device: str = config.DEVICE.default,
        precision: str = config.PRECISION.default,
        batch_size: int = config.BATCH_SIZE.default,
        max_length: int | None = None,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
        query_cache_size: int = config.QUERY_CACHE_SIZE.default,
        encoder: Encoder | None = None,
        groups: Sequence[str] | None = None,
        reranker: str | None = config.RERANKER.default,
        rerank_depth: int = config.RERANK_DEPTH.default,
    ) -> None:
        self.path = Path(path)
        self.manifest = read_manifest(self.path)
        if encoder is not None:
            if model is not None and model != encoder.model_id:
                raise ModelMismatchError(f"model={model!r} but the encoder given is {encoder.model_id!r}")
            model = encoder.model_id
            max_length = max_length or encoder.max_length
        recorded = self.manifest.get("model")
        if recorded and model and model != recorded and not reencode:
            raise ModelMismatchError(
                f"The index at {self.path} is encoded with {recorded}, not {model}. Open it without a model to "
                f"use {recorded}, or re-encode every passage with {model} (reencode=True; on the command line, "
                "`indexer build DOCS --model MODEL`)"
            )
        chunker = self.manifest.get("chunker") or {}
        self.chunk = ChunkSettings(
            max_tokens=chunk_tokens or chunker.get("max_tokens") or config.CHUNK_TOKENS.default,
            overlap_tokens=_first(chunk_overlap, chunker.get("overlap_tokens"), config.CHUNK_OVERLAP.default),
        )
        self.encoder = EncoderSpec(
            model=model or recorded or config.MODEL.default,
            max_length=max_length or self.manifest.get("max_length") or config.MAX_LENGTH.default,
            device=device,
            precision=precision,
            batch_size=batch_size,
            loaded=encoder,
        )
        self.query_cache_size = query_cache_size
        self.reranker = reranker
        self.rerank_depth = config.RERANK_DEPTH.check(rerank_depth)
        self.groups = None if groups is None else caller_groups(groups)
        self._searcher: Searcher | ScopedSearcher | None = None

    @property
    def model(self) -> str:
        return self.encoder.model

    # -- writing ------------------------------------------------------------------------------------

    def build(
        self,
        docs: str | Path,
        *,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        follow_symlinks: bool = False,
        max_file_mb: float | None = config.MAX_FILE_MB.default,
        file_timeout: float | None = config.FILE_TIMEOUT.default,
        progress: bool = False,
        acl: str | Path | None = None,
        clear_acl: bool = False,
        synonyms: str | Path | None = None,
    ) -> BuildSummary:
        """Index the folder `docs` incrementally: only what changed is read and encoded (see BuildSummary).

        `acl`: an access rules file (search/access/rules.py) to label documents with; without it the rules the
        index recorded stay in force, `clear_acl` removes them (every document then in `all`).
        `synonyms`: a Solr-style synonyms file (`有休, 有給休暇, 年休` per line) checked and kept in the index;
        queries are expanded with it (and the bundled Sudachi synonyms) from the next search on."""
        from search.access.rules import load_rules

        options = BuildOptions(
            docs_dir=Path(docs),
            chunk=self.chunk,
            include=tuple(include),
            exclude=tuple(exclude),
            follow_symlinks=follow_symlinks,
            progress=progress,
            max_file_mb=max_file_mb or None,
            file_timeout=file_timeout or None,
            acl=load_rules(Path(acl)) if acl is not None else None,
            clear_acl=clear_acl,
        )
        if synonyms is not None:
            from search.text.synonyms import install_synonyms

            check_root(Path(docs))  # a mistyped folder must not leave a synonyms file as its only trace
            install_synonyms(self.path, Path(synonyms))
        summary = build_index(self.path, self.encoder, options)
        self.manifest = read_manifest(self.path)
        return summary

    # -- reading ------------------------------------------------------------------------------------

    @property
    def searcher(self) -> Searcher | ScopedSearcher:
        """The thread-safe searcher (loaded on first use), limited to `groups` when the index was opened with
        them; it follows new generations without a restart."""
        if self._searcher is None:
            from search.models.reranker import Reranker
            from search.retrieval.searcher import Searcher

            loaded = self.encoder.loaded if self.encoder.model == self.manifest.get("model") else None
            searcher = Searcher(
                self.path,
                device=self.encoder.device,
                precision=self.encoder.precision,
                encoder=loaded,
                query_cache_size=self.query_cache_size,
                reranker=None if self.reranker is None else Reranker(self.reranker, device=self.encoder.device),
                rerank_depth=self.rerank_depth,
            )
            self._searcher = searcher if self.groups is None else ScopedSearcher(searcher, self.groups)
        return self._searcher

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        filters: FiltersLike = None,
        offset: int = 0,
        collapse: bool = False,
    ) -> SearchResult:
        """Ranked passages for `query`; `filters` is a Filters or a dict such as {"path_prefix": "人事/"};
        `collapse` keeps the best passage per document."""
        config.check_query(query, k, offset)
        return self.searcher.search(query, k=k, mode=mode, filters=_filters(filters), offset=offset, collapse=collapse)

    def ask(
        self,
        question: str,
        k: int = config.ANSWER_K.default,
        filters: FiltersLike = None,
        extractive: bool = False,
        generation: GenerationSettings | None = None,
        required_models: frozenset[str] = frozenset(),
    ) -> AnswerResult:
        """An answer with citations to the exact passages, or a truthful "not answerable". A generation model
        that is not on the machine falls back to an extractive answer (the response says so), unless it is
        one of `required_models` (named explicitly by the user), which raises ModelUnavailableError."""
        from search.generation.answer import Answerer

        answerer = Answerer(self.searcher, generation or self._generation(), explicit_models=required_models)
        return answerer.answer(question, k=k, filters=_filters(filters), extractive=extractive)

    def quiz(
        self,
        query: str | None = None,
        document: str | None = None,
        n: int = config.QUIZ_N.default,
        multiple_choice: bool = True,
        verify: bool = False,
        filters: FiltersLike = None,
        mode: str = "auto",
        generation: GenerationSettings | None = None,
        required_models: frozenset[str] = frozenset(),
    ) -> QuizResult:
        """Study questions from the passages `query` finds, or from one indexed `document` (its path).
        `mode`: generated (the question-generation model), cloze (fill-in-the-blank, no model), or auto
        (generated when the model is on this machine, else cloze)."""
        from search.generation.quiz import QuizGenerator

        if (query is None) == (document is None):
            raise config.SettingError("quiz: give exactly one of query or document")
        generator = QuizGenerator(self.searcher, generation or self._generation(), explicit_models=required_models)
        if query is not None:
            return generator.from_query(
                query, n=n, multiple_choice=multiple_choice, verify=verify, filters=_filters(filters), mode=mode
            )
        return generator.from_document(document or "", n=n, multiple_choice=multiple_choice, verify=verify, mode=mode)

    def status(self) -> dict[str, Any]:
        """Counts, model, generation and whether SQLite and FAISS agree (read-only); `groups`: documents per
        access group."""
        from search.access.rules import group_counts
        from search.models.word_vectors import availability
        from search.retrieval.searcher import dense_models

        status = index_status(self.path)
        words, note = availability(config.WORD_VECTORS.value())
        status["dense_models"] = dense_models(status.get("model"), words)
        if status["dense_models"]["ja"] is None and note:
            status["dense_models_note"] = f"Japanese queries are keyword-only: {note}"
        return {**status, "groups": group_counts(self.path)}

    def _generation(self) -> GenerationSettings:
        from search.generation.settings import GenerationSettings, generation_precision

        return GenerationSettings.from_env(
            device=self.encoder.device, precision=generation_precision(self.encoder.precision)
        )

    # -- lifetime -----------------------------------------------------------------------------------

    def close(self) -> None:
        if self._searcher is not None:
            self._searcher.close()
            self._searcher = None

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Index({str(self.path)!r}, model={self.model!r})"


def _filters(filters: FiltersLike) -> Filters:
    return filters if isinstance(filters, Filters) else Filters.from_mapping(filters)


def _first(*values: Any) -> Any:
    return next(v for v in values if v is not None)
