"""What the app holds while it runs: settings, the searcher with its loaded model, limits and metrics.

Routers reach it through the `get_state` dependency rather than module globals, so that several apps (tests)
can live in one process and a future router (answers, quizzes) gets the same searcher and model slots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request

from api.concurrency import ModelSlots
from api.metrics import ApiMetrics
from api.settings import ApiSettings
from search import Index
from search.retrieval.searcher import Searcher

WARM_UP_QUERY = "有給休暇の申請"


@dataclass
class AppState:
    settings: ApiSettings
    metrics: ApiMetrics
    searcher: Searcher | None = None
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
    return searcher


def public_model_name(model: str | None) -> str | None:
    """A model's hub id as is; a local model directory by its name only (no file-system paths leave the API)."""
    if not model:
        return None
    if model.startswith(("/", ".", "~")) or Path(model).expanduser().is_dir():
        return Path(model).name
    return model


def index_stats(searcher: Searcher) -> dict[str, Any]:
    """Generation, counts and model of the generation visible right now (one read snapshot)."""
    store = searcher.store
    with store.read_snapshot():
        manifest = store.manifest()
        counts = store.counts()
    return {
        "generation": int(manifest.get("generation", 0)),
        "documents": counts["documents"],
        "passages": counts["passages"],
        "model": public_model_name(manifest.get("model")),
    }


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.docsearch
    return state


def get_state(request: Request) -> AppState:
    """The running app's state; 503 while the index and model are still loading."""
    state = app_state(request)
    if not state.ready or state.searcher is None or state.slots is None:
        raise HTTPException(
            status_code=503,
            detail="The service is starting: index and model not loaded yet",
            headers={"Retry-After": "1"},
        )
    return state
