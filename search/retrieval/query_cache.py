"""A small LRU cache of query embeddings, so that a repeated query skips the encoder entirely.

Why: encoding one short query with a 110M-parameter encoder is most of a dense or hybrid search on a CPU
(about 20 of 25 ms on 2 cores: the forward pass reads every weight once, whatever the query's length), while
queries repeat (paging through results, a search re-run after a filter change, the same question asked by
many users). A hit costs a dictionary look-up.

Why here and not in the Encoder: the Searcher decides which encoder serves the current index generation and
swaps it when a rebuild switches models, so it also owns the vectors made by that encoder and drops them with
it; the Encoder stays a pure function of its inputs that the build shares.

Key: (model id, max_length, normalized text). The text is normalized the way the encoder sees it (its own
`normalize`: NFKC, lower-cased when the model was trained so) with runs of whitespace collapsed and the ends
stripped, which the SentencePiece and WordPiece tokenizers do anyway: variants that become the same tokens
share one entry, and texts that could tokenize differently never do. The model id in the key keeps vectors
of one model from ever answering for another, even between the swap and the clear. The caller's access groups
(`scope`, search/access) are part of the key too: a vector is not secret, but a hit is faster than a miss, and
one user must not learn from timings what another group's users searched for.

Thread-safe: one lock around an OrderedDict. The encoder runs outside the lock, so concurrent misses encode in
parallel; two threads missing on the same text both encode it (the same vector) rather than queueing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from search import settings as config

if TYPE_CHECKING:
    from search.models.encoder import Encoder

DEFAULT_QUERY_CACHE_SIZE = config.QUERY_CACHE_SIZE.default
"""Entries (one 768-d float32 vector, 3 KB, plus its text each): about 4 MB when full."""

CacheKey = tuple[str, int, str, tuple[str, ...] | None]


@dataclass(frozen=True)
class CacheStats:
    hits: int
    misses: int
    evictions: int
    entries: int
    max_entries: int


def normalize_query(encoder: Encoder, query: str) -> str:
    """The text as the encoder will read it, with whitespace runs collapsed (the tokenizers ignore them)."""
    return " ".join(encoder.normalize(query).split())


class QueryEmbeddingCache:
    """LRU of unit query vectors; `max_entries` 0 disables it (every call encodes, and counts as a miss)."""

    def __init__(self, max_entries: int = DEFAULT_QUERY_CACHE_SIZE) -> None:
        if max_entries < 0:
            raise ValueError(f"query cache size must not be negative, got {max_entries}")
        self.max_entries = max_entries
        self._entries: OrderedDict[CacheKey, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0
        self._evictions = 0

    @staticmethod
    def key(encoder: Encoder, query: str, scope: tuple[str, ...] | None = None) -> CacheKey:
        groups = None if scope is None else tuple(sorted(set(scope)))
        return (encoder.model_id, int(encoder.max_length), normalize_query(encoder, query), groups)

    def vector(self, encoder: Encoder, query: str, scope: tuple[str, ...] | None = None) -> np.ndarray:
        """The query's embedding: from the cache, or encoded now (and kept). Read-only: it is shared.
        `scope`: the caller's access groups (None: unrestricted); entries are never shared across scopes."""
        key = self.key(encoder, query, scope)
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                self._hits += 1
                return found
            self._misses += 1
        # The key's text, not the raw query: a hit then returns exactly what a miss on it would compute.
        vector = encoder.encode_query(key[2])
        vector.setflags(write=False)  # callers share it: a caller writing into it would poison later hits
        if self.max_entries:
            with self._lock:
                self._entries[key] = vector
                self._entries.move_to_end(key)
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                    self._evictions += 1
        return vector

    def clear(self) -> None:
        """Forget every vector (the Searcher calls it when it swaps encoders); statistics keep counting."""
        with self._lock:
            self._entries.clear()

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self._hits, self._misses, self._evictions, len(self._entries), self.max_entries)

    def __len__(self) -> int:
        return len(self._entries)
