"""FAISS vectors keyed by SQLite passage ids, saved atomically per build generation.

Explicit 64-bit ids (IndexIDMap2) equal to the passages' row ids: positional ids drift from SQL as soon as
anything is deleted. Each generation is its own file (`vectors.<generation>.faiss`), written to a temporary
name, fsynced and renamed, so a reader never opens a half-written file and a crash leaves the previous
generation's file intact.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import faiss
import numpy as np

from search.crashpoints import pause_point

FILE_PATTERN = re.compile(r"^vectors\.(\d+)\.faiss$")
INDEX_TYPE = "flat-ip"


def vectors_path(index_dir: Path, generation: int) -> Path:
    return index_dir / f"vectors.{generation}.faiss"


class VectorIndex:
    """Exact inner-product search over unit vectors (cosine similarity)."""

    def __init__(self, index: faiss.Index) -> None:
        self.index = index

    @classmethod
    def empty(cls, dimension: int) -> VectorIndex:
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimension)))

    @classmethod
    def from_batches(cls, dimension: int, batches: Iterable[tuple[np.ndarray, np.ndarray]]) -> VectorIndex:
        vectors = cls.empty(dimension)
        for ids, batch in batches:
            vectors.add(ids, batch)
        return vectors

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        return cls(faiss.read_index(str(path)))

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Sequence[int]) -> None:
        if len(ids):
            self.index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))

    def search(self, query: np.ndarray, k: int, allowed_ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Top-k (id, cosine) pairs; `allowed_ids` restricts the search itself, not its results."""
        if len(self) == 0 or k <= 0:
            return []
        params = None
        if allowed_ids is not None:
            if len(allowed_ids) == 0:
                return []
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(np.asarray(allowed_ids, dtype=np.int64)))
        scores, ids = self.index.search(
            np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), min(k, len(self)), params=params
        )
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]

    def save(self, index_dir: Path, generation: int) -> Path:
        """Atomic write: temporary file, fsync, rename, fsync of the folder."""
        final = vectors_path(index_dir, generation)
        temporary = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        faiss.write_index(self.index, str(temporary))
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        pause_point("faiss-temp-written")
        os.replace(temporary, final)
        directory = os.open(index_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return final


def vector_files(index_dir: Path) -> dict[int, Path]:
    found: dict[int, Path] = {}
    for path in index_dir.iterdir():
        match = FILE_PATTERN.match(path.name)
        if match:
            found[int(match.group(1))] = path
    return found


def remove_other_generations(index_dir: Path, keep: int) -> None:
    """Old generations and temporary files left by an interrupted build."""
    for generation, path in vector_files(index_dir).items():
        if generation != keep:
            path.unlink(missing_ok=True)
    for path in index_dir.glob(".vectors.*.tmp"):
        path.unlink(missing_ok=True)
