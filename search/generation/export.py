"""Quiz export as CSV or TSV for spreadsheets and flashcard/LMS imports, and reading it back.

Written with the csv module (quoting, embedded newlines and delimiters handled), one row per question with
the options in separate columns (option_1..option_4), which is what spreadsheet and flashcard importers map
to fields. `read_table` restores what `write_table` wrote, so an exported quiz can be edited and re-imported.

Document text is untrusted: a cell starting with = + - @ (or a tab or carriage return) would run as a formula
when the file is opened in a spreadsheet (CSV injection, OWASP). Such cells get a leading apostrophe, which
spreadsheets read as "this is text"; `read_table` takes it off again, so the round trip stays exact. A cell that
already starts with apostrophes before such a character gets one more, so the guard is always reversible.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from search.errors import SearchError

FORMATS = {"csv": ",", "tsv": "\t"}
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
)
_INTS = ("passage_id", "start", "end", "answer_start", "answer_end")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def guard_formula(cell: Any) -> Any:
    """A text cell a spreadsheet would evaluate, made inert with a leading apostrophe; anything else as is."""
    if isinstance(cell, str) and cell.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def unguard_formula(cell: str) -> str:
    """Undo guard_formula: exactly one apostrophe comes off, and only where guard_formula put one, so a cell
    that began with apostrophes of its own keeps them."""
    return cell[1:] if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_STARTS) else cell


def _delimiter(fmt: str) -> str:
    if fmt not in FORMATS:
        raise SearchError(f"Unknown export format '{fmt}': use csv or tsv")
    return FORMATS[fmt]


def write_table(questions: Iterable[dict[str, Any]], fmt: str = "csv") -> str:
    """Questions (QuizQuestion.as_dict()) as CSV/TSV text with a header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, delimiter=_delimiter(fmt), lineterminator="\n")
    writer.writeheader()
    for q in questions:
        options = list(q.get("options") or [])
        if len(options) > MAX_OPTIONS:
            raise SearchError(f"A question has {len(options)} options; the table holds at most {MAX_OPTIONS}")
        row = {name: q.get(name) for name in COLUMNS if not name.startswith("option_")}
        row.update({f"option_{i}": options[i - 1] if i <= len(options) else "" for i in range(1, MAX_OPTIONS + 1)})
        row["verified"] = "" if q.get("verified") is None else str(bool(q["verified"])).lower()
        writer.writerow({name: guard_formula(value) for name, value in row.items()})
    return out.getvalue()


def read_table(text: str, fmt: str = "csv") -> list[dict[str, Any]]:
    """Rows written by write_table back as dicts: ints restored, options as a list, distractors derived."""
    reader = csv.DictReader(io.StringIO(text), delimiter=_delimiter(fmt))
    missing = set(COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise SearchError(f"Not a quiz table: missing columns {', '.join(sorted(missing))}")
    rows: list[dict[str, Any]] = []
    for guarded in reader:
        # Only the known columns: a spreadsheet may add cells past them (DictReader files those under None).
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
