"""What one caller may see: a view of the Searcher and of its Store limited to the caller's groups.

Why a view and not a flag on each call: every code path that reads the index for a caller (search, answers,
quizzes with their distractor searches, a quiz from one document, the document viewer) is handed this object
instead of the Searcher, so a path that forgets to pass the groups cannot exist. Searches go through the
Searcher with Filters restricted to the groups (resolved in SQLite before ranking, both legs); the store's
reads take the groups (schema.py's *_VISIBLE statements). Anything the view does not offer raises
AttributeError rather than reaching the unrestricted index: it fails closed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np

from search.retrieval.filters import Filters
from search.retrieval.results import SearchResult
from search.storage.schema import ALL_GROUP
from search.storage.store import Groups, Store, StoredDocument, StoredPassage

if TYPE_CHECKING:
    from search.models.encoder import Encoder
    from search.retrieval.searcher import Searcher

SearchHook = Callable[[str, SearchResult], None]
"""Called after each search with the query and its result (the audit log)."""


def caller_groups(groups: Sequence[str] | None) -> Groups:
    """A caller's groups as the index compares them: sorted, unique, always with `all`; None stays None
    (no restriction: a single API key, or the command line without --as)."""
    if groups is None:
        return None
    return tuple(sorted({*groups, ALL_GROUP}))


class ScopedStore:
    """The reads of search.storage.store.Store a caller's code path needs, each limited to `groups`."""

    def __init__(self, store: Store, groups: Groups) -> None:
        self._store = store
        self.groups = groups

    def read_snapshot(self) -> AbstractContextManager[None]:
        return self._store.read_snapshot()

    def manifest(self) -> dict[str, Any]:
        return self._store.manifest()

    def generation(self) -> int:
        return self._store.generation()

    def count_documents(self) -> int:
        return self._store.count_documents(self.groups)

    def list_documents(self, limit: int, offset: int) -> list[dict[str, Any]]:
        return self._store.list_documents(limit, offset, self.groups)

    def get_document(self, document_id: int) -> dict[str, Any] | None:
        return self._store.get_document(document_id, self.groups)

    def document_text(self, document_id: int) -> str | None:
        return self._store.document_text(document_id, self.groups)

    def documents_by_path(self) -> dict[str, StoredDocument]:
        return self._store.documents_by_path(self.groups)

    def document_passages(self, document_id: int) -> list[StoredPassage]:
        return self._store.document_passages(document_id, self.groups)

    def passages_of_document(self, document_id: int) -> list[dict[str, Any]]:
        return self._store.passages_of_document(document_id, self.groups)

    def get_passage(self, passage_id: int) -> dict[str, Any] | None:
        return self._store.get_passage(passage_id, self.groups)

    def passage_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        return self._store.passage_rows(ids, self.groups)


class ScopedSearcher:
    """search.retrieval.searcher.Searcher as one caller sees it (see the module docstring).

    `on_search` is called after every search made through the view, with the query and the result (the
    audit log records who searched what and which ids came back)."""

    def __init__(self, searcher: Searcher, groups: Sequence[str] | None, on_search: SearchHook | None = None) -> None:
        self._searcher = searcher
        self.groups = caller_groups(groups)
        self._on_search = on_search

    def search(
        self,
        query: str,
        k: int = 10,
        mode: str = "hybrid",
        filters: Filters | None = None,
        offset: int = 0,
        query_vector: np.ndarray | None = None,
        collapse: bool = False,
    ) -> SearchResult:
        scoped = (filters or Filters()).restricted_to(self.groups)
        result = self._searcher.search(
            query, k=k, mode=mode, filters=scoped, offset=offset, query_vector=query_vector, collapse=collapse
        )
        if self._on_search is not None:
            self._on_search(query, result)
        return result

    @property
    def store(self) -> ScopedStore:
        return ScopedStore(self._searcher.store, self.groups)

    @property
    def encoder(self) -> Encoder:
        return self._searcher.encoder

    @property
    def manifest(self) -> dict[str, Any]:
        return self._searcher.manifest

    def close(self) -> None:
        """The view owns nothing: the Searcher behind it serves other callers."""
