"""`indexer serve --workers N` (issue #13): N processes on one port, each with its own query encoder, each
following new index generations on its own."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from serve_process import running_server

from api.settings import ENV_API_KEY, ENV_API_KEY_FILE, ENV_CORS_ORIGINS
from indexer.cli import main

KEY = "workers-test-key"
HEADERS = {"X-API-Key": KEY}

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def no_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (ENV_API_KEY, ENV_API_KEY_FILE, ENV_CORS_ORIGINS):
        monkeypatch.delenv(name, raising=False)


def children(pid: int) -> list[int]:
    """The worker processes `pid` spawned (Linux /proc), not multiprocessing's resource tracker."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in command:
                found.append(int(child))
    return sorted(found)


def test_workers_share_the_port_and_each_follows_new_generations(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "休暇.txt").write_text("有給休暇は入社から六か月後に十日付与されます。", encoding="utf-8")
    build = ["build", str(docs), "--index", str(index), "--model", str(tiny_model_dir), "--json"]
    assert main(build) == 0
    with running_server(index, tmp_path / "serve.log", KEY, args=("--workers", "2")) as server:
        workers = children(server.pid)
        assert len(workers) == 2, workers
        body = {"query": "有給休暇", "k": 1, "mode": "keyword"}
        first = [httpx.post(f"{server.base}/search", json=body, headers=HEADERS, timeout=60) for _ in range(6)]
        assert all(r.status_code == 200 and r.json()["results"][0]["path"] == "休暇.txt" for r in first)
        (docs / "経費.txt").write_text("経費精算の締め日は毎月二十五日です。", encoding="utf-8")
        assert main(build) == 0
        capsys.readouterr()
        # Keep-alive off (a new connection per request), so both workers' accept loops get requests.
        body = {"query": "経費精算", "k": 1, "mode": "keyword"}
        later = [httpx.post(f"{server.base}/search", json=body, headers=HEADERS, timeout=60) for _ in range(12)]
        assert all(r.status_code == 200 and r.json()["generation"] == 2 for r in later), [r.text for r in later]
        assert all(r.json()["results"][0]["path"] == "経費.txt" for r in later)
        assert children(server.pid) == workers  # no worker died and was replaced
    output = server.log.read_text(encoding="utf-8", errors="replace")
    assert "with 2 worker processes" in output and output.count("Loading the index") == 2


def test_a_milvus_lite_index_is_refused_more_than_one_worker(
    tmp_path: Path, tiny_model_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("pymilvus", reason="the [milvus] extra is installed by `make test` in CI (.ci/run)")
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "休暇.txt").write_text("有給休暇は入社から六か月後に十日付与されます。", encoding="utf-8")
    build = ["build", str(docs), "--index", str(index), "--model", str(tiny_model_dir), "--vector-store", "milvus"]
    assert main(build) == 0
    capsys.readouterr()
    code = main(["serve", "--index", str(index), "--workers", "2", "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "Milvus Lite file milvus.db" in err and "--workers 1" in err
