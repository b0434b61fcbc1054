"""HTTP pieces shared by the server benchmarks (query_latency.py, generation.py): the cached JSQuAD index, a
real `indexer serve` subprocess on loopback, keep-alive clients, process memory.

The server runs as its own process, started exactly as a user starts it (`python -m indexer.cli serve`), so
the figures include uvicorn, FastAPI validation, the model slots and JSON serialization, and its memory is
read from /proc for that process alone.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common

DEFAULT_QUERIES = common.DATA_DIR / "jsquad-retrieval" / "queries.jsonl"
INDEX_NAME = "serving-jsquad-index"  # its own: build.py changes files in its index
STARTUP_TIMEOUT_S = 300.0


def add_server_arguments(parser: argparse.ArgumentParser, example: str) -> None:
    """--server-arg/--server-root/--server-env: run the server under test with other settings or from another
    source tree (a copy of the code before a change), so that before and after are measured in one session."""
    parser.add_argument(
        "--server-arg", action="append", default=[], metavar="ARG",
        help=f"extra `indexer serve` argument, e.g. --server-arg={example} (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--server-root", type=Path, default=None,
        help="source tree to run the server from (default: this checkout), e.g. a copy before a change",
    )  # fmt: skip
    parser.add_argument(
        "--server-env", action="append", default=[], metavar="KEY=VALUE",
        help="extra server environment variable, e.g. INDEXER_GENERATION_MAX_NEW_TOKENS=16 (repeatable)",
    )  # fmt: skip


def read_questions(path: Path = DEFAULT_QUERIES) -> list[str]:
    """JSQuAD questions in file order: real query lengths and vocabulary, all distinct."""
    with open(path, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle if line.strip()]
    return list(dict.fromkeys(texts))


def ensure_index(docs: Path, model_dir: Path, index_dir: Path | None = None, rebuild: bool = False) -> dict[str, Any]:
    """The JSQuAD index built with the benchmark model, reused when its manifest names that model.

    Building takes minutes on 2 cores (every passage through the 110M encoder), so it is cached under
    benchmarks/.cache/ like the model; `rebuild` runs `indexer build` anyway (incremental: no-op if unchanged).
    """
    index_dir = index_dir or common.CACHE_DIR / INDEX_NAME
    manifest = _manifest(index_dir)
    if not rebuild and manifest.get("model") == str(model_dir) and int(manifest.get("generation", 0)) > 0:
        return {"path": str(index_dir), "built": False, "generation": int(manifest["generation"])}
    command = [sys.executable, "-m", "indexer.cli", "build", str(docs), "--index", str(index_dir),
               "--model", str(model_dir), "--json"]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, cwd=common.REPO_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"indexer build failed ({done.returncode}):\n{done.stderr[-4000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "path": str(index_dir),
        "built": True,
        "build_seconds": round(time.perf_counter() - started, 1),
        "generation": summary.get("generation"),
        "passages_encoded": summary.get("passages_encoded"),
    }


def _manifest(index_dir: Path) -> dict[str, Any]:
    if not (index_dir / "index.sqlite").is_file():
        return {}
    from search.storage.store import Store

    store = Store(index_dir)
    try:
        return store.manifest()
    finally:
        store.close()


def index_counts(index_dir: Path) -> dict[str, int]:
    from search.storage.store import Store

    store = Store(index_dir)
    try:
        return store.counts()
    finally:
        store.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_memory_mb(pid: int) -> dict[str, float]:
    """Resident set size now and its peak (VmHWM) for one process, from /proc (Linux)."""
    values: dict[str, float] = {}
    with open(f"/proc/{pid}/status", encoding="ascii") as handle:
        for line in handle:
            key, _, rest = line.partition(":")
            if key in {"VmRSS", "VmHWM"}:
                values["rss_mb" if key == "VmRSS" else "peak_rss_mb"] = round(int(rest.split()[0]) / 1024, 1)
    return values


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far, from /proc (Linux).

    Per request, it shows what a request costs independently of how much of the machine other processes take
    (wall-clock latency on a shared machine depends on both), and it exposes threads that spin-wait."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rpartition(")")[2].split()
    # Fields 14 and 15 of proc(5) (utime, stime), counted after the parenthesized command name.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """`indexer serve` on 127.0.0.1 and a free port, stopped like Ctrl+C (SIGINT) at the end."""

    def __init__(
        self,
        index_dir: Path,
        args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        log_name: str = "server",
        root: Path | None = None,
    ) -> None:
        """`root`: the source tree the server runs from (default: this checkout), e.g. a copy of the code
        before a change, to compare both in one run."""
        self.index_dir = index_dir
        self.root = root or common.REPO_ROOT
        self.args = list(args)
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
        self.log_path = common.CACHE_DIR / f"{log_name}.log"
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "indexer.cli", "serve", "--index", str(self.index_dir),
                   "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", *self.args]  # fmt: skip
        common.CACHE_DIR.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child, closed with it
        started = time.perf_counter()
        self.process = subprocess.Popen(command, cwd=self.root, env=self.env, stdout=log, stderr=log)
        log.close()
        deadline = started + STARTUP_TIMEOUT_S
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}): see {self.log_path}")
            try:
                status, _ = request(self.port, "GET", "/health", timeout=5)
            except OSError:
                status = 0
            if status == 200:
                self.startup_seconds = round(time.perf_counter() - started, 1)
                return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the server was not healthy after {STARTUP_TIMEOUT_S:g} s: see {self.log_path}")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def memory(self) -> dict[str, float]:
        return process_memory_mb(self.pid)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def request(
    port: int, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 60.0
) -> tuple[int, bytes]:
    """One request on a fresh connection (set-up and occasional calls; load uses Client)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class Client:
    """One keep-alive connection, as a browser or an application server holds it."""

    def __init__(self, port: int, timeout: float = 60.0) -> None:
        self.port = port
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        for attempt in (0, 1):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.connection.request("POST", path, body=data, headers={"Content-Type": "application/json"})
                response = self.connection.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once, then report the error.
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        values = self.latencies_ms
        done = len(values) + self.errors
        return {
            "requests": done,
            "errors": self.errors,
            "p50_ms": _round(common.percentile(values, 50)),
            "p95_ms": _round(common.percentile(values, 95)),
            "p99_ms": _round(common.percentile(values, 99)),
            "max_ms": _round(max(values)) if values else None,
            "throughput_rps": round(done / self.seconds, 1) if self.seconds else None,
            "seconds": round(self.seconds, 2),
            **({"error_samples": self.error_samples} if self.error_samples else {}),
        }


def _round(value: float) -> float | None:
    return None if value != value else round(value, 2)  # NaN (no successful request) -> null


def run_load(
    port: int,
    path: str,
    bodies: Sequence[dict[str, Any]],
    clients: int,
    seconds: float,
    check: Callable[[bytes], str | None] | None = None,
) -> LoadResult:
    """`clients` threads, each with its own keep-alive connection, send the bodies in order (each once) in a
    closed loop until they run out or `seconds` pass. Latency is measured per request on the client.

    An error is any status other than 200, a connection failure, or a body `check` rejects."""
    result = LoadResult()
    lock = threading.Lock()
    items: Iterator[dict[str, Any]] = iter(bodies)
    deadline = time.perf_counter() + seconds

    def next_body() -> dict[str, Any] | None:
        with lock:
            return next(items, None)

    def record(latency_ms: float | None, error: str | None) -> None:
        with lock:
            if error is None and latency_ms is not None:
                result.latencies_ms.append(latency_ms)
            else:
                result.errors += 1
                if len(result.error_samples) < 5 and error:
                    result.error_samples.append(error[:300])

    def worker() -> None:
        client = Client(port)
        try:
            while time.perf_counter() < deadline:
                body = next_body()
                if body is None:
                    return
                started = time.perf_counter()
                try:
                    status, payload = client.post(path, body)
                except OSError as exc:
                    record(None, f"{type(exc).__name__}: {exc}")
                    continue
                latency = (time.perf_counter() - started) * 1000
                if status != 200:
                    record(None, f"HTTP {status}: {payload[:200].decode('utf-8', 'replace')}")
                    continue
                problem = check(payload) if check is not None else None
                record(latency if problem is None else None, problem)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, name=f"client-{i}") for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.perf_counter() - started
    return result


def metrics_lines(port: int, prefixes: Sequence[str]) -> dict[str, float]:
    """Selected samples of the server's /metrics (Prometheus text format) by their full sample name."""
    status, body = request(port, "GET", "/metrics")
    if status != 200:
        return {}
    found: dict[str, float] = {}
    for line in body.decode("utf-8").splitlines():
        if line.startswith(tuple(prefixes)):
            name, _, value = line.rpartition(" ")
            found[name] = float(value)
    return found
