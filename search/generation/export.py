"""Quiz export as CSV or TSV for spreadsheets and flashcard/LMS imports, and reading it back.

One implementation for every way a quiz leaves the system: `indexer quiz --format csv|tsv` and the web page's
download (POST /quiz/export) both return `write_table`'s text, so the two files are the same byte for byte.
Written with the csv module, one row per question with the options in separate columns (option_1..option_4),
which is what spreadsheet and flashcard importers map to fields. `read_table` restores what `write_table`
wrote, so an exported quiz can be edited and re-imported.

The file is made for spreadsheets first:
- CSV starts with a UTF-8 byte order mark: Excel on Japanese Windows reads a file without one as Shift_JIS and
  shows mojibake. TSV, which importers rather than people open, has none.
- Rows end in CRLF (RFC 4180, what Excel writes), and every cell that holds a CR or LF is quoted: a reader that
  takes a bare CR for a line break (Excel and LibreOffice both do) must not see a new row inside a cell.
- A new column goes last (`mode`), so that an importer that maps columns by position keeps working.

Document text is untrusted: a cell a spreadsheet would evaluate (CSV injection, OWASP) gets a leading
apostrophe, which spreadsheets read as "this is text"; `read_table` takes it off again, so the round trip stays
exact. Such a cell starts with = + - @ or their full-width forms ＝＋－＠ (Japanese spreadsheets run those too),
possibly after whitespace (including the ideographic space U+3000), or with any control character (tab, CR,
LF, NUL, escape). A cell that already starts with apostrophes before such text gets one more, so the guard is
always reversible.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable
from typing import Any

from search.errors import SearchError

FORMATS = {"csv": ",", "tsv": "\t"}
MEDIA_TYPES = {"csv": "text/csv", "tsv": "text/tab-separated-values"}
BYTE_ORDER_MARK = "\ufeff"
LINE_END = "\r\n"
MAX_OPTIONS = 4
COLUMNS = (
    "question",
    "answer",
    "answer_type",
    *(f"option_{i}" for i in range(1, MAX_OPTIONS + 1)),
    "path",
    "title",
    "passage_id",
    "start",
    "end",
    "answer_start",
    "answer_end",
    "verified",
    "mode",  # how the question was made ("generated", "cloze"); empty when the question does not say
)
# Columns added after files were already exported: a table without them is older, not broken.
LATER_COLUMNS = frozenset({"mode"})
_INTS = ("passage_id", "start", "end", "answer_start", "answer_end")
FORMULA_STARTS = frozenset("=+-@")


def _starts_formula(text: str) -> bool:
    """Whether a spreadsheet could evaluate `text` (or strip what precedes a formula in it).

    Control characters count wherever whitespace may precede the formula, and full-width starters count as
    their ASCII forms (NFKC folds ＝＋－＠ and the small forms ﹦﹢﹣﹫ to = + - @)."""
    if text and unicodedata.category(text[0]) == "Cc":
        return True
    rest = text.lstrip()  # Unicode whitespace: ASCII space, U+3000, NBSP, ...
    if not rest:
        return False
    first = rest[0]
    return unicodedata.category(first) == "Cc" or unicodedata.normalize("NFKC", first) in FORMULA_STARTS


def guard_formula(cell: Any) -> Any:
    """A text cell a spreadsheet would evaluate, made inert with a leading apostrophe; anything else as is."""
    if isinstance(cell, str) and _starts_formula(cell.lstrip("'")):
        return "'" + cell
    return cell


def unguard_formula(cell: str) -> str:
    """Undo guard_formula: exactly one apostrophe comes off, and only where guard_formula put one, so a cell
    that began with apostrophes of its own keeps them."""
    return cell[1:] if cell.startswith("'") and _starts_formula(cell.lstrip("'")) else cell


def _delimiter(fmt: str) -> str:
    if fmt not in FORMATS:
        raise SearchError(f"Unknown export format '{fmt}': use csv or tsv")
    return FORMATS[fmt]


def write_table(questions: Iterable[dict[str, Any]], fmt: str = "csv") -> str:
    """Questions (QuizQuestion.as_dict()) as CSV/TSV text with a header row, ready to be written as UTF-8.

    The text holds CRLF line ends of its own: write it in binary or with newline="" so that they stay as they are.
    """
    out = io.StringIO(newline="")
    # The line terminator holds both CR and LF, so QUOTE_MINIMAL quotes every cell that holds either.
    writer = csv.DictWriter(
        out, fieldnames=COLUMNS, delimiter=_delimiter(fmt), lineterminator=LINE_END, quoting=csv.QUOTE_MINIMAL
    )
    writer.writeheader()
    for q in questions:
        options = list(q.get("options") or [])
        if len(options) > MAX_OPTIONS:
            raise SearchError(f"A question has {len(options)} options; the table holds at most {MAX_OPTIONS}")
        row = {name: q.get(name) for name in COLUMNS if not name.startswith("option_")}
        row.update({f"option_{i}": options[i - 1] if i <= len(options) else "" for i in range(1, MAX_OPTIONS + 1)})
        row["verified"] = "" if q.get("verified") is None else str(bool(q["verified"])).lower()
        writer.writerow({name: guard_formula(value) for name, value in row.items()})
    text = out.getvalue()
    return BYTE_ORDER_MARK + text if fmt == "csv" else text


def read_table(text: str, fmt: str = "csv") -> list[dict[str, Any]]:
    """Rows written by write_table back as dicts: ints restored, options as a list, distractors derived.

    Takes the text with or without its byte order mark, with any of CRLF, LF or CR line ends (as a spreadsheet
    may save it); input that is not a well-formed table is a SearchError naming the line.
    """
    delimiter = _delimiter(fmt)
    # newline="": line ends reach the csv module untranslated, which it needs to keep line breaks inside
    # quoted cells; strict: a stray quote is an error instead of a cell that silently swallows the rest.
    # csv.reader rather than DictReader, whose line_num stops at the last good row, not the bad one.
    reader = csv.reader(io.StringIO(text.removeprefix(BYTE_ORDER_MARK), newline=""), delimiter=delimiter, strict=True)
    try:
        return _read_rows(reader)
    except csv.Error as exc:
        raise SearchError(
            f"Quiz table line {reader.line_num}: {exc}; the file is not a well-formed {fmt.upper()} file: save it "
            f"again from the spreadsheet as {fmt.upper()} (UTF-8), or export the quiz again"
        ) from exc


def _read_rows(reader: Any) -> list[dict[str, Any]]:
    header = next(reader, [])
    missing = set(COLUMNS) - LATER_COLUMNS - set(header)
    if missing:
        raise SearchError(f"Not a quiz table: missing columns {', '.join(sorted(missing))}")
    rows: list[dict[str, Any]] = []
    for cells in reader:
        if not cells:  # a blank line
            continue
        # Only the known columns: a spreadsheet may add cells past them, and zip drops those (a short row's
        # missing cells read as empty, and a whole-number column then says which line is incomplete).
        guarded = dict(zip(header, cells, strict=False))
        raw = {name: unguard_formula(guarded.get(name) or "") for name in COLUMNS}
        try:
            rows.append(_row(raw))
        except (ValueError, KeyError) as exc:
            raise SearchError(
                f"Quiz table line {reader.line_num}: {exc}; passage_id, start, end, answer_start and answer_end "
                "must be whole numbers and verified must be true, false or empty"
            ) from exc
    return rows


def _row(raw: dict[str, str]) -> dict[str, Any]:
    options = [raw[f"option_{i}"] for i in range(1, MAX_OPTIONS + 1) if raw[f"option_{i}"] != ""]
    row: dict[str, Any] = {name: raw[name] for name in COLUMNS if not name.startswith("option_")}
    for name in _INTS:
        row[name] = int(row[name])
    row["verified"] = {"": None, "true": True, "false": False}[row["verified"]]
    row["options"] = options
    row["distractors"] = [o for o in options if o != row["answer"]]
    return row
