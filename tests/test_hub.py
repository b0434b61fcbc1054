"""Model resolution when the model is not cached: the hub is only tried when it can be reached at once."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from search.errors import ModelUnavailableError
from search.models.hub import load_pretrained

MODEL = "example-org/not-cached-model"
PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


class RecordingLoader:
    """Stands in for AutoModel: nothing is cached, and a hub download succeeds."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def from_pretrained(self, model: str, **kwargs: Any) -> str:
        self.calls.append(kwargs)
        if kwargs.get("local_files_only"):
            raise OSError(f"{model} is not in the cache")
        return "downloaded"


@pytest.fixture()
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """No HF_HUB_OFFLINE and no proxy: the situation where the hub used to be retried for about 50 s."""
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", *PROXY_VARIABLES):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture()
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections: bound, so nobody else takes it, but never listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture()
def listening_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@pytest.mark.parametrize("variable", ["HF_ENDPOINT", "HTTPS_PROXY"])
def test_an_unreachable_hub_is_not_tried(
    online: None, closed_port: int, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, f"http://127.0.0.1:{closed_port}")
    loader = RecordingLoader()
    with pytest.raises(ModelUnavailableError) as info:
        load_pretrained(loader, MODEL)
    assert loader.calls == [{"local_files_only": True}], "only the cache is read: no download with retries"
    message = str(info.value)
    assert MODEL in message and "could not be reached" in message and f"127.0.0.1:{closed_port}" in message
    assert "embedding model (setting `model`)" in message


def test_a_reachable_hub_is_used_for_a_model_not_in_the_cache(
    online: None, listening_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{listening_port}")
    loader = RecordingLoader()
    assert load_pretrained(loader, MODEL) == "downloaded"
    assert loader.calls == [{"local_files_only": True}, {}]


def test_offline_the_hub_is_not_even_checked(closed_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE is set"):
        load_pretrained(RecordingLoader(), MODEL)
