"""Server settings, from command-line flags and environment variables.

The API key is never accepted as a command-line flag: arguments are visible to every user of the machine
(`ps`), so it comes from INDEXER_API_KEY or a file that only its owner can read. Access control: the API keys
file (search/access/identities.py) holds only hashes of keys, each with a name and groups.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from search import settings as config
from search.access.identities import Identities, load_identities
from search.errors import SearchError

ENV_INDEX = config.INDEX.env
ENV_API_KEY = config.API_KEY.env
ENV_API_KEY_FILE = config.API_KEY_FILE.env
ENV_CORS_ORIGINS = config.CORS_ORIGINS.env
ENV_API_KEYS_FILE = config.API_KEYS_FILE.env

ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ApiSettings:
    """Everything `create_app` needs; immutable so that a running app cannot drift from what was logged."""

    index_dir: Path
    # repr=False: settings get printed and logged, the key must never be.
    api_key: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    device: str = config.DEVICE.default
    precision: str = config.PRECISION.default
    max_concurrent_model_calls: int = config.MAX_CONCURRENT_MODEL_CALLS.default
    model_queue_timeout_s: float = config.MODEL_QUEUE_TIMEOUT.default
    max_body_bytes: int = config.MAX_BODY_BYTES.default
    # Intra-op threads per model call; None: the cores divided by max_concurrent_model_calls (api.concurrency).
    threads_per_call: int | None = config.THREADS_PER_CALL.default
    query_cache_size: int = config.QUERY_CACHE_SIZE.default  # query embeddings kept; 0: off
    reranker: str | None = config.RERANKER.default  # cross-encoder re-scoring the first results; None: off
    rerank_depth: int = config.RERANK_DEPTH.default
    # Access control: identities with groups (None: no keys file), and a proxy's groups header.
    api_keys: Identities | None = field(default=None, repr=False)
    trusted_groups_header: str = ""
    trusted_user_header: str = ""
    trusted_proxies: tuple[ProxyNetwork, ...] = ()
    # "off" here, unlike `indexer serve` (config.AUDIT_LOG): an app made in code (tests, embedding) writes no
    # file unless asked to.
    audit_log: str = "off"
    audit_log_max_mb: float = config.AUDIT_LOG_MAX_MB.default
    audit_log_backups: int = config.AUDIT_LOG_BACKUPS.default

    @property
    def authenticates(self) -> bool:
        """Whether callers must present a key (the single key, or one of the keys file)."""
        return self.api_key is not None or self.api_keys is not None

    def __post_init__(self) -> None:
        config.MAX_CONCURRENT_MODEL_CALLS.check(self.max_concurrent_model_calls)
        config.MODEL_QUEUE_TIMEOUT.check(self.model_queue_timeout_s)
        config.MAX_BODY_BYTES.check(self.max_body_bytes)
        config.THREADS_PER_CALL.check(self.threads_per_call)
        config.QUERY_CACHE_SIZE.check(self.query_cache_size)
        config.RERANK_DEPTH.check(self.rerank_depth)
        if self.api_key is not None and not self.api_key:
            raise SearchError("The API key is empty: set a non-empty key or none at all")
        config.AUDIT_LOG_MAX_MB.check(self.audit_log_max_mb)
        config.AUDIT_LOG_BACKUPS.check(self.audit_log_backups)
        if self.trusted_groups_header and not self.trusted_proxies:
            raise SearchError(
                "trusted_groups_header is set but trusted_proxies is empty: name the proxy addresses whose header "
                "is believed (INDEXER_TRUSTED_PROXIES), or leave the header off"
            )


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


def resolve_api_keys(api_keys_file: Path | None, environ: Mapping[str, str]) -> Identities | None:
    """--api-keys-file, else INDEXER_API_KEYS_FILE; None means no identities (the single key, or none)."""
    path = api_keys_file or (Path(environ[ENV_API_KEYS_FILE]) if environ.get(ENV_API_KEYS_FILE, "").strip() else None)
    return load_identities(path) if path is not None else None


def parse_proxies(value: str) -> tuple[ProxyNetwork, ...]:
    """`10.0.0.5,10.1.0.0/16` to networks; a mistyped address is an error naming it."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise SearchError(f"trusted_proxies: {item!r} is not an IP address or network ({exc})") from exc
    return tuple(networks)


def resolve_cors_origins(flags: Sequence[str], environ: Mapping[str, str]) -> tuple[str, ...]:
    """--cors-origin flags, else the comma-separated INDEXER_CORS_ORIGINS; empty means CORS stays off."""
    items = list(flags) or environ.get(ENV_CORS_ORIGINS, "").split(",")
    return tuple(dict.fromkeys(o.strip().rstrip("/") for o in items if o.strip()))


def load_settings(
    index_dir: Path | None = None,
    api_key_file: Path | None = None,
    cors_origins: Sequence[str] = (),
    device: str = config.DEVICE.default,
    precision: str = config.PRECISION.default,
    environ: Mapping[str, str] | None = None,
    max_concurrent_model_calls: int = config.MAX_CONCURRENT_MODEL_CALLS.default,
    model_queue_timeout_s: float = config.MODEL_QUEUE_TIMEOUT.default,
    max_body_bytes: int = config.MAX_BODY_BYTES.default,
    threads_per_call: int | None = config.THREADS_PER_CALL.default,
    query_cache_size: int = config.QUERY_CACHE_SIZE.default,
    reranker: str | None = None,
    rerank_depth: int = config.RERANK_DEPTH.default,
    api_keys_file: Path | None = None,
    trusted_groups_header: str | None = None,
    trusted_user_header: str | None = None,
    trusted_proxies: str | None = None,
    audit_log: str | None = None,
    audit_log_max_mb: float | None = None,
    audit_log_backups: int | None = None,
) -> ApiSettings:
    """Flags win over environment variables (`environ` defaults to the process environment)."""
    env = os.environ if environ is None else environ
    index = index_dir if index_dir is not None else Path(config.INDEX.value(env))

    def given(flag: object, setting: config.Setting) -> object:
        return flag if flag is not None else setting.value(env)

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
        reranker=reranker,
        rerank_depth=rerank_depth,
        api_keys=resolve_api_keys(api_keys_file, env),
        trusted_groups_header=str(given(trusted_groups_header, config.TRUSTED_GROUPS_HEADER)).strip(),
        trusted_user_header=str(given(trusted_user_header, config.TRUSTED_USER_HEADER)).strip(),
        trusted_proxies=parse_proxies(str(given(trusted_proxies, config.TRUSTED_PROXIES))),
        audit_log=str(given(audit_log, config.AUDIT_LOG)),
        audit_log_max_mb=float(given(audit_log_max_mb, config.AUDIT_LOG_MAX_MB)),  # type: ignore[arg-type]
        audit_log_backups=int(given(audit_log_backups, config.AUDIT_LOG_BACKUPS)),  # type: ignore[call-overload]
    )


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach; any other name or address counts as exposed."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
