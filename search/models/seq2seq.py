"""Seq2seq (T5/mT5/FLAN) generation: lazy, thread-safe loading, an <unk> guard and bounded generation.

Why each piece exists:
- Lazy loading (search.models.lazy): a server that may never be asked for an answer must not pay seconds
  of start-up and hundreds of MB for a generator; the first request loads it once and it stays loaded.
- <unk> guard: FLAN-T5's vocabulary maps kana and kanji to <unk>. A model fed mostly <unk> still emits
  fluent-looking text, so we refuse (naming a model that can read the text) instead of answering from noise.
- Bounds: input length (never silently truncated here: callers fit their context and keep the question),
  new tokens, and wall-clock time per call via `max_time`; a call that hits the time limit raises instead
  of returning a half-finished answer.
- Every generation setting is passed explicitly: checkpoints such as sonoisa's ship no
  generation_config.json, and transformers 5.x ignores the legacy generation keys in config.json.
- Precision: bf16 where the hardware runs it natively, else fp32; never fp16 (T5 v1.1/FLAN/mT5
  activations overflow in half precision).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForSeq2SeqLM, AutoTokenizer, TextIteratorStreamer

from search.errors import ModelUnavailableError, SearchError
from search.models.encoder import resolve_device, resolve_precision
from search.models.hub import load_pretrained, local_model_dir
from search.models.lazy import LazyModel

# More than 5% of the content tokens as <unk> means the model cannot read the text: a Japanese sentence
# through FLAN-T5 is 30-90% <unk>, while a model that reads the language stays well under 1% (a rare
# symbol or emoji).
UNK_SHARE_LIMIT = 0.05


class UnreadableInputError(SearchError):
    """The model's tokenizer turns too much of the input into <unk>: it cannot read this language."""

    def __init__(self, model: str, share: float, suggestion: str) -> None:
        self.model = model
        self.share = share
        self.suggestion = suggestion
        super().__init__(
            f"Model '{model}' cannot read this text: its tokenizer maps {share:.0%} of it to <unk> "
            f"(the limit is {UNK_SHARE_LIMIT:.0%}). Use a model that reads it, e.g. {suggestion}"
        )


class GenerationTimeoutError(SearchError):
    """A generate() call ran into its wall-clock limit."""


class InputTooLongError(SearchError):
    """The model input is longer than the configured limit even after fitting the context."""


@dataclass(frozen=True)
class GenerationOptions:
    """The decoding settings of one call; all of them reach generate() explicitly."""

    max_new_tokens: int = 64
    num_beams: int = 4
    max_time: float = 60.0


def model_available(model: str) -> bool:
    """Whether the model loads without the network (local directory or Hugging Face cache); loads nothing."""
    if local_model_dir(model) is not None:
        return True
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        return isinstance(try_to_load_from_cache(model, "config.json"), str)
    except HFValidationError:  # neither a directory here nor a valid hub id (a mistyped path, say)
        return False


class Seq2SeqModel(LazyModel):
    """One encoder-decoder model, loaded on first use and shared by every caller afterwards."""

    def __init__(self, model_id: str, device: str = "auto", precision: str = "auto", setting: str = "model") -> None:
        super().__init__(model_id, device, setting)
        self.precision_setting = precision
        self.precision: str | None = None

    def _load(self) -> tuple[Any, Any]:
        config = load_pretrained(AutoConfig, self.model_id)
        if not getattr(config, "is_encoder_decoder", False):
            raise ModelUnavailableError(
                self.model_id, f"it is a '{config.model_type}' model, not an encoder-decoder (T5-style) model"
            )
        tokenizer = load_pretrained(AutoTokenizer, self.model_id)
        device = resolve_device(self.device_setting)
        precision = resolve_precision(self.precision_setting, device)
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        model = load_pretrained(AutoModelForSeq2SeqLM, self.model_id).to(device=device, dtype=dtype).eval()
        self.device, self.precision = device, precision
        return tokenizer, model

    # -- input checks -------------------------------------------------------------------------------

    def count_tokens(self, text: str) -> int:
        """Input length as the model sees it (special tokens such as </s> included)."""
        return len(self.tokenizer(text)["input_ids"])

    def unk_share(self, texts: Sequence[str]) -> float:
        """Share of the text the tokenizer maps to <unk> (0.0 for tokenizers without an unk token).

        Measured in characters where the tokenizer reports offsets (fast tokenizers): SentencePiece merges a
        run of unknown characters into a single <unk>, so counting tokens would understate it. Slow
        tokenizers report no offsets; there the share of tokens is used.
        """
        tokenizer = self.tokenizer
        unk = tokenizer.unk_token_id
        if unk is None:
            return 0.0
        unknown = total = 0
        for text in texts:
            if not text:
                continue
            if tokenizer.is_fast:
                encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
                total += sum(1 for c in text if not c.isspace())
                unknown += sum(
                    1
                    for token, (start, end) in zip(encoded["input_ids"], encoded["offset_mapping"], strict=True)
                    if token == unk
                    for c in text[start:end]
                    if not c.isspace()
                )
            else:
                ids = tokenizer(text, add_special_tokens=False)["input_ids"]
                total += len(ids)
                unknown += sum(1 for i in ids if i == unk)
        return unknown / total if total else 0.0

    def check_readable(self, texts: Sequence[str], suggestion: str) -> None:
        """Refuse text the model cannot read. Only the content is measured, not the prompt template: the
        template is fixed and known to suit the model, the user's text is what may be unreadable."""
        share = self.unk_share(texts)
        if share > UNK_SHARE_LIMIT:
            raise UnreadableInputError(self.model_id, share, suggestion)

    # -- generation ---------------------------------------------------------------------------------

    def _generate_kwargs(self, options: GenerationOptions) -> dict[str, Any]:
        config = self.model.config
        pad = config.pad_token_id if config.pad_token_id is not None else 0
        kwargs: dict[str, Any] = {
            "max_new_tokens": options.max_new_tokens,
            "num_beams": options.num_beams,
            "num_return_sequences": 1,
            "do_sample": False,
            "length_penalty": 1.0,
            # T5-family checkpoints start decoding from the pad token (id 0).
            "decoder_start_token_id": config.decoder_start_token_id
            if config.decoder_start_token_id is not None
            else pad,
            "eos_token_id": config.eos_token_id,
            "pad_token_id": pad,
            "max_time": options.max_time,
        }
        if options.num_beams > 1:
            kwargs["early_stopping"] = True
        return kwargs

    def _encode(self, inputs: Sequence[str], max_input_tokens: int) -> Any:
        encoded = self.tokenizer(list(inputs), padding=True, return_tensors="pt")
        longest = int(encoded["attention_mask"].sum(dim=1).max())
        if longest > max_input_tokens:
            raise InputTooLongError(
                f"The input for '{self.model_id}' is {longest} tokens, over the limit of {max_input_tokens}"
            )
        return encoded.to(self.device)

    def generate(self, inputs: Sequence[str], max_input_tokens: int, options: GenerationOptions) -> list[str]:
        """Generate one output per input (one batch); raises GenerationTimeoutError past options.max_time."""
        if not inputs:
            return []
        encoded = self._encode(inputs, max_input_tokens)
        started = time.monotonic()
        with torch.inference_mode():
            output = self.model.generate(**encoded, **self._generate_kwargs(options))
        self._check_time(started, options)
        return [text.strip() for text in self.tokenizer.batch_decode(output, skip_special_tokens=True)]

    def stream(self, text: str, max_input_tokens: int, options: GenerationOptions) -> Iterator[str]:
        """Yield the output text piece by piece as it is generated (greedy: streaming cannot follow beams)."""
        encoded = self._encode([text], max_input_tokens)
        streamer = TextIteratorStreamer(self.tokenizer, skip_special_tokens=True, timeout=options.max_time + 30)
        kwargs = {**self._generate_kwargs(options), "num_beams": 1, "streamer": streamer}
        kwargs.pop("early_stopping", None)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**encoded, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer's thread and re-raised there
                failure.append(exc)
                streamer.end()

        started = time.monotonic()
        worker = threading.Thread(target=run, name=f"generate:{self.model_id}", daemon=True)
        worker.start()
        yield from streamer
        worker.join()
        if failure:
            raise failure[0]
        self._check_time(started, options)

    def _check_time(self, started: float, options: GenerationOptions) -> None:
        elapsed = time.monotonic() - started
        if elapsed >= options.max_time:
            raise GenerationTimeoutError(
                f"Generation with '{self.model_id}' stopped at the time limit of {options.max_time:g} s; the "
                "output would be incomplete. Raise max_time (INDEXER_GENERATION_MAX_TIME), lower "
                "max_new_tokens, or run on a GPU"
            )


class ModelPool:
    """Seq2seq models by id, created on first request and then kept: every caller shares one copy."""

    def __init__(self, device: str = "auto", precision: str = "auto") -> None:
        self.device = device
        self.precision = precision
        self._models: dict[str, Seq2SeqModel] = {}
        self._lock = threading.Lock()

    def get(self, model_id: str, setting: str = "model") -> Seq2SeqModel:
        """The (possibly not yet loaded) model; nothing is read from disk here. `setting` names the setting
        that chose the model (qa_model_ja, qg_model, ...), for error messages."""
        with self._lock:
            model = self._models.get(model_id)
            if model is None:
                model = self._models[model_id] = Seq2SeqModel(model_id, self.device, self.precision, setting)
            return model

    def is_loaded(self, model_id: str) -> bool:
        model = self._models.get(model_id)
        return model is not None and model.loaded

    def status(self, model_ids: Sequence[str]) -> list[dict[str, Any]]:
        """For /health: whether each model is loaded and whether it could be loaded offline."""
        return [
            {"model": m, "loaded": self.is_loaded(m), "available": self.is_loaded(m) or model_available(m)}
            for m in dict.fromkeys(model_ids)
        ]
