"""`indexer build --executor ray`: the encoding runs as a Ray Data job, the commit stays local (issue #13).

A local Ray runtime starts in this process (2 CPUs, no dashboard, its node address 127.0.0.1 so nothing
listens beyond loopback) and the tiny model encodes; the Ray build must give the same passages (same ids, same texts)
and the same vectors (cosine >= 0.9999) as a local build of the same folder, stay incremental, and go through
the same write protocol (one generation per build, SQLite and FAISS agree).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tiny_index import SMALL_PASSAGES, build

from indexer.cli import main
from search.models.encoder import Encoder
from search.models.executors import LocalExecutor, current_executor, use_executor
from search.storage.generations import index_status
from search.storage.store import Store

# Ray replaces a node address of 127.0.0.1 by the machine's reachable one, and its servers then listen on every
# interface; with "clusters" off (read when ray is imported) the node is 127.0.0.1 and they listen on loopback only.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
ray = pytest.importorskip("ray", reason="the [ray] extra is installed by `make test` in CI (.ci/run)")
from search.models.ray_executor import RayExecutor  # noqa: E402 - after the extra is known to be there

pytestmark = pytest.mark.slow

TEXTS = {
    "hr/leave.txt": "有給休暇は入社から六か月後に十日付与されます。申請は三日前までに人事部へ提出してください。",
    "hr/remote.txt": "在宅勤務の申請は前日までに上長の承認を得てください。VPN の設定も確認してください。",
    "it/password.md": "# パスワード\n\nパスワードを忘れた場合はヘルプデスクに連絡してください。",
    "finance/expenses.txt": "経費精算の締め日は毎月二十五日です。領収書の原本は経理部に提出してください。" * 6,
}


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", logging_level="error")
    assert ray.util.get_node_ip_address() == "127.0.0.1"  # what the GCS, raylet and workers bind to
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    for rel, text in TEXTS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def passages(index: Path) -> dict[int, tuple[str, np.ndarray]]:
    store = Store(index)
    try:
        ids = [int(i) for i in store.passage_ids()]
        vectors = store.embeddings_for(ids)
        return {i: (str(store.get_passage(i)["text"]), vectors[i]) for i in ids}
    finally:
        store.close()


def assert_same_index(ray_index: Path, local_index: Path) -> None:
    by_ray, by_local = passages(ray_index), passages(local_index)
    assert by_ray.keys() == by_local.keys() and by_ray
    for pid, (text, vector) in by_local.items():
        assert by_ray[pid][0] == text
        assert float(by_ray[pid][1] @ vector) >= 0.9999, pid
    status = index_status(ray_index)
    assert status["consistent"], status["consistency"]


def test_a_ray_build_gives_the_ids_and_vectors_of_a_local_build(
    local_ray: None, docs: Path, tmp_path: Path, tiny_encoder: Encoder
) -> None:
    build(docs, tmp_path / "local", tiny_encoder)
    with use_executor(RayExecutor()) as executor:
        assert current_executor() is executor
        summary = build(docs, tmp_path / "ray", tiny_encoder)
    assert 0 < summary.passages_encoded <= summary.passages_added  # equal texts share one vector
    assert_same_index(tmp_path / "ray", tmp_path / "local")


def test_a_ray_build_stays_incremental(local_ray: None, docs: Path, tmp_path: Path, tiny_encoder: Encoder) -> None:
    build(docs, tmp_path / "local", tiny_encoder)
    with use_executor(RayExecutor()):
        first = build(docs, tmp_path / "ray", tiny_encoder)
        (docs / "hr/new.txt").write_text("慶弔休暇の日数は就業規則の別表に定めます。", encoding="utf-8")
        (docs / "it/password.md").unlink()
        second = build(docs, tmp_path / "ray", tiny_encoder)
        unchanged = build(docs, tmp_path / "ray", tiny_encoder)
    build(docs, tmp_path / "local", tiny_encoder)
    assert second.generation == first.generation + 1
    assert second.passages_encoded == 1 and second.files_removed == 1
    assert unchanged.passages_encoded == 0 and unchanged.generation == second.generation
    assert_same_index(tmp_path / "ray", tmp_path / "local")


def test_cli_build_with_executor_ray(
    local_ray: None,
    docs: Path,
    tmp_path: Path,
    tiny_model_dir: Path,
    tiny_encoder: Encoder,
    capsys: pytest.CaptureFixture[str],
) -> None:
    chunk = ("--chunk-tokens", str(SMALL_PASSAGES.max_tokens), "--chunk-overlap", str(SMALL_PASSAGES.overlap_tokens))
    model = ("--model", str(tiny_model_dir), "--device", "cpu", "--precision", "fp32")
    index = str(tmp_path / "cli")
    assert main(["build", str(docs), "--index", index, *model, *chunk, "--executor", "ray", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["passages_encoded"] > 0
    build(docs, tmp_path / "local", tiny_encoder)
    assert_same_index(tmp_path / "cli", tmp_path / "local")
    assert main(["search", "有給休暇", "--index", index, "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["results"]
    assert hits and hits[0]["path"] == "hr/leave.txt"


def test_the_default_executor_is_local_and_ray_is_not_imported_for_it() -> None:
    assert isinstance(current_executor(), LocalExecutor)
