"""The quiz table (search/generation/export.py) and POST /quiz/export: one file for the CLI and the web page.

What a user opens is a spreadsheet, so the assertions are about what a spreadsheet or a CSV reader sees: rows
that stay rows whatever line breaks a cell holds, no cell that could start a formula, the byte order mark
that Japanese Excel needs, and a round trip that gives back exactly what was written.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import ApiSettings, create_app
from search.errors import SearchError
from search.generation.export import COLUMNS, guard_formula, read_table, write_table
from search.generation.quiz import QuizQuestion

KEY = "export-test-key"
FORMATS = ("csv", "tsv")
DELIMITERS = {"csv": ",", "tsv": "\t"}
# Text a document can hold and a spreadsheet would run as a formula, in the forms a guard might miss.
HOSTILE = [
    "\r=1+1",  # issue #14: a bare CR before the formula
    "\n=1+1",
    "\r\n=1+1",
    "＝1+1",  # full-width ＝＋－＠, which Japanese spreadsheets accept as formula starters
    "＋1+1",
    "－1+1",
    "＠SUM(A1:A9)",
    " =1+1",  # leading whitespace, ASCII and the ideographic space U+3000
    "\u3000=1+1",
    "\u3000＝1+1",
    "\x00=1+1",  # control characters
    "\x1b=1+1",
    "'\u3000＝1+1",  # an apostrophe of its own: one more goes in front, so that the guard stays reversible
]
# Harmless as one cell, but a row starting with =1+1 if a reader took the CR for the end of the row.
LINE_BREAKS = ["a\r=1+1", "a\n=1+1", "a\r\n=1+1", "末尾\r"]
STARTERS = "=+-@＝＋－＠"
INNOCENT = ["1-2", "ー長音", "ｰ半角長音", " plain", "\u3000全角空白で始まる文", "'plain", "メール@社内"]


def question(**changes: Any) -> dict[str, Any]:
    """A quiz question as QuizQuestion.as_dict() gives it (the CLI's and /quiz's questions)."""
    options = ["五日", "十日", "三日", "七日"]
    base = QuizQuestion("有給休暇は何日？", "十日", "number", options, ["五日", "三日", "七日"], 3,
                        "人事/就業規則.txt", "就業規則", 0, 40, 10, 12, None).as_dict()  # fmt: skip
    return {**base, **changes}


def without_mode(**changes: Any) -> dict[str, Any]:
    """A question from a client that does not say how it was made (an older /quiz response)."""
    return {k: v for k, v in question(**changes).items() if k != "mode"}


def rows_as_a_reader_sees_them(table: str, fmt: str) -> list[list[str]]:
    """Rows as a reader that takes any of CR, LF and CRLF for a line break parses them (Excel, LibreOffice)."""
    return list(csv.reader(io.StringIO(table.removeprefix("\ufeff"), newline=""), delimiter=DELIMITERS[fmt]))


@pytest.mark.parametrize("fmt", FORMATS)
def test_cells_with_line_breaks_or_formulas_stay_one_inert_row_and_read_back_exactly(fmt: str) -> None:
    texts = HOSTILE + LINE_BREAKS
    questions = [question(question=text, answer=text, options=[text, "十日"], title=text) for text in texts]
    table = write_table(questions, fmt)
    rows = rows_as_a_reader_sees_them(table, fmt)
    assert rows[0] == list(COLUMNS) and len(rows) == 1 + len(texts), "a line break inside a cell split a row"
    for row in rows[1:]:
        assert len(row) == len(COLUMNS)
        for cell in row:
            first, first_after_spaces = cell[:1], cell.lstrip()[:1]
            assert first == "" or (first not in STARTERS and first.isprintable()), f"starts a formula: {cell!r}"
            assert first_after_spaces == "" or first_after_spaces not in STARTERS, f"formula after spaces: {cell!r}"
    back = read_table(table, fmt)
    assert [(r["question"], r["answer"], r["options"], r["title"]) for r in back] == [
        (q["question"], q["answer"], q["options"], q["title"]) for q in questions
    ]


def test_the_formula_guard_marks_only_what_a_spreadsheet_would_run() -> None:
    assert guard_formula("\r=1+1") == "'\r=1+1"
    assert all(guard_formula(text) == "'" + text for text in HOSTILE)
    assert all(guard_formula(text) == text for text in INNOCENT)
    assert guard_formula(7) == 7 and guard_formula(None) is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_innocent_text_is_written_as_is_and_reads_back(fmt: str) -> None:
    questions = [question(question=text, answer=text, options=[text], title=text) for text in INNOCENT]
    table = write_table(questions, fmt)
    assert [row[0] for row in rows_as_a_reader_sees_them(table, fmt)[1:]] == INNOCENT, "no apostrophe added"
    assert [row["question"] for row in read_table(table, fmt)] == INNOCENT


def test_csv_is_utf8_with_a_byte_order_mark_and_crlf_lines_for_excel() -> None:
    table = write_table([question(), question(question="二問目\n改行あり")], "csv")
    assert table.startswith("\ufeffquestion,answer,"), "Japanese Excel reads a file without a BOM as Shift_JIS"
    assert table.endswith("\r\n") and table.count("\r\n") == 3 and "\n二" not in table.replace("\r\n", "")
    assert table.replace('"二問目\n改行あり"', "").count("\n") == table.count("\r\n"), "every row ends in CRLF"
    tsv = write_table([question()], "tsv")
    assert tsv.startswith("question\tanswer\t") and tsv.endswith("\r\n"), "TSV for importers: no BOM, CRLF"


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_mode_column_says_how_a_question_was_made(fmt: str) -> None:
    assert COLUMNS[-1] == "mode", "a new column goes last, so that importers mapping by position keep working"
    table = write_table([question(mode="generated"), question(mode="cloze"), without_mode()], fmt)
    assert [row[-1] for row in rows_as_a_reader_sees_them(table, fmt)] == ["mode", "generated", "cloze", ""]
    assert [row["mode"] for row in read_table(table, fmt)] == ["generated", "cloze", ""]


def test_a_table_exported_before_the_mode_column_still_reads() -> None:
    old = "\n".join(line.rsplit(",", 1)[0] for line in write_table([question()], "csv").split("\r\n") if line)
    assert not old.lstrip("\ufeff").split("\n")[0].endswith(",mode")
    (row,) = read_table(old, "csv")
    assert row["mode"] == "" and row["answer"] == "十日" and row["options"] == ["五日", "十日", "三日", "七日"]


def test_bad_input_is_a_search_error_naming_the_line_not_a_csv_error() -> None:
    header = ",".join(COLUMNS)
    good = write_table([question()], "csv").splitlines()[1]
    # What the old writer produced for "\r=1+1": an unquoted CR in the middle of the second data row.
    old_bypass = f"{header}\n{good}\n'\r=1+1,十日,number,,,,,a.txt,a,1,0,10,0,2,,\n"
    with pytest.raises(SearchError, match=r"line 3"):
        read_table(old_bypass, "csv")
    unterminated = f'{header}\n{good}\n{good}\n"never closed,十日\n'
    with pytest.raises(SearchError, match=r"line 4: unexpected end of data"):
        read_table(unterminated, "csv")
    huge = f"{header}\n{'x' * 200_000},十日\n"
    with pytest.raises(SearchError, match=r"line 2: .*field larger"):
        read_table(huge, "csv")


# -- POST /quiz/export ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """The app with an API key, not started: an export reads no index, so none is built or loaded for it."""
    settings = ApiSettings(index_dir=tmp_path_factory.mktemp("export") / "no-index", api_key=KEY)
    return TestClient(create_app(settings), headers={"Authorization": f"Bearer {KEY}"})


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_server_exports_the_same_file_as_the_cli(client: TestClient, fmt: str) -> None:
    questions = [question(mode="generated"), without_mode(question="\r=1+1", answer="＝SUM(A1)", verified=True)]
    # The questions of a /quiz response as they are, distractors and all.
    response = client.post(f"/quiz/export?format={fmt}", json={"questions": questions})
    assert response.status_code == 200, response.text
    assert response.content == write_table(questions, fmt).encode("utf-8"), "one implementation: the CLI's bytes"
    media = {"csv": "text/csv", "tsv": "text/tab-separated-values"}[fmt]
    assert response.headers["content-type"] == f"{media}; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="quiz-') and disposition.endswith(f'.{fmt}"')
    assert [row["mode"] for row in read_table(response.content.decode("utf-8"), fmt)] == ["generated", ""]


def test_the_whole_quiz_response_can_be_posted_and_csv_is_the_default(client: TestClient) -> None:
    quiz_response = {"source": {"document": "人事/就業規則.txt"}, "model": "qg", "multiple_choice": True,
                     "questions": [question()], "skipped": {}}  # fmt: skip
    response = client.post("/quiz/export", json=quiz_response)
    assert response.status_code == 200 and response.content.startswith(b"\xef\xbb\xbfquestion,")


def test_export_rejects_what_it_cannot_write_with_a_clear_error(client: TestClient) -> None:
    unknown = client.post("/quiz/export?format=xlsx", json={"questions": [question()]})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["field"] == "query.format"
    too_many = client.post("/quiz/export", json={"questions": [question(options=list("abcde"))]})
    assert too_many.status_code == 422 and "questions.0.options" in too_many.text
    assert client.post("/quiz/export", json={"questions": [question(passage_id="3")]}).status_code == 422
    assert client.post("/quiz/export", json={"questions": []}).status_code == 422
    surrogate = json.dumps({"questions": [question(question="SURROGATE")]}).replace("SURROGATE", "\\ud800")
    lone = client.post("/quiz/export", content=surrogate, headers={"Content-Type": "application/json"})
    assert lone.status_code == 422, "a lone surrogate cannot be written as UTF-8: a 422, not a 500"


def test_export_needs_the_api_key(client: TestClient) -> None:
    response = client.post("/quiz/export", json={"questions": [question()]}, headers={"Authorization": ""})
    assert response.status_code == 401
