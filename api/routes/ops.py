"""Operations endpoints: GET /health (always open, for load balancers) and GET /metrics (Prometheus)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import AppState, app_state, get_state, index_stats
from api.routes.generation import health_info
from api.schemas import Health
from search.retrieval.searcher import Searcher

# Never behind the API key: probes must be able to ask whether the server is ready.
open_router = APIRouter(tags=["operations"])
router = APIRouter(tags=["operations"])


@open_router.get("/health", response_model=Health, responses={503: {"description": "still loading index and model"}})
async def health(request: Request) -> JSONResponse:
    """`ok` (200) once the index and the model are loaded, with the generation served and its size;
    `starting` (503) before that."""
    state = app_state(request)
    if not state.ready or state.searcher is None:
        return JSONResponse(status_code=503, content={"status": "starting"}, headers={"Retry-After": "1"})
    stats = await run_in_threadpool(index_stats, state.searcher)
    return JSONResponse({"status": "ok", **stats, "generation_models": health_info(request)})


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(request: Request, state: Annotated[AppState, Depends(get_state)]) -> Response:
    """Request counts and latencies per endpoint, model-slot pressure, and the index's size and generation.

    Access control: counts of the whole index, as /health shows them (no document's path, title or id); the
    caller's view of the searcher has no counts of its own, so they come from the app's searcher."""
    searcher = app_state(request).searcher
    assert isinstance(searcher, Searcher) and state.slots is not None
    stats = await run_in_threadpool(index_stats, searcher)
    body, content_type = state.metrics.render(stats, state.slots.in_use)
    return Response(content=body, media_type=content_type)
