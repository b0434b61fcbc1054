from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import pytest

from search.documents import Block, Document
from search.errors import SearchError
from search.ingest.chunk import ChunkSettings, chunk_document
from search.text.sentences import split_sentences


def char_count(texts):
    """One token per character: makes budgets easy to reason about in tests."""
    return [len(t) for t in texts]


def sentences(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def test_japanese_sentences_end_at_terminators_and_keep_brackets_whole() -> None:
    text = "彼は「はい。わかりました。」と言った。本当に？はい！次の文\n改行の後"
    assert sentences(text) == ["彼は「はい。わかりました。」と言った。", "本当に？", "はい！", "次の文", "改行の後"]


def test_closing_brackets_stay_with_their_sentence() -> None:
    assert sentences("（注意してください。）次へ。") == ["（注意してください。）", "次へ。"]


def test_english_sentences_split_on_period_space() -> None:
    assert sentences("Reset it. Then log in! Done") == ["Reset it.", "Then log in!", "Done"]


def make_doc(text: str, headings: list[str] | None = None) -> Document:
    blocks = []
    start = 0
    for i, para in enumerate(text.split("\n\n")):
        blocks.append(Block(start, start + len(para), (headings or [""] * 99)[i]))
        start += len(para) + 2
    return Document(path="a.txt", title="A", format="txt", text=text, blocks=blocks)


def test_passages_respect_budget_and_offsets_are_exact() -> None:
    text = "一二三四五。六七八九十。あいうえお。かきくけこ。\n\nさしすせそ。たちつてと。"
    doc = make_doc(text)
    passages = chunk_document(doc, char_count, ChunkSettings(max_tokens=12, overlap_tokens=0))
    assert [p.text for p in passages] == [
        "一二三四五。六七八九十。",
        "あいうえお。かきくけこ。",
        "さしすせそ。たちつてと。",
    ]
    for p in passages:
        assert doc.text[p.start : p.end] == p.text
        assert len(p.text.replace("\n", "")) <= 12
    assert [p.ordinal for p in passages] == [0, 1, 2]


def test_overlap_carries_the_previous_sentence() -> None:
    doc = make_doc("あいう。かきく。さしす。たちつ。")
    passages = chunk_document(doc, char_count, ChunkSettings(max_tokens=8, overlap_tokens=4))
    assert [p.text for p in passages] == ["あいう。かきく。", "かきく。さしす。", "さしす。たちつ。"]


def test_overlong_sentence_is_split_hard_within_budget() -> None:
    text = "あ" * 50 + "、" + "い" * 45 + "。"
    doc = make_doc(text)
    passages = chunk_document(doc, char_count, ChunkSettings(max_tokens=30, overlap_tokens=0))
    assert "".join(p.text for p in passages) == text
    assert all(len(p.text) <= 30 for p in passages)


def test_heading_change_starts_a_new_passage_and_is_context() -> None:
    doc = make_doc("休暇は十日。\n\n締め日は二十五日。", headings=["就業規則 > 休暇", "経費 > 締め日"])
    passages = chunk_document(doc, char_count, ChunkSettings(max_tokens=64, overlap_tokens=0))
    assert [(p.heading, p.text) for p in passages] == [
        ("就業規則 > 休暇", "休暇は十日。"),
        ("経費 > 締め日", "締め日は二十五日。"),
    ]
    assert passages[0].embedding_text() == "就業規則 > 休暇\n休暇は十日。"


def test_document_title_is_context_when_there_is_no_heading() -> None:
    passages = chunk_document(make_doc("本文です。"), char_count, ChunkSettings())
    assert passages[0].heading == "A"


def test_empty_document_has_no_passages() -> None:
    doc = Document(path="e.txt", title="e", format="txt", text="", blocks=[])
    assert chunk_document(doc, char_count, ChunkSettings()) == []


def test_real_tokenizer_budget(tiny_encoder) -> None:
    text = "有給休暇は、入社から六か月を経過した日に十日付与されます。" * 6
    doc = make_doc(text)
    passages = chunk_document(doc, tiny_encoder.count_tokens, ChunkSettings(max_tokens=40, overlap_tokens=0))
    assert len(passages) > 1
    assert all(n <= 40 for n in tiny_encoder.count_tokens([p.text for p in passages]))


class CountingTokenizer:
    """A Japanese character is one token, an ASCII character a quarter (rounded up); records the work done."""

    def __init__(self) -> None:
        self.calls = 0
        self.chars = 0

    def __call__(self, texts: Sequence[str]) -> list[int]:
        self.calls += 1
        self.chars += sum(len(t) for t in texts)
        return [math.ceil(sum(0.25 if c.isascii() else 1 for c in t)) for t in texts]


LONG_LINES = {
    "kana without punctuation": "あいうえおかきくけこさしすせそ" * 14_000,
    "words without periods": "password reset request " * 9_000 + "end",
    "alternating scripts": ("abcdefghij" * 300 + "日本語の長い行" * 500) * 30,
    "commas only": "あいうえおかきくけこ、" * 20_000,
}


@pytest.mark.parametrize("name", LONG_LINES)
def test_long_line_costs_linear_tokenizer_work(name: str) -> None:
    # Issue #14: cutting a long unpunctuated line re-tokenized both halves at every cut (2 MB: 105 s). Each
    # character must now be tokenized a bounded number of times, in few tokenizer calls.
    text = LONG_LINES[name]
    tokenizer = CountingTokenizer()
    passages = chunk_document(make_doc(text), tokenizer, ChunkSettings(max_tokens=64, overlap_tokens=0))
    assert tokenizer.chars <= 1.5 * len(text)
    assert tokenizer.calls <= len(passages) // 8
    assert "".join(p.text for p in passages) == text
    assert all(n <= 64 for n in CountingTokenizer()([p.text for p in passages]))


def test_long_line_with_overlap_keeps_budget_and_exact_offsets() -> None:
    text = LONG_LINES["alternating scripts"]
    passages = chunk_document(make_doc(text), CountingTokenizer(), ChunkSettings(max_tokens=64, overlap_tokens=16))
    assert all(text[p.start : p.end] == p.text for p in passages)
    assert all(n <= 64 for n in CountingTokenizer()([p.text for p in passages]))
    assert all(q.start <= p.end for p, q in itertools.pairwise(passages))  # no text falls between passages
    assert passages[0].start == 0 and passages[-1].end == len(text)


def test_hard_split_cuts_after_a_comma_when_there_is_one() -> None:
    text = "あいうえおかきくけこ、" * 30
    passages = chunk_document(make_doc(text), char_count, ChunkSettings(max_tokens=30, overlap_tokens=0))
    assert len(passages) > 10
    assert all(p.text.endswith("、") for p in passages)


def test_long_line_with_real_tokenizer(tiny_encoder) -> None:
    text = "有給休暇は入社から六か月を経過した日に十日付与されます" * 400
    passages = chunk_document(make_doc(text), tiny_encoder.count_tokens, ChunkSettings(max_tokens=40, overlap_tokens=8))
    assert len(passages) > 10
    assert all(text[p.start : p.end] == p.text for p in passages)
    assert all(n <= 40 for n in tiny_encoder.count_tokens([p.text for p in passages]))


@pytest.mark.parametrize("max_tokens,overlap", [(4, 0), (64, 64), (64, -1)])
def test_invalid_settings_are_rejected(max_tokens: int, overlap: int) -> None:
    with pytest.raises(SearchError):
        ChunkSettings(max_tokens=max_tokens, overlap_tokens=overlap)
