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

from collections.abc import Sequence
from typing import Any

import torch

from search.models.encoder import resolve_device
from search.models.hub import load_pretrained
from search.models.lazy import LazyModel

SETTING = "reranker"
BATCH_SIZE = 16
MAX_LENGTH = 512


class Reranker(LazyModel):
    """Loads on first use; `score` may be called from several threads (the tokenizer runs under a lock)."""

    def __init__(self, model_id: str, device: str = "auto", max_length: int = MAX_LENGTH) -> None:
        super().__init__(model_id, device, SETTING)
        self.max_length = max_length

    def _load(self) -> tuple[Any, Any]:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = load_pretrained(AutoTokenizer, self.model_id)
        device = resolve_device(self.device_setting)
        model = load_pretrained(AutoModelForSequenceClassification, self.model_id).to(device).eval()
        self.device = device
        return tokenizer, model

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """Relevance of each passage to the query (higher is better), in the passages' order."""
        tokenizer, model = self.tokenizer, self.model
        scores: list[float] = []
        for start in range(0, len(passages), BATCH_SIZE):
            batch = list(passages[start : start + BATCH_SIZE])
            with self._lock:  # a fast tokenizer is not re-entrant across threads ("Already borrowed")
                inputs = tokenizer(
                    [query] * len(batch),
                    batch,
                    padding=True,
                    truncation="longest_first",  # a long query must not make a pair impossible
                    max_length=self.max_length,
                    return_tensors="pt",
                ).to(self.device)
            with torch.inference_mode():
                logits = model(**inputs).logits.float()
            relevance = logits[:, 0] if logits.shape[-1] == 1 else torch.log_softmax(logits, dim=-1)[:, -1]
            scores.extend(relevance.tolist())
        return scores
