"""`indexer serve`: a real uvicorn process on loopback, and the checks that refuse to start it."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import httpx
import pytest
from serve_process import running_server

from api.settings import ENV_API_KEY, ENV_API_KEY_FILE, ENV_CORS_ORIGINS, is_loopback, load_settings
from indexer.cli import main
from indexer.commands.serve import bind
from search.errors import SearchError

KEY = "serve-test-key"


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


@pytest.mark.slow  # a real server process: about 20 s
def test_real_server_answers_health_and_search(index: Path, tmp_path: Path) -> None:
    with running_server(index, tmp_path / "serve.log", KEY) as server:
        base = server.base
        health = httpx.get(f"{base}/health", timeout=10).json()
        body = {"query": "休暇", "k": 1, "mode": "keyword"}
        anonymous = httpx.post(f"{base}/search", json=body, timeout=30)
        response = httpx.post(f"{base}/search", json=body, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)
        docs_page = httpx.get(f"{base}/docs", headers={"X-API-Key": KEY}, timeout=10)
    assert health["status"] == "ok" and health["documents"] == 2 and health["generation"] == 1
    assert anonymous.status_code == 401
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["path"] for r in results] == ["休暇.txt"] and "<mark>休暇</mark>" in results[0]["snippet"]
    assert docs_page.status_code == 200
    # Read once the server has exited: the log is complete, including the access lines of these requests.
    output = server.log.read_text(encoding="utf-8", errors="replace")
    assert '"POST /search HTTP/1.1" 200' in output and KEY not in output


def test_served_connections_send_small_writes_at_once() -> None:
    """uvicorn writes a response's headers and body separately: with Nagle's algorithm on, the body waited
    for the client's delayed acknowledgement, and every request after the first on a keep-alive connection
    took 40 ms longer. asyncio turns Nagle off on the connections of a socket bound as TCP."""

    async def accepted_nodelay() -> int:
        listening = bind("127.0.0.1", 0)
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def on_connect(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=listening)
        async with server:
            _reader, writer = await asyncio.open_connection(*listening.getsockname()[:2])
            result = await asyncio.wait_for(seen, timeout=30)
            writer.close()
        return result

    assert asyncio.run(accepted_nodelay()) == 1


def test_serve_refuses_a_generation_model_flag_that_is_not_on_the_machine(
    index: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--index", str(index), "--port", "0", "--qg-model", str(tmp_path / "flag-qg")])
    assert code == 2 and "--qg-model" in capsys.readouterr().err


@pytest.mark.slow  # a real server process: about 20 s
def test_serve_names_a_missing_configured_generation_model_and_quizzes_without_it(index: Path, tmp_path: Path) -> None:
    env_model = tmp_path / "env-qg"  # does not exist
    log = tmp_path / "serve.log"
    with running_server(index, log, KEY, {"INDEXER_QG_MODEL": str(env_model)}) as s:
        models = httpx.get(f"{s.base}/health", timeout=10).json()["generation_models"]
        assert models["qg_model"] == "env-qg" and models["loaded"] == []
        response = httpx.post(f"{s.base}/quiz", json={"query": "休暇", "n": 1}, headers={"X-API-Key": KEY}, timeout=180)
    assert response.status_code == 200, response.text
    quiz = response.json()  # without its question model, the quiz is made of cloze questions, and says why
    assert quiz["mode"] == "cloze" and "env-qg" in quiz["fallback_reason"] and str(tmp_path) not in response.text
    note = f"note: generation model {env_model} (--qg-model or $INDEXER_QG_MODEL) is neither a local directory"
    output = log.read_text(encoding="utf-8")  # complete: the server has exited
    assert note in output and "offline, quizzes are made without it" in output


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
    with pytest.raises(SystemExit) as exited:  # refused while the arguments are parsed
        main(["serve", "--index", str(index), "--max-concurrent-model-calls", "0"])
    assert exited.value.code == 2 and "max_concurrent_model_calls must be at least 1" in capsys.readouterr().err


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
