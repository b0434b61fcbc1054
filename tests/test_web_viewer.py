"""Passages people can read in the web page (issue #11): sentence windows in the hits, and a document viewer
that shows each character of the document once although consecutive passages overlap.

A real `indexer serve` on an index built with overlapping passages (the tests' usual tiny chunks, but with an
overlap, as real indexes have) and a real headless Chromium; helpers and browser fixtures from
tests/test_web.py.
"""

from __future__ import annotations

import itertools
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import test_web as web
from generation_corpus import write_documents
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from serve_process import Server, running_server
from tiny_index import build

from search.ingest.chunk import ChunkSettings
from search.models.encoder import Encoder
from search.storage.store import Store
from search.text.sentences import split_sentences

pytestmark = pytest.mark.browser
artifacts_on_failure, by_id, click, open_page, search_for, wait = (
    web.artifacts_on_failure,
    web.by_id,
    web.click,
    web.open_page,
    web.search_for,
    web.wait,
)
driver, downloads = web.driver, web.downloads  # test_web's browser fixtures, shared rather than copied

KEY = "web-viewer-key"
DOC = "総務/窓口.txt"  # paragraphs of short sentences: many passages, consecutive ones overlapping
DOC_TEXT = "\n\n".join("".join(f"窓口{n}番は第{p}棟の受付です。" for n in range(1, 9)) for p in range(1, 4)) + "\n"
OVERLAPPING = ChunkSettings(max_tokens=64, overlap_tokens=24)


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("web-viewer")
    docs = write_documents(root / "docs")
    (docs / DOC).write_text(DOC_TEXT, encoding="utf-8")
    summary = build(docs, root / "index", tiny_encoder, chunk=OVERLAPPING)
    assert summary.files_failed == []
    return root / "index"


@pytest.fixture(scope="module")
def document(index: Path) -> dict[str, Any]:
    """DOC's id, text and passages as the index holds them; its passages must overlap, or the test proves
    nothing about repeated text."""
    store = Store(index)
    try:
        document_id = store.documents_by_path()[DOC].id
        passages = store.passages_of_document(document_id)
        text = str(store.document_text(document_id))
    finally:
        store.close()
    overlaps = sum(1 for a, b in itertools.pairwise(passages) if b["start"] < a["end"])
    assert len(passages) > 5 and overlaps > 0, f"{DOC}: {len(passages)} passages, {overlaps} overlapping"
    return {"id": document_id, "text": text, "passages": passages}


@pytest.fixture(scope="module")
def server(index: Path, tiny_seq2seq_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("web-viewer-server")
    missing = str(folder / "no-generator")
    env = {"INDEXER_QG_MODEL": str(tiny_seq2seq_dir), "INDEXER_QA_MODEL_JA": missing, "INDEXER_QA_MODEL_EN": missing}
    with running_server(index, folder / "serve.log", KEY, env) as running:
        yield running


def open_in_viewer(driver: WebDriver, document_id: int, passage_id: int) -> None:
    """What a click on a hit does, for a chosen passage (the tiny model's ranking is arbitrary)."""
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/static/viewer.js').then((m) => m.openDocument(arguments[0], arguments[1], []))"
        ".then(() => done(), done);",
        document_id,
        passage_id,
    )
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#viewer-passages .current"), "the viewer did not open")


def show_whole_document(driver: WebDriver) -> None:
    for button in ("viewer-before", "viewer-after"):
        while by_id(driver, button).is_displayed():
            shown = len(driver.find_elements(By.CSS_SELECTOR, "#viewer-passages .doc-passage"))
            click(driver, by_id(driver, button))
            wait(
                driver,
                lambda d, n=shown: len(d.find_elements(By.CSS_SELECTOR, "#viewer-passages .doc-passage")) > n,
                "more",
            )


def shown_pieces(driver: WebDriver) -> list[tuple[int, int, str]]:
    """Each shown run of document text with the document offsets the page says it covers, in page order."""
    script = (
        "return [...document.querySelectorAll('#viewer-passages .doc-text')]"
        ".map((e) => [Number(e.parentElement.dataset.start), Number(e.parentElement.dataset.end), e.textContent]);"
    )
    return [(int(s), int(e), str(t)) for s, e, t in driver.execute_script(script)]


@artifacts_on_failure
def test_the_viewer_shows_each_character_of_the_document_once(
    driver: WebDriver, server: Server, document: dict[str, Any]
) -> None:
    open_page(driver, server, key=KEY)
    middle = document["passages"][len(document["passages"]) // 2]
    open_in_viewer(driver, document["id"], middle["id"])
    show_whole_document(driver)
    page_text = by_id(driver, "viewer-passages").text
    for start, end in split_sentences(document["text"]):
        sentence = document["text"][start:end]
        assert page_text.count(sentence) == 1, f"shown {page_text.count(sentence)} times: {sentence}"
    current = driver.find_element(By.CSS_SELECTOR, "#viewer-passages .current .doc-text")
    assert current.text == middle["text"].strip(), "the opened passage is shown whole"

    text = document["text"]
    pieces = shown_pieces(driver)
    cursor = 0
    for start, end, shown in pieces:
        assert shown == text[start:end], "each run is the document text at its offsets"
        assert start >= cursor, f"characters {start}-{cursor} are shown twice"
        cursor = end
    covered = {i for p in document["passages"] for i in range(p["start"], p["end"])}
    assert {i for start, end, _ in pieces for i in range(start, end)} == covered, "every passage's text is shown"


def api_search(server: Server, query: str) -> dict[int, dict[str, Any]]:
    """The page's search (hybrid, one hit per document) straight from the API, hits by passage id."""
    body = json.dumps({"query": query, "k": 10, "mode": "hybrid", "collapse": True}).encode()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    with urllib.request.urlopen(urllib.request.Request(f"{server.base}/search", body, headers), timeout=30) as reply:
        return {hit["passage_id"]: hit for hit in json.load(reply)["results"]}


@artifacts_on_failure
def test_hits_show_whole_sentences_around_the_marked_passage(driver: WebDriver, server: Server) -> None:
    open_page(driver, server, key=KEY)
    query = "有給休暇の申請"
    results = search_for(driver, query)
    expected = api_search(server, query)
    assert any(hit["window_text"] != hit["text"] for hit in expected.values()), "some window must grow"
    for hit in results:
        window = hit.find_element(By.CSS_SELECTOR, ".snippet")
        source = expected[int(str(hit.get_attribute("data-passage-id")))]
        # line breaks in the window flow as spaces in the compact list of hits
        assert window.text == " ".join(source["window_text"].split()), "the window is shown, whole sentences"
        passage = hit.find_element(By.CSS_SELECTOR, ".hit-passage").text
        assert passage == " ".join(source["text"].split()), "the passage is set off from its context"
        marks = [m.text for m in window.find_elements(By.CSS_SELECTOR, "mark")]
        assert marks == [source["text"][s:e] for s, e in source["highlights"]], "the matched characters are marked"
    assert any(hit.find_elements(By.CSS_SELECTOR, ".snippet mark") for hit in results), "the query matches words"
