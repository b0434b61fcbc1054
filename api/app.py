"""The FastAPI application: routers, middleware and start-up, assembled from one ApiSettings.

Routers stay small and single-purpose; a new feature (answers, quizzes) adds its router to
PROTECTED_ROUTERS and reaches the shared searcher, model slots and metrics through `api.deps.get_state`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from api.auth import require_api_key
from api.body_limit import BodySizeLimitMiddleware
from api.concurrency import ModelSlots, use_compute_threads
from api.deps import AppState, ensure_loaded, load_searcher
from api.errors import install_error_handlers
from api.metrics import ApiMetrics, MetricsMiddleware
from api.routes import docs as routes_docs
from api.routes import documents as routes_documents
from api.routes import export as routes_export
from api.routes import generation as routes_generation
from api.routes import ops as routes_ops
from api.routes import search as routes_search
from api.routes.web import install_web
from api.settings import ApiSettings
from search.retrieval.searcher import Searcher

log = logging.getLogger("docsearch.api")

# Everything here requires the API key when one is configured; /health and the web page (/, /static) stay open.
PROTECTED_ROUTERS: tuple[APIRouter, ...] = (
    routes_search.router,
    routes_generation.router,
    routes_export.router,
    routes_documents.router,
    routes_ops.router,
    routes_docs.router,
)


def _version() -> str:
    try:
        return version("jp-docsearch")
    except PackageNotFoundError:
        return "0.0.0"


def create_app(settings: ApiSettings, searcher: Searcher | None = None) -> FastAPI:
    """Build the app; the index and model load in its lifespan (or `searcher` is used, loaded if need be).

    The encoder is loaded once at start-up, so /health reports `ok` only when a query can be answered, and
    a missing index or model stops the start-up instead of failing the first request.
    """
    state = AppState(settings=settings, metrics=ApiMetrics())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The semaphore belongs to the serving event loop, so it is made here and not at import time.
        state.slots = ModelSlots(
            settings.max_concurrent_model_calls, settings.model_queue_timeout_s, settings.threads_per_call
        )
        # Process-wide default for threads that start later (generation's too), set before any model call.
        await run_in_threadpool(use_compute_threads, state.slots.threads)
        if searcher is None:
            loaded = await run_in_threadpool(load_searcher, settings)
        else:
            loaded = await run_in_threadpool(ensure_loaded, searcher)
        state.searcher = loaded
        state.metrics.watch_query_cache(loaded.query_cache.stats)
        state.ready = True
        log.info(
            "ready: index %s, model slots %d x %d threads, authentication %s, CORS %s",
            settings.index_dir,
            settings.max_concurrent_model_calls,
            state.slots.threads,
            "API key" if settings.authenticates else "off",
            ", ".join(settings.cors_origins) or "off",
        )
        try:
            yield
        finally:
            state.ready = False
            loaded.close()

    app = FastAPI(
        title="jp-docsearch",
        description="Japanese-first hybrid (dense + keyword) search over in-house documents.",
        version=_version(),
        lifespan=lifespan,
        # Served by routes_docs instead, behind the API key like everything but /health.
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.docsearch = state

    # Access control: a keys file authenticates too, and a trusted groups header identifies without a key.
    identifies = settings.authenticates or bool(settings.trusted_groups_header)
    auth = [Depends(require_api_key)] if identifies else []
    # Documented where it can happen, so that the schema lists every status a protected route answers with.
    unauthorized = {401: {"description": "missing or wrong API key"}} if settings.authenticates else None
    app.include_router(routes_ops.open_router)
    for router in PROTECTED_ROUTERS:
        app.include_router(router, dependencies=auth, responses=unauthorized)
    # The web page and its assets stay open: the page must load to ask for the key it sends on API calls.
    install_web(app)
    routes_docs.install_assets(app)  # Swagger UI's own files, so that /docs needs no CDN
    install_error_handlers(app)

    # Added innermost first: metrics (outermost) also count what CORS and the body limit answer themselves.
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            allow_credentials=False,
            max_age=600,
        )
    app.add_middleware(MetricsMiddleware, metrics=state.metrics, routes=app.router.routes)
    return app
