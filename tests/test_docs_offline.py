"""The Swagger page at /docs works on a network without internet access: every file it loads is served here.

FastAPI's default page pulls Swagger UI from a CDN (jsdelivr) and its icon from fastapi.tiangolo.com; on a
closed intranet that page stays blank. The assets now come from the fastapi-offline package, under
/docs-assets.
"""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from api import ApiSettings, create_app

KEY = "docs-key"


def test_the_docs_page_loads_nothing_from_another_host() -> None:
    app = create_app(ApiSettings(index_dir=Path("unused-index"), api_key=KEY))
    client = TestClient(app)  # the docs need no index: the lifespan is not run
    assert client.get("/docs").status_code == 401, "the page stays behind the key"
    page = client.get("/docs", headers={"X-API-Key": KEY})
    assert page.status_code == 200
    assert "http://" not in page.text and "https://" not in page.text and "//cdn" not in page.text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
    assert {"/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css", "/openapi.json"} <= set(urls)
    for url in urls:
        headers = {"X-API-Key": KEY} if url == "/openapi.json" else {}
        response = client.get(url, headers=headers)
        assert response.status_code == 200 and response.content, url
    js = client.get("/docs-assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith("text/javascript") and b"SwaggerUIBundle" in js.content
    assert client.get("/docs-assets/swagger-ui.css").headers["content-type"].startswith("text/css")


def test_the_assets_folder_serves_only_its_files() -> None:
    client = TestClient(create_app(ApiSettings(index_dir=Path("unused-index"), api_key=KEY)))
    for url in ("/docs-assets/../core.py", "/docs-assets/%2e%2e/core.py", "/docs-assets/missing.js"):
        assert client.get(url).status_code == 404, url
