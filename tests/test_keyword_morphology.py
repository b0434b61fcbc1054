"""The keyword leg and the highlighting read Japanese as words: endings and particles neither rank nor light up,
inflected forms meet, and a word is not found inside a longer word where it means something else."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tiny_index import build

from search.errors import SearchError
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher
from search.storage.store import Store
from search.text import analysis, highlight

DOCS = {
    "wifi.txt": "ゲストWi-Fiには社内システムから接続できません。来客用の回線です。",
    "vpn.txt": "VPN接続の手順：VPNクライアントを起動し、社内ネットワークへの接続を確認する。",
    "pc.txt": "会社のノートPCを無くす事故が起きた場合は、情報システム部へ報告する。",
    "download.txt": "ソフトウェアのダウンロードは申請制です。",
    "load.txt": "サーバーのロード時間を計測する。",
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("morphology")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    build(docs, root / "index", tiny_encoder)
    return root / "index"


@pytest.fixture(scope="module")
def searcher(index: Path, tiny_encoder: Encoder) -> Searcher:
    return Searcher(index, encoder=tiny_encoder)


def paths(searcher: Searcher, query: str) -> list[str]:
    return [hit.path for hit in searcher.search(query, mode="keyword").hits]


def marked(text: str, query: str) -> list[str]:
    return [text[start:end] for start, end in highlight.match_spans(text, analysis.analyze(query))]


def test_query_keeps_content_words_and_drops_endings() -> None:
    query = analysis.analyze("VPNに接続できません")
    assert query.terms == ("vpn", "接続")
    assert not {"でき", "きま", "ませ", "せん"} & set(query.bigrams)


def test_a_question_about_vpn_is_not_answered_by_what_cannot_be_done(searcher: Searcher) -> None:
    assert paths(searcher, "VPNに接続できません")[0] == "vpn.txt"


def test_inflected_forms_meet_by_lemma(searcher: Searcher) -> None:
    """なくした shares no character bigram with 無くす: only the lemma (無くす) finds the passage."""
    assert paths(searcher, "なくした") == ["pc.txt"]


def test_endings_and_particles_are_never_highlighted() -> None:
    text = DOCS["wifi.txt"]
    assert marked(text, "社内に接続できません") == ["社内", "接続"]


def test_a_word_is_not_highlighted_inside_a_longer_word() -> None:
    assert marked(DOCS["download.txt"], "ロード") == []
    assert marked(DOCS["load.txt"], "ロード") == ["ロード"]


def test_the_exact_word_ranks_above_a_word_that_contains_it(searcher: Searcher) -> None:
    assert paths(searcher, "ロード")[0] == "load.txt"


def test_compound_words_are_highlighted_whole() -> None:
    assert marked("年次有給休暇を取得した。", "有給休暇を取得します") == ["有給休暇", "取得"]


def test_a_query_of_only_endings_still_searches_its_characters(searcher: Searcher) -> None:
    """Nothing to drop to: 「できません」 alone is taken literally rather than searching for nothing."""
    assert paths(searcher, "できません") == ["wifi.txt"]


def test_an_index_of_the_previous_format_asks_to_be_rebuilt(tmp_path: Path, index: Path) -> None:
    old = tmp_path / "old"
    old.mkdir()
    with sqlite3.connect(index / "index.sqlite") as source, sqlite3.connect(old / "index.sqlite") as copy:
        source.backup(copy)
    store = Store(old)
    with store.write_transaction():
        store.set_manifest({"schema_version": 2})
    store.close()
    with pytest.raises(SearchError, match=r"Japanese word lemmas.*rebuild it into a new --index folder"):
        Store(old)


def test_a_nul_character_does_not_hide_the_rest_of_the_text() -> None:
    """MeCab reads C strings: without care, 後 after a NUL would never be indexed as a word."""
    assert marked("前\x00後の手順", "手順") == ["手順"]
