"""Sentence embeddings: Sentence-T5 (or any mean-pooling Hugging Face encoder) to unit vectors.

Pooling follows the sonoisa/sentence-t5-base-ja-mean-tokens model card exactly: the mean of the last hidden
states over the attention mask (EOS included, padding excluded), then L2 normalization so that the inner
product is the cosine similarity.

Speed (benchmarks/encode.py measures each lever against the model card's loop): texts are sorted by token
length and cut into batches under a token budget, so padding is minimal and the matrix multiplications are
large; T5 encoders run through `search.models.fast_t5` (fused q/k/v, position bias combined with the mask once per
batch) in fp32, bf16 or int8. Which one runs is `search.models.backend`'s choice: with precision `auto` on a CPU,
the fastest candidate that meets the accuracy floor, measured on this machine at first use and cached; the
choice and its reason are `Encoder.info.backend` / `Encoder.info.backend_reason`.
"""

from __future__ import annotations

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
from search.models import backend as backends
from search.models import fast_t5
from search.models.cpu import this_cpu
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
        raise SearchError("device cuda was asked for but no CUDA GPU is available; set the device to auto or cpu")
    if device not in {"cpu", "cuda"} and not device.startswith("cuda:"):
        raise SearchError(f"Unknown device '{device}': use auto, cpu or cuda")
    return torch.device(device)


def cpu_supports_bf16() -> bool:
    """bf16 only pays off on CPUs with native bf16 dot products (AVX512-BF16 or AMX) that oneDNN may use
    (ONEDNN_MAX_CPU_ISA can forbid them); elsewhere it is slower."""
    return this_cpu().native_bf16


def resolve_precision(precision: str, device: torch.device) -> str:
    """Validate a precision and resolve `auto` by rule: bf16 where the hardware runs it natively (T5 overflows
    in fp16, so fp16 is never chosen), else fp32.

    The generators use this rule. The Encoder resolves `auto` on a CPU by measurement instead
    (search.models.backend), which may pick int8 where it is faster and accurate enough.
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
    """What the index manifest records so that queries are encoded exactly like passages, and which backend
    computes the vectors (for `indexer status` and `/health`; not part of the manifest: every backend computes
    the same function within the accuracy floor)."""

    model: str
    dimension: int
    pooling: str
    normalization: str
    max_length: int
    # search.models.backend.BACKENDS name, or "pending" while precision auto has not measured this CPU yet.
    backend: str = "pending"
    backend_reason: str = ""


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
        resolve_precision(precision, self.device)  # validates; the backend choice resolves `auto`
        self.precision_setting = precision
        self.max_length = max_length
        self.batch_size = batch_size
        self.batch_tokens = max(batch_tokens, max_length)
        config = load_pretrained(AutoConfig, model)
        self.tokenizer = load_pretrained(AutoTokenizer, model)
        self._model_class = T5EncoderModel if config.model_type in T5_FAMILY else AutoModel
        self._fused = self._model_class is T5EncoderModel and fast_t5.supports_config(config)
        self._model: torch.nn.Module | None = None
        self._forward: backends.Forward | None = None
        self._choice: backends.BackendChoice | None = None
        self._load_lock = threading.Lock()
        self.dimension = int(config.d_model if config.model_type in T5_FAMILY else config.hidden_size)
        self.lowercase = bool(_sentence_bert_config(model).get("do_lower_case", False))

    @property
    def loaded(self) -> bool:
        """Whether the weights are in memory (a build may load them in the background, search.models.executors)."""
        return self._model is not None

    @property
    def model(self) -> torch.nn.Module:
        """Weights load on first use: chunking needs only the tokenizer, a no-change rebuild needs neither."""
        if self._model is None:
            # Two threads loading the same weights at once crash inside transformers: load once, under a lock.
            with self._load_lock:
                if self._model is None:
                    model = load_pretrained(self._model_class, self.model_id).to(self.device).eval()
                    choice = self._choose_backend(model)
                    try:
                        self._forward = backends.make_forward(model, choice.backend)
                    except ValueError as exc:
                        raise SearchError(
                            f"encoder backend {choice.backend}: {exc}; set the precision to fp32 or bf16"
                        ) from exc
                    self._choice = choice
                    self._model = model  # last: a loaded model always has its forward function
        return self._model

    def _choose_backend(self, model: torch.nn.Module) -> backends.BackendChoice:
        """A named precision stands; `auto` follows the GPU rule, or on a CPU the (cached) calibration."""
        if self.precision_setting != "auto":
            return backends.explicit_choice(self._fused, self.precision_setting, self.device)
        if self.device.type != "cpu":
            return backends.gpu_choice(self._fused)
        return backends.calibrate(
            model, backends.model_key(self.model_id), self.tokenizer, self.normalize, self.max_length, self.device
        )

    @property
    def backend_choice(self) -> backends.BackendChoice | None:
        """The backend in use once the model has loaded; before that, what is already known without loading
        it (a named precision, the GPU rule, or the cached calibration of this model on this CPU), else None."""
        if self._choice is not None:
            return self._choice
        if self.precision_setting != "auto":
            return backends.explicit_choice(self._fused, self.precision_setting, self.device)
        if self.device.type != "cpu":
            return backends.gpu_choice(self._fused)
        return backends.cached_choice(self.model_id, self.device)

    @property
    def precision(self) -> str:
        """The precision that encodes: fp32, bf16 or int8; "auto" while a CPU calibration is still pending."""
        choice = self.backend_choice
        return choice.precision if choice is not None else self.precision_setting

    @property
    def info(self) -> EncoderInfo:
        choice = self.backend_choice
        if choice is None:
            backend = "pending"
            reason = (
                "precision auto: the backends are measured on this CPU when the model is first used, "
                f"and the choice is cached in {backends.cache_path()}"
            )
        else:
            backend, reason = choice.backend, choice.reason
        return EncoderInfo(
            model=self.model_id,
            dimension=self.dimension,
            pooling="mean",
            normalization="nfkc" + ("+lower" if self.lowercase else "") + "+l2",
            max_length=self.max_length,
            backend=backend,
            backend_reason=reason,
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
