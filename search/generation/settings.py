"""Which generation models `ask`, `quiz` and the API use, and the bounds they run under: one dataclass.

Every model is a hub id or a local directory and can be set by flag or environment variable, so that the
CLI, the server and `/health` all read (and show) the same settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from search.errors import SearchError

# English answers: FLAN-T5 is instruction-tuned for extractive QA prompts. It cannot read Japanese.
DEFAULT_QA_MODEL_EN = "google/flan-t5-base"
# Japanese answers: mT5-small fine-tuned on JaQuAD for QA (CC BY 4.0); input template in search/generation/prompts.py.
DEFAULT_QA_MODEL_JA = "lmqg/mt5-small-jaquad-qa"
# Japanese question generation from (answer, context) pairs (CC BY-SA 4.0).
DEFAULT_QG_MODEL = "sonoisa/t5-base-japanese-question-generation"

ENVIRONMENT = {
    "qa_model_ja": "INDEXER_QA_MODEL_JA",
    "qa_model_en": "INDEXER_QA_MODEL_EN",
    "qg_model": "INDEXER_QG_MODEL",
    "max_input_tokens": "INDEXER_GENERATION_MAX_INPUT_TOKENS",
    "max_new_tokens": "INDEXER_GENERATION_MAX_NEW_TOKENS",
    "max_time": "INDEXER_GENERATION_MAX_TIME",
    "max_concurrent": "INDEXER_GENERATION_CONCURRENCY",
}


@dataclass(frozen=True)
class GenerationSettings:
    """Models (hub id or local directory) and the bounds every generation call runs under.

    The bounds exist because one generation call holds a core (or the GPU) for its whole duration: the
    input is capped in tokens (the models were trained on 512-token inputs), the output in new tokens,
    and the wall-clock time per call (`max_time`), past which the call fails with a clear error instead
    of returning a truncated answer.
    """

    qa_model_ja: str = DEFAULT_QA_MODEL_JA
    qa_model_en: str = DEFAULT_QA_MODEL_EN
    qg_model: str = DEFAULT_QG_MODEL
    device: str = "auto"
    precision: str = "auto"  # auto | fp32 | bf16 — never fp16: T5 activations overflow in half precision
    max_input_tokens: int = 512
    max_new_tokens: int = 64
    max_time: float = 60.0  # seconds per generate() call
    num_beams: int = 4
    max_concurrent: int = 1  # generation calls at once in the server

    def __post_init__(self) -> None:
        if self.precision not in {"auto", "fp32", "bf16"}:
            raise SearchError(f"generation precision must be auto, fp32 or bf16 (never fp16), got {self.precision}")
        for name, low in (("max_input_tokens", 16), ("max_new_tokens", 1), ("num_beams", 1), ("max_concurrent", 1)):
            if getattr(self, name) < low:
                raise SearchError(f"{name} must be at least {low}, got {getattr(self, name)}")
        if self.max_time <= 0:
            raise SearchError(f"max_time must be positive seconds, got {self.max_time}")
        for name in ("qa_model_ja", "qa_model_en", "qg_model"):
            if not getattr(self, name).strip():
                raise SearchError(f"{name} must name a model (hub id or local directory)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> GenerationSettings:
        """Defaults, then environment variables (INDEXER_QA_MODEL_JA, ...), then explicit overrides (flags).

        Overrides that are None mean "not given" so that CLI flags can default to None.
        """
        environ = os.environ if environ is None else environ
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, variable in ENVIRONMENT.items():
            raw = environ.get(variable)
            if raw is None or raw == "":
                continue
            values[name] = _parse(raw, str(types[name]), variable)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def generation_precision(precision: str) -> str:
    """The generators' precision for a runtime `--precision` that may name an encoder-only mode.

    int8 (dynamic quantization) is offered for the embedding encoder only; generators then pick their own
    precision (`auto`: bf16 where native, else fp32), since beam search over int8 weights is unmeasured here.
    """
    return precision if precision in {"auto", "fp32", "bf16"} else "auto"


def _parse(raw: str, type_name: str, variable: str) -> Any:
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
    except ValueError as exc:
        raise SearchError(f"${variable}='{raw}' is not a valid {type_name}") from exc
    return raw
