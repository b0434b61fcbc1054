"""A tokenizer and model pair that loads once, on first use, and is shared by every thread afterwards.

A server that may never be asked for an answer or a rerank must not pay seconds of start-up and hundreds of
MB for the model; the first request loads it (under a lock, so two requests never load it twice) and it stays
loaded. The generators and the reranker differ only in what they load, which subclasses say in `_load`.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from typing import Any

import torch

from search.errors import ModelUnavailableError


class LazyModel(ABC):
    """Loads on the first `load()`, `tokenizer` or `model`; a missing model raises ModelUnavailableError
    naming `setting`, the setting that chose it (search.settings), so the message says what to change."""

    def __init__(self, model_id: str, device: str, setting: str) -> None:
        self.model_id = model_id
        self.device_setting = device
        self.setting = setting
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._model: Any = None
        self.device: torch.device | None = None

    @abstractmethod
    def _load(self) -> tuple[Any, Any]:
        """Load and return (tokenizer, model), setting `device` and whatever else the subclass records."""

    @property
    def loaded(self) -> bool:
        """Whether the model is in memory (status pages say so without loading it)."""
        return self._model is not None

    def load(self) -> None:
        """Load tokenizer and weights once; later calls return at once. Raises ModelUnavailableError."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            try:
                tokenizer, model = self._load()
            except ModelUnavailableError as exc:
                raise ModelUnavailableError(exc.model, exc.reason, setting=self.setting) from exc
            self._tokenizer = tokenizer
            self._model = model  # last: `loaded` turns true only when everything is in place

    @property
    def tokenizer(self) -> Any:
        self.load()
        return self._tokenizer

    @property
    def model(self) -> Any:
        self.load()
        return self._model
