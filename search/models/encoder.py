"""Sentence embeddings: Sentence-T5 (or any mean-pooling Hugging Face encoder) to unit vectors.

Pooling follows the sonoisa/sentence-t5-base-ja-mean-tokens model card exactly: the mean of the last hidden
states over the attention mask (EOS included, padding excluded), then L2 normalization so that the inner
product is the cosine similarity.

Speed (benchmarks/encode.py measures each lever against the model card's loop): texts are sorted by token
length and cut into batches under a token budget, so padding is minimal and the matrix multiplications are
large; T5 encoders run through `search.models.fast_t5` (fused q/k/v, position bias combined with the mask once per
batch) in bf16 on hardware with native bf16, or in int8 (dynamic quantization) when asked for.
"""

from __future__ import annotations

import contextlib
import json
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel
from transformers.utils import logging as transformers_logging

from search.errors import SearchError
from search.models.hub import load_pretrained, local_model_dir

T5_FAMILY = {"t5", "mt5", "umt5", "longt5"}
DEFAULT_MAX_LENGTH = 128
PRECISIONS = ("auto", "fp32", "bf16", "int8")
# Padded tokens per batch. Measured on a 2-core AMD EPYC (2 MB L2 per core), bf16: 1,000-2,000 tokens per batch
# run fastest; 4,096 is ~7% slower on JSQuAD paragraphs and 8,192 ~25% slower on 50-token passages, because the
# activations of a larger batch no longer stay in cache.
DEFAULT_BATCH_TOKENS = 2048
# A batch of this many tokens already multiplies near peak speed; past it, padding costs more than batching saves.
EFFICIENT_BATCH_TOKENS = 1024
PADDING_RATIO = 1.15


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
    """Pick bf16 where the hardware runs it natively (T5 overflows in fp16, so fp16 is never chosen).

    int8 (dynamic quantization of the linear layers) is never automatic: its accuracy depends on the model's
    weights, so it is an explicit choice, measured by benchmarks/encode.py.
    """
    if precision not in PRECISIONS:
        raise SearchError(f"Unknown precision '{precision}': use one of {', '.join(PRECISIONS)}")
    if precision == "int8" and device.type != "cpu":
        raise SearchError("precision int8 (dynamic quantization) runs on the CPU only: use bf16 or fp32 on a GPU")
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
        batch_tokens: int = DEFAULT_BATCH_TOKENS,
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
        self.batch_tokens = max(batch_tokens, max_length)
        config = load_pretrained(AutoConfig, model)
        self.tokenizer = load_pretrained(AutoTokenizer, model)
        self._model_class = T5EncoderModel if config.model_type in T5_FAMILY else AutoModel
        self._model: torch.nn.Module | None = None
        self._forward: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None
        self._load_lock = threading.Lock()
        self.dimension = int(config.d_model if config.model_type in T5_FAMILY else config.hidden_size)
        self.lowercase = bool(_sentence_bert_config(model).get("do_lower_case", False))

    @property
    def model(self) -> torch.nn.Module:
        """Weights load on first use: chunking needs only the tokenizer, a no-change rebuild needs neither."""
        if self._model is None:
            # Two threads loading the same weights at once crash inside transformers: load once, under a lock.
            with self._load_lock:
                if self._model is None:
                    model = load_pretrained(self._model_class, self.model_id).to(self.device).eval()
                    self._forward = self._make_forward(model)
                    self._model = model  # last: a loaded model always has its forward function
        return self._model

    def _make_forward(self, model: torch.nn.Module) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """(input_ids, attention_mask) -> float32 last hidden states, in the chosen precision.

        fp32 keeps the Hugging Face forward pass, exactly the model card's computation. bf16 and int8 use
        search.models.fast_t5 for T5 encoders (the bf16 weights replace the fp32 ones in `model`, so memory shrinks
        rather than grows); other architectures get autocast (bf16) or quantize_dynamic (int8).
        """
        from search.models import fast_t5

        try:
            if self.precision != "fp32" and fast_t5.supports(model):
                fast = fast_t5.FastT5Encoder(
                    model,
                    dtype=torch.bfloat16 if self.precision == "bf16" else torch.float32,
                    quantize_int8=self.precision == "int8",
                )
                return fast.forward
            if self.precision == "int8":
                model = fast_t5.quantize_int8_dynamic(model)
        except ValueError as exc:
            raise SearchError(f"precision {self.precision}: {exc}; use --precision bf16 or fp32") from exc

        def hugging_face(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            with self._autocast():
                return model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()

        return hugging_face

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
        _ = self.model
        forward = self._forward
        assert forward is not None  # set together with the model
        with torch.inference_mode():
            for batch_ids in self._batches([len(x) for x in encoded]):
                batch = self.tokenizer.pad(
                    {"input_ids": [encoded[i] for i in batch_ids]}, padding="longest", return_tensors="pt"
                ).to(self.device)
                hidden = forward(batch["input_ids"], batch["attention_mask"])
                pooled = mean_pool(hidden, batch["attention_mask"])
                pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
                out[batch_ids] = pooled.cpu().numpy()
                if progress is not None:
                    progress(len(batch_ids))
        return out

    def _batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices in ascending length, cut into batches of at most `batch_size` texts and `batch_tokens`
        padded tokens: sorting keeps padding (wasted compute) minimal, and short texts share larger batches
        so the matrix multiplications stay large enough to run near the hardware's peak. Once a batch holds
        EFFICIENT_BATCH_TOKENS, a text more than PADDING_RATIO times longer than its shortest starts a new
        one (on a small or widely spread input this cuts padded work by ~6%, benchmarks/encode.py)."""
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            # Ascending order: the newcomer is the longest, so it sets the padded length of the batch.
            if current and (
                len(current) >= self.batch_size
                or (len(current) + 1) * lengths[i] > self.batch_tokens
                or (
                    len(current) * lengths[current[-1]] >= EFFICIENT_BATCH_TOKENS
                    and lengths[i] > PADDING_RATIO * lengths[current[0]]
                )
            ):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    def encode_query(self, query: str) -> np.ndarray:
        return self.encode([query])[0]

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()
