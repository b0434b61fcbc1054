"""The generation options `ask`, `quiz` and `serve` share: models, length and time limits.

Every model is a flag and an environment variable (INDEXER_QA_MODEL_JA, INDEXER_QA_MODEL_EN,
INDEXER_QG_MODEL); flags win. A model from the environment or the defaults that is not on the machine is
replaced (extractive answers, cloze questions) and the output says so; a model typed as a flag is what the
user asked for, so its absence is an error (exit 2), not a note.
"""

from __future__ import annotations

import argparse

from indexer import options as opt
from search import settings as config
from search.errors import ModelUnavailableError
from search.generation.settings import GenerationSettings, generation_precision

MODEL_SETTINGS = {s.name: s for s in (config.QG_MODEL, config.QA_MODEL_JA, config.QA_MODEL_EN)}


def add_model_flags(parser: argparse.ArgumentParser, qg: bool = False, qa_use: str = "") -> None:
    """--qa-model-ja/--qa-model-en (and --qg-model): the same flags for ask, quiz and serve."""
    for name, setting in MODEL_SETTINGS.items():
        if name == "qg_model" and not qg:
            continue
        use = qa_use if name != "qg_model" else ""
        opt.add_setting(parser, setting, help=setting.describe().replace(" (default:", f"{use} (default:", 1))


def add_limits(parser: argparse.ArgumentParser) -> None:
    for setting in (config.MAX_NEW_TOKENS, config.MAX_TIME):
        opt.add_setting(parser, setting)


def settings_from_args(args: argparse.Namespace) -> GenerationSettings:
    """Flags over environment variables over defaults; the encoder-only precision int8 maps to auto."""
    return GenerationSettings.from_env(
        qa_model_ja=getattr(args, "qa_model_ja", None),
        qa_model_en=getattr(args, "qa_model_en", None),
        qg_model=getattr(args, "qg_model", None),
        device=opt.setting_value(args, config.DEVICE),
        precision=generation_precision(opt.setting_value(args, config.PRECISION)),
        max_new_tokens=getattr(args, "max_new_tokens", None),
        max_time=getattr(args, "max_time", None),
    )


def required_models(args: argparse.Namespace, names: tuple[str, ...]) -> frozenset[str]:
    """The models given as flags, each checked to be on this machine (exit 2 naming the flag if not): a
    mistyped --qa-model-ja must not turn into a quietly different answer."""
    from search.models.seq2seq import model_available

    given: set[str] = set()
    for name in names:
        model = getattr(args, name, None)
        if model is None:
            continue
        if not model_available(model):
            raise ModelUnavailableError(
                model, "it is neither a local model directory nor in the Hugging Face cache", name
            )
        given.add(model)
    return frozenset(given)
