"""Synonyms: an employee's word finds the document's word, the company's own file is read from the index,
typed words still count for more than their synonyms, and the result says what was added."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_index import build

from search.errors import SearchError
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher
from search.text import analysis, synonyms
from search.text.synonyms import install_synonyms, load_thesaurus, parse_rules

DOCS = {
    "pay.txt": "給与の支払日は毎月二十五日です。",
    "leave.txt": "年次有給休暇は入社六か月後に十日付与します。",
    "salary.txt": "給料日の前日に明細を配ります。",
    "room.txt": "会議室の予約は前日までに行います。",
}


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("synonyms")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    build(docs, root / "index", tiny_encoder)
    return root / "index"


def paths(searcher: Searcher, query: str) -> list[str]:
    return [hit.path for hit in searcher.search(query, mode="keyword").hits]


def test_the_bundled_dictionary_finds_the_documents_word(index: Path, tiny_encoder: Encoder) -> None:
    """給料 and 給与 share no character: only the Sudachi group (給料, 給与, 賃金 ...) connects them."""
    searcher = Searcher(index, encoder=tiny_encoder)
    result = searcher.search("給与", mode="keyword")
    assert [hit.path for hit in result.hits][:2] == ["pay.txt", "salary.txt"]
    assert {"term": "給料", "source": "給与", "origin": "sudachi"} in result.as_dict()["expansions"]
    assert paths(Searcher(index, encoder=tiny_encoder, bundled_synonyms=False), "給与") == ["pay.txt"]


def test_typed_words_outrank_their_synonyms(index: Path, tiny_encoder: Encoder) -> None:
    """給料日 typed: the passage that says 給料日 comes before the one that says 給与 (a synonym of 給料)."""
    assert paths(Searcher(index, encoder=tiny_encoder), "給料日")[:2] == ["salary.txt", "pay.txt"]


def test_a_user_file_in_the_index_adds_company_jargon(tmp_path: Path, index: Path, tiny_encoder: Encoder) -> None:
    searcher = Searcher(index, encoder=tiny_encoder, bundled_synonyms=False)
    assert paths(searcher, "ペイデー") == []
    rules = tmp_path / "jargon.txt"
    rules.write_text("# our words\nペイデー => 支払日, 給料日\n有休, 年次有給休暇\n", encoding="utf-8")
    install_synonyms(index, rules)
    try:
        result = searcher.search("ペイデー", mode="keyword")
        assert sorted(hit.path for hit in result.hits) == ["pay.txt", "salary.txt"]
        assert [e["origin"] for e in result.as_dict()["expansions"]] == ["user", "user"]
        assert paths(searcher, "有休") == ["leave.txt"]
    finally:
        (index / synonyms.INDEX_SYNONYMS_NAME).unlink()
    assert paths(searcher, "ペイデー") == []


def test_a_bad_user_file_is_refused_before_it_replaces_the_working_one(tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("有休, 年休\n", encoding="utf-8")
    install_synonyms(tmp_path / "index", good)
    bad = tmp_path / "bad.txt"
    bad.write_text("有休, 年休\n休暇\n", encoding="utf-8")
    with pytest.raises(SearchError, match=r"bad\.txt, line 2: '休暇' is not a synonym rule"):
        install_synonyms(tmp_path / "index", bad)
    assert (tmp_path / "index" / "synonyms.txt").read_text(encoding="utf-8") == "有休, 年休\n"


@pytest.mark.parametrize(
    ("line", "message"),
    [("a => b => c", "more than one '=>'"), ("=> b", "not a synonym rule"), ("a =>", "not a synonym rule")],
)
def test_malformed_rules_name_the_line(line: str, message: str) -> None:
    with pytest.raises(SearchError, match=rf"rules\.txt, line 3: .*{message}"):
        parse_rules(f"# c\n\n{line}\n", "rules.txt")


def test_longest_dictionary_entry_wins_and_typed_words_are_not_repeated() -> None:
    thesaurus = load_thesaurus(bundled=True)
    query = analysis.analyze("有給休暇を取りたい", thesaurus)
    sources = {e.source for e in query.expansions}
    assert "有給休暇" in sources and "休暇" not in sources
    assert not {e.term for e in query.expansions} & set(query.terms)
