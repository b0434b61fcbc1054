"""Question answering: routing, the <unk> guard, lazy loading, fallbacks, support checks and citations.

Generation uses tiny random T5 models (their output is noise, the code paths are real). Extractive answer
choice and "not answerable" run on the bundled sample documents with the real-weight MiniLM encoder.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from generation_corpus import write_documents
from tiny_index import build
from tiny_models import make_seq2seq_t5_english

from search.errors import ModelUnavailableError, SearchError
from search.generation.answer import Answerer
from search.generation.extractive import shape_penalty
from search.generation.prompts import fit_passages, flan_qa_input, lmqg_qa_input
from search.generation.settings import DEFAULT_QA_MODEL_EN, DEFAULT_QA_MODEL_JA, GenerationSettings
from search.ingest.chunk import ChunkSettings
from search.models.encoder import Encoder
from search.models.seq2seq import (
    GenerationOptions,
    GenerationTimeoutError,
    InputTooLongError,
    Seq2SeqModel,
    UnreadableInputError,
)
from search.retrieval.filters import Filters
from search.retrieval.searcher import Searcher
from search.storage.store import Store
from search.text.language import detect_language, japanese_share, question_language

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "sample"
MISSING = "/nonexistent/generation-model"


@pytest.fixture(scope="module")
def english_seq2seq_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_seq2seq_t5_english(tmp_path_factory.mktemp("gen") / "tiny-english-seq2seq")


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("answer")
    summary = build(write_documents(root / "docs"), root / "index", tiny_encoder)
    assert summary.files_failed == []
    return root / "index"


@pytest.fixture(scope="module")
def searcher(index: Path, tiny_encoder: Encoder) -> Searcher:
    return Searcher(index, encoder=tiny_encoder)


@pytest.fixture(scope="module")
def sample_searcher(tmp_path_factory: pytest.TempPathFactory, minilm_dir: Path) -> Searcher:
    """data/sample's text documents (txt/md; PDF and DOCX extraction is tested elsewhere) with MiniLM."""
    root = tmp_path_factory.mktemp("sample")
    docs = root / "docs"
    for source in SAMPLE.rglob("*"):
        if source.suffix in {".txt", ".md"}:
            target = docs / source.relative_to(SAMPLE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    encoder = Encoder(str(minilm_dir), device="cpu", precision="fp32")
    build(docs, root / "index", encoder, ChunkSettings())  # the production chunking
    return Searcher(root / "index", encoder=encoder)


def settings(**overrides: Any) -> GenerationSettings:
    values: dict[str, Any] = {
        "qa_model_ja": MISSING,
        "qa_model_en": MISSING,
        "qg_model": MISSING,
        "device": "cpu",
        "precision": "fp32",
        "max_new_tokens": 6,
        "num_beams": 2,
        "max_time": 60.0,
    }
    values.update(overrides)
    return GenerationSettings(**values)


def document_text(index: Path, path: str) -> str:
    return Store(index).conn.execute("SELECT text FROM documents WHERE path = ?", (path,)).fetchone()[0]


def assert_citations_point_at_documents(index: Path, result: dict[str, Any]) -> None:
    store = Store(index)
    for c in result["citations"]:
        row = store.passage_rows([c["passage_id"]])[c["passage_id"]]
        assert (row["path"], row["char_start"], row["char_end"]) == (c["path"], c["start"], c["end"])
        text = document_text(index, c["path"])
        evidence = c["evidence"]
        assert text[evidence["start"] : evidence["end"]] == evidence["text"]
        assert c["start"] <= evidence["start"] < evidence["end"] <= c["end"]


RESPONSE_KEYS = {
    "question", "answer", "answerable", "mode", "model", "language", "citations", "passages", "reason",
    "fallback_reason", "generated_answer",
}  # fmt: skip


# -- script detection and routing -------------------------------------------------------------------


def test_script_detection_by_share_of_kana_and_kanji() -> None:
    assert japanese_share("有給休暇は何日ですか") == 1.0
    assert japanese_share("How do I connect to the VPN?") == 0.0
    assert japanese_share("12345 !!") == 0.0  # no letters, no language
    assert detect_language("VPNに接続できないときは、ITヘルプデスクへ") == "ja"  # acronyms do not make it English
    assert detect_language("The office of 山田 is on the 8th floor of the building") == "en"
    assert detect_language("How many days?", "有給休暇は十日付与されます。") == "ja"  # Japanese passages count


def test_the_question_language_is_the_askers_not_the_passages() -> None:
    # Routing reads the passages too (an English model cannot read Japanese ones), the reply language does not.
    assert question_language("What is CODEN?", "株式会社サクラテック 文書番号：IS-POL-001") == "en"
    assert question_language("有給休暇は何日ですか", "Remote work policy") == "ja"
    assert question_language("2024?", "有給休暇は十日付与されます。") == "ja"  # no letters: the context decides


def test_japanese_question_goes_to_the_japanese_model(searcher: Searcher, tiny_seq2seq_dir: Path) -> None:
    answerer = Answerer(searcher, settings(qa_model_ja=str(tiny_seq2seq_dir)))
    result = answerer.answer("有給休暇は何日付与されますか", k=3).as_dict()
    assert set(result) == RESPONSE_KEYS
    assert result["mode"] == "generative" and result["model"] == str(tiny_seq2seq_dir) and result["language"] == "ja"
    assert result["fallback_reason"] is None
    # A random model's output is noise: either supported by a passage (with citations) or rejected, never both.
    assert result["answerable"] == bool(result["citations"])
    assert answerer.pool.is_loaded(str(tiny_seq2seq_dir)) and not answerer.pool.is_loaded(MISSING)


def test_english_question_goes_to_the_english_model(searcher: Searcher, english_seq2seq_dir: Path) -> None:
    answerer = Answerer(searcher, settings(qa_model_en=str(english_seq2seq_dir)))
    result = answerer.answer("How do I reset my password?", k=2, filters=Filters(path_prefix="english/"))
    assert result.language == "en" and result.mode == "generative" and result.model == str(english_seq2seq_dir)
    assert all(p["path"].startswith("english/") for p in result.passages)


def test_unk_guard_refuses_a_model_that_cannot_read_japanese(searcher: Searcher, english_seq2seq_dir: Path) -> None:
    answerer = Answerer(searcher, settings(qa_model_ja=str(english_seq2seq_dir)))
    with pytest.raises(UnreadableInputError, match=DEFAULT_QA_MODEL_JA) as caught:
        answerer.answer("有給休暇は何日付与されますか", k=3)
    assert caught.value.share > 0.5 and "<unk>" in str(caught.value)


def test_unk_guard_measures_characters_not_tokens(english_seq2seq_dir: Path, tiny_seq2seq_dir: Path) -> None:
    english = Seq2SeqModel(str(english_seq2seq_dir), device="cpu", precision="fp32")
    # SentencePiece merges the whole Japanese run into one <unk>: by characters it is nearly all unknown.
    assert english.unk_share(["有給休暇は十日付与されます"]) > 0.9
    assert english.unk_share(["Remote work requires approval from your manager."]) == 0.0
    both = Seq2SeqModel(str(tiny_seq2seq_dir), device="cpu", precision="fp32")
    assert both.unk_share(["有給休暇は十日付与されます", "Remote work requires approval"]) == 0.0
    with pytest.raises(UnreadableInputError, match=DEFAULT_QA_MODEL_EN):
        english.check_readable(["経費精算の締め日は毎月二十五日です"], DEFAULT_QA_MODEL_EN)


# -- lazy loading and fallback ------------------------------------------------------------------------


def test_models_load_on_first_generative_use_only(searcher: Searcher, tiny_seq2seq_dir: Path) -> None:
    answerer = Answerer(searcher, settings(qa_model_ja=str(tiny_seq2seq_dir)))
    model = answerer.pool.get(str(tiny_seq2seq_dir))
    assert not model.loaded, "creating the answerer loads nothing"
    answerer.answer("有給休暇は何日付与されますか", k=3, extractive=True)
    assert not model.loaded, "extractive answers need no generator"
    answerer.answer("有給休暇は何日付与されますか", k=3)
    assert model.loaded and answerer.pool.get(str(tiny_seq2seq_dir)) is model, "loaded once, then shared"


def test_missing_generator_falls_back_to_extractive_and_says_so(
    searcher: Searcher, index: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="docsearch.generation"):
        result = Answerer(searcher, settings()).answer("有給休暇は何日付与されますか", k=3).as_dict()
    # mode and model name what produced the answer: the extraction and its embedding model, not the missing one.
    assert result["mode"] == "extractive" and result["answerable"] and result["model"] != MISSING
    assert (
        result["fallback_reason"]
        == f"回答生成モデル「{MISSING}」がこのマシンにないため、文書から該当する文をそのまま示しています。"
    )
    assert "no such directory" in caplog.text, "the technical reason goes to the log"
    assert result["answer"] == result["citations"][0]["evidence"]["text"]
    assert_citations_point_at_documents(index, result)


def test_english_question_gets_an_english_fallback_note(searcher: Searcher) -> None:
    result = Answerer(searcher, settings()).answer(
        "How do I reset my password?", k=2, filters=Filters(path_prefix="english/")
    )
    assert result.language == "en" and result.mode == "extractive"
    assert result.fallback_reason is not None and result.fallback_reason.startswith(f'The answer model "{MISSING}"')


def test_a_model_named_explicitly_is_not_replaced(searcher: Searcher) -> None:
    answerer = Answerer(searcher, settings(), explicit_models=frozenset({MISSING}))
    with pytest.raises(ModelUnavailableError, match="setting `qa_model_ja`"):
        answerer.answer("有給休暇は何日付与されますか", k=3)


def test_missing_model_error_names_the_option_that_sets_it() -> None:
    model = Seq2SeqModel(MISSING, device="cpu", precision="fp32", setting="qa_model_ja")
    with pytest.raises(ModelUnavailableError, match="setting `qa_model_ja`"):
        model.load()


# -- support checks ------------------------------------------------------------------------------------


def fake_generation(monkeypatch: pytest.MonkeyPatch, text: str) -> list[str]:
    """Replace only the decoding step; loading, the guard and input fitting stay real."""
    inputs: list[str] = []

    def generate(self: Seq2SeqModel, batch: list[str], max_input_tokens: int, options: GenerationOptions) -> list[str]:
        inputs.extend(batch)
        return [text for _ in batch]

    monkeypatch.setattr(Seq2SeqModel, "generate", generate)
    return inputs


def test_generated_answer_found_in_a_passage_is_cited(
    searcher: Searcher, index: Path, tiny_seq2seq_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = fake_generation(monkeypatch, "十日")
    result = Answerer(searcher, settings(qa_model_ja=str(tiny_seq2seq_dir))).answer("有給休暇は何日付与されますか", k=3)
    assert inputs[0].startswith("question: 有給休暇は何日付与されますか, context: ")  # the lmqg template
    assert result.answerable and result.answer == "十日" and result.mode == "generative"
    assert "十日" in result.citations[0]["evidence"]["text"]
    assert_citations_point_at_documents(index, result.as_dict())


def test_unsupported_generated_answer_is_not_returned(
    searcher: Searcher, tiny_seq2seq_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_generation(monkeypatch, "大阪の本社で三十日")
    result = Answerer(searcher, settings(qa_model_ja=str(tiny_seq2seq_dir))).answer("有給休暇は何日付与されますか", k=3)
    assert not result.answerable and result.answer is None and result.citations == []
    assert result.generated_answer == "大阪の本社で三十日" and "裏付けられなかった" in (result.reason or "")
    assert result.passages, "the closest passages come back instead"


def test_flan_prompt_numbers_the_passages_and_unanswerable_is_respected(
    searcher: Searcher, english_seq2seq_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = fake_generation(monkeypatch, "unanswerable")
    answerer = Answerer(searcher, settings(qa_model_en=str(english_seq2seq_dir)))
    result = answerer.answer("How do I reset my password?", k=3, filters=Filters(path_prefix="english/"))
    assert "\n[1] " in inputs[0] and "\n[2] " in inputs[0] and inputs[0].endswith("How do I reset my password?")
    assert not result.answerable and result.reason == "The answer model found no answer in the retrieved documents."


# -- bounds --------------------------------------------------------------------------------------------


def test_context_is_cut_to_the_token_limit_but_the_question_is_kept() -> None:
    def count(text: str) -> int:
        return len(text)  # one token per character keeps the arithmetic visible

    passages = ["x" * 100, "y" * 100]
    text, used = fit_passages(lambda ps: flan_qa_input("Why?", ps), passages, count, 150)
    assert used == 1 and text.endswith("Why?") and count(text) == 150 and "yyy" not in text and "xxx" in text
    text, used = fit_passages(lambda ps: lmqg_qa_input("なぜ", "".join(ps)), passages, count, 400)
    assert used == 2 and text.startswith("question: なぜ, context: ")
    with pytest.raises(InputTooLongError, match="question"):
        fit_passages(lambda ps: lmqg_qa_input("長い質問" * 50, "".join(ps)), passages, count, 100)


def test_generation_past_the_time_limit_fails_clearly(tiny_seq2seq_dir: Path) -> None:
    model = Seq2SeqModel(str(tiny_seq2seq_dir), device="cpu", precision="fp32")
    with pytest.raises(GenerationTimeoutError, match="time limit"):
        model.generate(["有給休暇"], 64, GenerationOptions(max_new_tokens=50, num_beams=1, max_time=1e-6))
    with pytest.raises(InputTooLongError, match="over the limit of 4"):
        model.generate(["有給休暇は十日付与されます"], 4, GenerationOptions(max_new_tokens=2))


def test_streaming_yields_text_then_the_full_response(searcher: Searcher, tiny_seq2seq_dir: Path) -> None:
    answerer = Answerer(searcher, settings(qa_model_ja=str(tiny_seq2seq_dir)))
    events = list(answerer.stream("有給休暇は何日付与されますか", k=3))
    assert events[-1]["event"] == "answer" and set(events[-1]["data"]) == RESPONSE_KEYS
    deltas = "".join(e["text"] for e in events[:-1])
    assert all(e["event"] == "delta" for e in events[:-1]) and deltas
    final = events[-1]["data"]
    assert final["mode"] == "generative" and (final["answer"] or final["generated_answer"]) == deltas.strip()


def test_bad_requests_are_errors(searcher: Searcher) -> None:
    answerer = Answerer(searcher, settings())
    with pytest.raises(SearchError, match="empty"):
        answerer.answer("   ")
    with pytest.raises(SearchError, match="k must be"):
        answerer.answer("有給休暇", k=0)


def test_settings_come_from_environment_then_flags(tmp_path: Path) -> None:
    env = {"INDEXER_QA_MODEL_JA": "ja/model", "INDEXER_QG_MODEL": "qg/model", "INDEXER_GENERATION_MAX_TIME": "5"}
    s = GenerationSettings.from_env(env, qa_model_ja="flag/model", qa_model_en=None)
    assert (s.qa_model_ja, s.qa_model_en, s.qg_model, s.max_time) == ("flag/model", DEFAULT_QA_MODEL_EN, "qg/model", 5)
    with pytest.raises(SearchError, match="never fp16"):
        GenerationSettings(precision="fp16")
    with pytest.raises(SearchError, match="INDEXER_GENERATION_MAX_TIME"):
        GenerationSettings.from_env({"INDEXER_GENERATION_MAX_TIME": "soon"})


# -- extractive answers on the sample documents (real MiniLM weights) -----------------------------------


def test_extractive_answer_picks_the_leave_rule_from_the_work_rules(sample_searcher: Searcher) -> None:
    result = Answerer(sample_searcher, settings()).answer("有給休暇は何日もらえますか", k=5, extractive=True)
    data = result.as_dict()
    assert data["answerable"] and data["mode"] == "extractive" and data["fallback_reason"] is None
    assert data["model"].endswith("all-MiniLM-L6-v2") or data["model"].endswith("model")
    first = data["citations"][0]
    assert first["path"] == "人事/就業規則.txt" and "有給休暇" in first["evidence"]["text"]
    assert data["answer"] == first["evidence"]["text"]
    assert_citations_point_at_documents(sample_searcher.index_dir, data)


def test_unrelated_question_is_not_answerable(sample_searcher: Searcher) -> None:
    expected = {
        "火星の衛星の名前は何ですか": "文書の中に、この質問に答える箇所は見つかりませんでした。",
        "What is the capital of Australia?": "The documents do not seem to answer this question.",
        "What is CODEN?": "The documents do not seem to answer this question.",
    }
    for question, reason in expected.items():
        result = Answerer(sample_searcher, settings()).answer(question, k=5)
        assert not result.answerable and result.answer is None and result.citations == []
        assert result.reason == reason and len(result.passages) <= 5
        assert result.fallback_reason is None, "no generator is tried when retrieval is too weak"
        # Nothing was generated: the response names the extraction that decided, not a generator.
        assert result.mode == "extractive" and result.model == str(sample_searcher.manifest["model"])


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("有給休暇は何日もらえますか", "10日の年次有給休暇を付与する"),  # a count of days, not the half-day rule
        ("給料日はいつですか", "25日"),  # 給料 is 賃金/給与 in the documents
        ("引っ越したら何日以内に届け出ればいいですか", "14日以内"),  # 引っ越し → 転居
        ("残業は月に何時間までですか", "45時間"),  # 残業 → 時間外労働
        ("出張のホテル代の上限はいくらですか", "宿泊料は、1泊につき次の金額を上限として"),
    ],
)
def test_extractive_answers_answer_what_was_asked(sample_searcher: Searcher, question: str, expected: str) -> None:
    result = Answerer(sample_searcher, settings()).answer(question, k=5, extractive=True)
    assert result.answerable and expected in (result.answer or "")
    assert_citations_point_at_documents(sample_searcher.index_dir, result.as_dict())


def test_faq_question_lines_and_headings_lose_to_the_sentence_that_answers() -> None:
    assert shape_penalty("Q3. 健康診断はいつ受けられますか？", "") == 1.0
    assert shape_penalty("社員証をなくしてしまいました。", "", previous="Q2.") == 1.0
    assert shape_penalty("第20条（年次有給休暇）", "") == 1.0
    assert shape_penalty("A.", "") == 1.0
    assert shape_penalty("休憩時間は正午から午後1時までの60分とする。", "第11条（休憩）") == 0.0


def test_the_answer_window_takes_the_list_a_sentence_announces(sample_searcher: Searcher) -> None:
    # Asked as 夜遅くにタクシーを使ってもいいですか, the Japanese word vectors rank the expense table's row
    # 深夜帰宅時のタクシー代（22時以降） first, a fair answer (checked below) that is not the list under test.
    paraphrase = Answerer(sample_searcher, settings()).answer(
        "夜遅くにタクシーを使ってもいいですか", k=5, extractive=True
    )
    assert paraphrase.answer is not None and "タクシー" in paraphrase.answer
    assert "22時" in paraphrase.answer or "午後10時" in paraphrase.answer
    question = "出張でタクシーを使えるのはどんなときですか"
    result = Answerer(sample_searcher, settings()).answer(question, k=5, extractive=True)
    assert result.answer is not None and "次のいずれかに該当する場合に限り利用できる。" in result.answer
    assert "午後10時から午前5時までの間の移動" in result.answer, "the list the sentence announces comes with it"
