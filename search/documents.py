"""The data that flows through the system: files -> Document -> Passage -> vectors -> results."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Block:
    """A run of body text (paragraph, list item, table row) inside `Document.text`.

    Sentences never cross a block boundary. `heading` is the heading path the block sits under
    ("Chapter > Section"), kept as passage context; headings themselves are not blocks.
    """

    start: int
    end: int
    heading: str = ""


@dataclass
class Document:
    """One source file turned into plain text, with the structure the chunker needs."""

    path: str  # relative POSIX path inside the indexed folder
    title: str
    format: str  # txt | md | html | pdf | docx
    text: str
    blocks: list[Block]
    encoding: str | None = None  # detected encoding for plain-text formats, else None
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Passage:
    """A chunk of a document, small enough for the encoder, with exact offsets for citations."""

    ordinal: int
    start: int
    end: int
    text: str  # == document.text[start:end]
    heading: str = ""

    def embedding_text(self) -> str:
        """The text that is encoded: the heading path gives a short passage its context."""
        return f"{self.heading}\n{self.text}" if self.heading else self.text
