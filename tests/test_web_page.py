"""The web page at `/`: served without the API key, self-contained, and no hole in the API's protection.

No browser here (tests/test_web.py drives a real one): these are the properties a closed network and a
key-protected server rely on, checked through FastAPI's test client in a second.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from generation_corpus import write_documents
from tiny_index import build

from api import ApiSettings, create_app
from api.routes.web import STATIC_DIR, STATIC_URL
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher

KEY = "web-page-test-key"
# Any absolute URL, or a protocol-relative one in an attribute or CSS url(): the page must need no other host.
EXTERNAL = re.compile(r"https?://|(?:src|href|action)\s*=\s*[\"']?//|url\(\s*[\"']?//|@import", re.IGNORECASE)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Iterator[TestClient]:
    """An app that requires an API key, as a deployment on a shared network would."""
    root = tmp_path_factory.mktemp("web-page")
    build(write_documents(root / "docs"), root / "index", tiny_encoder)
    app = create_app(
        ApiSettings(index_dir=root / "index", api_key=KEY), searcher=Searcher(root / "index", encoder=tiny_encoder)
    )
    with TestClient(app) as test_client:
        yield test_client


# `import ... from "./x.js"` and `import "./x.js"`: how one module of the page loads another.
IMPORT = re.compile(r"""^\s*import\s+(?:[^"';]*?\s+from\s+)?["']([^"']+)["']""", re.MULTILINE)


def page_assets(html: str) -> list[str]:
    return re.findall(r"(?:src|href)=\"(/static/[^\"]+)\"", html)


def page_modules(client: TestClient) -> list[str]:
    """Every script the page loads: its entry module and, transitively, what each module imports."""
    found: list[str] = []
    pending = [url for url in page_assets(client.get("/").text) if url.endswith(".js")]
    while pending:
        url = pending.pop()
        if url in found:
            continue
        found.append(url)
        for specifier in IMPORT.findall(client.get(url).text):
            assert specifier.startswith("./") and specifier.endswith(".js"), f"{url} imports {specifier}"
            pending.append(f"{STATIC_URL}/{specifier.removeprefix('./')}")
    return sorted(found)


def test_page_and_its_assets_are_served_without_the_key(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="ja">' in page.text and 'name="viewport"' in page.text
    assets = page_assets(page.text)
    assert sorted(assets) == ["/static/app.css", "/static/app.js"]
    assert '<script type="module" src="/static/app.js"></script>' in page.text, "an ES module: no build step"
    modules = page_modules(client)
    # Every module that ships is loaded by the page: none is dead, and none is missing (each one answers 200).
    assert modules == sorted(f"{STATIC_URL}/{path.name}" for path in STATIC_DIR.glob("*.js"))
    types = {".css": "text/css", ".js": "text/javascript"}
    for url in [*assets, *modules]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith(types[Path(url).suffix]), url
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "script-src 'self'" in response.headers["content-security-policy"], url
    assert client.head("/").status_code == 200


def test_page_needs_no_other_host(client: TestClient) -> None:
    """No CDN, web font or analytics: the page must work on a closed network."""
    for name in ("/", *page_assets(client.get("/").text), *page_modules(client)):
        text = client.get(name).text
        assert not EXTERNAL.findall(text), f"{name} refers to another host: {EXTERNAL.findall(text)}"
    # Every file that ships (package-data api/static/*) is held to the same rule.
    for path in STATIC_DIR.iterdir():
        assert not EXTERNAL.findall(path.read_text(encoding="utf-8")), path.name


def test_page_is_served_with_a_same_origin_content_security_policy(client: TestClient) -> None:
    """Document text is untrusted: even if it ever became markup, no inline script could run or send data away."""
    page = client.get("/")
    policy = page.headers["content-security-policy"]
    for directive in ("default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"):
        assert directive in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    # Which the page itself must honour: no inline scripts, event-handler attributes or style attributes.
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text)
    assert not re.search(r"\son[a-z]+\s*=|\sstyle\s*=", page.text)
    for url in page_modules(client):
        script = client.get(url).text
        for unsafe in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
            assert unsafe not in script, f"{url} uses {unsafe}"


def test_the_api_stays_protected_while_the_page_is_open(client: TestClient) -> None:
    assert client.post("/search", json={"query": "休暇"}).status_code == 401
    assert client.get("/documents").status_code == 401
    assert client.post("/answer", json={"question": "休暇は何日ですか"}).status_code == 401
    assert client.get("/openapi.json").status_code == 401
    headers = {"Authorization": f"Bearer {KEY}"}
    assert client.post("/search", json={"query": "休暇"}, headers=headers).status_code == 200


def test_only_the_static_folder_is_served(client: TestClient) -> None:
    assert client.get("/static/missing.js").status_code == 404
    assert client.get("/static/%2e%2e/routes_web.py").status_code == 404
    assert client.get("/static/..%2Froutes_web.py").status_code == 404
    assert client.post("/").status_code == 405
