"""Sentence embeddings: Sentence-T5 (or any mean-pooling Hugging Face encoder) to unit vectors.

Pooling follows the sonoisa/sentence-t5-base-ja-mean-tokens model card exactly: the mean of the last hidden
states over the attention mask (EOS included, padding excluded), then L2 normalization so that the inner
product is the cosine similarity.
"""

from __future__ import annotations

import contextlib
import json
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel
from transformers.utils import logging as transformers_logging

from search.errors import SearchError
from search.models import load_pretrained, local_model_dir

T5_FAMILY = {"t5", "mt5", "umt5", "longt5"}
DEFAULT_MAX_LENGTH = 128
PRECISIONS = ("auto", "fp32", "bf16")


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Model-card mean pooling: sum(h * mask) / clamp(sum(mask), 1e-9)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise SearchError("--device cuda was given but no CUDA GPU is available; use --device auto or cpu")
    if device not in {"cpu", "cuda"} and not device.startswith("cuda:"):
        raise SearchError(f"Unknown device '{device}': use auto, cpu or cuda")
    return torch.device(device)


def cpu_supports_bf16() -> bool:
    """bf16 only pays off on CPUs with native bf16 dot products (AVX512-BF16 or AMX); elsewhere it is slower."""
    try:
        flags = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """Pick bf16 where the hardware runs it natively (T5 overflows in fp16, so fp16 is never chosen)."""
    if precision not in PRECISIONS:
        raise SearchError(f"Unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_supports_bf16() else "fp32"


def _sentence_bert_config(model: str) -> dict:
    """sentence-transformers' config (do_lower_case, max_seq_length) when the model ships one."""
    local = local_model_dir(model)
    if local is not None:
        path: Path | None = local / "sentence_bert_config.json"
    else:
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(model, "sentence_bert_config.json")
        path = Path(cached) if isinstance(cached, str) else None
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class EncoderInfo:
    """What the index manifest records so that queries are encoded exactly like passages."""

    model: str
    dimension: int
    pooling: str
    normalization: str
    max_length: int


class Encoder:
    """Turns texts into L2-normalized float32 vectors, in length-sorted batches."""

    def __init__(
        self,
        model: str,
        device: str = "auto",
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = 32,
        precision: str = "auto",
    ) -> None:
        if max_length < 8:
            raise SearchError(f"max_length must be at least 8 tokens, got {max_length}")
        if batch_size < 1:
            raise SearchError(f"batch size must be at least 1, got {batch_size}")
        transformers_logging.disable_progress_bar()
        self.model_id = model
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.max_length = max_length
        self.batch_size = batch_size
        config = load_pretrained(AutoConfig, model)
        self.tokenizer = load_pretrained(AutoTokenizer, model)
        self._model_class = T5EncoderModel if config.model_type in T5_FAMILY else AutoModel
        self._model: torch.nn.Module | None = None
        self.dimension = int(config.d_model if config.model_type in T5_FAMILY else config.hidden_size)
        self.lowercase = bool(_sentence_bert_config(model).get("do_lower_case", False))

    @property
    def model(self) -> torch.nn.Module:
        """Weights load on first use: chunking needs only the tokenizer, a no-change rebuild needs neither."""
        if self._model is None:
            self._model = load_pretrained(self._model_class, self.model_id).to(self.device).eval()
        return self._model

    @property
    def info(self) -> EncoderInfo:
        return EncoderInfo(
            model=self.model_id,
            dimension=self.dimension,
            pooling="mean",
            normalization="nfkc" + ("+lower" if self.lowercase else "") + "+l2",
            max_length=self.max_length,
        )

    def normalize(self, text: str) -> str:
        """Same text normalization at index and query time: NFKC folds full-width ASCII and half-width kana."""
        text = unicodedata.normalize("NFKC", text)
        return text.lower() if self.lowercase else text

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts without special tokens, for packing passages under a token budget."""
        if not texts:
            return []
        ids = self.tokenizer([self.normalize(t) for t in texts], add_special_tokens=False)["input_ids"]
        return [len(x) for x in ids]

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Encode texts; returns an (n, dimension) float32 array of unit vectors in input order."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        encoded = self.tokenizer([self.normalize(t) for t in texts], truncation=True, max_length=self.max_length)[
            "input_ids"
        ]
        # Sorting by length keeps padding (wasted compute) to a minimum within each batch.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(order), self.batch_size):
                batch_ids = order[start : start + self.batch_size]
                batch = self.tokenizer.pad(
                    {"input_ids": [encoded[i] for i in batch_ids]}, padding="longest", return_tensors="pt"
                ).to(self.device)
                hidden = self.model(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).last_hidden_state
                pooled = mean_pool(hidden.float(), batch["attention_mask"])
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[batch_ids] = pooled.cpu().numpy()
                if progress is not None:
                    progress(len(batch_ids))
        return out

    def encode_query(self, query: str) -> np.ndarray:
        return self.encode([query])[0]

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()
