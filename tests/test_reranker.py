"""The optional reranker: a cross-encoder, loaded by hub id or folder like every model, re-orders the first
`rerank_depth` results of a search and says so; it is off by default."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tiny_index import build
from tiny_models import make_cross_encoder

from indexer.cli import main
from search import Index
from search.errors import ModelUnavailableError
from search.models.encoder import Encoder
from search.models.reranker import Reranker
from search.retrieval.searcher import Searcher

SENTENCES = [
    "経費の精算は月末に締める。",
    "経費の申請は上長が承認する。",
    "交通費の精算は実費を支給する。",
    "出張の経費は翌月に精算する。",
    "精算の締め日は毎月25日とする。",
    "会議室の予約は前日までに行う。",
    "経費精算システムで領収書を添付する。",
    "月末の精算は経理部が確認する。",
]
DOCS = {f"doc{i}.md": f"# 規程{i}\n\n{sentence}\n" for i, sentence in enumerate(SENTENCES)}
QUERY = "経費の精算はいつ締めますか"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("rerank")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    build(docs, root / "index", tiny_encoder)
    reranker = make_cross_encoder(root / "tiny-reranker", [QUERY, *DOCS.values()])
    return root / "index", reranker


def test_the_first_results_come_in_the_rerankers_order_and_the_rest_as_fused(
    corpus: tuple[Path, Path], tiny_encoder: Encoder
) -> None:
    index, model = corpus
    plain = Searcher(index, encoder=tiny_encoder).search(QUERY, k=12, mode="keyword")
    reranker = Reranker(str(model), device="cpu")
    searcher = Searcher(index, encoder=tiny_encoder, reranker=reranker, rerank_depth=5)
    result = searcher.search(QUERY, k=12, mode="keyword")
    assert plain.reranker is None and all(hit.rerank_score is None for hit in plain.hits)
    assert result.reranker == str(model)
    first, rest = result.hits[:5], result.hits[5:]
    assert {h.passage_id for h in first} == {h.passage_id for h in plain.hits[:5]}, "only the first 5 re-scored"
    texts = [f"{h.heading}\n{h.text}".strip() for h in first]
    assert [h.rerank_score for h in first] == pytest.approx(reranker.score(QUERY, texts))
    assert [h.rerank_score for h in first] == sorted((h.rerank_score for h in first), reverse=True)
    assert [h.passage_id for h in first] != [h.passage_id for h in plain.hits[:5]], "the random model reorders"
    assert [h.passage_id for h in rest] == [h.passage_id for h in plain.hits[5:]]
    assert all(h.rerank_score is None for h in rest)


def test_the_command_line_names_the_reranker_and_a_missing_one_is_a_clear_error(
    corpus: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    index, model = corpus
    code = main(["search", QUERY, "--index", str(index), "--reranker", str(model), "--rerank-depth", "3", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["reranker"] == str(model)
    assert [hit["rerank_score"] is not None for hit in out["results"]][:4] == [True, True, True, False]
    missing = str(tmp_path / "no-such-reranker")
    code = main(["search", QUERY, "--index", str(index), "--reranker", missing])
    err = capsys.readouterr().err
    assert code != 0 and "no-such-reranker" in err and "--reranker" in err


def test_the_front_door_passes_it_on(corpus: tuple[Path, Path]) -> None:
    index, model = corpus
    with Index(index, reranker=str(model), rerank_depth=2, device="cpu", precision="fp32") as front_door:
        result = front_door.search(QUERY, k=3, mode="keyword")
    assert result.reranker == str(model) and [h.rerank_score is not None for h in result.hits] == [True, True, False]
    with pytest.raises(ModelUnavailableError, match="reranking cross-encoder"):
        Reranker("/nonexistent/reranker").load()
