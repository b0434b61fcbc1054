"""`indexer serve`: a real uvicorn process on loopback, and the checks that refuse to start it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.settings import ENV_API_KEY, ENV_API_KEY_FILE, ENV_CORS_ORIGINS, is_loopback, load_settings
from indexer.cli import main
from search.errors import SearchError

KEY = "serve-test-key"
STARTUP_TIMEOUT_S = 60


@pytest.fixture(autouse=True)
def no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_API_KEY, ENV_API_KEY_FILE, ENV_CORS_ORIGINS):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("serve")
    docs = root / "docs"
    docs.mkdir()
    (docs / "休暇.txt").write_text("有給休暇は入社から六か月後に十日付与されます。", encoding="utf-8")
    (docs / "it.md").write_text("# ヘルプデスク\n\nパスワードを忘れた場合は内線1234へ。", encoding="utf-8")
    code = main(["build", str(docs), "--index", str(root / "index"), "--model", str(tiny_model_dir), "--json"])
    assert code == 0
    return root / "index"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def server(index: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`indexer serve` in a child process, with an API key from the environment; yields (base URL, log)."""
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", ENV_API_KEY: KEY}
    command = [
        sys.executable,
        "-m",
        "indexer.cli",
        "serve",
        "--index",
        str(index),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        "--precision",
        "fp32",
    ]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
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
        yield base, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_real_server_answers_health_and_search(server: tuple[str, Path]) -> None:
    base, log = server
    health = httpx.get(f"{base}/health", timeout=10).json()
    assert health["status"] == "ok" and health["documents"] == 2 and health["generation"] == 1
    body = {"query": "休暇", "k": 1, "mode": "keyword"}
    assert httpx.post(f"{base}/search", json=body, timeout=30).status_code == 401
    response = httpx.post(f"{base}/search", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["path"] for r in results] == ["休暇.txt"] and "<mark>休暇</mark>" in results[0]["snippet"]
    assert httpx.get(f"{base}/docs", headers={"X-API-Key": KEY}, timeout=10).status_code == 200
    assert KEY not in log.read_text(encoding="utf-8", errors="replace")


def test_serve_refuses_a_public_address_without_a_key(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--index", str(index), "--host", "0.0.0.0"])
    err = capsys.readouterr().err
    assert code == 2
    assert "refusing to serve on 0.0.0.0 without an API key" in err and "--insecure" in err


def test_serve_refuses_a_missing_index_saying_what_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--index", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code == 2 and "indexer build" in err and "--index" in err


def test_serve_refuses_an_unavailable_model(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = shutil.copytree(tiny_model_dir, tmp_path / "model-copy")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("規程の改定について。", encoding="utf-8")
    assert main(["build", str(docs), "--index", str(tmp_path / "index"), "--model", str(model)]) == 0
    shutil.rmtree(model)
    capsys.readouterr()
    code = main(["serve", "--index", str(tmp_path / "index"), "--device", "cpu"])
    err = capsys.readouterr().err
    assert code == 2 and "is not available" in err and "--model" in err


def test_serve_refuses_an_empty_key_file(index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "key").write_text("\n", encoding="utf-8")
    code = main(["serve", "--index", str(index), "--api-key-file", str(tmp_path / "key")])
    assert code == 2 and "is empty" in capsys.readouterr().err


def test_serve_refuses_impossible_limits(index: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--index", str(index), "--max-concurrent-model-calls", "0"])
    assert code == 2 and "max_concurrent_model_calls must be at least 1" in capsys.readouterr().err


# -- settings ----------------------------------------------------------------------------------------


def test_key_sources_in_order_of_precedence(tmp_path: Path) -> None:
    flag_file, env_file = tmp_path / "flag", tmp_path / "env"
    flag_file.write_text("from-flag\n", encoding="utf-8")
    env_file.write_text("  from-env-file\n", encoding="utf-8")
    env = {ENV_API_KEY: "from-env", ENV_API_KEY_FILE: str(env_file)}
    assert load_settings(tmp_path, api_key_file=flag_file, environ=env).api_key == "from-flag"
    assert load_settings(tmp_path, environ=env).api_key == "from-env"
    assert load_settings(tmp_path, environ={ENV_API_KEY_FILE: str(env_file)}).api_key == "from-env-file"
    assert load_settings(tmp_path, environ={}).api_key is None
    with pytest.raises(SearchError, match="Cannot read the API key file"):
        load_settings(tmp_path, environ={ENV_API_KEY_FILE: str(tmp_path / "missing")})


def test_index_and_cors_from_the_environment(tmp_path: Path) -> None:
    env = {"INDEXER_INDEX": str(tmp_path / "i"), ENV_CORS_ORIGINS: "https://a.example/, https://b.example,,"}
    settings = load_settings(environ=env)
    assert settings.index_dir == tmp_path / "i" and settings.cors_origins == ("https://a.example", "https://b.example")
    assert load_settings(environ=env, cors_origins=["https://c.example"]).cors_origins == ("https://c.example",)
    assert load_settings(tmp_path, environ={}).cors_origins == ()


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.10", False),
        ("example.com", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
