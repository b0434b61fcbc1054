"""Which embedding model an index uses, separate from loading it: a build that changes nothing never loads it.

An index's model is named once, here, and the loaded encoder is checked against that name: a build can no
longer record one model in the manifest while encoding with another.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from search.errors import SearchError

if TYPE_CHECKING:
    from search.models.encoder import Encoder


@dataclass
class EncoderSpec:
    """An embedding model (hub id or local directory) and how to run it; `get()` loads it once."""

    model: str
    max_length: int
    device: str = "auto"
    precision: str = "auto"
    batch_size: int = 32
    loaded: Encoder | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.loaded is not None:
            self._check(self.loaded)

    def get(self) -> Encoder:
        with self._lock:
            if self.loaded is None:
                from search.models.encoder import Encoder  # torch is imported only when a model is needed

                self.loaded = Encoder(
                    self.model,
                    device=self.device,
                    precision=self.precision,
                    max_length=self.max_length,
                    batch_size=self.batch_size,
                )
                self._check(self.loaded)
            return self.loaded

    def _check(self, encoder: Encoder) -> None:
        if encoder.model_id != self.model or encoder.max_length != self.max_length:
            raise SearchError(
                f"the embedding model loaded is {encoder.model_id} (max_length {encoder.max_length}), but the "
                f"index settings name {self.model} (max_length {self.max_length})"
            )
