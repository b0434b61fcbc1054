"""An optional cross-encoder that re-scores the best few results of a search, off by default.

A bi-encoder (or the keyword leg) scores query and passage apart; a cross-encoder reads them together, so it
tells "the passage answers this" from "the passage shares its words", at the cost of one forward pass per
(query, passage) pair. It therefore re-scores only the first `rerank_depth` results. Any Hugging Face
sequence-classification model works, e.g. `hotchpotch/japanese-reranker-cross-encoder-small-v1`; it is
loaded like every other model (search.models.hub: local folder or cache first, no minute of retries offline).
One output logit is the relevance score (the sentence-transformers CrossEncoder convention); with two or more,
the log-probability of the last label ("relevant").
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import torch

from search.errors import ModelUnavailableError
from search.models.encoder import resolve_device
from search.models.hub import load_pretrained

SETTING = "reranker"
BATCH_SIZE = 16
MAX_LENGTH = 512


class Reranker:
    """Loads on first use; `score` may be called from several threads (the tokenizer runs under a lock)."""

    def __init__(self, model_id: str, device: str = "auto", max_length: int = MAX_LENGTH) -> None:
        self.model_id = model_id
        self.device_setting = device
        self.max_length = max_length
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._model: Any = None
        self.device: torch.device | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        """Load tokenizer and weights once; raises ModelUnavailableError naming the `reranker` setting."""
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            from transformers import AutoModelForSequenceClassification, AutoTokenizer

            try:
                tokenizer = load_pretrained(AutoTokenizer, self.model_id)
                device = resolve_device(self.device_setting)
                model = load_pretrained(AutoModelForSequenceClassification, self.model_id).to(device).eval()
            except ModelUnavailableError as exc:
                raise ModelUnavailableError(exc.model, exc.reason, setting=SETTING) from exc
            self._tokenizer, self.device = tokenizer, device
            self._model = model  # last: `loaded` turns true only when everything is in place

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Relevance of each passage to the query (higher is better), in the passages' order."""
        self.load()
        scores: list[float] = []
        for start in range(0, len(passages), BATCH_SIZE):
            batch = list(passages[start : start + BATCH_SIZE])
            with self._lock:  # a fast tokenizer is not re-entrant across threads ("Already borrowed")
                inputs = self._tokenizer(
                    [query] * len(batch),
                    batch,
                    padding=True,
                    truncation="longest_first",  # a long query must not make a pair impossible
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
            with torch.inference_mode():
                logits = self._model(**inputs).logits.float()
            relevance = logits[:, 0] if logits.shape[-1] == 1 else torch.log_softmax(logits, dim=-1)[:, -1]
            scores.extend(relevance.tolist())
        return scores
