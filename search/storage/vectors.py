"""FAISS vectors keyed by SQLite passage ids, saved atomically per build generation.

Explicit 64-bit ids (IndexIDMap2) equal to the passages' row ids: positional ids drift from SQL as soon as
anything is deleted. Each generation is its own file (`vectors.<generation>.faiss`), written to a temporary
name, fsynced and renamed, so a reader never opens a half-written file and a crash leaves the previous
generation's file intact.

Two index types, chosen by size (`choose_index_type`) and recorded in the manifest as `index_type`:
- `flat-ip`: exact inner product (IndexIDMap2 over IndexFlatIP), below the threshold: a search reads every
  vector: exact, and ~6 ms per query at 5 * 10^4 vectors of 768 dimensions on one core (12 ms at 10^5).
- `ivf-sq8-ip`: IndexIVFScalarQuantizer with 8-bit scalar-quantized vectors (a quarter of the float32 memory)
  and the passage ids stored in its inverted lists, above the threshold (default 50,000; environment variable
  INDEXER_IVF_THRESHOLD). A query scans `nprobe` of `nlist` lists. Unlike HNSW it supports `remove_ids`
  (deletions stay exact) and IDSelector filters; a filter widens `nprobe` by the inverse of its selectivity so
  that about as many allowed vectors are scored as without a filter, and a selective filter scans every list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import faiss
import numpy as np

from search import settings as config
from search.storage.crashpoints import pause_point

FILE_PATTERN = re.compile(r"^vectors\.(\d+)\.faiss$")
FLAT = "flat-ip"
IVF_SQ8 = "ivf-sq8-ip"
INDEX_TYPE = FLAT  # the default, and the type of indexes built before the manifest recorded one
TRAINING_POINTS_PER_LIST = 64  # faiss warns below 39 per list: fewer give poorly placed centroids


def approximate_threshold() -> int:
    """Vectors above which the approximate index is used (search.settings.IVF_THRESHOLD)."""
    return int(config.IVF_THRESHOLD.value())


def choose_index_type(count: int, current: str | None = None, threshold: int | None = None) -> str:
    """Flat (exact) up to the threshold, IVF above it; an IVF index only goes back to flat below half the
    threshold, so an index whose size hovers around the threshold is not re-trained on every build."""
    limit = approximate_threshold() if threshold is None else threshold
    if count > limit:
        return IVF_SQ8
    if current == IVF_SQ8 and count > limit // 2:
        return IVF_SQ8
    return FLAT


def ivf_lists(count: int) -> int:
    """nlist: a power of two near 2 * sqrt(count) (a list then holds ~sqrt(count) / 2 vectors), with at least
    TRAINING_POINTS_PER_LIST training points per list."""
    target = max(1.0, 2 * np.sqrt(max(count, 1)))
    nlist = 1 << round(float(np.log2(target)))
    while nlist > 1 and nlist * TRAINING_POINTS_PER_LIST > count:
        nlist //= 2
    return max(1, nlist)


def default_nprobe(nlist: int) -> int:
    """Lists scanned per query: 1/32 of them, at least 32 (INDEXER_IVF_NPROBE overrides).

    On clustered synthetic data (benchmarks/scale.py) 16 of 2048 lists already give recall@10 0.9975 at 10^6
    vectors (0.45-0.6 ms per query; 64 lists: 1.5-2 ms); the margin is for real embeddings, whose neighbourhoods are
    less tidy."""
    chosen = config.IVF_NPROBE.value()
    if chosen is not None:
        return min(nlist, int(chosen))
    return min(nlist, max(32, nlist // 32))


def vectors_path(index_dir: Path, generation: int) -> Path:
    return index_dir / f"vectors.{generation}.faiss"


class VectorIndex:
    """Inner-product search over unit vectors (cosine similarity), exact (flat) or approximate (IVF-SQ8)."""

    def __init__(self, index: faiss.Index, nprobe: int | None = None) -> None:
        self.index = index
        self.ivf = faiss.try_extract_index_ivf(index) if not isinstance(index, faiss.IndexIDMap) else None
        self.nprobe = 0
        if self.ivf is not None:
            self.nprobe = nprobe or default_nprobe(int(self.ivf.nlist))
            self.ivf.nprobe = self.nprobe

    @property
    def index_type(self) -> str:
        return FLAT if self.ivf is None else IVF_SQ8

    @property
    def approximate(self) -> bool:
        return self.ivf is not None

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
    def build(
        cls,
        dimension: int,
        batches: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
        count: int,
        index_type: str | None = None,
        threshold: int | None = None,
        seed: int = 1234,
    ) -> VectorIndex:
        """An index of the type `count` calls for (or `index_type`), from `batches()` of (ids, vectors).

        `batches` is called once for a flat index and twice for IVF (a strided training sample first, then
        every vector), so a million float32 embeddings never have to sit in memory at once.
        """
        kind = index_type or choose_index_type(count, threshold=threshold)
        if kind == FLAT:
            return cls.from_batches(dimension, batches())
        if kind != IVF_SQ8:
            raise ValueError(f"unknown index type {kind!r}")
        nlist = ivf_lists(count)
        wanted = min(count, TRAINING_POINTS_PER_LIST * nlist)
        stride = max(1, count // wanted)
        sample = np.vstack([batch[::stride] for _, batch in batches()] or [np.zeros((0, dimension), np.float32)])
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(dimension), dimension, nlist, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
        )
        index.cp.seed = seed
        index.cp.niter = 10
        index.train(np.ascontiguousarray(sample[: max(wanted, nlist)], dtype=np.float32))
        vectors = cls(index)
        for ids, batch in batches():
            vectors.add(ids, batch)
        return vectors

    def needs_rebuild(self, threshold: int | None = None) -> bool:
        """True when the index no longer suits its size: it crossed the threshold (either way), or an IVF index
        grew or shrank so much that its lists are 4x longer or shorter than a fresh one's would be."""
        count = len(self)
        if choose_index_type(count, self.index_type, threshold) != self.index_type:
            return True
        if self.ivf is None:
            return False
        nlist, wanted = int(self.ivf.nlist), ivf_lists(count)
        return wanted >= 2 * nlist or nlist >= 4 * wanted

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        return cls(faiss.read_index(str(path)))

    @property
    def dimension(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def ids(self) -> np.ndarray:
        if self.ivf is None:
            return faiss.vector_to_array(self.index.id_map).astype(np.int64)
        lists = self.ivf.invlists
        parts = [np.zeros(0, dtype=np.int64)]
        for number in range(int(self.ivf.nlist)):
            size = int(lists.list_size(number))
            if size:
                parts.append(faiss.rev_swig_ptr(lists.get_ids(number), size).astype(np.int64))
        return np.concatenate(parts)

    def add(self, ids: Sequence[int] | np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Sequence[int]) -> None:
        if len(ids):
            self.index.remove_ids(faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64)))

    def search(
        self,
        query: np.ndarray,
        k: int,
        allowed_ids: np.ndarray | None = None,
        exact: Callable[[Sequence[int]], dict[int, np.ndarray]] | None = None,
    ) -> list[tuple[int, float]]:
        """Top-k (id, cosine) pairs; `allowed_ids` restricts the search itself, not its results.

        `exact` (ids -> their float32 embeddings, e.g. Store.embeddings_for) re-ranks an approximate index's
        short list (2k candidates) by exact inner products, so scores are exact and 8-bit quantization
        cannot swap close neighbours; a flat index is exact already and ignores it.
        """
        if len(self) == 0 or k <= 0:
            return []
        rerank = exact is not None and self.ivf is not None
        wanted = min(len(self), max(2 * k, k + 10) if rerank else k)
        params = None
        keep_alive = None
        if allowed_ids is not None:
            if len(allowed_ids) == 0:
                return []
            selector, keep_alive = self._selector(np.asarray(allowed_ids, dtype=np.int64))
            if self.ivf is None:
                params = faiss.SearchParameters(sel=selector)
            else:
                # Allowed neighbours lie further out than unrestricted ones: scan nprobe / sqrt(selectivity)
                # lists (all of them for very selective filters) so that enough allowed vectors are scored.
                share = min(1.0, len(allowed_ids) / max(1, len(self)))
                nprobe = min(int(self.ivf.nlist), int(np.ceil(self.nprobe / np.sqrt(share))))
                params = faiss.SearchParametersIVF(sel=selector, nprobe=nprobe)
        # One query is sequential work inside faiss; a second OpenMP thread only adds barrier and spin
        # overhead (3x slower on a busy 2-core machine). Concurrent requests bring the parallelism instead.
        # The OpenMP thread count is per calling thread, so this does not touch other threads' searches.
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, ids = self.index.search(
                np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32), wanted, params=params
            )
        finally:
            faiss.omp_set_num_threads(threads)
        del keep_alive
        hits = [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i != -1]
        if rerank and hits:
            assert exact is not None
            stored = exact([i for i, _ in hits])
            flat_query = np.asarray(query, dtype=np.float32).reshape(-1)
            hits = [(i, float(stored[i] @ flat_query) if i in stored else s) for i, s in hits]
            hits.sort(key=lambda hit: -hit[1])
        return hits[:k]

    @staticmethod
    def _selector(allowed: np.ndarray) -> tuple[faiss.IDSelector, np.ndarray | None]:
        """A bitmap selector when the ids are dense enough (built in microseconds, O(1) per check; a batch
        selector of 10^5 ids takes 25 ms to build), else a batch selector. Returns the bitmap too: faiss
        only points at it, so it must outlive the search."""
        top = int(allowed.max()) + 1
        if int(allowed.min()) >= 0 and top <= 64 * len(allowed) + (1 << 20):
            mask = np.zeros(top, dtype=bool)
            mask[allowed] = True
            bits = np.packbits(mask, bitorder="little")
            return faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits)), bits
        return faiss.IDSelectorBatch(allowed), None

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
