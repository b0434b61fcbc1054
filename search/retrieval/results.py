"""What a search returns: ranked hits with each leg's rank and score, and the generation they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.text.analysis import AnalyzedQuery


@dataclass(frozen=True)
class LegWeights:
    """How much each leg counted for one query, and why (the search result reports both)."""

    dense: float
    keyword: float
    keyword_confidence: float
    model_knows_language: bool
    keyword_coverage: float | None = None
    """Word-vector dense leg only: the IDF-weighted share of the query's words the best keyword passage holds."""

    def as_dict(self) -> dict[str, float | bool | None]:
        return {
            "dense": round(self.dense, 4),
            "keyword": round(self.keyword, 4),
            "keyword_confidence": round(self.keyword_confidence, 4),
            "model_knows_language": self.model_knows_language,
            "keyword_coverage": None if self.keyword_coverage is None else round(self.keyword_coverage, 4),
        }


@dataclass
class LegResult:
    """A passage's place in one leg's ranking (dense or keyword), before fusion."""

    rank: int
    score: float


@dataclass
class Hit:
    passage_id: int
    score: float
    document_id: int
    path: str
    title: str
    format: str
    heading: str
    text: str
    start: int
    end: int
    ordinal: int
    snippet: str = ""
    highlights: list[tuple[int, int]] = field(default_factory=list)
    dense: LegResult | None = None
    keyword: LegResult | None = None
    more_in_document: int = 0
    """Other passages of the same document that also ranked (searches with collapse on)."""
    window_start: int = 0
    window_end: int = 0
    window_text: str = ""
    """The passage grown to whole sentences of its document (about 300 characters at most), for people and
    answers to read; offsets into the document text like `start`/`end`. Empty on hits not made by a search."""
    rerank_score: float | None = None
    """The reranker's score, for the first results of a search with a reranker (they are in its order)."""

    @classmethod
    def from_row(cls, row: dict[str, Any], score: float = 0.0, **extra: Any) -> Hit:
        """A hit from a `Store.passage_rows` record (passage joined with its document)."""
        return cls(
            passage_id=row["id"],
            score=score,
            document_id=row["document_id"],
            path=row["path"],
            title=row["title"],
            format=row["format"],
            heading=row["heading"],
            text=row["text"],
            start=row["char_start"],
            end=row["char_end"],
            ordinal=row["ordinal"],
            **extra,
        )

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in {"dense", "keyword"}}
        out["highlights"] = [list(s) for s in self.highlights]
        for leg in ("dense", "keyword"):
            value = getattr(self, leg)
            out[leg] = None if value is None else {"rank": value.rank, "score": value.score}
        return out


@dataclass
class SearchResult:
    generation: int
    mode: str
    total_candidates: int
    hits: list[Hit]
    query: AnalyzedQuery | None = None
    weights: LegWeights | None = None
    """Hybrid only: how much each leg counted for this query."""
    collapsed: bool = False
    reranker: str | None = None
    """The cross-encoder that re-ordered the first results, if any (search.models.reranker)."""
    dense_model: str | None = None
    """What answered the dense leg (not in keyword mode): the index's embedding model, or word vectors for a
    Japanese query that an English-only model cannot read."""

    @property
    def legs_used(self) -> list[str]:
        """The legs that placed at least one returned hit (and, in hybrid, had weight for this query)."""
        used = []
        for leg in ("dense", "keyword"):
            weight = 1.0 if self.weights is None else getattr(self.weights, leg)
            if weight > 0 and any(getattr(hit, leg) is not None for hit in self.hits):
                used.append(leg)
        return used

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "generation": self.generation,
            "mode": self.mode,
            "results": [h.as_dict() for h in self.hits],
            "legs_used": self.legs_used,
            "leg_weights": None if self.weights is None else self.weights.as_dict(),
            "collapsed": self.collapsed,
            "dense_model": self.dense_model,
            "reranker": self.reranker,
        }
        if self.query is not None:
            out["query_terms"] = list(self.query.terms)
            out["expansions"] = [e.as_dict() for e in self.query.expansions]
        return out
