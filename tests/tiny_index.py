"""Index a folder exactly as `indexer build` does, with an already loaded (tiny) encoder.

The one helper every test uses to build an index, so that they all build it the same way: CPU, fp32, and
small passages by default (one or two lines each) so that retrieval has choices to make.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from search import Index
from search.ingest.build import BuildSummary
from search.ingest.chunk import ChunkSettings
from search.models.encoder import Encoder

SMALL_PASSAGES = ChunkSettings(max_tokens=32, overlap_tokens=0)


def build(
    docs: Path, index: Path, encoder: Encoder, chunk: ChunkSettings = SMALL_PASSAGES, **options: Any
) -> BuildSummary:
    with Index(
        index,
        encoder=encoder,
        reencode=True,
        device="cpu",
        precision="fp32",
        chunk_tokens=chunk.max_tokens,
        chunk_overlap=chunk.overlap_tokens,
    ) as front_door:
        return front_door.build(docs, **options)
