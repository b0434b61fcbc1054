"""Fusion weighs each leg per query, a nonsense query finds nothing, and hits can be collapsed by document."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_index import build

from search.models.encoder import Encoder
from search.retrieval import fusion
from search.retrieval.results import LegWeights
from search.retrieval.searcher import Searcher


def test_a_model_that_cannot_read_the_query_adds_nothing_to_the_keyword_order() -> None:
    dense = [(3, 0.9), (4, 0.85), (2, 0.8), (1, 0.7)]
    lexical = [(1, 12.0), (2, 6.0), (4, 6.0)]  # 2 and 4 tie: the keyword leg's own order must stand
    weights = fusion.leg_weights(dense, lexical, model_knows_language=False)
    assert weights.dense == 0.0
    ranked = fusion.fuse("hybrid", fusion.matched(dense, lexical, weights), lexical, weights)
    assert [pid for pid, *_ in ranked] == [pid for pid, _ in lexical]
    assert ranked[0][2] is not None, "a keyword hit the dense leg also found still reports its dense rank"


def test_a_decisive_keyword_match_damps_the_dense_leg() -> None:
    dense = [(5, 0.9), (1, 0.5)]
    decisive = fusion.leg_weights(dense, [(1, 20.0), (2, 2.0)], model_knows_language=True)
    close = fusion.leg_weights(dense, [(1, 20.0), (2, 19.0)], model_knows_language=True)
    assert decisive.keyword_confidence == pytest.approx(0.9)
    assert decisive.dense < close.dense <= fusion.DENSE_WEIGHT


def test_hybrid_scores_are_weighted_normalized_leg_scores() -> None:
    dense = [(1, 0.9), (2, 0.5), (3, 0.4)]
    lexical = [(2, 8.0), (4, 2.0)]
    weights = LegWeights(dense=0.5, keyword=1.0, keyword_confidence=0.75, model_knows_language=True)
    scores = {pid: score for pid, score, _, _ in fusion.fuse("hybrid", dense, lexical, weights)}
    assert scores == pytest.approx({1: 0.5, 2: 0.5 * 0.2 + 1.0, 3: 0.0, 4: 0.0})


def test_dense_only_passages_below_the_floor_are_not_matches() -> None:
    weights = fusion.leg_weights([(1, 0.2)], [], model_knows_language=True)
    assert fusion.matched([(1, 0.2), (2, 0.1)], [], weights) == []
    assert fusion.matched([(1, 0.5), (2, 0.1)], [], weights) == [(1, 0.5)]


@pytest.fixture(scope="module")
def minilm_index(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> tuple[Path, Encoder]:
    """The real bundled English model, whose cosine scale DENSE_FLOOR was calibrated on."""
    encoder = Encoder(str(minilm_dir), device="cpu", precision="fp32")
    root = tmp_path_factory.mktemp("fusion")
    docs = root / "docs"
    docs.mkdir()
    (docs / "password.md").write_text("# Password reset\n\nTo reset your password, open the portal.", "utf-8")
    (docs / "vpn.md").write_text("# VPN\n\nStart the VPN client before you connect.", "utf-8")
    (docs / "expenses.txt").write_text(
        "経費精算の締め日は毎月二十五日です。\n\n経費精算には領収書が必要です。\n\n経費精算は経理部が確認します。",
        "utf-8",
    )
    (docs / "leave.txt").write_text("有給休暇の申請は三日前までに行います。経費精算とは別です。", "utf-8")
    build(docs, root / "index", encoder)
    return root / "index", encoder


@pytest.mark.parametrize("mode", ["hybrid", "dense", "keyword"])
@pytest.mark.parametrize("query", ["zzqxw", "qqqq", "xyzzy plugh"])
def test_a_nonsense_query_returns_nothing(minilm_index: tuple[Path, Encoder], query: str, mode: str) -> None:
    searcher = Searcher(minilm_index[0], encoder=minilm_index[1])
    assert searcher.search(query, mode=mode).hits == []


def test_a_real_question_still_finds_its_passage(minilm_index: tuple[Path, Encoder]) -> None:
    searcher = Searcher(minilm_index[0], encoder=minilm_index[1])
    result = searcher.search("How do I reset my password?", mode="hybrid")
    assert result.hits[0].path == "password.md" and "dense" in result.legs_used


def test_collapse_keeps_the_best_passage_of_each_document(minilm_index: tuple[Path, Encoder]) -> None:
    searcher = Searcher(minilm_index[0], encoder=minilm_index[1])
    plain = searcher.search("経費精算", mode="keyword")
    collapsed = searcher.search("経費精算", mode="keyword", collapse=True)
    assert [h.path for h in plain.hits].count("expenses.txt") > 1
    assert [h.path for h in collapsed.hits] == ["expenses.txt", "leave.txt"]
    assert collapsed.hits[0].passage_id == plain.hits[0].passage_id
    assert collapsed.hits[0].more_in_document == [h.path for h in plain.hits].count("expenses.txt") - 1
    assert collapsed.as_dict()["collapsed"] is True
