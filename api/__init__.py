"""HTTP API over the search index (FastAPI): `create_app(ApiSettings)`, served by `indexer serve`."""

from api.app import create_app
from api.settings import ApiSettings

__all__ = ["ApiSettings", "create_app"]
