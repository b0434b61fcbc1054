"""The per-file time budget (issue #14): no single file may hold a build hostage.

Time is simulated with a clock that advances one second per reading, so a budget of N seconds allows about N
checks: the tests see how much work a file gets after its budget is spent without waiting for real time.
Only the SIGALRM test uses the real clock, and it waits for the interruption, not for a fixed time.
"""

from __future__ import annotations

import copy
import io
import math
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import docx
import pytest
from reportlab.pdfgen import canvas

import search.ingest.extract
from search.documents import Block, Document
from search.errors import ExtractionError, SearchError
from search.ingest.chunk import ChunkSettings, chunk_document
from search.ingest.deadline import Deadline
from search.ingest.extract import extract_bytes

BUDGET_MESSAGE = r"took longer than \d+ s to read; raise the file time budget \(file_timeout, \d+ s\)"


class TickingClock:
    """Advances one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


def spent_deadline() -> Deadline:
    clock = TickingClock()
    deadline = Deadline(5, clock=clock)
    clock.now += 10
    return deadline


def char_count(texts: list[str]) -> list[int]:
    return [len(t) for t in texts]


def pdf_bytes(pages: int) -> bytes:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer)
    for number in range(pages):
        pdf.setFont("Helvetica", 12)
        pdf.drawString(72, 780, f"Page {number} explains the travel expense rules.")
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def docx_bytes(paragraphs: int) -> bytes:
    source = docx.Document()
    paragraph = source.add_paragraph("段落の本文です。")._p
    for _ in range(paragraphs - 1):
        paragraph.addnext(copy.deepcopy(paragraph))
    buffer = io.BytesIO()
    source.save(buffer)
    return buffer.getvalue()


SMALL_FILES: dict[str, Callable[[], bytes]] = {
    "a.txt": lambda: "本文です。".encode(),
    "a.md": lambda: "# 見出し\n\n本文です。".encode(),
    "a.html": lambda: "<html><body><p>本文です。</p></body></html>".encode(),
    "a.pdf": lambda: pdf_bytes(1),
    "a.docx": lambda: docx_bytes(1),
}
# Each is thousands of units (lines, elements, pages, paragraphs) of work, far more than the budget allows.
HOSTILE_FILES: dict[str, Callable[[], bytes]] = {
    "a.txt": lambda: "一行の本文です。\n".encode() * 20_000,
    "a.md": lambda: "- 項目の本文です。\n".encode() * 20_000,
    "a.html": lambda: ("<html><body>" + "<p>本文です。</p>" * 5_000 + "</body></html>").encode(),
    "a.pdf": lambda: pdf_bytes(300),
    "a.docx": lambda: docx_bytes(5_000),
}


def test_check_raises_once_the_budget_is_spent() -> None:
    clock = TickingClock()
    deadline = Deadline(5, clock=clock)
    deadline.check()
    assert not deadline.expired()
    clock.now += 5
    with pytest.raises(ExtractionError, match=BUDGET_MESSAGE):
        deadline.check()
    assert "(file_timeout, 5 s)" in str(deadline.error())


@pytest.mark.parametrize("seconds", [0, -1.5, math.nan])
def test_budget_must_be_positive(seconds: float) -> None:
    with pytest.raises(SearchError, match="file_timeout must be a positive number of seconds"):
        Deadline(seconds)


def test_never_has_no_budget() -> None:
    deadline = Deadline.never()
    deadline.check()
    assert deadline.remaining() == math.inf and not deadline.limited


@pytest.mark.parametrize("name", SMALL_FILES)
def test_extraction_with_a_spent_budget_fails(name: str) -> None:
    data = SMALL_FILES[name]()
    assert extract_bytes(data, name, name, Deadline(3600)).blocks  # the same file with time to spare
    with pytest.raises(ExtractionError, match=BUDGET_MESSAGE):
        extract_bytes(data, name, name, spent_deadline())


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_hostile_file_stops_soon_after_its_budget(name: str) -> None:
    # Budget checks sit in the per-line/element/page/paragraph loops, so a file that needs thousands of
    # units of work is stopped within a few units of its budget, not after all of them.
    data = HOSTILE_FILES[name]()
    clock = TickingClock()
    deadline = Deadline(40, clock=clock)
    with pytest.raises(ExtractionError, match=BUDGET_MESSAGE):
        extract_bytes(data, name, name, deadline)
    assert clock.now <= 40 + 3


def test_chunking_with_a_spent_budget_fails() -> None:
    text = "有給休暇は十日です。"
    document = Document("a.txt", "a", "txt", text, [Block(0, len(text), "")])
    assert chunk_document(document, char_count, ChunkSettings(), Deadline(3600))
    with pytest.raises(ExtractionError, match=BUDGET_MESSAGE):
        chunk_document(document, char_count, ChunkSettings(), spent_deadline())


def test_hostile_line_stops_chunking_soon_after_its_budget() -> None:
    text = "あ" * 1_000_000  # one sentence: cut into ~17,000 pieces
    document = Document("a.txt", "a", "txt", text, [Block(0, len(text), "")])
    clock = TickingClock()
    calls: list[int] = []

    def counting(texts: list[str]) -> list[int]:
        calls.append(len(texts))
        return char_count(texts)

    with pytest.raises(ExtractionError, match=BUDGET_MESSAGE):
        chunk_document(document, counting, ChunkSettings(), Deadline(20, clock=clock))
    assert clock.now <= 20 + 2 and len(calls) <= 20


def spin_until_interrupted(record: dict[str, bool]) -> Callable[..., str]:
    """A stand-in for a parser stuck in one call for a minute, swallowing ordinary exceptions as pypdf does."""

    def spin(*args: object) -> str:
        record["started"] = True
        ends = time.monotonic() + 60
        while time.monotonic() < ends:
            try:
                sum(range(1000))
            except Exception:  # noqa: BLE001 - the swallowing this test must get through
                continue
        record["finished"] = True
        return ""

    return spin


def test_parser_stuck_in_one_call_is_interrupted(monkeypatch: pytest.MonkeyPatch) -> None:
    # One huge PDF page: pypdf does not return to our loops, so only the SIGALRM timer can stop it.
    record: dict[str, bool] = {}
    monkeypatch.setattr(search.ingest.extract, "_pdf_page_text", spin_until_interrupted(record))
    previous = signal.getsignal(signal.SIGALRM)
    with pytest.raises(ExtractionError, match=BUDGET_MESSAGE):
        extract_bytes(pdf_bytes(1), "a.pdf", "a.pdf", Deadline(1))
    assert record == {"started": True}
    assert signal.getsignal(signal.SIGALRM) == previous
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def record_alarm_state(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, float]]:
    """(SIGALRM handler, seconds on the timer) as seen from inside an extraction."""
    seen: list[tuple[Any, float]] = []
    original = search.ingest.extract.decode_text

    def recording(data: bytes) -> tuple[str, str]:
        seen.append((signal.getsignal(signal.SIGALRM), signal.getitimer(signal.ITIMER_REAL)[0]))
        return original(data)

    monkeypatch.setattr(search.ingest.extract, "decode_text", recording)
    return seen


def test_someone_elses_alarm_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = record_alarm_state(monkeypatch)
    extract_bytes(b"text", "a.txt", "a.txt", Deadline(3600))
    assert seen[-1][0] is not signal.SIG_DFL and seen[-1][1] > 0  # ours, armed

    def theirs(signum: int, frame: FrameType | None) -> None:
        raise AssertionError("their alarm must not fire during this test")

    previous = signal.signal(signal.SIGALRM, theirs)
    try:
        extract_bytes(b"text", "a.txt", "a.txt", Deadline(3600))
        assert seen[-1] == (theirs, 0.0)
        assert signal.getsignal(signal.SIGALRM) is theirs
    finally:
        signal.signal(signal.SIGALRM, previous)


def test_budget_applies_in_worker_threads() -> None:
    # Signals reach only the main thread; elsewhere the loop checks alone stop a file.
    outcome: dict[str, object] = {}

    def work() -> None:
        outcome["ok"] = extract_bytes(b"text", "a.txt", "a.txt", Deadline(3600)).text
        try:
            extract_bytes(HOSTILE_FILES["a.txt"](), "a.txt", "a.txt", Deadline(40, clock=TickingClock()))
        except ExtractionError as exc:
            outcome["error"] = str(exc)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    assert outcome["ok"] == "text"
    assert "file_timeout" in str(outcome["error"])
