"""A real `indexer serve` process on 127.0.0.1 under load, and what its logs hold.

Load: LOAD_TEST_CLIENTS (default 16) concurrent keep-alive clients send varied searches (Japanese and
English queries, all three modes, with and without filters, several page sizes, one request in four a
query never sent before so that the encoder runs throughout) for LOAD_TEST_SECONDS (default 20; the issue's
figure is 60: `LOAD_TEST_SECONDS=60 pytest tests/test_api_load.py`). Before that a warm-up of
LOAD_TEST_WARMUP requests (default 400, every distinct request at least once) loads what the server keeps
(model, SQLite pages, thread pool, caches). The run must end with zero errors (every response a 200) and
the server's resident memory (VmRSS from /proc) within 10% of what it was after the warm-up: a leak per
request would show as growth over tens of thousands of requests.

The load test is marked `soak`: `make test` and `.ci/run` run it, `make test-fast` leaves it out.

Logs: the server runs at DEBUG level with uvicorn's access log while right and wrong keys arrive in both
headers, and raw requests try path traversal: no key reaches the log, and no file outside the static
folder is served.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import statistics
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_corpus import write_corpus
from serve_process import running_server
from tiny_index import build

from search.models.encoder import Encoder

KEY = "load-test-key-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {KEY}"}
CLIENTS = int(os.environ.get("LOAD_TEST_CLIENTS", "16"))
DURATION_S = float(os.environ.get("LOAD_TEST_SECONDS", "20"))
WARMUP_REQUESTS = int(os.environ.get("LOAD_TEST_WARMUP", "400"))
MEMORY_TOLERANCE = 0.10

QUERIES = (
    "有給休暇の申請",
    "有給休暇は何日もらえますか",
    "経費精算の締め日",
    "領収書はどこに提出しますか",
    "パスワードを忘れた",
    "VPNに接続できない",
    "契約書の保管",
    "特別休暇",
    "規程",
    "休暇管理システム",
    "leave request",
    "expense report deadline",
    "password reset helpdesk",
    "contract renewal notice",
    "VPN settings",
    "休暇 leave",
)
MODES = ("hybrid", "dense", "keyword")
FILTERS: tuple[dict[str, Any] | None, ...] = (
    None,
    {"path_prefix": "人事/"},
    {"formats": ["md"]},
    {"modified_after": "2021-01-01", "tags": []},
)
PAGE_SIZES = (5, 10, 20)


def request_bodies() -> list[dict[str, Any]]:
    """Every distinct request of the load (192): each query in each mode with each filter."""
    bodies = []
    for n, (query, mode, filters) in enumerate(itertools.product(QUERIES, MODES, FILTERS)):
        body: dict[str, Any] = {"query": query, "mode": mode, "k": PAGE_SIZES[n % len(PAGE_SIZES)]}
        if filters is not None:
            body["filters"] = filters
        bodies.append(body)
    return bodies


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    """The API tests' corpus (51 documents), indexed with the tiny model, which `serve` loads by its path."""
    root = tmp_path_factory.mktemp("load")
    summary = build(write_corpus(root / "docs"), root / "index", tiny_encoder)
    assert summary.files_failed == []
    shutil.rmtree(root / "docs")
    return root / "index"


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


class Load:
    """Clients that each send requests in turn over one keep-alive connection, recording every outcome."""

    def __init__(self, base: str, bodies: list[dict[str, Any]]) -> None:
        self.base = base
        self.bodies = bodies
        self.statuses: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()
        self._sent = itertools.count()

    def _body(self, n: int) -> dict[str, Any]:
        body = dict(self.bodies[n % len(self.bodies)])
        if n % 4 == 3:  # a query never seen before: the encoder runs, the query cache stays at its bound
            body["query"] = f"{body['query']} {n}"
        return body

    def run(self, clients: int, *, until: float | None = None, requests: int | None = None) -> None:
        def client() -> None:
            with httpx.Client(base_url=self.base, headers=AUTH, timeout=60) as http:
                while True:
                    n = next(self._sent)
                    if (requests is not None and n >= requests) or (until is not None and time.monotonic() >= until):
                        return
                    started = time.perf_counter()
                    try:
                        response = http.post("/search", json=self._body(n))
                        outcome = str(response.status_code)
                        ok = response.status_code == 200 and "results" in response.json()
                    except (httpx.HTTPError, ValueError) as exc:
                        outcome, ok = type(exc).__name__, False
                    elapsed = time.perf_counter() - started
                    with self._lock:
                        self.statuses[outcome] += 1
                        self.latencies.append(elapsed)
                        if not ok and len(self.failures) < 10:
                            self.failures.append(f"request {n}: {outcome}")

        threads = [threading.Thread(target=client, name=f"load-client-{i}") for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def errors(self) -> int:
        return self.total - self.statuses["200"]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@pytest.mark.soak  # 20 s of load by default: `make test` runs it, `make test-fast` leaves it out
def test_search_under_concurrent_load_has_no_errors_and_bounded_memory(index: Path, tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    bodies = request_bodies()
    assert len(bodies) <= WARMUP_REQUESTS, "the warm-up must send every distinct request at least once"
    with running_server(index, log, KEY) as server:
        base, pid = server.base, server.pid
        started_kib = rss_kib(pid)
        warmup = Load(base, bodies)
        warmup.run(CLIENTS, requests=WARMUP_REQUESTS)
        assert warmup.errors == 0, (warmup.statuses, warmup.failures)
        time.sleep(1)
        warm_kib = rss_kib(pid)

        load = Load(base, bodies)
        samples: list[tuple[float, int]] = []  # (seconds into the run, KiB): a leak shows as a steady climb
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.5):
                samples.append((time.monotonic() - began, rss_kib(pid)))

        began = time.monotonic()
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            load.run(CLIENTS, until=began + DURATION_S)
        finally:
            stop.set()
            sampler.join()
        elapsed = time.monotonic() - began
        time.sleep(1)
        after_kib = rss_kib(pid)
        healthy = httpx.get(f"{base}/health", timeout=10).json()["status"] == "ok"
    output = log.read_text(encoding="utf-8", errors="replace")

    latencies_ms = [1000 * s for s in load.latencies]
    growth = (after_kib - warm_kib) / warm_kib
    peak_kib = max([warm_kib, after_kib, *(kib for _, kib in samples)])
    step = max(1, len(samples) // 6)
    trajectory = ", ".join(f"{t:.0f} s {kib / 1024:.1f}" for t, kib in samples[step - 1 :: step])
    print(
        f"\nload: {CLIENTS} clients for {elapsed:.1f} s: {load.total} requests ({load.total / elapsed:.0f}/s), "
        f"{load.errors} errors, statuses {dict(load.statuses)}; latency ms p50 "
        f"{statistics.median(latencies_ms):.1f} p95 {percentile(latencies_ms, 0.95):.1f} "
        f"p99 {percentile(latencies_ms, 0.99):.1f} max {max(latencies_ms):.1f}; RSS MiB at start "
        f"{started_kib / 1024:.1f}, after {warmup.total}-request warm-up {warm_kib / 1024:.1f}, peak "
        f"{peak_kib / 1024:.1f}, after the run {after_kib / 1024:.1f} ({growth:+.1%}); during the run: {trajectory}"
    )
    assert load.total > CLIENTS and load.errors == 0, (load.statuses, load.failures)
    assert healthy
    assert abs(growth) <= MEMORY_TOLERANCE, f"RSS {warm_kib} KiB after warm-up, {after_kib} KiB after the run"
    assert "Traceback" not in output and KEY not in output


def raw_request(base: str, request_line: str) -> tuple[int, str]:
    """Send a request line as written (clients would resolve `..` first) and read the whole response."""
    host, port = base.removeprefix("http://").split(":")
    message = f"{request_line}\r\nHost: {host}\r\nX-API-Key: {KEY}\r\nConnection: close\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(message.encode("latin-1"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    response = b"".join(chunks).decode("utf-8", "replace")
    return int(response.split(" ", 2)[1]), response


@pytest.mark.slow  # a real server process: about 20 s
def test_the_real_server_logs_no_key_and_serves_no_file_outside_its_assets(index: Path, tmp_path: Path) -> None:
    log = tmp_path / "serve-debug.log"
    guesses = [KEY[:-1], KEY + "0", "guess-" + uuid.uuid4().hex]
    canary = tmp_path / "secret.txt"
    canary.write_text("CANARY-" + uuid.uuid4().hex, encoding="utf-8")
    bodies: list[str] = []
    with running_server(index, log, KEY, args=("--log-level", "debug")) as server:
        base = server.base
        with httpx.Client(base_url=base, timeout=30) as http:
            attempts = [({"Authorization": f"Bearer {KEY}"}, 200), ({"X-API-Key": KEY}, 200)]
            attempts += [({"X-API-Key": guess}, 401) for guess in guesses]
            attempts += [({"Authorization": f"Bearer {guesses[-1]}", "X-API-Key": KEY}, 401)]
            for headers, status in attempts:
                search = http.post("/search", json={"query": "休暇"}, headers=headers)
                documents = http.get("/documents", headers=headers)
                metrics = http.get("/metrics", headers=headers)
                for response in (search, documents, metrics):
                    assert response.status_code == status, (headers, response.text)
                    bodies.append(response.text)
        for target in (
            "/static/../../../../../../etc/passwd",
            "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
            "/static/..%2f..%2f..%2fpyproject.toml",
            f"/static/../../../../../..{canary}",
            "/documents/../../etc/passwd",
        ):
            status, response = raw_request(base, f"GET {target} HTTP/1.1")
            assert status in {400, 404, 307, 422}, (target, response)
            assert "root:x:" not in response and "[project]" not in response and "CANARY-" not in response
    output = log.read_text(encoding="utf-8", errors="replace")
    assert '"POST /search HTTP/1.1" 200' in output and '"GET /documents HTTP/1.1" 401' in output, (
        "uvicorn's access log must be part of what is checked"
    )
    for secret in (KEY, *guesses):
        assert secret not in output
        assert not any(secret in body for body in bodies)
