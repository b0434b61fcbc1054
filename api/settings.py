"""Server settings, from command-line flags and environment variables.

The API key is never accepted as a command-line flag: arguments are visible to every user of the machine
(`ps`), so it comes from INDEXER_API_KEY or a file that only its owner can read.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from search.errors import SearchError
from search.retrieval.query_cache import DEFAULT_QUERY_CACHE_SIZE

ENV_INDEX = "INDEXER_INDEX"
ENV_API_KEY = "INDEXER_API_KEY"
ENV_API_KEY_FILE = "INDEXER_API_KEY_FILE"
ENV_CORS_ORIGINS = "INDEXER_CORS_ORIGINS"


@dataclass(frozen=True)
class ApiSettings:
    """Everything `create_app` needs; immutable so that a running app cannot drift from what was logged."""

    index_dir: Path
    # repr=False: settings get printed and logged, the key must never be.
    api_key: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    device: str = "auto"
    precision: str = "auto"
    max_concurrent_model_calls: int = 2
    model_queue_timeout_s: float = 5.0
    max_body_bytes: int = 64 * 1024
    # Intra-op threads per model call; None: the cores divided by max_concurrent_model_calls (api.concurrency).
    threads_per_call: int | None = None
    query_cache_size: int = DEFAULT_QUERY_CACHE_SIZE  # query embeddings kept (search.retrieval.query_cache); 0: off

    def __post_init__(self) -> None:
        if self.max_concurrent_model_calls < 1:
            raise SearchError(f"max_concurrent_model_calls must be at least 1, got {self.max_concurrent_model_calls}")
        if self.model_queue_timeout_s < 0:
            raise SearchError(f"model_queue_timeout_s must not be negative, got {self.model_queue_timeout_s}")
        if self.max_body_bytes < 1:
            raise SearchError(f"max_body_bytes must be at least 1, got {self.max_body_bytes}")
        if self.threads_per_call is not None and self.threads_per_call < 1:
            raise SearchError(f"threads_per_call must be at least 1, got {self.threads_per_call}")
        if self.query_cache_size < 0:
            raise SearchError(f"query_cache_size must not be negative, got {self.query_cache_size}")
        if self.api_key is not None and not self.api_key:
            raise SearchError("The API key is empty: set a non-empty key or none at all")


def read_api_key_file(path: Path) -> str:
    """The key is the file's content without surrounding whitespace (editors add a final newline)."""
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise SearchError(f"Cannot read the API key file {path}: {exc}") from exc
    if not key:
        raise SearchError(f"The API key file {path} is empty: put the key on its first line")
    return key


def resolve_api_key(api_key_file: Path | None, environ: Mapping[str, str]) -> str | None:
    """--api-key-file, else INDEXER_API_KEY, else INDEXER_API_KEY_FILE; None means no authentication."""
    if api_key_file is not None:
        return read_api_key_file(api_key_file)
    key = environ.get(ENV_API_KEY, "").strip()
    if key:
        return key
    path = environ.get(ENV_API_KEY_FILE, "").strip()
    return read_api_key_file(Path(path)) if path else None


def resolve_cors_origins(flags: Sequence[str], environ: Mapping[str, str]) -> tuple[str, ...]:
    """--cors-origin flags, else the comma-separated INDEXER_CORS_ORIGINS; empty means CORS stays off."""
    items = list(flags) or environ.get(ENV_CORS_ORIGINS, "").split(",")
    return tuple(dict.fromkeys(o.strip().rstrip("/") for o in items if o.strip()))


def load_settings(
    index_dir: Path | None = None,
    api_key_file: Path | None = None,
    cors_origins: Sequence[str] = (),
    device: str = "auto",
    precision: str = "auto",
    environ: Mapping[str, str] | None = None,
    max_concurrent_model_calls: int = 2,
    model_queue_timeout_s: float = 5.0,
    max_body_bytes: int = 64 * 1024,
    threads_per_call: int | None = None,
    query_cache_size: int = DEFAULT_QUERY_CACHE_SIZE,
) -> ApiSettings:
    """Flags win over environment variables (`environ` defaults to the process environment)."""
    env = os.environ if environ is None else environ
    index = index_dir if index_dir is not None else Path(env.get(ENV_INDEX, "index"))
    return ApiSettings(
        index_dir=index,
        api_key=resolve_api_key(api_key_file, env),
        cors_origins=resolve_cors_origins(cors_origins, env),
        device=device,
        precision=precision,
        max_concurrent_model_calls=max_concurrent_model_calls,
        model_queue_timeout_s=model_queue_timeout_s,
        max_body_bytes=max_body_bytes,
        threads_per_call=threads_per_call,
        query_cache_size=query_cache_size,
    )


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach; any other name or address counts as exposed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
