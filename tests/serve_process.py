"""`indexer serve` in a child process on a free loopback port, as an operator would start it.

Shared by the tests that need a real server (the CLI's serve, load and the browser tests): the child gets
exactly the settings given here, whatever API key or CORS setting the developer's shell holds.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from api.settings import ENV_API_KEY, ENV_API_KEY_FILE, ENV_CORS_ORIGINS

STARTUP_TIMEOUT_S = 90


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:PORT
    log: Path  # the server's stdout and stderr
    pid: int


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_server(
    index: Path, log: Path, key: str, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[Server]:
    """Yields once /health answers; stops the server (terminate, then kill) however the block ends."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if k not in (ENV_API_KEY, ENV_API_KEY_FILE, ENV_CORS_ORIGINS)}
    child_env = {**inherited, "HF_HUB_OFFLINE": "1", ENV_API_KEY: key, **(env or {})}
    command = [sys.executable, "-m", "indexer.cli", "serve", "--index", str(index), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--device", "cpu", "--precision", "fp32", *args]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=child_env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert process.poll() is None, f"serve exited with {process.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"not ready after {STARTUP_TIMEOUT_S} s:\n{log.read_text()}"
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield Server(base, log, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
