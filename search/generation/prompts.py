"""Model input templates, exactly as each model was trained, and fitting context under a token budget.

Sources of the templates:
- lmqg/mt5-small-jaquad-qa (default Japanese QA model): trained by lmqg on the `paragraph_question` input
  and `answer` output of `lmqg/qg_jaquad` — its eval files are named
  `metric.first.answer.paragraph_question.answer.lmqg_qg_jaquad.default.json`
  (https://huggingface.co/lmqg/mt5-small-jaquad-qa/tree/main/eval) and lmqg's training recipe runs
  `lmqg-train-search -m google/mt5-small -d lmqg/qg_jaquad -i 'paragraph_question' -o 'answer'`. QG-Bench's
  `paragraph_question` field is "question: {question}, context: {paragraph}" (dataset viewer of
  https://huggingface.co/datasets/lmqg/qg_squad: "question: What is heresy mainly at odds with?, context:
  Heresy is any provocative belief ..."). No task prefix; generation_config.json: decoder_start 0, eos 1, pad 0.
- sonoisa/t5-base-japanese-question-generation: "answer: {answer} context: {context}", 512 input / 64 output
  tokens, beams (shared/REFERENCE.md §1, from the model card); its training text was normalized with
  neologd-style rules plus lower-casing, so inputs are normalized the same way (`sonoisa_normalize`).
- FLAN-T5: the FLAN reading-comprehension template "Read this and answer the question\n\n{context}\n\n
  {question}" with the passages numbered [1]..[k] (as LlamaIndex's CitationQueryEngine numbers sources), plus
  FLAN's SQuAD v2 instruction to say "unanswerable" so that the model has a way to decline.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from search.models.seq2seq import InputTooLongError

UNANSWERABLE = "unanswerable"


def lmqg_qa_input(question: str, context: str) -> str:
    """Input of the lmqg *-qa models (QG-Bench `paragraph_question`)."""
    return f"question: {question}, context: {context}"


def flan_qa_input(question: str, passages: Sequence[str]) -> str:
    """FLAN-T5 prompt with numbered passages, so an answer can be traced to [n]."""
    numbered = "\n".join(f"[{n}] {' '.join(p.split())}" for n, p in enumerate(passages, 1))
    return (
        f'Read this and answer the question. If the question is unanswerable, say "{UNANSWERABLE}".\n\n'
        f"{numbered}\n\n{question}"
    )


def sonoisa_qg_input(answer: str, context: str) -> str:
    """Input of sonoisa/t5-base-japanese-question-generation (the word is `context`)."""
    return f"answer: {sonoisa_normalize(answer)} context: {sonoisa_normalize(context)}"


# -- sonoisa's normalize_text: neologd normalization, then lower-case ----------------------------------

_HYPHENS = re.compile("[˗֊‐‑‒–⁃⁻₋−]+")
_CHOONPU = re.compile("[﹣－ｰ—―─━ー]+")
_TILDES = re.compile("[~∼∾〜〰～]+")
_JA_BLOCKS = "\u4e00-\u9fff\u3040-\u309f\u30a0-\u30ff\u3000-\u303f\uff00-\uffef"
_LATIN = r"\u0000-\u007f"
_TO_FULLWIDTH = str.maketrans(
    "!\"#$%&'()*+,-./:;<=>?@[¥]^_`{|}~｡､･｢｣", "！”＃＄％＆’（）＊＋，－．／：；＜＝＞？＠［￥］＾＿｀｛｜｝〜。、・「」"
)


def _nfkc_chars(chars: str, text: str) -> str:
    pattern = re.compile(f"([{chars}]+)")
    parts = pattern.split(text)
    return "".join(unicodedata.normalize("NFKC", part) if pattern.fullmatch(part) else part for part in parts)


def _remove_space_between(left: str, right: str, text: str) -> str:
    pattern = re.compile(f"([{left}]) ([{right}])")
    while pattern.search(text):
        text = pattern.sub(r"\1\2", text)
    return text


def sonoisa_normalize(text: str) -> str:
    """neologd's normalization (as in sonoisa's training code) followed by lower-casing.

    NFKC only for full-width alphanumerics and half-width katakana, unified hyphens/long-vowel marks/tildes,
    ASCII punctuation kept ASCII, spaces removed between Japanese characters.
    """
    text = " ".join(text.replace("\t", " ").split())
    text = _nfkc_chars("０-９Ａ-Ｚａ-ｚ｡-ﾟ", text)
    text = _HYPHENS.sub("-", text)
    text = _CHOONPU.sub("ー", text)
    text = _TILDES.sub("〜", text)
    text = text.translate(_TO_FULLWIDTH)
    text = re.sub("[ 　]+", " ", text)
    text = _remove_space_between(_JA_BLOCKS, _JA_BLOCKS, text)
    text = _remove_space_between(_JA_BLOCKS, _LATIN, text)
    text = _remove_space_between(_LATIN, _JA_BLOCKS, text)
    text = _nfkc_chars("！”＃＄％＆’（）＊＋，－．／：；＜＞？＠［￥］＾＿｀｛｜｝〜", text)
    text = text.replace("’", "'").replace("”", '"')
    return text.strip().lower()


# -- fitting context under a token budget --------------------------------------------------------------


def fit_passages(
    render: Callable[[list[str]], str], passages: Sequence[str], count_tokens: Callable[[str], int], max_tokens: int
) -> tuple[str, int]:
    """The longest input whose context fits: whole passages in rank order, the last one cut at its end.

    `render` builds the full input (template + question) from a list of passage texts, so the question is
    never cut. Returns (input, number of passages used, the last possibly truncated).
    """
    kept = list(passages)
    while kept:
        text = render(kept)
        if count_tokens(text) <= max_tokens:
            return text, len(kept)
        if len(kept) == 1:
            break
        kept.pop()
    if not passages:
        text = render([])
        if count_tokens(text) <= max_tokens:
            return text, 0
        raise InputTooLongError(f"The question alone is {count_tokens(text)} tokens, over the limit of {max_tokens}")
    first = passages[0]
    low, high = 0, len(first)  # longest prefix of the first passage that fits: binary search on characters
    while low < high:
        middle = (low + high + 1) // 2
        if count_tokens(render([first[:middle]])) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    if low == 0:
        raise InputTooLongError(
            f"The question leaves no room for any passage within the input limit of {max_tokens} tokens"
        )
    return render([first[:low]]), 1


def window_around(
    context: str, start: int, end: int, sentence: tuple[int, int], fits: Callable[[str], bool]
) -> tuple[str, int] | None:
    """A context that fits and still contains the answer's sentence: cut from the end first, then the start.

    Returns (context, offset of the returned context within the original) or None when even the sentence
    alone does not fit.
    """
    if fits(context):
        return context, 0
    sentence_start, sentence_end = min(sentence[0], start), max(sentence[1], end)
    low, high = sentence_end, len(context)  # keep as much after the sentence as fits
    if not fits(context[:low]):
        low_start, high_start = 0, sentence_start
        while low_start < high_start:  # cut from the start, never into the sentence
            middle = (low_start + high_start) // 2
            if fits(context[middle:sentence_end]):
                high_start = middle
            else:
                low_start = middle + 1
        if not fits(context[low_start:sentence_end]):
            return None
        return context[low_start:sentence_end], low_start
    while low < high:
        middle = (low + high + 1) // 2
        if fits(context[:middle]):
            low = middle
        else:
            high = middle - 1
    return context[:low], 0
