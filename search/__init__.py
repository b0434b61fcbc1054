"""jp-docsearch's core library. The front door is `Index`; docs/python-api.md shows it.

from search import Index
index = Index("idx")
index.build("docs/")
for hit in index.search("有給休暇は何日", k=5).hits:
    print(hit.path, hit.text)
"""

from search.errors import IndexLockedError, IndexNotFoundError, ModelMismatchError, ModelUnavailableError, SearchError
from search.index import Index
from search.ingest.build import BuildSummary
from search.retrieval.filters import Filters
from search.retrieval.results import Hit, SearchResult

__all__ = [
    "BuildSummary",
    "Filters",
    "Hit",
    "Index",
    "IndexLockedError",
    "IndexNotFoundError",
    "ModelMismatchError",
    "ModelUnavailableError",
    "SearchError",
    "SearchResult",
]
