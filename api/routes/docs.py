"""The OpenAPI schema and its Swagger page, served as ordinary routes so that the API key guards them too.

FastAPI's built-in /docs and /openapi.json cannot take dependencies; these can, and look the same.

Swagger UI's JavaScript, CSS and icon come from this server (`/docs-assets`, the files the fastapi-offline
package ships), not from a CDN as FastAPI's default page has them: on an intranet without internet access
the CDN cannot be reached and the page stays blank. The assets are the public Swagger UI library and hold no
data, so they are served without the key, like the web page's own /static; the schema stays behind it.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.staticfiles import StaticFiles

OPENAPI_URL = "/openapi.json"
DOCS_URL = "/docs"
ASSETS_URL = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"

router = APIRouter(include_in_schema=False)


@router.get(OPENAPI_URL)
async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@router.get(DOCS_URL)
async def swagger(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=OPENAPI_URL,
        title=f"{request.app.title} – API",
        swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
    )


def install_assets(app: FastAPI) -> None:
    """Serve Swagger UI's files under /docs-assets (outside the API key: see the module docstring)."""
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS_DIR), name="docs-assets")
