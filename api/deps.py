"""What the app holds while it runs: settings, the searcher with its loaded model, limits and metrics.

Routers reach it through the `get_state` dependency rather than module globals, so that several apps (tests)
can live in one process and a future router (answers, quizzes) gets the same searcher and model slots.

Access control: `get_state` gives each request the state with `searcher` replaced by a view limited to the
caller's groups (search/access/scope.py), so every route, its searches and its document reads see only what
the caller may see, without passing groups along; the view also writes the audit log.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

from api.auth import identify
from api.concurrency import ModelSlots
from api.metrics import ApiMetrics
from api.settings import ApiSettings
from search import Index
from search.access.audit import AuditLog, open_audit_log
from search.access.identities import Identity
from search.access.scope import ScopedSearcher
from search.retrieval.results import SearchResult
from search.retrieval.searcher import Searcher

WARM_UP_QUERY = "有給休暇の申請"


@dataclass
class AppState:
    settings: ApiSettings
    metrics: ApiMetrics
    searcher: Searcher | ScopedSearcher | None = None  # in a route: the caller's view (get_state)
    slots: ModelSlots | None = None
    ready: bool = False
    extras: dict[str, Any] = field(default_factory=dict)  # room for later routers' own resources


def load_searcher(settings: ApiSettings) -> Searcher:
    """Open the index and load its embedding model completely, or raise the SearchError saying what to run."""
    index = Index(
        settings.index_dir,
        device=settings.device,
        precision=settings.precision,
        query_cache_size=settings.query_cache_size,
        reranker=settings.reranker,
        rerank_depth=settings.rerank_depth,
    )
    return ensure_loaded(index.searcher)


def ensure_loaded(searcher: Searcher) -> Searcher:
    """Load the index's encoder and its weights now and run one query through them (idempotent).

    Not on the first query: the first request must not pay for it, /health must not say "ok" before it is
    done, and concurrent first uses of a lazily loaded model are not thread-safe (transformers' loading).
    """
    encoder = searcher.encoder
    _ = encoder.model
    encoder.encode_query(WARM_UP_QUERY)
    searcher.thesaurus()  # the synonym dictionary takes a second or more to load the first time
    searcher.warm_word_leg()  # so do the Japanese word vectors and their passage vectors, where they are used
    if searcher.reranker is not None:
        searcher.reranker.load()  # a reranker named but missing fails the start, not the first search
    return searcher


def public_model_name(model: str | None) -> str | None:
    """A model's hub id as is; a local model directory by its name only (no file-system paths leave the API)."""
    if not model:
        return None
    if model.startswith(("/", ".", "~")) or Path(model).expanduser().is_dir():
        return Path(model).name
    return model


def index_stats(searcher: Searcher) -> dict[str, Any]:
    """Generation, counts and model of the generation visible right now (one read snapshot), and how the
    loaded encoder computes query vectors (its backend, and why this CPU got it)."""
    store = searcher.store
    with store.read_snapshot():
        manifest = store.manifest()
        counts = store.counts()
    stats: dict[str, Any] = {
        "generation": int(manifest.get("generation", 0)),
        "documents": counts["documents"],
        "passages": counts["passages"],
        "model": public_model_name(manifest.get("model")),
    }
    encoder = searcher.loaded_encoder
    if encoder is not None:
        info = encoder.info
        stats["encoder"] = {"backend": info.backend, "reason": info.backend_reason}
    stats["dense_models"] = {language: public_model_name(m) for language, m in searcher.dense_models().items()}
    stats["reranker"] = None if searcher.reranker is None else public_model_name(searcher.reranker.model_id)
    note = searcher.word_vectors_note()
    if stats["dense_models"]["ja"] is None and note:
        stats["dense_models_note"] = f"Japanese queries are keyword-only: {note}"
    return stats


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.docsearch
    return state


def get_state(request: Request) -> AppState:
    """The running app's state as this caller sees it: `searcher` limited to the caller's groups (see the
    module docstring); 503 while the index and model are still loading."""
    state = app_state(request)
    if not state.ready or state.searcher is None or state.slots is None:
        raise HTTPException(
            status_code=503,
            detail="The service is starting: index and model not loaded yet",
            headers={"Retry-After": "1"},
        )
    identity = identify(request)
    searcher = state.searcher
    if isinstance(searcher, ScopedSearcher):
        raise RuntimeError("the app state holds a caller's view instead of the searcher")
    audit = audit_log(state)
    hook = None if audit is None else _audit_search(audit, identity, request.url.path)
    return replace(state, searcher=ScopedSearcher(searcher, identity.groups, hook))


_AUDIT_KEY = "audit"
_audit_lock = threading.Lock()


def audit_log(state: AppState) -> AuditLog | None:
    """The app's audit log (settings.audit_log; None when `off`), opened on first use."""
    if state.settings.audit_log.strip().lower() == "off":
        return None
    with _audit_lock:
        found = state.extras.get(_AUDIT_KEY)
        if found is None:
            s = state.settings
            found = state.extras[_AUDIT_KEY] = open_audit_log(
                s.audit_log, s.index_dir, s.audit_log_max_mb, s.audit_log_backups
            )
    assert isinstance(found, AuditLog)
    return found


def audit(state: AppState, request: Request, action: str, **fields: Any) -> None:
    """One audit record for this request's caller (document reads; searches are recorded by the view)."""
    log = audit_log(state)
    if log is not None:
        identity = identify(request)
        log.record(who=identity.name, groups=identity.groups, endpoint=request.url.path, action=action, **fields)


def _audit_search(log: AuditLog, identity: Identity, endpoint: str) -> Any:
    def record(query: str, result: SearchResult) -> None:
        log.record(
            who=identity.name,
            groups=identity.groups,
            endpoint=endpoint,
            action="search",
            query=query,
            mode=result.mode,
            generation=result.generation,
            passages=[hit.passage_id for hit in result.hits],
            documents=sorted({hit.document_id for hit in result.hits}),
        )

    return record
