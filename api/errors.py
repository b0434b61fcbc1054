"""Every error leaves the API as JSON `{"detail": ...}`: a clear message, no stack trace, no server paths.

Core errors (SearchError) already say what went wrong in words; what is removed before they reach a client
is where things live on the server: the index folder becomes `<index>`, and any other absolute path (a local
model directory, a cache file) is shown by its last component only, as /health shows model directories.
Anything unexpected is logged in full on the server and answered with a generic 500.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path, PurePosixPath
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from api.concurrency import ModelBusyError
from api.deps import app_state
from search.errors import IndexNotFoundError, ModelUnavailableError, SearchError

log = logging.getLogger("docsearch.api")


# An absolute POSIX path of two or more components, not part of a URL, a relative path or `<index>/...`.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/<>-])/(?:[^\s/'\"`<>]+/)+[^\s/'\"`<>]*")


def redact_paths(message: str, index_dir: Path) -> str:
    """The index folder's server-side path (as given, and absolute) becomes `<index>`; any other absolute path
    its last component (`/models/mt5-qa` -> `mt5-qa`), the name /health shows for a local model directory."""
    for form in sorted({str(index_dir.resolve()), str(index_dir.absolute()), str(index_dir)}, key=len, reverse=True):
        if form not in {"", "."}:
            message = message.replace(form, "<index>")
    return _ABSOLUTE_PATH.sub(lambda match: PurePosixPath(match.group()).name or "<path>", message)


def redact(message: str, request: Request) -> str:
    """`redact_paths` with the serving app's index folder."""
    return redact_paths(message, app_state(request).settings.index_dir)


def _validation_detail(errors: Any) -> list[dict[str, Any]]:
    """Pydantic's errors without the echoed input (up to 2,000 characters of it) or documentation links."""
    detail = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        field = ".".join(loc[1:] if loc[:1] == ["body"] else loc)
        detail.append({"loc": loc, "field": field, "msg": error.get("msg", "invalid"), "type": error.get("type")})
    return detail


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return JSONResponse(status_code=422, content={"detail": _validation_detail(exc.errors())})


async def _model_busy(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ModelBusyError)
    app_state(request).metrics.model_busy.inc()
    return JSONResponse(status_code=503, content={"detail": str(exc)}, headers={"Retry-After": str(exc.retry_after_s)})


async def _search_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SearchError)
    if isinstance(exc, ModelUnavailableError):
        log.error("embedding model unavailable: %s", exc)
        return JSONResponse(
            status_code=503,
            content={"detail": "The index's embedding model could not be loaded; the server log says why"},
            headers={"Retry-After": "30"},
        )
    if isinstance(exc, IndexNotFoundError):
        log.error("index unavailable: %s", exc)
        return JSONResponse(
            status_code=503,
            content={"detail": "The index is not available on the server"},
            headers={"Retry-After": "30"},
        )
    return JSONResponse(status_code=400, content={"detail": redact(str(exc), request)})


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(status_code=500, content={"detail": "Internal server error; the server log has details"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ModelBusyError, _model_busy)
    app.add_exception_handler(SearchError, _search_error)
    app.add_exception_handler(Exception, _unexpected)
