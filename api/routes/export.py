"""POST /quiz/export: the questions of a /quiz response as the CSV or TSV file `indexer quiz --format` writes.

The server is the one place the file is made (search/generation/export.py, `write_table`): the web page's
download and the CLI share the columns, the formula guard (document text is untrusted, and a spreadsheet runs
a cell that starts with =), the byte order mark Japanese Excel needs and the CRLF line ends, instead of the page
keeping a JavaScript copy that drifts from them.

The body is the /quiz response or just its `questions`, passed on as they are: fields the table has no column
for (distractors, the response's source and model) are ignored rather than refused, so that a client can post
what /quiz gave it, including fields a later /quiz adds. The fields that become cells are checked strictly.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from api.routes.documents import single_valued_query
from api.schemas import MAX_QUERY_CHARS, JsonInt, ShortText
from search.generation.export import MAX_OPTIONS, MEDIA_TYPES, write_table

router = APIRouter(tags=["answers"], dependencies=[Depends(single_valued_query)])

# Far above a /quiz response (n <= 50); what bounds the work is the request body limit.
MAX_EXPORT_QUESTIONS = 1000

# A bounded length also makes pydantic reject a lone surrogate (JSON "\ud800"), which cannot be written as UTF-8.
CellText = Annotated[str, Field(max_length=MAX_QUERY_CHARS)]


class ExportQuestion(BaseModel):
    """One question as /quiz returns it; only the fields that become cells are read."""

    model_config = ConfigDict(extra="ignore", strict=True)

    question: CellText
    answer: CellText
    answer_type: ShortText
    options: list[CellText] = Field(default_factory=list, max_length=MAX_OPTIONS)
    passage_id: JsonInt = Field(ge=0)
    path: CellText
    title: CellText
    start: JsonInt = Field(ge=0)
    end: JsonInt = Field(ge=0)
    answer_start: JsonInt = Field(ge=0)
    answer_end: JsonInt = Field(ge=0)
    verified: bool | None = None
    mode: ShortText | None = Field(None, description="how the question was made, e.g. generated or cloze")


class QuizExportRequest(BaseModel):
    """A /quiz response, or any object with its `questions`."""

    model_config = ConfigDict(extra="ignore", strict=True)

    questions: list[ExportQuestion] = Field(min_length=1, max_length=MAX_EXPORT_QUESTIONS)


def _filename(fmt: str) -> str:
    """quiz-YYYYMMDD-HHMM.csv (UTC): files downloaded one after another sort by time and do not overwrite."""
    return f"quiz-{datetime.now(timezone.utc):%Y%m%d-%H%M}.{fmt}"


@router.post(
    "/quiz/export",
    response_class=Response,
    responses={
        200: {"content": {media: {} for media in MEDIA_TYPES.values()}, "description": "the file, as an attachment"},
        400: {"description": "the body is not JSON"},
        413: {"description": "request body over the size limit"},
    },
)
async def export_quiz(
    body: QuizExportRequest,
    fmt: Annotated[Literal["csv", "tsv"], Query(alias="format", description="csv (UTF-8 with BOM) or tsv")] = "csv",
) -> Response:
    """The quiz as the table `indexer quiz --format csv|tsv` prints: same columns and bytes, CRLF line ends."""
    table = write_table([q.model_dump() for q in body.questions], fmt)
    return Response(
        content=table.encode("utf-8"),
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{_filename(fmt)}"', "Cache-Control": "no-store"},
    )
