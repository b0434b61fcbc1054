"""Every setting of the product, each defined once: name, default, environment variable, help text, bounds.

The command line builds its options from these (`indexer/options.py`), the HTTP API takes its limits and
server settings from them (`api/settings.py`, `api/schemas/`), and `docs/settings.md` is checked against them
by a test. Errors name the setting (`chunk_tokens`), never a command-line flag: the CLI and the API translate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from search.errors import SearchError


class SettingError(SearchError):
    """A setting or argument is outside what it accepts; the message names it and its bounds."""

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class Setting:
    """One setting. `default` None means "not set" (e.g. decided at run time); `env` may override it."""

    name: str
    default: Any
    help: str
    type: type = str
    env: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> Any:
        """`value` if it is within bounds, else SettingError naming this setting."""
        if value is None:
            return value
        if self.choices and value not in self.choices:
            raise SettingError(f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}", self.name)
        if self.minimum is not None and value < self.minimum:
            raise SettingError(f"{self.name} must be at least {self.minimum:g}, got {value}", self.name)
        if self.maximum is not None and value > self.maximum:
            raise SettingError(f"{self.name} must be at most {self.maximum:g}, got {value}", self.name)
        return value

    def parse(self, raw: str, source: str) -> Any:
        """A value from text (an environment variable), converted to this setting's type and checked."""
        try:
            value = self.type(raw)
        except ValueError as exc:
            message = f"{source}={raw!r} is not a valid {self.type.__name__} ({self.name})"
            raise SettingError(message, self.name) from exc
        return self.check(value)

    def value(self, environ: Mapping[str, str] | None = None) -> Any:
        """The environment variable's value when set and not empty, else the default."""
        environ = os.environ if environ is None else environ
        raw = environ.get(self.env, "") if self.env else ""
        return self.parse(raw.strip(), "$" + str(self.env)) if raw.strip() else self.default

    def describe(self) -> str:
        """Help text with the default and the environment variable, generated so they never drift."""
        parts = []
        if self.env:
            parts.append(f"${self.env}")
        if self.default is not None and self.default != "":
            parts.append(f"{self.default:g}" if isinstance(self.default, float) else str(self.default))
        return f"{self.help} (default: {' or '.join(parts)})" if parts else self.help


SETTINGS: dict[str, Setting] = {}


def _define(setting: Setting) -> Setting:
    SETTINGS[setting.name] = setting
    return setting


# -- index and embedding model ---------------------------------------------------------------------------
DEFAULT_EMBEDDING_MODEL = "sonoisa/sentence-t5-base-ja-mean-tokens"
PRECISIONS = ("auto", "fp32", "bf16", "int8")

INDEX = _define(Setting("index", "index", "index folder", env="INDEXER_INDEX", metavar="DIR"))
MODEL = _define(
    Setting(
        "model",
        DEFAULT_EMBEDDING_MODEL,
        "embedding model: hub id or local directory; an existing index keeps the model it was built with",
        env="INDEXER_MODEL",
        metavar="ID_OR_PATH",
    )
)
DEVICE = _define(Setting("device", "auto", "where models run: auto (CUDA when available), cpu, cuda or cuda:N"))
PRECISION = _define(
    Setting(
        "precision",
        "auto",
        "encoder precision: auto (bf16 where the hardware runs it natively, else fp32), fp32, bf16, or int8 "
        "(dynamic quantization, CPU only; benchmarks/README.md has its accuracy)",
        choices=PRECISIONS,
    )
)
BATCH_SIZE = _define(Setting("batch_size", 32, "passages per encoder batch", type=int, minimum=1, metavar="N"))
MAX_LENGTH = _define(
    Setting("max_length", 128, "encoder input limit in tokens", type=int, minimum=8, maximum=4096, metavar="N")
)
CHUNK_TOKENS = _define(Setting("chunk_tokens", 64, "passage budget in tokens", type=int, minimum=8, metavar="N"))
CHUNK_OVERLAP = _define(
    Setting("chunk_overlap", 16, "overlap between passages in tokens", type=int, minimum=0, metavar="N")
)
MAX_FILE_MB = _define(
    Setting(
        "max_file_mb",
        50.0,
        "skip (unread, with a reason) files larger than this; 0: no limit",
        type=float,
        minimum=0,
        metavar="MB",
    )
)

# -- scaling beyond one machine (docs/scaling.md) ------------------------------------------------------------
EXECUTORS = ("local", "ray")
VECTOR_STORES = ("faiss", "milvus")
EXECUTOR = _define(
    Setting(
        "executor",
        "local",
        "where a build encodes passages: local (this process) or ray (a Ray Data job; extra [ray])",
        env="INDEXER_EXECUTOR",
        choices=EXECUTORS,
    )
)
RAY_ADDRESS = _define(
    Setting(
        "ray_address",
        None,
        "Ray cluster for --executor ray (ray://HOST:10001 or HOST:6379; default: $RAY_ADDRESS, else a local Ray)",
        env="INDEXER_RAY_ADDRESS",
        metavar="ADDR",
    )
)
VECTOR_STORE = _define(
    Setting(
        "vector_store",
        None,
        "where an index keeps its vectors: faiss (a file in the index folder) or milvus (extra [milvus]); "
        "recorded at build time, search and serve follow it (default: as recorded, else faiss)",
        env="INDEXER_VECTOR_STORE",
        choices=VECTOR_STORES,
    )
)
MILVUS_URI = _define(
    Setting(
        "milvus_uri",
        "milvus.db",
        "Milvus to hold the vectors: http://HOST:19530 for a server, or a Milvus Lite file (a relative path is "
        "inside the index folder; one process at a time)",
        env="INDEXER_MILVUS_URI",
        metavar="URI",
    )
)
MILVUS_COLLECTION = _define(
    Setting(
        "milvus_collection",
        "passages",
        "name prefix of the index's Milvus collections; give each index on a shared Milvus its own",
        env="INDEXER_MILVUS_COLLECTION",
        metavar="NAME",
    )
)

FILE_TIMEOUT = _define(
    Setting(
        "file_timeout",
        300.0,
        "seconds one file may take to extract and chunk before it is reported as failed; 0: no limit",
        type=float,
        env="INDEXER_FILE_TIMEOUT",
        minimum=0,
        metavar="SECONDS",
    )
)

# -- searching ------------------------------------------------------------------------------------------
QUERY_MAX_CHARS = _define(Setting("query_max_chars", 2000, "longest query or question", type=int, minimum=1))
K = _define(Setting("k", 5, "number of results", type=int, minimum=1, maximum=100, metavar="N"))
OFFSET = _define(Setting("offset", 0, "results to skip (pagination)", type=int, minimum=0, maximum=1000, metavar="N"))
ANSWER_K = _define(Setting("answer_k", 5, "passages to retrieve for an answer", type=int, minimum=1, maximum=20))
QUIZ_N = _define(Setting("quiz_n", 5, "number of quiz questions", type=int, minimum=1, maximum=50, metavar="N"))
QUERY_CACHE_SIZE = _define(
    Setting(
        "query_cache_size",
        1024,
        "query embeddings kept so that a repeated query skips the encoder; 0: off",
        type=int,
        minimum=0,
        metavar="N",
    )
)
WORD_VECTORS = _define(
    Setting(
        "word_vectors",
        "ja_ginza",
        "word vectors that answer the dense leg for Japanese queries when the embedding model cannot read "
        "Japanese: an installed spaCy package with vectors (ja_ginza: chiVe), its folder, or off",
        env="INDEXER_WORD_VECTORS",
        metavar="PACKAGE_OR_DIR",
    )
)
RERANKER = _define(
    Setting(
        "reranker",
        None,
        "cross-encoder that re-scores the first results (hub id or folder), e.g. "
        "hotchpotch/japanese-reranker-cross-encoder-small-v1; off when not set",
        env="INDEXER_RERANKER",
        metavar="ID_OR_PATH",
    )
)
RERANK_DEPTH = _define(
    Setting("rerank_depth", 20, "results the reranker re-scores", type=int, minimum=2, maximum=100, metavar="N")
)
IVF_THRESHOLD = _define(
    Setting(
        "ivf_threshold",
        50_000,
        "vectors above which the index is approximate (IVF-SQ8) instead of exact",
        type=int,
        env="INDEXER_IVF_THRESHOLD",
        minimum=1,
    )
)
IVF_NPROBE = _define(
    Setting(
        "ivf_nprobe",
        None,
        "IVF lists searched per query (default: chosen from the list count, at least 32)",
        type=int,
        env="INDEXER_IVF_NPROBE",
        minimum=1,
    )
)

# -- server ---------------------------------------------------------------------------------------------
HOST = _define(Setting("host", "127.0.0.1", "address to bind; only this machine can connect to 127.0.0.1"))
PORT = _define(
    Setting("port", 8000, "port to listen on; 0 picks a free one", type=int, minimum=0, maximum=65535, metavar="N")
)
API_KEY = _define(Setting("api_key", None, "API key clients must send", env="INDEXER_API_KEY"))
API_KEY_FILE = _define(
    Setting("api_key_file", None, "file holding the API key clients must send", env="INDEXER_API_KEY_FILE")
)
CORS_ORIGINS = _define(
    Setting("cors_origins", "", "browser origins allowed to call the API, comma-separated", env="INDEXER_CORS_ORIGINS")
)
MAX_CONCURRENT_MODEL_CALLS = _define(
    Setting(
        "max_concurrent_model_calls",
        2,
        "searches encoding/ranking at once; others wait",
        type=int,
        minimum=1,
        metavar="N",
    )
)
MODEL_QUEUE_TIMEOUT = _define(
    Setting(
        "model_queue_timeout",
        5.0,
        "seconds a search waits for a model slot before a 503",
        type=float,
        minimum=0,
        metavar="SECONDS",
    )
)
THREADS_PER_CALL = _define(
    Setting(
        "threads_per_call",
        None,
        "CPU threads per model call (default: cores / model calls, so they never oversubscribe)",
        type=int,
        minimum=1,
        metavar="N",
    )
)
WORKERS = _define(
    Setting(
        "workers",
        1,
        "server processes sharing the port, each with its own query encoder (the encoder is CPU-bound)",
        type=int,
        env="INDEXER_WORKERS",
        minimum=1,
        metavar="N",
    )
)
MAX_BODY_BYTES = _define(Setting("max_body_bytes", 64 * 1024, "largest request body", type=int, minimum=1))

# -- access control (search/access) ----------------------------------------------------------------------
ACL = _define(
    Setting(
        "acl",
        None,
        "access rules (TOML [[rule]] tables: prefix, glob or tag, and groups); documents no rule matches are in "
        "`all`; without it a build keeps the rules the index recorded",
        metavar="FILE",
    )
)
API_KEYS_FILE = _define(
    Setting(
        "api_keys_file",
        None,
        "API keys with names and groups, one `SHA256-HEX-OF-KEY NAME GROUP[,GROUP…]` per line (every identity is "
        "also in `all`); the single api_key sees every document",
        env="INDEXER_API_KEYS_FILE",
        metavar="FILE",
    )
)
TRUSTED_GROUPS_HEADER = _define(
    Setting(
        "trusted_groups_header",
        "",
        "request header in which a proxy in front passes the user's groups, comma-separated; off when empty, "
        "and believed only from trusted_proxies",
        env="INDEXER_TRUSTED_GROUPS_HEADER",
        metavar="NAME",
    )
)
TRUSTED_USER_HEADER = _define(
    Setting(
        "trusted_user_header",
        "",
        "request header in which that proxy passes the user's name (for the audit log); optional",
        env="INDEXER_TRUSTED_USER_HEADER",
        metavar="NAME",
    )
)
TRUSTED_PROXIES = _define(
    Setting(
        "trusted_proxies",
        "",
        "addresses or networks (comma-separated, e.g. 10.0.0.5,10.1.0.0/16) whose trusted_groups_header is believed",
        env="INDEXER_TRUSTED_PROXIES",
        metavar="ADDRESSES",
    )
)
AUDIT_LOG = _define(
    Setting(
        "audit_log",
        "audit.jsonl",
        "append-only JSONL log of who searched or asked what and the ids returned; a relative path is inside the "
        "index folder; `off` turns it off",
        env="INDEXER_AUDIT_LOG",
        metavar="FILE",
    )
)
AUDIT_LOG_MAX_MB = _define(
    Setting(
        "audit_log_max_mb",
        10.0,
        "size at which the audit log is rotated",
        type=float,
        env="INDEXER_AUDIT_LOG_MAX_MB",
        minimum=0.001,
        metavar="MB",
    )
)
AUDIT_LOG_BACKUPS = _define(
    Setting(
        "audit_log_backups",
        5,
        "rotated audit log files kept",
        type=int,
        env="INDEXER_AUDIT_LOG_BACKUPS",
        minimum=1,
        metavar="N",
    )
)

# -- generation -----------------------------------------------------------------------------------------
QA_MODEL_JA = _define(
    Setting(
        "qa_model_ja",
        "lmqg/mt5-small-jaquad-qa",
        "Japanese QA model: hub id or local directory",
        env="INDEXER_QA_MODEL_JA",
        metavar="ID",
    )
)
QA_MODEL_EN = _define(
    Setting(
        "qa_model_en",
        "google/flan-t5-base",
        "English QA model (cannot read Japanese): hub id or local directory",
        env="INDEXER_QA_MODEL_EN",
        metavar="ID",
    )
)
QG_MODEL = _define(
    Setting(
        "qg_model",
        "sonoisa/t5-base-japanese-question-generation",
        "question generation model: hub id or local directory",
        env="INDEXER_QG_MODEL",
        metavar="ID",
    )
)
MAX_INPUT_TOKENS = _define(
    Setting(
        "max_input_tokens",
        512,
        "generation input limit in tokens",
        type=int,
        env="INDEXER_GENERATION_MAX_INPUT_TOKENS",
        minimum=16,
    )
)
MAX_NEW_TOKENS = _define(
    Setting(
        "max_new_tokens",
        64,
        "answer length limit in tokens",
        type=int,
        env="INDEXER_GENERATION_MAX_NEW_TOKENS",
        minimum=1,
        metavar="N",
    )
)
MAX_TIME = _define(
    Setting(
        "max_time",
        60.0,
        "seconds one generation may take before it fails",
        type=float,
        env="INDEXER_GENERATION_MAX_TIME",
        minimum=1e-6,
        metavar="SECONDS",
    )
)
NUM_BEAMS = _define(Setting("num_beams", 4, "beams in beam search", type=int, minimum=1))
GENERATION_CONCURRENCY = _define(
    Setting(
        "max_concurrent",
        1,
        "generation calls at once in the server",
        type=int,
        env="INDEXER_GENERATION_CONCURRENCY",
        minimum=1,
    )
)


def check_query(query: str, k: int, offset: int = 0, setting: Setting = K) -> None:
    """One validation of a search (or question) for every client: the CLI, the API and the library."""
    if not query.strip():
        raise SettingError("query is empty: give some words to search for", "query")
    if len(query) > QUERY_MAX_CHARS.default:
        raise SettingError(
            f"query is {len(query)} characters long; at most {QUERY_MAX_CHARS.default} are accepted", "query"
        )
    setting.check(k)
    OFFSET.check(offset)


def settings_markdown() -> str:
    """docs/settings.md: every setting with its default, environment variable, bounds and meaning."""
    lines = [
        "# Settings",
        "",
        "Generated from `search/settings.py` by `python -m search.settings > docs/settings.md`; a test checks",
        "that this page matches. Command-line options are the names with dashes (`chunk_tokens` is",
        "`--chunk-tokens`); the environment variable, where there is one, applies when the option is not given.",
        "",
        "| setting | default | environment | bounds | meaning |",
        "|---|---|---|---|---|",
    ]
    for s in SETTINGS.values():
        bounds = " ".join(
            part
            for part in (
                f"≥ {s.minimum:g}" if s.minimum is not None else "",
                f"≤ {s.maximum:g}" if s.maximum is not None else "",
                " | ".join(s.choices).replace("|", "/") if s.choices else "",
            )
            if part
        )
        default = "" if s.default is None else f"`{s.default}`"
        env = f"`{s.env}`" if s.env else ""
        lines.append(f"| `{s.name}` | {default} | {env} | {bounds} | {s.help} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(settings_markdown(), end="")
