"""`indexer serve` in a child process on a loopback port it picks itself, as an operator would start it.

Shared by the tests that need a real server (the CLI's serve, load and the browser tests): the child gets
exactly the settings given here, whatever API key or CORS setting the developer's shell holds.

The child is started with `--port 0`: it binds a free port before loading anything and prints
`Serving http://HOST:PORT` once it is about to accept connections. Reading the port from that line, instead
of picking a free port here and handing it over, leaves no moment in which another process can take it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx

from api.settings import ENV_API_KEY, ENV_API_KEY_FILE, ENV_CORS_ORIGINS

STARTUP_TIMEOUT_S = 90
SERVING_LINE = re.compile(r"Serving (http://\S+?)(?:\s|$)")


@dataclass(frozen=True)
class Server:
    base: str  # http://127.0.0.1:PORT
    log: Path  # the server's stdout and stderr
    pid: int


class OutputCopier:
    """Copies the child's output, line by line, into the log file, and notes the address it announces.

    A thread drains the pipe for the child's whole life, so a chatty server never blocks on a full pipe;
    once the child has exited and `join` has returned, the log holds everything the child wrote.
    """

    def __init__(self, stream: IO[bytes], log: Path) -> None:
        self.base: str | None = None
        self.announced = threading.Event()  # set when the address is known, or when the output ended without it
        self._stream = stream
        self._log = log
        self._thread = threading.Thread(target=self._copy, name="serve-output", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        with open(self._log, "wb") as log:
            for line in iter(self._stream.readline, b""):
                log.write(line)
                log.flush()
                if self.base is None and (found := SERVING_LINE.search(line.decode("utf-8", "replace"))):
                    self.base = found.group(1)
                    self.announced.set()
        self.announced.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


@contextmanager
def running_server(
    index: Path, log: Path, key: str, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
) -> Iterator[Server]:
    """Yields once /health answers; stops the server (terminate, then kill) however the block ends.

    After the block the log file is complete (the child has exited and its output is copied).
    """
    inherited = {k: v for k, v in os.environ.items() if k not in (ENV_API_KEY, ENV_API_KEY_FILE, ENV_CORS_ORIGINS)}
    child_env = {**inherited, "HF_HUB_OFFLINE": "1", ENV_API_KEY: key, **(env or {})}
    command = [sys.executable, "-m", "indexer.cli", "serve", "--index", str(index), "--host", "127.0.0.1"]
    command += ["--port", "0", "--device", "cpu", "--precision", "fp32", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=child_env)
    assert process.stdout is not None
    output = OutputCopier(process.stdout, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        announced = output.announced.wait(STARTUP_TIMEOUT_S)
        assert output.base is not None, (
            f"serve exited with {process.wait(timeout=30)}:\n{log.read_text()}"
            if announced
            else f"no 'Serving http://...' line after {STARTUP_TIMEOUT_S} s:\n{log.read_text()}"
        )
        # The socket is listening: this request waits in its backlog until the app has started, then is answered.
        try:
            health = httpx.get(f"{output.base}/health", timeout=max(1.0, deadline - time.monotonic()))
        except httpx.TransportError as exc:
            raise AssertionError(f"/health did not answer ({exc!r}):\n{log.read_text()}") from exc
        assert health.status_code == 200, f"/health answered {health.status_code}:\n{log.read_text()}"
        yield Server(output.base, log, process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        output.join(timeout=30)
        process.stdout.close()
