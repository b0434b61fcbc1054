"""The Japanese word-vector leg: chiVe-style vectors answer the dense leg of Japanese queries when the index's
embedding model (the bundled English MiniLM) cannot read them, found through the stored lemmas."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_index import build
from tiny_word_vectors import make_word_vectors

from search.errors import WordVectorsUnavailableError
from search.ingest.chunk import ChunkSettings
from search.models import word_vectors as wv
from search.models.encoder import Encoder
from search.retrieval import fusion
from search.retrieval.filters import Filters
from search.retrieval.searcher import Searcher
from search.retrieval.word_vector_leg import COMPONENT_MIN_PASSAGES, first_component

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
    """spaCy's own ids (spacy.strings.get_string_id): short, one 8-byte block plus a tail, and multi-byte."""
    assert wv.spacy_hash("coffee") == 3197928453018144401
    assert wv.spacy_hash("abcdefghijklmnopq") == 2395869216546743846
    assert wv.spacy_hash("コンピューター") == 3615928692854928586
    assert wv.spacy_hash("有給休暇を取得する") == 9927627010102319889


def test_lower_case_lemmas_find_capitalised_words() -> None:
    rows = wv.with_lower_case({"PC": 1, "VPN": 2, "it": 3, "IT": 4})
    assert rows["pc"] == 1 and rows["vpn"] == 2 and rows["PC"] == 1
    assert rows["it"] == 3, "a lower-case word of its own keeps its own vector"


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


def test_the_cached_word_table_is_read_back_and_a_broken_cache_is_made_again(
    vectors_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = wv.load_word_vectors(str(vectors_dir))
    wv._loaded.clear()  # as a new process would
    cache = wv._cache_file(wv.vocab_dir(str(vectors_dir)))
    assert cache.is_file()
    assert wv.load_word_vectors(str(vectors_dir)).rows == first.rows
    cache.write_text("{not json", encoding="utf-8")
    wv._loaded.clear()
    assert wv.load_word_vectors(str(vectors_dir)).rows == first.rows
    assert "unreadable" in caplog.text and json.loads(cache.read_text(encoding="utf-8"))


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
    keyword_only = without.search(query, mode="hybrid")
    assert keyword_only.hits == [], "MiniLM cannot read it and no word matches"
    assert keyword_only.dense_model is None, "a dense leg that weighed nothing answered nothing"
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


def test_filters_hold_for_the_word_vector_leg(minilm_index: tuple[Path, Encoder], vectors_dir: Path) -> None:
    index, encoder = minilm_index
    searcher = Searcher(index, encoder=encoder, word_vectors=str(vectors_dir))
    query = "コンピューターをなくした"
    assert searcher.search(query, mode="dense").hits[0].path == "loss.md"
    for mode in ("dense", "hybrid"):
        hits = searcher.search(query, mode=mode, filters=Filters(path_glob="rooms*")).hits
        assert {hit.path for hit in hits} <= {"rooms.md"}, mode


def test_the_word_vectors_weigh_less_the_more_of_the_query_the_keyword_leg_matched() -> None:
    idf = {"経費": 1.0, "精算": 3.0}.get
    assert fusion.keyword_coverage(["経費", "精算"], [["経費", "月末"], ["精算"]], lambda w: idf(w) or 1.0) == 0.75
    assert fusion.keyword_coverage(["経費"], [], lambda w: 1.0) == 0.0
    dense, lexical = [(1, 0.8), (2, 0.6)], [(2, 10.0), (3, 9.0)]
    weights = [fusion.leg_weights(dense, lexical, True, fusion.WORD_VECTOR_WEIGHT, c).dense for c in (0.0, 0.5, 1.0)]
    assert weights[0] > weights[1] > weights[2] == 0.0


def test_the_common_component_is_removed_only_from_a_large_enough_corpus() -> None:
    rng = np.random.default_rng(0)
    common = rng.standard_normal(8)
    common /= np.linalg.norm(common)
    rows = 5.0 * common + 0.5 * rng.standard_normal((COMPONENT_MIN_PASSAGES, 8))
    assert abs(float(first_component(rows) @ common)) > 0.99
    assert first_component(rows[: COMPONENT_MIN_PASSAGES - 1]).size == 0


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


def test_the_demo_says_what_reads_japanese_queries(monkeypatch: pytest.MonkeyPatch, vectors_dir: Path) -> None:
    from indexer.commands.demo import demo_model

    monkeypatch.setenv("INDEXER_WORD_VECTORS", str(vectors_dir))
    model, why = demo_model()
    assert "MiniLM" in model and "matched by meaning with chiVe word vectors (tiny_vectors 0.1)" in why
    monkeypatch.setenv("INDEXER_WORD_VECTORS", "off")
    assert "Japanese queries are keyword-only (word vectors are off" in demo_model()[1]
