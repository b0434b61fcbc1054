"""Which generation models `ask`, `quiz` and the API use, and the bounds they run under: one dataclass.

Every model is a hub id or a local directory and can be set by flag or environment variable, so that the
CLI, the server and `/health` all read (and show) the same settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from search import settings as config
from search.errors import SearchError

DEFAULT_QA_MODEL_EN = config.QA_MODEL_EN.default  # FLAN-T5: instruction-tuned for QA; cannot read Japanese
DEFAULT_QA_MODEL_JA = config.QA_MODEL_JA.default  # mT5-small fine-tuned on JaQuAD (CC BY 4.0)
DEFAULT_QG_MODEL = config.QG_MODEL.default  # Japanese question generation (CC BY-SA 4.0)
# The fields of GenerationSettings that are product settings (search.settings), by field name.
FIELDS = {
    s.name: s
    for s in (
        config.QA_MODEL_JA,
        config.QA_MODEL_EN,
        config.QG_MODEL,
        config.MAX_INPUT_TOKENS,
        config.MAX_NEW_TOKENS,
        config.MAX_TIME,
        config.NUM_BEAMS,
        config.GENERATION_CONCURRENCY,
    )
}
ENVIRONMENT = {name: setting.env for name, setting in FIELDS.items() if setting.env}


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
    max_input_tokens: int = config.MAX_INPUT_TOKENS.default
    max_new_tokens: int = config.MAX_NEW_TOKENS.default
    max_time: float = config.MAX_TIME.default  # seconds per generate() call
    num_beams: int = config.NUM_BEAMS.default
    max_concurrent: int = config.GENERATION_CONCURRENCY.default  # generation calls at once in the server

    def __post_init__(self) -> None:
        if self.precision not in {"auto", "fp32", "bf16"}:
            raise SearchError(f"generation precision must be auto, fp32 or bf16 (never fp16), got {self.precision}")
        for name, setting in FIELDS.items():
            setting.check(getattr(self, name))
        for name in ("qa_model_ja", "qa_model_en", "qg_model"):
            if not getattr(self, name).strip():
                raise SearchError(f"{name} must name a model (hub id or local directory)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> GenerationSettings:
        """Defaults, then environment variables (INDEXER_QA_MODEL_JA, ...), then explicit overrides (flags).

        Overrides that are None mean "not given" so that CLI flags can default to None.
        """
        values = {name: setting.value(environ) for name, setting in FIELDS.items()}
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
