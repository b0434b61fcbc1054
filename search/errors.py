"""Errors a user can act on. Each message says what went wrong and what to do next."""

from __future__ import annotations


class SearchError(Exception):
    """Base class: the CLI prints the message and exits non-zero instead of a traceback."""


class ModelUnavailableError(SearchError):
    """A model (hub id or local directory) could not be loaded."""

    def __init__(self, model: str, reason: str, setting: str = "model") -> None:
        self.model = model
        self.reason = reason
        self.setting = setting  # the setting that names this model (search.settings: model, qa_model_ja, ...)
        ways = [
            "give a local directory with the model files (config.json, weights, tokenizer) as the "
            f"{ROLES.get(setting, setting)} (setting `{setting}`)"
        ]
        if not _looks_like_path(model):  # a hub id: downloading it elsewhere is the other way
            ways.append(
                f"on a machine with internet access run `huggingface-cli download {model}` and copy the\n"
                "    Hugging Face cache (~/.cache/huggingface/hub, or $HF_HOME) to this machine"
            )
        super().__init__(
            f"Model '{model}' is not available: {reason}\n"
            + ("Provide it in one of these ways:\n" if len(ways) > 1 else "Provide it:\n")
            + "\n".join(f"  - {way}" for way in ways)
        )


# What each model setting is for, as errors name it (the settings themselves are in search/settings.py).
ROLES = {
    "model": "embedding model",
    "qa_model_ja": "Japanese QA model",
    "qa_model_en": "English QA model",
    "qg_model": "question generation model",
    "reranker": "reranking cross-encoder",
}


def _looks_like_path(model: str) -> bool:
    """Hub ids are `name` or `owner/name`; anything else the user typed as a folder."""
    return model.startswith(("/", ".", "~")) or "\\" in model or model.count("/") > 1


class WordVectorsUnavailableError(SearchError):
    """The word vectors named by the `word_vectors` setting are not on this machine or cannot be read."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"Word vectors '{source}' (setting `word_vectors`) are not available: {reason}")


class IndexNotFoundError(SearchError):
    """The index directory does not hold an index yet."""


class ModelMismatchError(SearchError):
    """An index was opened with another embedding model than the one its passages are encoded with."""


class IndexLockedError(SearchError):
    """Another build holds the index's write lock."""


class ExtractionError(SearchError):
    """A file could not be turned into text; the build reports it and carries on."""


class UndecodableError(ExtractionError):
    """A plain-text file decodes as none of the supported Japanese/Unicode encodings."""
