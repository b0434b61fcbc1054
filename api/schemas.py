"""Request and response models of the HTTP API.

Every request model forbids unknown fields: a typo such as `"filter"` for `"filters"` or `"top_k"` for
`"k"` must be a clear 422, not a silently unfiltered or default-sized search.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from search import settings as config
from search.errors import SearchError
from search.retrieval.filters import Filters, parse_time

MAX_QUERY_CHARS = config.QUERY_MAX_CHARS.default
MAX_K = int(config.K.maximum or 0)
MAX_OFFSET = int(config.OFFSET.maximum or 0)

Mode = Literal["hybrid", "dense", "keyword"]

# In the JSON schema only: text fields must hold something other than whitespace (the validators and the core
# reject blank text), so that what the schema calls valid is what the server accepts. JSON Schema patterns
# are searches, not full matches: this one says "contains a character that is not whitespace", where
# whitespace is the union of JSON Schema's `\s` and Python's `str.isspace` (which adds U+001C-U+001F, U+0085).
NOT_BLANK = {"pattern": r"[^\s\u001c-\u001f\u0085]"}

# `modified_after` / `modified_before` in the JSON schema: the string forms as standard formats, so that
# clients (and generated test data) know a string must be a date, not any text.
TIME_SCHEMA = {
    "anyOf": [
        {"type": "string", "format": "date"},
        {"type": "string", "format": "date-time"},
        {"type": "number"},
        {"type": "null"},
    ]
}


def _integral_float_to_int(value: Any) -> Any:
    """JSON has one number type: `5.0` is the integer 5 to JSON Schema (and what some JSON encoders write), so
    it is accepted as 5. Strict mode still rejects `5.5`, `"5"` and `true`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


JsonInt = Annotated[int, BeforeValidator(_integral_float_to_int)]

# A bounded list item. The length constraint also makes pydantic check that the text is valid Unicode: an
# unconstrained `str` lets a lone surrogate (JSON "\ud800") through, and SQLite's UTF-8 binding of it then
# raised UnicodeEncodeError, a 500, where this is a 422.
ShortText = Annotated[str, Field(max_length=200)]
# Likewise for a date: the validator's message quotes the value, and pydantic cannot turn a message holding a
# lone surrogate into an error (UnicodeEncodeError, a 500), so the text is checked before the validator runs.
TimeText = Annotated[str, Field(max_length=100)]


class StrictModel(BaseModel):
    """Unknown fields are rejected, and JSON types are not coerced (`"k": true` or `"k": "5"` is a 422)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# -- search ------------------------------------------------------------------------------------------


class SearchFilters(StrictModel):
    """Restrict results to documents matching all given conditions; both search legs honour them."""

    path_prefix: str | None = Field(None, max_length=1000, description="document path starts with this")
    path_glob: str | None = Field(None, max_length=1000, description="SQLite GLOB on the path, e.g. `人事/*.pdf`")
    formats: list[ShortText] = Field(default_factory=list, max_length=20, description="any of: txt md html pdf docx")
    modified_after: TimeText | float | None = Field(
        None,
        description="ISO date/time (`2025-04-01`, `2025-04-01T09:00`) or POSIX seconds; inclusive",
        json_schema_extra=TIME_SCHEMA,
    )
    modified_before: TimeText | float | None = Field(
        None, description="ISO date/time or POSIX seconds; exclusive", json_schema_extra=TIME_SCHEMA
    )
    tags: list[ShortText] = Field(default_factory=list, max_length=20, description="the document carries all of them")

    @field_validator("modified_after", "modified_before")
    @classmethod
    def _parse_time(cls, value: str | float | None, info: Any) -> float | None:
        """Dates are checked here so that a bad one is a 422 pointing at the field."""
        try:
            seconds = parse_time(value, info.field_name)
        except SearchError as exc:
            raise ValueError(str(exc)) from exc
        if seconds is not None and not math.isfinite(seconds):
            raise ValueError(f"{info.field_name} must be a finite number of seconds")
        return seconds

    def to_filters(self) -> Filters:
        after, before = self.modified_after, self.modified_before
        return Filters(
            path_prefix=self.path_prefix or None,
            path_glob=self.path_glob or None,
            formats=tuple(self.formats),
            modified_after=float(after) if after is not None else None,
            modified_before=float(before) if before is not None else None,
            tags=tuple(self.tags),
        )


class SearchRequest(StrictModel):
    query: str = Field(
        min_length=1, max_length=MAX_QUERY_CHARS, description="what to search for", json_schema_extra=NOT_BLANK
    )
    k: JsonInt = Field(10, ge=1, le=MAX_K, description="results per page")
    offset: JsonInt = Field(0, ge=0, le=MAX_OFFSET, description="results to skip (pagination)")
    mode: Mode = Field("hybrid", description="hybrid (both legs fused), dense (meaning) or keyword (words typed)")
    filters: SearchFilters | None = None
    collapse: bool = Field(
        False, description="best passage per document only; each hit says how many more its document has"
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query must contain something other than whitespace")
        return value

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={"examples": [{"query": "有給休暇は何日もらえますか", "k": 5, "mode": "hybrid"}]},
    )


class LegScore(BaseModel):
    rank: int
    score: float


class SearchHit(BaseModel):
    passage_id: int
    score: float
    document_id: int
    path: str
    title: str
    format: str
    heading: str
    text: str
    start: int = Field(description="character offset of the passage in the document text")
    end: int
    ordinal: int = Field(description="position of the passage in its document")
    snippet: str = Field(description="a window of the passage with matched terms marked <mark>…</mark>")
    highlights: list[list[int]] = Field(description="[start, end) spans of matched terms inside `text`")
    dense: LegScore | None = Field(description="rank and score in the dense leg; null when not found there")
    keyword: LegScore | None = Field(description="rank and BM25 score in the keyword leg; null when not found")
    more_in_document: int = Field(0, description="with collapse: further matching passages in this document")
    window_start: int = Field(description="start of `window_text` in the document text (at or before `start`)")
    window_end: int = Field(description="end of `window_text` in the document text (at or after `end`)")
    window_text: str = Field(
        description="the passage grown to whole sentences, about 300 characters at most (the passage alone when "
        "its own sentences are longer): document_text[window_start:window_end]"
    )
    rerank_score: float | None = Field(
        None, description="with a reranker: its score; the first results are in its order (null: not re-scored)"
    )


class LegWeights(BaseModel):
    dense: float = Field(description="weight of the dense leg for this query (0: the model cannot read it)")
    keyword: float
    keyword_confidence: float = Field(description="0-1: how far the best keyword passage stands above the next")
    model_knows_language: bool = Field(description="whether the dense leg's model reads the query's language")
    keyword_coverage: float | None = Field(
        None,
        description="word-vector dense leg only: IDF-weighted share of the query's words that the best keyword "
        "passage holds; the word vectors weigh less the more of the query the keyword leg matched",
    )


class Expansion(BaseModel):
    term: str = Field(description="a synonym searched for, weighted below the words typed")
    source: str = Field(description="the typed word it expands")
    origin: Literal["user", "sudachi"] = Field(description="the index's synonyms file, or the bundled dictionary")


class SearchResponse(BaseModel):
    query: str
    mode: Mode
    generation: int = Field(description="index generation every result of this response comes from")
    k: int
    offset: int
    results: list[SearchHit]
    legs_used: list[Literal["dense", "keyword"]] = Field(
        description="the legs that placed a returned hit; hybrid with only `keyword` is a keyword search"
    )
    leg_weights: LegWeights | None = Field(description="hybrid only: how much each leg counted for this query")
    collapsed: bool
    dense_model: str | None = Field(
        None,
        description="what answered the dense leg (null in keyword mode): the embedding model, or word vectors for "
        "a Japanese query the model cannot read",
    )
    reranker: str | None = Field(None, description="the cross-encoder that re-ordered the first results (null: none)")
    query_terms: list[str] = Field(default_factory=list, description="the words searched for, after analysis")
    expansions: list[Expansion] = Field(default_factory=list)


# -- documents ---------------------------------------------------------------------------------------


class DocumentSummary(BaseModel):
    id: int
    path: str = Field(description="path relative to the indexed folder")
    title: str
    format: str
    encoding: str | None
    size: int
    mtime: float
    tags: list[str]
    indexed_at: str
    passage_count: int


class PassageOut(BaseModel):
    id: int
    document_id: int
    ordinal: int
    heading: str
    text: str
    start: int
    end: int


class DocumentList(BaseModel):
    generation: int
    total: int
    limit: int
    offset: int
    documents: list[DocumentSummary]


class DocumentDetail(DocumentSummary):
    generation: int
    passages: list[PassageOut] = Field(description="the document's passages in reading order")


class PassageDetail(PassageOut):
    generation: int
    document: DocumentSummary


# -- health ------------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok", "starting"]
    generation: int | None = None
    documents: int | None = None
    passages: int | None = None
    model: str | None = None
    encoder: dict[str, str] | None = Field(
        None, description="how query vectors are computed here: the backend (fp32, bf16, int8 ...) and why"
    )
    dense_models: dict[str, str | None] | None = Field(
        None,
        description="what answers the dense leg of a Japanese (`ja`) and an English (`en`) query: the embedding "
        "model, or word vectors for Japanese when the model cannot read it; null: keyword search only",
    )
    dense_models_note: str | None = Field(None, description="why Japanese queries are keyword-only, and what to do")
    reranker: str | None = Field(None, description="the cross-encoder that re-scores the first results (null: none)")
    generation_models: dict[str, Any] | None = Field(
        None, description="answer and quiz models (loaded or not, lazily on first use) and generation limits"
    )
