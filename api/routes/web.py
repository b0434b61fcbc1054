"""The web page at `/` and its assets under `/static`: search, ask and quiz from a browser.

Neither needs the API key: the page has to load before it can ask for one, and it holds no data — every
search, answer and document it shows comes from the protected API, called with the key the user typed.
The assets are plain files in api/static (no build step, no CDN, no web fonts), so the page works on a
closed network and `pip install` ships it (package-data in pyproject.toml).

The page renders text from indexed documents, which anyone who can write into the indexed folder controls,
so it is served with a Content-Security-Policy that allows scripts, styles and requests from this origin
only: even a rendering bug that let document text become markup could not run an inline script or send
data elsewhere.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_URL = "/static"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# no-cache = revalidate every time (ETag makes that a 304): after an upgrade the page and its script never
# come from two versions. The files are a few tens of kilobytes, so this costs one round trip, not bytes.
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


@router.api_route("/", methods=["GET", "HEAD"])
async def index_page() -> FileResponse:
    """The single page; it asks for the API key itself when an API call answers 401."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


class _StaticAssets(StaticFiles):
    """StaticFiles (ETag, 304s, no path traversal) with the page's security and caching headers."""

    def file_response(self, full_path: Any, stat_result: Any, scope: Scope, status_code: int = 200) -> Any:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(PAGE_HEADERS)
        return response


def install_web(app: FastAPI) -> None:
    """Add `/` and `/static` to `app`, outside the API key (see the module docstring for why)."""
    app.include_router(router)
    app.mount(STATIC_URL, _StaticAssets(directory=STATIC_DIR), name="static")
