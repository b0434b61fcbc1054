"""`indexer eval` and the ranking metrics, against values computed by hand.

The fixture (tests/fixtures/beir, written for this project) is built so that keyword ranking is fixed by
which documents contain the query's tokens: every query is space-separated kanji/katakana/Latin words, so
its tokens are exactly those words' CJK bigrams (or the whole Latin word), and no hiragana bigram can match
by accident.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path

import pytest

from indexer.cli import main
from search.evaluation.beir import load_beir
from search.evaluation.metrics import dcg, mean, mrr_at_k, ndcg_at_k, recall_at_k

FIXTURE = Path(__file__).parent / "fixtures" / "beir"
METRIC_KEYS = {"recall@1", "recall@5", "recall@10", "recall@20", "mrr@10", "ndcg@10"}
LOG2_3 = math.log2(3)  # the discount of rank 2 is 1 / log2(2 + 1)


# -- metric functions ------------------------------------------------------------------------------------


def test_recall_counts_relevant_documents_in_the_top_k() -> None:
    qrels = {"a": 1, "b": 1, "z": 0}  # z is judged, but not relevant
    ranking = ["x", "a", "z", "y", "b"]
    assert recall_at_k(ranking, qrels, 1) == 0.0  # top 1: x
    assert recall_at_k(ranking, qrels, 2) == 0.5  # top 2 holds a: 1 of 2 relevant
    assert recall_at_k(ranking, qrels, 5) == 1.0  # a and b
    assert recall_at_k(ranking, {"z": 0}, 5) == 0.0  # nothing relevant: 0, not a division by zero


def test_mrr_is_the_reciprocal_rank_of_the_first_relevant_document_within_k() -> None:
    qrels = {"b": 1, "c": 2}
    assert mrr_at_k(["a", "b", "c"], qrels, 10) == 0.5  # b at rank 2; the grade does not matter
    assert mrr_at_k(["a", "x", "y", "c"], qrels, 10) == 0.25  # c at rank 4
    assert mrr_at_k(["a", "x", "y", "c"], qrels, 3) == 0.0  # beyond the cut-off
    assert mrr_at_k([], qrels, 10) == 0.0


def test_ndcg_binary() -> None:
    # One relevant document at rank 2: DCG = 1/log2(3); ideal DCG = 1/log2(2) = 1.
    assert ndcg_at_k(["x", "a"], {"a": 1}, 10) == pytest.approx(1 / LOG2_3)  # 0.63093
    # Two relevant, found at ranks 1 and 3: DCG = 1 + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3) = 1.63093.
    assert ndcg_at_k(["a", "x", "b"], {"a": 1, "b": 1}, 10) == pytest.approx(1.5 / (1 + 1 / LOG2_3))  # 0.91972
    # Cut at k = 2: only a counts, DCG = 1; the ideal is still cut at 2: 1 + 1/log2(3).
    assert ndcg_at_k(["a", "x", "b"], {"a": 1, "b": 1}, 2) == pytest.approx(1 / (1 + 1 / LOG2_3))  # 0.61315


def test_ndcg_graded_uses_linear_gains_and_the_ideal_from_the_qrels() -> None:
    qrels = {"a": 2, "b": 1, "c": 0}
    # Ranking b, c, a: DCG = 1/log2(2) + 0/log2(3) + 2/log2(4) = 1 + 0 + 1 = 2.
    # Ideal from the qrels (a=2, b=1): 2/log2(2) + 1/log2(3) = 2.63093.
    assert ndcg_at_k(["b", "c", "a"], qrels, 10) == pytest.approx(2 / (2 + 1 / LOG2_3))  # 0.76019
    assert ndcg_at_k(["a", "b"], qrels, 10) == pytest.approx(1.0)
    # A relevant document that was never retrieved still counts in the ideal: 1 / (2 + 1/log2(3)).
    assert ndcg_at_k(["b"], qrels, 10) == pytest.approx(1 / (2 + 1 / LOG2_3))  # 0.38009
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0
    assert dcg([3, 2]) == pytest.approx(3 + 2 / LOG2_3)


def test_mean_over_queries() -> None:
    assert mean([1.0, 0.5, 0.0]) == 0.5 and mean([]) == 0.0


# -- the dataset reader ------------------------------------------------------------------------------------


def test_queries_without_a_relevant_judgment_are_not_scored() -> None:
    dataset = load_beir(FIXTURE)
    assert [q for q, _ in dataset.queries] == ["q1", "q2", "q3", "q4", "q5"]  # q6 is judged 0 only
    assert dataset.qrels["q3"] == {"d3": 2.0, "d2": 1.0} and len(dataset.corpus) == 6
    assert [q for q, _ in load_beir(FIXTURE, limit=2).queries] == ["q1", "q2"]


# -- indexer eval, end to end ----------------------------------------------------------------------------

# Keyword rankings of the fixture (documents that contain any of the query's tokens; more shared tokens,
# and rarer ones, rank higher; all documents are about the same length):
#   q1 情報セキュリティ          -> d4 (its title only: the heading is indexed)   relevant d4
#   q2 VPN 接続 申請             -> d6 (3 tokens), d4 (vpn, 接続), d1 (申請)       relevant d4
#   q3 経費 精算                 -> d2 (both, also in its title), d3 (精算)        relevant d3 = 2, d2 = 1
#   q4 年末調整                  -> nothing (no document has 年末, 末調 or 調整)   relevant d5
#   q5 パスワード VPN 接続 申請  -> d4 (6 tokens), d6 (3), d1 (申請)               relevant d1
# Per query:          R@1   R@5/10/20   MRR@10   nDCG@10
#   q1                1     1           1        1
#   q2                0     1           1/2      (1/log2 3) / 1                         = 0.63093
#   q3                1/2   1           1        (2/log2 3 + 1) / (2 + 1/log2 3)        = 2.26186 / 2.63093 = 0.85972
#   q4                0     0           0        0
#   q5                0     1           1/3      (1/log2 4) / 1                         = 0.5
# Mean of 5 queries:  0.3   0.8         2.83333/5 = 0.56667     2.99065/5 = 0.59813
Q3_NDCG = (1 + 2 / LOG2_3) / (2 + 1 / LOG2_3)
EXPECTED_KEYWORD = {
    "recall@1": (1 + 0 + 0.5 + 0 + 0) / 5,
    "recall@5": 4 / 5,
    "recall@10": 4 / 5,
    "recall@20": 4 / 5,
    "mrr@10": (1 + 1 / 2 + 1 + 0 + 1 / 3) / 5,
    "ndcg@10": (1 + 1 / LOG2_3 + Q3_NDCG + 0 + 0.5) / 5,
}


def run_eval(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["eval", str(FIXTURE), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_keyword_mode_gives_the_hand_computed_values(tiny_model_dir: Path, capsys) -> None:
    code, out, _ = run_eval(capsys, "--mode", "keyword", "--json", "--model", str(tiny_model_dir))
    report = json.loads(out)
    assert code == 0 and report["queries"] == 5 and report["documents"] == 6 and report["dataset"] == "beir"
    assert list(report["modes"]) == ["keyword"] and report["model"] == str(tiny_model_dir)
    got = report["modes"]["keyword"]
    assert set(got) == METRIC_KEYS
    for name, value in EXPECTED_KEYWORD.items():
        assert got[name] == pytest.approx(value, abs=5e-5), name  # reported to 4 decimals
    assert {"index", "encode", "search"} <= set(report["seconds"])


def test_every_report_carries_plain_bigram_bm25_measured_on_the_same_index(tiny_model_dir: Path, capsys) -> None:
    """The fixture's queries are bare words (no particles to drop, no inflection): plain bigram BM25 ranks them
    as the keyword leg does, so the reference equals the hand-computed values."""
    code, out, _ = run_eval(capsys, "--mode", "keyword", "--model", str(tiny_model_dir))
    assert code == 0 and "(reference) plain_bigram_bm25: recall@1 0.3000" in out
    code, out, _ = run_eval(capsys, "--mode", "keyword", "--json", "--model", str(tiny_model_dir))
    got = json.loads(out)["reference"]["plain_bigram_bm25"]
    for name, value in EXPECTED_KEYWORD.items():
        assert got[name] == pytest.approx(value, abs=5e-5), name


def test_all_modes_are_reported_and_the_temporary_index_is_removed(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where mkdtemp puts the evaluation index
    code, out, _ = run_eval(capsys, "--json", "--model", str(tiny_model_dir))
    report = json.loads(out)
    assert code == 0 and list(report["modes"]) == ["hybrid", "dense", "keyword"]
    for values in report["modes"].values():
        assert set(values) == METRIC_KEYS and all(0.0 <= v <= 1.0 for v in values.values())
    assert report["modes"]["keyword"]["mrr@10"] == pytest.approx(EXPECTED_KEYWORD["mrr@10"], abs=5e-5)
    assert set(report["seconds"]["search"]) == {"hybrid", "dense", "keyword"}
    assert list(scratch.iterdir()) == [], "the temporary index must be removed"


def test_a_given_index_is_kept_and_reused(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    index = tmp_path / "eval-index"
    args = ("--mode", "keyword", "--model", str(tiny_model_dir), "--index", str(index))
    code, out, _ = run_eval(capsys, *args)
    assert code == 0 and "keyword" in out and "recall@1" in out  # the human table
    assert (index / "index.sqlite").is_file() and len(list((index / "corpus").glob("*.md"))) == 6
    assert (index / "corpus" / "d4.md").read_text(encoding="utf-8").startswith("# 情報セキュリティ\n\n")
    code, out, _ = run_eval(capsys, *args, "--json")
    assert code == 0 and json.loads(out)["modes"]["keyword"]["mrr@10"] == pytest.approx(0.5667, abs=5e-5)


def test_an_index_folder_not_made_by_eval_is_refused(tiny_model_dir: Path, tmp_path: Path, capsys) -> None:
    index = tmp_path / "real-index"
    index.mkdir()
    (index / "index.sqlite").write_bytes(b"")  # e.g. someone's real index: eval must not rebuild it
    code, _, err = run_eval(capsys, "--model", str(tiny_model_dir), "--index", str(index))
    assert code == 2 and "not made by an evaluation" in err
    assert [p.name for p in index.iterdir()] == ["index.sqlite"]


def test_missing_dataset_files_are_a_clear_error(tmp_path: Path, tiny_model_dir: Path, capsys) -> None:
    (tmp_path / "corpus.jsonl").write_text('{"id": "d1", "title": "t", "text": "本文"}\n', encoding="utf-8")
    code = main(["eval", str(tmp_path), "--model", str(tiny_model_dir)])
    _, err = capsys.readouterr()
    assert code == 2 and "qrels.tsv is missing" in err
