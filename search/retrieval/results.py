"""What a search returns: ranked hits with each leg's rank and score, and the generation they came from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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

    def as_dict(self) -> dict[str, Any]:
        return {"generation": self.generation, "mode": self.mode, "results": [h.as_dict() for h in self.hits]}
