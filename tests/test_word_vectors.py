"""The Japanese word-vector leg: chiVe-style vectors answer the dense leg of Japanese queries when the index's
embedding model (the bundled English MiniLM) cannot read them, found through the stored lemmas."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_index import build
from tiny_word_vectors import make_word_vectors

from search.errors import WordVectorsUnavailableError
from search.ingest.chunk import ChunkSettings
from search.models import word_vectors as wv
from search.models.encoder import Encoder
from search.retrieval.searcher import Searcher

# Words that mean the same share a vector; every other word has one of its own.
GROUPS = [
    ["コンピューター", "端末", "パソコン"],
    ["無くす", "紛失"],
    ["給料", "給与"],
    ["会議", "打ち合わせ"],
    ["予約"],
    ["経費"],
    ["精算"],
    ["届け出る"],
    ["月末"],
]
DOCS = {
    "loss.md": "# 端末の紛失\n\nノート型端末を紛失した場合は情報システム部に届け出る。\n",
    "rooms.md": "# 会議室\n\n会議室の予約は前日までに行う。\n",
    "expenses.md": "# 経費\n\n経費の精算は月末に締める。\n",
}


def test_spacy_hash_is_spacys() -> None:
    """The value spaCy's documentation gives for nlp.vocab.strings['coffee']."""
    assert wv.spacy_hash("coffee") == 3197928453018144401


@pytest.fixture(scope="module")
def vectors_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_word_vectors(tmp_path_factory.mktemp("vectors") / "tiny_vectors", GROUPS)


@pytest.fixture(scope="module")
def minilm_index(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> tuple[Path, Encoder]:
    docs = tmp_path_factory.mktemp("docs")
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    encoder = Encoder(str(minilm_dir), device="cpu", precision="fp32")
    index = tmp_path_factory.mktemp("word-index") / "index"
    build(docs, index, encoder, ChunkSettings())
    return index, encoder


def test_reads_a_spacy_vocab_folder_and_caches_its_word_table(vectors_dir: Path) -> None:
    words = wv.load_word_vectors(str(vectors_dir))
    assert words.name == "chiVe word vectors (tiny_vectors 0.1)"
    assert words.row("紛失") == words.row("無くす") != words.row("端末")
    assert words.row("a string without a vector") is None
    assert words.dim == 16
    cached = list((Path(wv.cache_dir()) / "word-vectors").glob("*.json"))
    assert cached, "the word table is cached so that the next process skips re-hashing 600,000 strings"


def test_a_named_source_that_is_missing_is_an_error_that_says_how_to_fix_it(tmp_path: Path) -> None:
    with pytest.raises(WordVectorsUnavailableError, match=r"setting `word_vectors`.*pip install"):
        wv.load_word_vectors("no_such_vectors_package")
    with pytest.raises(WordVectorsUnavailableError, match="holds no spaCy vectors"):
        wv.load_word_vectors(str(tmp_path))


def test_word_vectors_find_a_paraphrase_that_shares_no_word_with_the_document(
    minilm_index: tuple[Path, Encoder], vectors_dir: Path
) -> None:
    index, encoder = minilm_index
    query = "コンピューターをなくした"  # the document says ノート型端末を紛失した
    without = Searcher(index, encoder=encoder, word_vectors="off")
    assert without.search(query, mode="hybrid").hits == [], "MiniLM cannot read it and no word matches"
    assert without.dense_models() == {"ja": None, "en": str(encoder.model_id)}
    assert "off" in (without.word_vectors_note() or "")

    searcher = Searcher(index, encoder=encoder, word_vectors=str(vectors_dir))
    result = searcher.search(query, mode="hybrid")
    assert [hit.path for hit in result.hits][:1] == ["loss.md"]
    assert result.weights is not None and result.weights.dense > 0 and result.weights.keyword == 0
    assert result.dense_model == "chiVe word vectors (tiny_vectors 0.1)"
    assert result.legs_used == ["dense"]
    assert searcher.dense_models() == {"ja": "chiVe word vectors (tiny_vectors 0.1)", "en": str(encoder.model_id)}
    assert searcher.word_vectors_note() is None
    dense = searcher.search(query, mode="dense")
    assert dense.hits and dense.hits[0].path == "loss.md"


def test_word_vectors_never_answer_what_the_model_reads_or_what_they_do_not_know(
    minilm_index: tuple[Path, Encoder], vectors_dir: Path
) -> None:
    index, encoder = minilm_index
    searcher = Searcher(index, encoder=encoder, word_vectors=str(vectors_dir))
    english = searcher.search("how do I book a meeting room", mode="hybrid")
    assert english.dense_model == str(encoder.model_id)
    nonsense = searcher.search("ぬぷぬぷぽ", mode="hybrid")
    assert nonsense.hits == [], "a query of words the vectors do not know has no dense match"


def test_an_index_changed_after_the_first_search_gets_new_word_vectors(
    tmp_path: Path, minilm_dir: Path, vectors_dir: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rooms.md").write_text(DOCS["rooms.md"], encoding="utf-8")
    encoder = Encoder(str(minilm_dir), device="cpu", precision="fp32")
    build(docs, tmp_path / "index", encoder, ChunkSettings())
    searcher = Searcher(tmp_path / "index", encoder=encoder, word_vectors=str(vectors_dir))
    assert {h.path for h in searcher.search("給料", mode="dense").hits} <= {"rooms.md"}
    (docs / "pay.md").write_text("# 給与\n\n給与は月末に支払う。\n", encoding="utf-8")
    build(docs, tmp_path / "index", encoder, ChunkSettings())
    assert [h.path for h in searcher.search("給料", mode="dense").hits][:1] == ["pay.md"]


def test_the_mode_line_says_why_a_hybrid_search_was_a_keyword_search() -> None:
    from indexer.output import mode_used
    from search.retrieval.results import LegWeights, SearchResult

    def line(dense: float, knows: bool, coverage: float | None) -> str:
        weights = LegWeights(dense, 1.0, 0.0, knows, coverage)
        return mode_used(SearchResult(generation=1, mode="hybrid", total_candidates=0, hits=[], weights=weights))

    assert "cannot read this query's language" in line(0.0, False, None)
    assert "holds every word" in line(0.0, True, 1.0)
    assert "nothing matched by meaning" in line(0.0, True, 0.4)
    assert line(0.7, True, 0.4) == "hybrid search"
