"""Access control in the web page: a user of group `all` never sees an HR document (issue #15).

A real `indexer serve` with an access rules index (人事/ for `hr` only) and an API keys file, and a real
headless Chromium (helpers from tests/test_web.py). The same page, signed in with the key of a `staff` user,
searches, asks, makes quizzes (from a query, and from the HR document by path) and opens the HR document's id
in the viewer: none of it may show the HR document's path, title or text. The same steps with the single key
(sees everything) show that the HR document is there to be found, so the assertions can fail.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_web as web
from generation_corpus import corpus_lines, write_documents
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from serve_process import Server, running_server
from tiny_index import build

from search.models.encoder import Encoder
from search.storage.store import Store

pytestmark = pytest.mark.browser
QUIZ_TIMEOUT_S, artifacts_on_failure, by_id, open_page, wait = (
    web.QUIZ_TIMEOUT_S,
    web.artifacts_on_failure,
    web.by_id,
    web.open_page,
    web.wait,
)
driver, downloads = web.driver, web.downloads  # test_web's browser fixtures, shared rather than copied

ADMIN_KEY = "web-acl-admin-key"
STAFF_KEY = "web-acl-staff-key"
HR_DOC = "人事/評価記録.txt"  # not the page's own placeholder example (人事/就業規則.txt)
HR_LINES = corpus_lines()[0:2]  # 就業規則は…, 有給休暇は、入社から六か月を経過した日に十日付与されます。 (HR only)
QUESTION = "有給休暇は何日もらえますか"


@pytest.fixture(scope="module")
def acl_index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> tuple[Path, int]:
    root = tmp_path_factory.mktemp("web-acl")
    (root / "acl.toml").write_text('[[rule]]\nprefix = "人事/"\ngroups = ["hr"]\n', encoding="utf-8")
    docs = write_documents(root / "docs")
    (docs / "人事" / "就業規則.txt").rename(docs / HR_DOC)
    summary = build(docs, root / "index", tiny_encoder, acl=root / "acl.toml")
    assert summary.files_failed == []
    store = Store(root / "index")
    hr_id = store.documents_by_path()[HR_DOC].id
    store.close()
    return root / "index", hr_id


@pytest.fixture(scope="module")
def server(
    acl_index: tuple[Path, int], tiny_seq2seq_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """`indexer serve` with the single key (admin) and a keys file holding the staff user's key hash."""
    folder = tmp_path_factory.mktemp("web-acl-server")
    keys = folder / "keys.txt"
    keys.write_text(f"{hashlib.sha256(STAFF_KEY.encode()).hexdigest()} staff all\n", encoding="utf-8")
    missing = str(folder / "no-generator")
    env = {"INDEXER_QG_MODEL": str(tiny_seq2seq_dir), "INDEXER_QA_MODEL_JA": missing, "INDEXER_QA_MODEL_EN": missing}
    args = ("--api-keys-file", str(keys), "--audit-log", str(folder / "audit.jsonl"))
    with running_server(acl_index[0], folder / "serve.log", ADMIN_KEY, env, args) as running:
        yield running


def page_text(driver: WebDriver) -> str:
    """Everything the page holds from the server, shown or not: the text of every element (hidden panels too),
    suggestion lists and data attributes (a hit's path); not the page's own placeholders."""
    script = (
        "const values = [...document.querySelectorAll('option')].map((o) => o.value);"
        "const data = [...document.querySelectorAll('*')].flatMap((e) => Object.values(e.dataset));"
        "return [document.body.textContent, ...values, ...data].join('\\n');"
    )
    return str(driver.execute_script(script))


def assert_no_hr(driver: WebDriver) -> None:
    text = page_text(driver)
    for needle in (HR_DOC, "評価記録", *HR_LINES, "十日付与"):
        assert needle not in text, needle


def search(driver: WebDriver, query: str) -> None:
    box = by_id(driver, "search-query")
    box.clear()
    box.send_keys(query, Keys.ENTER)
    wait(
        driver,
        lambda d: query in by_id(d, "search-status").text and "…" not in by_id(d, "search-status").text,
        "no search",
    )


def ask(driver: WebDriver, question: str) -> None:
    by_id(driver, "tab-ask").click()
    box = by_id(driver, "ask-question")
    box.clear()
    box.send_keys(question, Keys.ENTER)
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#ask-result .answer"), "no answer", 60)


def quiz(driver: WebDriver, source: str, text: str, refused: bool = False) -> None:
    """A quiz from a query or a document path; waits for its questions (or its status), or, when it is to be
    `refused`, for the error banner."""
    by_id(driver, "tab-quiz").click()
    driver.find_element(By.CSS_SELECTOR, f"input[name=quiz-source][value={source}]").click()
    box = by_id(driver, f"quiz-{source}")
    box.clear()
    box.send_keys(text)
    count = by_id(driver, "quiz-n")
    count.clear()
    count.send_keys("2", Keys.ENTER)
    if refused:
        wait(driver, lambda d: by_id(d, "error-text").text, "the quiz was not refused", QUIZ_TIMEOUT_S)
        return
    wait(
        driver,
        lambda d: "問" in (status := by_id(d, "quiz-status").text) and "…" not in status,  # done, not running
        "the quiz showed neither questions nor a status",
        QUIZ_TIMEOUT_S,
    )


def open_in_viewer(driver: WebDriver, document_id: int) -> None:
    """What a click on a hit does, for a document id the user has no hit for (e.g. from a shared link)."""
    driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('/static/viewer.js').then((m) => m.openDocument(arguments[0], 0, [])).then(() => done(), done);",
        document_id,
    )


@artifacts_on_failure
def test_the_single_key_finds_the_hr_document(driver: WebDriver, server: Server, acl_index: tuple[Path, int]) -> None:
    """The positive control: with everything visible, the same steps do show the HR document."""
    open_page(driver, server, key=ADMIN_KEY)
    search(driver, "有給休暇の申請")
    assert HR_DOC in page_text(driver)
    ask(driver, QUESTION)
    assert "十日" in by_id(driver, "ask-result").text
    open_in_viewer(driver, acl_index[1])
    wait(driver, lambda d: d.find_element(By.ID, "viewer").get_attribute("open") is not None, "the viewer did not open")
    assert "評価記録" in page_text(driver) or HR_LINES[0] in page_text(driver)


@artifacts_on_failure
def test_a_user_of_group_all_never_sees_the_hr_document(
    driver: WebDriver, server: Server, acl_index: tuple[Path, int]
) -> None:
    open_page(driver, server, key=STAFF_KEY)
    assert_no_hr(driver)
    for query in ("有給休暇の申請", "評価記録", "休暇 申請 経費精算"):
        search(driver, query)
        paths = driver.execute_script(
            "return [...document.querySelectorAll('#search-results .hit')].map((hit) => hit.dataset.path)"
        )
        assert not any(path.startswith("人事/") for path in paths), paths
        if query != "評価記録":  # a query the user typed may stay on the page; nothing else of the document
            assert_no_hr(driver)
    search(driver, "経費精算")  # the typed query stays on the page; nothing else of the HR document does
    assert_no_hr(driver)
    ask(driver, QUESTION)
    assert_no_hr(driver)
    quiz(driver, "query", "有給休暇")
    assert_no_hr(driver)
    quiz(driver, "document", HR_DOC, refused=True)
    banner = by_id(driver, "error-text").text
    assert "No document" in banner, banner  # as for a path that does not exist
    driver.execute_script("document.getElementById('quiz-document').value = ''")
    by_id(driver, "error-close").click()
    open_in_viewer(driver, acl_index[1])
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#error:not([hidden])"), "no error for the hidden id")
    assert by_id(driver, "viewer").get_attribute("open") is None
    assert "No document with id" in by_id(driver, "error-text").text
    assert_no_hr(driver)
