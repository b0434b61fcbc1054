"""POST /search: hybrid, dense or keyword retrieval over the index generation visible to the request."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from api.deps import AppState, get_state, public_model_name
from api.schemas import SearchRequest, SearchResponse

router = APIRouter(tags=["search"])


@router.post(
    "/search",
    response_model=SearchResponse,
    responses={
        400: {"description": "the search could not be run as asked (the message says why)"},
        413: {"description": "request body over the size limit"},
        503: {"description": "every model slot busy for too long: retry after `Retry-After` seconds"},
    },
)
async def search(body: SearchRequest, state: Annotated[AppState, Depends(get_state)]) -> SearchResponse:
    """Ranked passages with per-leg ranks and a highlighted snippet.

    Encoding and ranking run in the thread pool under a bounded number of model slots, never on the event
    loop. The whole search runs on one SQLite read snapshot, so a rebuild committing meanwhile never mixes
    two generations: `generation` says which one every result comes from.
    """
    assert state.searcher is not None and state.slots is not None
    filters = body.filters.to_filters() if body.filters is not None else None
    result = await state.slots.run(
        state.searcher.search,
        body.query,
        k=body.k,
        mode=body.mode,
        filters=filters,
        offset=body.offset,
        collapse=body.collapse,
    )
    state.metrics.searches.labels(result.mode).inc()
    # No local paths leave the API: models given as folders are named by the folder's name.
    shown = {
        **result.as_dict(),
        "dense_model": public_model_name(result.dense_model),
        "reranker": public_model_name(result.reranker),
    }
    return SearchResponse.model_validate({**shown, "query": body.query, "k": body.k, "offset": body.offset})
