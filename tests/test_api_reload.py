"""Hot reload: rebuilds commit new generations while searches stream through the running app.

Every response must come from exactly one generation (old or new, never a mixture) and none may fail.
The corpus is small enough that a dense search with k=100 returns *every* passage of its generation, so
the passage ids of such a response must be exactly the ids that generation holds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from api_corpus import EXPENSE, HELPDESK, RULES
from fastapi.testclient import TestClient
from tiny_index import build

from api import ApiSettings, create_app
from search.models.encoder import Encoder
from search.storage.store import Store

NEW_DOC = "# 在宅勤務\n\n在宅勤務の申請は前日までに上長へ行います。休暇と組み合わせることもできます。"
MODES = ("dense", "keyword", "hybrid")


def passage_ids_by_path(index: Path) -> dict[str, set[int]]:
    store = Store(index)
    try:
        rows = store.conn.execute("SELECT d.path, p.id FROM passages p JOIN documents d ON d.id = p.document_id")
        out: dict[str, set[int]] = {}
        for path, pid in rows:
            out.setdefault(path, set()).add(pid)
        return out
    finally:
        store.close()


def test_rebuilds_during_a_stream_of_searches(
    tmp_path: Path, tiny_encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs, index = tmp_path / "docs", tmp_path / "index"
    docs.mkdir()
    (docs / "rules.txt").write_text(RULES, encoding="utf-8")
    (docs / "expense.md").write_text(EXPENSE, encoding="utf-8")
    (docs / "helpdesk.txt").write_text(HELPDESK, encoding="utf-8")
    assert build(docs, index, tiny_encoder).generation == 1
    generations = {1: passage_ids_by_path(index)}

    responses: list[tuple[str, int, dict[str, Any]]] = []
    finished_at: list[float] = []
    build_windows: list[tuple[float, float]] = []
    stop = threading.Event()
    app = create_app(ApiSettings(index_dir=index, device="cpu", precision="fp32"))

    with TestClient(app) as client:

        def stream() -> None:
            n = 0
            while not stop.is_set() and n < 5000:
                mode = MODES[n % len(MODES)]
                response = client.post("/search", json={"query": "在宅勤務の休暇", "k": 100, "mode": mode})
                responses.append((mode, response.status_code, response.json()))
                finished_at.append(time.monotonic())
                n += 1

        def wait_for_generation(generation: int) -> None:
            deadline = time.monotonic() + 30
            while not any(r[2].get("generation") == generation for r in responses[-20:]):
                assert time.monotonic() < deadline, f"generation {generation} never served"
                assert streamer.is_alive(), "the search stream stopped"
                time.sleep(0.01)

        real_encode = tiny_encoder.encode
        gated_encodes: list[int] = []

        def encode_once_searches_moved_on(texts: Sequence[str], progress: Any = None) -> np.ndarray:
            # A tiny model builds faster than a search round trip, so without this gate a build could start
            # and end between two responses. Holding the build until two more searches are answered makes
            # "searches go on while a build runs" a certainty rather than a matter of timing.
            gated_encodes.append(len(texts))
            answered, deadline = len(responses), time.monotonic() + 30
            while len(responses) < answered + 2:
                assert time.monotonic() < deadline and streamer.is_alive(), "the search stream stopped"
                time.sleep(0.005)
            return real_encode(texts, progress)

        monkeypatch.setattr(tiny_encoder, "encode", encode_once_searches_moved_on)

        def rebuild(expected_generation: int) -> None:
            started = time.monotonic()
            assert build(docs, index, tiny_encoder).generation == expected_generation
            build_windows.append((started, time.monotonic()))
            generations[expected_generation] = passage_ids_by_path(index)

        streamer = threading.Thread(target=stream)
        streamer.start()
        try:
            wait_for_generation(1)
            (docs / "remote.md").write_text(NEW_DOC, encoding="utf-8")  # generation 2 adds a document
            rebuild(2)
            wait_for_generation(2)
            (docs / "helpdesk.txt").unlink()  # generation 3 removes one
            (docs / "expense.md").write_text(EXPENSE.replace("二十五日", "二十日"), encoding="utf-8")
            rebuild(3)
            wait_for_generation(3)
        finally:
            stop.set()
            streamer.join(60)

    assert not streamer.is_alive()
    during = [sum(start <= t <= end for t in finished_at) for start, end in build_windows]
    assert len(gated_encodes) == 2, "each rebuild must encode (its changes add passages), or the gate never held"
    assert all(n >= 2 for n in during), f"searches answered during each build: {during}"
    assert "remote.md" not in generations[1] and "remote.md" in generations[2]
    assert "helpdesk.txt" in generations[2] and "helpdesk.txt" not in generations[3]
    failures = [(mode, status, body) for mode, status, body in responses if status != 200]
    assert not failures, failures[:3]
    seen = {body["generation"] for _, _, body in responses}
    assert seen == {1, 2, 3}
    for mode, _, body in responses:
        generation = body["generation"]
        expected = generations[generation]
        all_ids = set().union(*expected.values())
        got = {hit["passage_id"] for hit in body["results"]}
        paths = {hit["path"] for hit in body["results"]}
        assert got <= all_ids and paths <= set(expected), f"{mode} response mixes generations"
        if mode == "dense":
            assert got == all_ids, "a dense k=100 search returns every passage of its generation"
        if mode in {"keyword", "hybrid"}:
            # The new document matches 在宅勤務 by keyword: present exactly when its generation has it.
            assert ("remote.md" in paths) == ("remote.md" in expected)
        for hit in body["results"]:
            assert hit["passage_id"] in expected[hit["path"]], "a passage reported under another document"
