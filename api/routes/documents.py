"""Browsing the index: GET /documents, /documents/{id}, /passages/{id}.

These read the SQLite index only (search.storage.store), never the indexed folder, so no request can make the
server open a file; each response comes from one read snapshot, i.e. one generation.

Access control: the store they read is the caller's view (api/deps.py `get_state`), so a document outside the
caller's groups is not listed, not counted, and its id (or a passage's) answers 404 exactly like an id that does
not exist: a 403 would confirm that it exists.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from starlette.concurrency import run_in_threadpool

from api.deps import AppState, audit, get_state
from api.schemas import DocumentDetail, DocumentList, PassageDetail
from search.access.scope import ScopedSearcher


def single_valued_query(request: Request) -> None:
    """`?limit=5&limit=500` is ambiguous (FastAPI would silently take the last value): a 422 instead."""
    params = request.query_params
    repeated = sorted({name for name in params if len(params.getlist(name)) > 1})
    if repeated:
        raise RequestValidationError(
            [{"loc": ("query", name), "msg": "give this parameter once", "type": "repeated"} for name in repeated]
        )


router = APIRouter(tags=["documents"], dependencies=[Depends(single_valued_query)])

StateDep = Annotated[AppState, Depends(get_state)]

# SQLite integers are 64-bit: a larger id or offset cannot be bound to a query at all (OverflowError, a 500),
# so the bound is part of validation and such a request is a 422 like any other malformed number.
SQLITE_MAX_INT = 2**63 - 1


def _snapshot(searcher: ScopedSearcher, read: Any) -> Any:
    """Run `read(store)` inside one read snapshot, returning (generation, value); runs in the thread pool."""
    store = searcher.store
    with store.read_snapshot():
        return store.generation(), read(store)


async def _read(state: AppState, read: Any) -> Any:
    assert isinstance(state.searcher, ScopedSearcher)
    return await run_in_threadpool(_snapshot, state.searcher, read)


@router.get("/documents", response_model=DocumentList)
async def list_documents(
    request: Request,
    state: StateDep,
    limit: Annotated[int, Query(ge=1, le=500, description="documents per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=SQLITE_MAX_INT, description="documents to skip")] = 0,
) -> DocumentList:
    """Indexed documents ordered by path, with their passage counts."""
    generation, (total, documents) = await _read(
        state, lambda store: (store.count_documents(), store.list_documents(limit, offset))
    )
    audit(state, request, "list_documents", documents=[d["id"] for d in documents])
    return DocumentList.model_validate(
        {"generation": generation, "total": total, "limit": limit, "offset": offset, "documents": documents}
    )


@router.get("/documents/{document_id}", response_model=DocumentDetail, responses={404: {"description": "no such id"}})
async def get_document(
    request: Request, state: StateDep, document_id: Annotated[int, Path(ge=1, le=SQLITE_MAX_INT)]
) -> DocumentDetail:
    """A document's metadata and all its passages in reading order."""

    def read(store: Any) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        document = store.get_document(document_id)
        return document, store.passages_of_document(document_id) if document else []

    generation, (document, passages) = await _read(state, read)
    audit(state, request, "read_document", documents=[document_id] if document else [], found=document is not None)
    if document is None:
        raise HTTPException(status_code=404, detail=f"No document with id {document_id} in the index")
    return DocumentDetail.model_validate({**document, "generation": generation, "passages": passages})


@router.get("/passages/{passage_id}", response_model=PassageDetail, responses={404: {"description": "no such id"}})
async def get_passage(
    request: Request, state: StateDep, passage_id: Annotated[int, Path(ge=1, le=SQLITE_MAX_INT)]
) -> PassageDetail:
    """One passage with the metadata of its document (for citing a search result)."""

    def read(store: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        passage = store.get_passage(passage_id)
        return passage, store.get_document(passage["document_id"]) if passage else None

    generation, (passage, document) = await _read(state, read)
    found = passage is not None and document is not None
    audit(state, request, "read_passage", passages=[passage_id] if found else [], found=found)
    if passage is None or document is None:
        raise HTTPException(status_code=404, detail=f"No passage with id {passage_id} in the index")
    return PassageDetail.model_validate({**passage, "generation": generation, "document": document})
