"""Index a folder exactly as `indexer build` does, with an already loaded (tiny) encoder.

The one helper every test uses to build an index, so that they all build it the same way: CPU, fp32, and
small passages by default (one or two lines each) so that retrieval has choices to make.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from search.ingest.build import BuildOptions, BuildSummary, build_index
from search.ingest.chunk import ChunkSettings
from search.models.encoder import Encoder

SMALL_PASSAGES = ChunkSettings(max_tokens=32, overlap_tokens=0)


def build(
    docs: Path, index: Path, encoder: Encoder, chunk: ChunkSettings = SMALL_PASSAGES, **options: Any
) -> BuildSummary:
    settings = BuildOptions(
        docs_dir=docs, index_dir=index, model=encoder.model_id, device="cpu", precision="fp32", chunk=chunk, **options
    )
    return build_index(settings, lambda: encoder)
