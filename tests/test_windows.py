"""Search hits carry a sentence-complete window for people to read (issue #11, "Passages people can read").

Passages are small (a top hit can end at a comma), so each hit also carries `window_text`: the passage grown to
whole sentences of its document, about 300 characters at most, with exact offsets into the document text.
Checked through the HTTP API on an index of the API corpus plus two documents made for the edge cases: many
short sentences (the window grows past the passage) and one sentence longer than the cap (the window is the
passage itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_corpus import write_corpus
from fastapi.testclient import TestClient
from tiny_index import build

from api import ApiSettings, create_app
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher
from search.retrieval.windows import WINDOW_CHARS, sentence_window
from search.storage.store import Store
from search.text.sentences import split_sentences

SHORT_DOC = "窓/短文.txt"
SHORT_TEXT = "".join(f"窓口{n}番は受付です。" for n in range(1, 41)) + "\n"
LONG_DOC = "窓/長文.txt"
LONG_CLAUSES = "、".join(f"第{n}項の条件を満たす場合に限り申請を認め" for n in range(1, 40))
LONG_TEXT = f"長い一文の規程として、{LONG_CLAUSES}る。\n"
QUERIES = ("受付", "申請", "有給休暇の申請", "経費", "条件")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("windows")
    docs = write_corpus(root / "docs")
    (docs / "窓").mkdir()
    (docs / SHORT_DOC).write_text(SHORT_TEXT, encoding="utf-8")
    (docs / LONG_DOC).write_text(LONG_TEXT, encoding="utf-8")
    summary = build(docs, root / "index", tiny_encoder)
    assert summary.files_failed == []
    return root / "index"


@pytest.fixture(scope="module")
def client(index: Path, tiny_encoder: Encoder) -> Iterator[TestClient]:
    app = create_app(ApiSettings(index_dir=index), searcher=Searcher(index, encoder=tiny_encoder))
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def document_texts(index: Path) -> dict[int, str]:
    store = Store(index)
    try:
        return {doc.id: str(store.document_text(doc.id)) for doc in store.documents_by_path().values()}
    finally:
        store.close()


def all_hits(client: TestClient) -> list[dict[str, Any]]:
    hits = []
    for query in QUERIES:
        for mode in ("hybrid", "keyword"):
            response = client.post("/search", json={"query": query, "k": 20, "mode": mode})
            assert response.status_code == 200, response.text
            hits.extend(response.json()["results"])
    assert hits, "the test queries must find something"
    return hits


def test_each_window_is_exact_document_text_around_its_passage(
    client: TestClient, document_texts: dict[int, str]
) -> None:
    for hit in all_hits(client):
        text = document_texts[hit["document_id"]]
        assert text[hit["window_start"] : hit["window_end"]] == hit["window_text"], hit["path"]
        assert hit["window_start"] <= hit["start"] < hit["end"] <= hit["window_end"], "the window holds its passage"
        assert text[hit["start"] : hit["end"]] == hit["text"], "the passage's own offsets are unchanged"


def test_windows_end_at_sentence_boundaries_within_the_cap(client: TestClient, document_texts: dict[int, str]) -> None:
    for hit in all_hits(client):
        sentences = split_sentences(document_texts[hit["document_id"]])
        if (hit["window_start"], hit["window_end"]) == (hit["start"], hit["end"]) and hit["end"] - hit["start"] > 0:
            # the passage itself: only when its sentences together are longer than the cap, or it is one
            touched = [(s, e) for s, e in sentences if e > hit["start"] and s < hit["end"]]
            whole = (min(s for s, _ in touched), max(e for _, e in touched))
            assert whole == (hit["start"], hit["end"]) or whole[1] - whole[0] > WINDOW_CHARS, hit["path"]
            continue
        assert hit["window_start"] in {s for s, _ in sentences}, f"{hit['path']}: window starts mid-sentence"
        assert hit["window_end"] in {e for _, e in sentences}, f"{hit['path']}: window ends mid-sentence"
        assert hit["window_end"] - hit["window_start"] <= WINDOW_CHARS


def test_short_sentences_grow_into_a_readable_window(client: TestClient) -> None:
    hits = [hit for hit in all_hits(client) if hit["path"] == SHORT_DOC]
    assert hits, "受付 must find the short-sentence document"
    for hit in hits:
        assert len(hit["window_text"]) > len(hit["text"]), "neighbouring sentences are added"
        assert WINDOW_CHARS - len("窓口40番は受付です。") < len(hit["window_text"]) <= WINDOW_CHARS
        assert hit["window_text"].startswith("窓口") and hit["window_text"].endswith("。")


def test_a_sentence_longer_than_the_cap_keeps_the_passage(client: TestClient) -> None:
    assert len(LONG_TEXT) > 2 * WINDOW_CHARS
    hits = [hit for hit in all_hits(client) if hit["path"] == LONG_DOC]
    assert hits, "条件 must find the long-sentence document"
    for hit in hits:
        assert (hit["window_start"], hit["window_end"], hit["window_text"]) == (hit["start"], hit["end"], hit["text"])


def test_a_passage_cut_at_a_comma_grows_to_its_whole_sentence() -> None:
    text = "前の文です。休暇は、申請の三日前までに届け出てください。次の文です。\n別の行です。"
    start = text.index("休暇")
    window = sentence_window(text, start, text.index("、") + 1, limit=30)
    assert window.text == "休暇は、申請の三日前までに届け出てください。次の文です。", "the next sentence first"
    assert sentence_window(text, start, start + 3, limit=20).text == text[start : start + 3], "over the cap"
    assert sentence_window(text, start, start + 3).text == text, "lines are crossed while the cap allows"


def test_a_long_line_gives_the_same_window_as_splitting_the_whole_document() -> None:
    """Only the text near a hit is split (a megabyte line split whole took 340 ms per hit); the window must be
    the one the whole document's sentences give."""
    text = "".join(f"第{n}条「注意。」と書く。" for n in range(5000))  # one line, brackets throughout
    start = text.index("第2500条") + 2
    window = sentence_window(text, start, start + 10)
    sentences = split_sentences(text)
    assert window.start in {s for s, _ in sentences} and window.end in {e for _, e in sentences}
    assert window.start < start and WINDOW_CHARS - 20 < len(window.text) <= WINDOW_CHARS
    assert window.text.startswith("第") and window.text.endswith("と書く。")
