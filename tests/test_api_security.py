"""Injection and authentication through the HTTP API, with proof that hostile input reads and changes nothing.

Injection: queries and filter values full of SQL, FTS5 query syntax, path traversal, NUL bytes, lone
surrogates and 2,000 characters of emoji, combining marks or bidirectional controls go to every endpoint that
takes text. Each must give a correct result (keyword hits contain a literal query term; a filter value
matches only what it says, so SQL in it matches nothing) or a clean 4xx, never a 5xx. Around every test,
`untouched` proves nothing else was read or changed: the index folder's files (SQLite database and its WAL,
FAISS vectors) hash the same, every table of the database (FTS5 shadow tables included) has the same rows,
the files beside the index are the same, a canary file outside the index (a unique string in
`secret.txt`) never appears in a response, and a normal query gives identical results before and after.

Auth: every route of the app is requested without a key, with wrong keys and with the right one; all but
the open ones (`/health`, the web page `/` and its `/static` assets) must answer 401, so a new endpoint
cannot be forgotten. The key never appears in a log record (captured at DEBUG) nor in a response body.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import anyio
import httpx
import pytest
from api_routes import app_routes
from fastapi.testclient import TestClient
from generation_corpus import write_documents
from tiny_index import build

from api import ApiSettings, create_app
from api.routes.generation import configure_generation
from search.access.identities import parse_identities
from search.generation.settings import GenerationSettings
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher
from search.storage.schema import DB_NAME
from search.text.analysis import analyze
from search.text.keyword import normalize, tokens
from search.text.synonyms import bundled_thesaurus

KEY = "sec-test-key-5b1e0c"
ACL_RULES = '[[rule]]\nprefix = "人事/"\ngroups = ["hr"]\n\n[[rule]]\nglob = "経理/**"\ngroups = ["acct"]\n'
AUTH = {"X-API-Key": KEY}
MODES = ("hybrid", "dense", "keyword")
BASELINE_QUERIES = ("有給休暇の申請", "password helpdesk", "経費精算")
TRACEBACK_MARKERS = ("Traceback (most recent call last)", 'File "')

SQL = (
    "' OR 1=1 --",
    '"; DROP TABLE passages; --',
    "'; DELETE FROM documents; --",
    "1; UPDATE documents SET text = 'owned'",
    "' UNION SELECT text, path FROM documents --",
    "%' OR path LIKE '%",
    "') OR ('1'='1",
    "休暇' OR '1'='1",
    "ATTACH DATABASE '/tmp/evil.db' AS evil; --",
)
FTS5 = (
    "NEAR(",
    'NEAR("有給" "休暇", 2)',
    "*",
    '"',
    '""',
    '"休暇',
    "AND OR NOT",
    "休暇 AND NOT 規則",
    "^休暇",
    "col:term",
    "body:休暇",
    "heading:規則 OR body:*",
    "{heading body}: 休暇",
    "passages_fts MATCH '*'",
    "休* OR -",
    "(((",
    "rank:bm25()",
)
TRAVERSAL = (
    "../",
    "../secret.txt",
    "../../../../etc/passwd",
    "..%2fsecret.txt",
    "..%2F..%2Fsecret.txt",
    "%2e%2e/%2e%2e/secret.txt",
    "..\\..\\secret.txt",
    "人事/../../secret.txt",
    "/etc/passwd",
    "file:///etc/passwd",
    "~/secret.txt",
)
NUL = ("\x00", "休暇\x00", "\x00' OR 1=1 --", "a\x00b\x00c", "人事/\x00../secret.txt")
UNICODE = (
    "😀" * 2000,
    "👨‍👩‍👧‍👦" * 285,  # ZWJ sequences: 7 code points each, 1,995 in all
    "a" + "\u0301" * 1999,  # one letter under 1,999 combining acute accents
    "\u202e" * 1000 + "休暇" + "\u202c" * 998,  # RTL override ... pop directional formatting
    "\u200f休暇\u200e" * 500,  # right-to-left and left-to-right marks around a real term
    "\ufeff\u200b\u2060" * 666,  # BOM, zero-width space, word joiner
    "𠮷野家" * 666,  # characters outside the Basic Multilingual Plane
)
PAYLOADS = {"sql": SQL, "fts5": FTS5, "traversal": TRAVERSAL, "nul": NUL, "unicode": UNICODE}
STATUSES: Counter[str] = Counter()


# -- fixtures and proofs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["single-key", "access-rules"])
def env(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_encoder: Encoder,
    tiny_seq2seq_dir: Path,
) -> Iterator[dict[str, Any]]:
    """An app with a key over a small index, a quiz/answer model, and a canary file beside the index.

    `access-rules` (issue #15): the index is labelled by access rules and KEY is an identity of the keys file in
    group `hr`, so every request below also runs through the caller's view; 経理/ is hidden from it."""
    root = tmp_path_factory.mktemp("security")
    canary_text = f"CANARY-{uuid.uuid4().hex}"
    (root / "secret.txt").write_text(f"{canary_text}\n", encoding="utf-8")
    index = root / "index"
    rules = request.param == "access-rules"
    if rules:
        (root / "acl.toml").write_text(ACL_RULES, encoding="utf-8")
    summary = build(write_documents(root / "docs"), index, tiny_encoder, acl=root / "acl.toml" if rules else None)
    assert summary.files_failed == []
    seq2seq = tiny_seq2seq_dir
    identities = parse_identities(f"{hashlib.sha256(KEY.encode()).hexdigest()} tester hr\n") if rules else None
    app = create_app(
        ApiSettings(
            index_dir=index, api_key=None if rules else KEY, api_keys=identities, device="cpu", precision="fp32"
        ),
        searcher=Searcher(index, encoder=tiny_encoder),
    )
    generation = GenerationSettings(
        qa_model_ja=str(seq2seq),
        qa_model_en=str(seq2seq),
        qg_model=str(seq2seq),
        device="cpu",
        precision="fp32",
        max_new_tokens=4,
        num_beams=1,
    )
    configure_generation(app, generation)
    with TestClient(app, raise_server_exceptions=False) as client:
        hidden = ("経理/経費精算.txt",) if rules else ()
        yield {"client": client, "root": root, "index": index, "canary": canary_text, "hidden": hidden}
    print("\nsecurity: responses by status:", dict(sorted(STATUSES.items())))


def fingerprint(root: Path, index: Path) -> dict[str, str]:
    """Hashes of every file under `root` (the SQLite shared-memory file aside: readers write it) and the rows
    of every table in the index database, read through a separate read-only connection."""
    prints = {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith("-shm")
    }
    with closing(sqlite3.connect(f"file:{index / DB_NAME}?mode=ro", uri=True)) as conn:
        master = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()
        prints["sqlite_master"] = hashlib.sha256(repr(master).encode()).hexdigest()
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"):
            rows = sorted(repr(row) for row in conn.execute(f'SELECT * FROM "{table}"'))
            prints[f"table {table}"] = f"{len(rows)} rows, " + hashlib.sha256("\n".join(rows).encode()).hexdigest()
    return prints


def baseline(client: TestClient) -> list[Any]:
    out = []
    for query in BASELINE_QUERIES:
        for mode in MODES:
            response = client.post("/search", json={"query": query, "mode": mode, "k": 10}, headers=AUTH)
            assert response.status_code == 200, response.text
            out.append([(hit["passage_id"], round(hit["score"], 6)) for hit in response.json()["results"]])
    return out


@contextmanager
def untouched(env: dict[str, Any]) -> Iterator[None]:
    """Proves that what runs inside neither changed the index or the files beside it nor changed results."""
    before, results = fingerprint(env["root"], env["index"]), baseline(env["client"])
    assert any(results), "the baseline queries must find something to compare"
    yield
    after = fingerprint(env["root"], env["index"])
    changed = {k: (before.get(k), after.get(k)) for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert not changed, changed
    assert baseline(env["client"]) == results
    assert (env["root"] / "secret.txt").read_text(encoding="utf-8").strip() == env["canary"]


def send(env: dict[str, Any], method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request that must not fail on the server side nor leak the canary, a trace or a server path."""
    kwargs["headers"] = kwargs.get("headers", AUTH)
    response = env["client"].request(method, url, **kwargs)
    STATUSES[str(response.status_code)] += 1
    text = response.text
    assert response.status_code < 500, (url, kwargs, text)
    assert env["canary"] not in text and env["canary"] not in str(response.headers)
    assert not any(path in text for path in env["hidden"]), text  # access rules: a hidden document never shows
    assert not any(marker in text for marker in TRACEBACK_MARKERS), text
    assert str(env["root"]) not in text and str(env["root"].resolve()) not in text, text
    return response


def raw_get(env: dict[str, Any], raw_path: str) -> tuple[int, dict[str, str], str]:
    """A GET whose path reaches the app exactly as a server passes it on (httpx would resolve `..` segments
    before sending): `path` is the percent-decoded raw path, as uvicorn makes it. Checked like `send`."""
    client: TestClient = env["client"]
    messages: list[dict[str, Any]] = []

    async def call() -> None:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": unquote(raw_path, errors="surrogateescape"),
            "raw_path": raw_path.encode("utf-8", "surrogateescape"),
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver"), (b"x-api-key", KEY.encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("testserver", 80),
        }

        done = anyio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            # The request once; then, as a server does, nothing until the client goes away (after the response).
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send_message(message: dict[str, Any]) -> None:
            messages.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                done.set()

        await client.app(scope, receive, send_message)

    client.portal.call(call)
    start = next(m for m in messages if m["type"] == "http.response.start")
    status, headers = start["status"], {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    text = body.decode("utf-8", "replace")
    STATUSES[str(status)] += 1
    assert status < 500 and env["canary"] not in text, (raw_path, status, text)
    assert str(env["root"]) not in text and not any(marker in text for marker in TRACEBACK_MARKERS), text
    return status, headers, text


def keyword_hits_are_literal(query: str, results: list[dict[str, Any]]) -> None:
    """FTS5 syntax in a query is matched as text: each hit contains one of the words the query is analysed into
    (its tokens, word lemmas such as 25 in `bm25`, or their synonyms), and a query without any (only operators
    or punctuation) finds nothing."""
    analysed = analyze(query, bundled_thesaurus())
    terms = {*tokens(query), *analysed.terms, *analysed.bigrams, *(e.term for e in analysed.expansions)}
    terms = {normalize(t) for t in terms if t.strip()}
    if not terms:
        assert results == [], query
    for hit in results:
        text = normalize(hit["heading"] + "\n" + hit["text"])
        assert any(term in text for term in terms), (query, hit["text"])


# -- injection -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("category", sorted(PAYLOADS))
def test_hostile_queries_give_literal_results_or_clean_4xx(env: dict[str, Any], category: str) -> None:
    with untouched(env):
        for payload in PAYLOADS[category]:
            for mode in MODES:
                response = send(env, "POST", "/search", json={"query": payload, "mode": mode, "k": 20})
                if payload.strip():
                    assert response.status_code == 200, response.text
                    results = response.json()["results"]
                    assert response.json()["query"] == payload
                    if mode == "keyword":
                        keyword_hits_are_literal(payload, results)
                else:
                    assert response.status_code == 422
            for extractive in (True, False):
                body = {"question": payload, "k": 3, "extractive": extractive}
                assert send(env, "POST", "/answer", json=body).status_code in {200, 400, 422}
            stream = send(env, "POST", "/answer/stream", json={"question": payload, "k": 3})
            assert stream.status_code in {200, 400, 422}
            quiz = send(env, "POST", "/quiz", json={"query": payload, "n": 1, "multiple_choice": False})
            assert quiz.status_code in {200, 400, 422}


def expected_paths(index: Path, where: str, value: Any) -> set[str]:
    """The document paths a filter may return, computed by SQLite itself from a bound parameter."""
    with closing(sqlite3.connect(f"file:{index / DB_NAME}?mode=ro", uri=True)) as conn:
        return {row[0] for row in conn.execute(f"SELECT path FROM documents WHERE {where}", (value,))}


@pytest.mark.parametrize("category", sorted(PAYLOADS))
def test_hostile_filter_values_match_only_what_they_say(env: dict[str, Any], category: str) -> None:
    index = env["index"]
    with untouched(env):
        for payload in PAYLOADS[category]:
            value = payload[:1000]  # the filters' own length limit
            checks = {
                "path_prefix": expected_paths(index, "substr(path, 1, length(?1)) = ?1", value),
                "path_glob": expected_paths(index, "path GLOB ?", value),
                "formats": expected_paths(index, "format = ?", value[:200]),
                "tags": expected_paths(index, "EXISTS (SELECT 1 FROM json_each(tags) WHERE value = ?)", value[:200]),
            }
            for name, allowed in checks.items():
                filters = {name: [value[:200]] if name in {"formats", "tags"} else value}
                for mode in MODES:
                    body = {"query": "休暇の申請", "mode": mode, "k": 50, "filters": filters}
                    response = send(env, "POST", "/search", json=body)
                    assert response.status_code == 200, response.text
                    paths = {hit["path"] for hit in response.json()["results"]}
                    assert paths <= allowed, (name, payload, paths)
            for name in ("modified_after", "modified_before"):
                body = {"query": "休暇", "filters": {name: payload}}
                assert send(env, "POST", "/search", json=body).status_code == 422
            quiz = {"query": "休暇", "n": 1, "multiple_choice": False, "filters": {"path_prefix": value}}
            assert send(env, "POST", "/quiz", json=quiz).status_code in {200, 400}


def test_sql_in_a_prefix_filter_finds_nothing_while_the_plain_prefix_works(env: dict[str, Any]) -> None:
    """The positive control for the filter test: a real prefix finds its documents."""
    with untouched(env):
        real = send(env, "POST", "/search", json={"query": "休暇", "filters": {"path_prefix": "人事/"}}).json()
        assert real["results"] and {h["path"] for h in real["results"]} == {"人事/就業規則.txt"}
        injected = {"query": "休暇", "filters": {"path_prefix": "人事/' OR 1=1 --"}}
        assert send(env, "POST", "/search", json=injected).json()["results"] == []


@pytest.mark.parametrize("reference", [*TRAVERSAL, *NUL, "secret.txt", "docs/人事/就業規則.txt", "CANARY"])
def test_document_references_never_reach_the_file_system(env: dict[str, Any], reference: str) -> None:
    """/quiz `document` and the id routes look up the index only: a path naming a file outside it (or the
    canary's own absolute path) is an unknown document, never a file read."""
    references = [reference, str(env["root"] / "secret.txt") if reference == "CANARY" else reference]
    with untouched(env):
        for ref in references:
            quiz = send(env, "POST", "/quiz", json={"document": ref, "n": 1, "multiple_choice": False})
            assert quiz.status_code in {400, 422}, quiz.text
            if quiz.status_code == 400:
                assert "No document" in quiz.json()["detail"]
            for prefix in ("/documents/", "/passages/", "/static/"):
                raw_path = prefix + quote(ref, safe="/%:~\\")
                status, headers, text = raw_get(env, raw_path)
                if status == 307:  # Starlette's trailing-slash redirect: to the same path without the slash
                    assert headers["location"] == "http://testserver" + raw_path.rstrip("/"), headers
                else:
                    assert status in {404, 422}, (prefix, ref, status, text)
            assert send(env, "GET", "/documents", params={"offset": ref, "limit": ref}).status_code == 422


def test_static_assets_cannot_escape_their_folder(env: dict[str, Any]) -> None:
    with untouched(env):
        for url in (
            "/static/../app.py",
            "/static/..%2fapp.py",
            "/static/%2e%2e/%2e%2e/pyproject.toml",
            "/static/....//app.py",
            "/static//etc/passwd",
            "/static/../../secret.txt",
            "/static/%2e%2e%2f%2e%2e%2fsecret.txt",
        ):
            status, _, text = raw_get(env, url)
            assert status == 404 and "create_app" not in text and "[project]" not in text, url
        assert raw_get(env, "/static/app.js")[0] == 200  # the positive control


@pytest.mark.parametrize(
    ("url", "body"),
    [
        ("/search", {"query": "\ud800"}),
        ("/search", {"query": "休暇", "filters": {"path_prefix": "\udfff"}}),
        ("/search", {"query": "休暇", "filters": {"path_glob": "a\ud800*"}}),
        ("/search", {"query": "休暇", "filters": {"formats": ["\ud800"]}}),
        ("/search", {"query": "休暇", "filters": {"tags": ["x\udc00"]}}),
        ("/search", {"query": "休暇", "filters": {"modified_after": "\ud800"}}),
        ("/answer", {"question": "休暇\ud800"}),
        ("/answer", {"question": "休暇", "filters": {"tags": ["\ud800"]}}),
        ("/answer/stream", {"question": "\ud800"}),
        ("/quiz", {"query": "\ud800"}),
        ("/quiz", {"document": "\ud800.txt"}),
    ],
)
def test_lone_surrogates_are_a_clean_422(env: dict[str, Any], url: str, body: dict[str, Any]) -> None:
    """JSON may escape half a surrogate pair (\\ud800), which is no valid Unicode: before the fix a lone one
    in `formats` or `tags` reached SQLite's UTF-8 binding and raised UnicodeEncodeError (a 500)."""
    with untouched(env):
        content = json.dumps(body).encode("ascii")  # ensure_ascii: a lone surrogate as the escape \ud800
        response = send(env, "POST", url, content=content, headers={**AUTH, "Content-Type": "application/json"})
        assert response.status_code == 422, response.text


def test_oversized_unicode_is_refused_by_length_not_by_a_crash(env: dict[str, Any]) -> None:
    with untouched(env):
        for text in ("😀" * 2001, "a" + "\u0301" * 2000, "\u202e" * 2001):
            assert send(env, "POST", "/search", json={"query": text}).status_code == 422
            assert send(env, "POST", "/answer", json={"question": text}).status_code == 422
        body = {"query": "休暇", "filters": {"path_prefix": "😀" * 1001}}
        assert send(env, "POST", "/search", json=body).status_code == 422


# -- authentication --------------------------------------------------------------------------------------

# The only routes that answer without a key: /health, the web page and its assets, and Swagger UI's own
# files (public library code; the schema they display stays behind the key). Everything else must refuse.
OPEN_ROUTES = {("GET", "/health"), ("GET", "/"), ("HEAD", "/"), ("GET", "/static"), ("GET", "/docs-assets")}
# A file inside each mounted folder, requested for the mount.
MOUNT_FILES = {"/static": "/static/app.js", "/docs-assets": "/docs-assets/swagger-ui.css"}
# A /quiz question as POST /quiz/export takes it.
EXPORT_QUESTION = {
    **dict.fromkeys(("question", "answer", "answer_type", "path", "title"), "x"),
    **dict.fromkeys(("passage_id", "start", "end", "answer_start", "answer_end"), 1),
}
VALID_BODIES = {
    "/search": {"query": "休暇"},
    "/answer": {"question": "有給休暇", "extractive": True},
    "/answer/stream": {"question": "有給休暇"},
    "/quiz": {"document": "人事/就業規則.txt", "n": 1, "multiple_choice": False},
    "/quiz/export": {"questions": [EXPORT_QUESTION]},
}


def request(client: TestClient, method: str, url: str, headers: dict[str, Any]) -> httpx.Response:
    url = MOUNT_FILES.get(url, url)
    body = VALID_BODIES.get(url) if method == "POST" else None
    return client.request(method, url, json=body, headers=headers)


WRONG_KEYS: list[dict[str, Any]] = [
    {"X-API-Key": "wrong"},
    {"Authorization": "Bearer wrong"},
    {"X-API-Key": KEY[:-1]},
    {"X-API-Key": KEY + "x"},
    {"X-API-Key": KEY.upper()},
    {"Authorization": f"Bearer {KEY}", "X-API-Key": "wrong"},
    {"Authorization": "Bearer ", "X-API-Key": KEY},  # an empty bearer token is a wrong key, not no key
    {"Authorization": "Bearer", "X-API-Key": KEY},
    {"X-API-Key": "é\x7f\u00ff".encode("latin-1")},  # non-ASCII bytes in the header
]


def test_every_route_but_the_open_ones_refuses_a_missing_or_wrong_key(env: dict[str, Any]) -> None:
    client: TestClient = env["client"]
    routes = app_routes(client.app)
    assert {("POST", "/search"), ("POST", "/quiz"), ("GET", "/metrics"), ("GET", "/openapi.json")} <= set(routes)
    assert set(routes) >= OPEN_ROUTES, "an open route disappeared: update OPEN_ROUTES"
    refused = 0
    for method, url in routes:
        no_key = request(client, method, url, {})
        wrong = [request(client, method, url, headers) for headers in WRONG_KEYS]
        right = [
            request(client, method, url, {"Authorization": f"Bearer {KEY}"}),
            request(client, method, url, {"X-API-Key": KEY}),
            request(client, method, url, {"Authorization": f"bearer  {KEY} "}),  # scheme is case-insensitive
        ]
        if (method, url) in OPEN_ROUTES:
            assert no_key.status_code == 200, (method, url)
            continue
        for response in [no_key, *wrong]:
            assert response.status_code == 401, (method, url, response.status_code, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
            assert response.json()["detail"] in {
                "Invalid API key",
                "Missing API key: send `Authorization: Bearer KEY` or `X-API-Key: KEY`",
            }
            refused += 1
        for response in right:
            assert response.status_code == 200, (method, url, response.text)
            assert KEY not in response.text
    assert refused == (len(routes) - len(OPEN_ROUTES)) * (1 + len(WRONG_KEYS))


def test_a_key_in_the_query_string_is_not_accepted(env: dict[str, Any]) -> None:
    """Keys in URLs end up in access logs and browser history, so only headers carry them."""
    client: TestClient = env["client"]
    for params in ({"api_key": KEY}, {"key": KEY}, {"X-API-Key": KEY}, {"authorization": f"Bearer {KEY}"}):
        assert client.get("/documents", params=params).status_code == 401


def test_the_key_never_reaches_logs_or_responses(
    env: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right and wrong keys in both headers on every route, and an unexpected error (logged with its
    traceback) in a request that carries the key: no log record and no response holds either."""
    client: TestClient = env["client"]
    searcher = client.app.state.docsearch.searcher

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("unexpected failure inside a search")

    guesses = ["guess-" + uuid.uuid4().hex for _ in range(2)]
    bodies: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for headers in (
            {"X-API-Key": KEY},
            {"Authorization": f"Bearer {KEY}"},
            {"X-API-Key": guesses[0]},
            {"Authorization": f"Bearer {guesses[1]}"},
            {"Authorization": f"Bearer {KEY}", "X-API-Key": guesses[0]},
        ):
            for method, url in app_routes(client.app):
                bodies.append(request(client, method, url, headers).text)
        with monkeypatch.context() as patch:
            patch.setattr(searcher, "search", broken)
            failed = request(client, "POST", "/search", {"X-API-Key": KEY, "Authorization": f"Bearer {KEY}"})
            assert failed.status_code == 500
            bodies.append(failed.text)
    assert any("unexpected failure inside a search" in r.getMessage() or r.exc_info for r in caplog.records)
    logged = caplog.text + "\n".join(str(record.__dict__) for record in caplog.records)
    assert caplog.records, "nothing was logged: the capture is not working"
    for secret in (KEY, *guesses):
        assert secret not in logged
        assert not any(secret in body for body in bodies)
