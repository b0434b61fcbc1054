"""What answers and quizzes tell people, in the language of their question: plain words, no jargon.

Why a module: the same sentence reaches the CLI, the API and the web page, so it is written once, in
Japanese and English. Technical detail (thresholds, exception text, file paths) goes to the log instead
(logger "docsearch.generation"), where an administrator looks for it.
"""

from __future__ import annotations

from search.text.language import Language

MESSAGES: dict[str, dict[Language, str]] = {
    "not_found": {
        "ja": "文書の中に、この質問に答える箇所は見つかりませんでした。",
        "en": "The documents do not seem to answer this question.",
    },
    "model_declined": {
        "ja": "回答生成モデルは、検索した文書の中に答えを見つけられませんでした。",
        "en": "The answer model found no answer in the retrieved documents.",
    },
    "unsupported": {
        "ja": "生成された回答が文書の記述で裏付けられなかったため、表示していません。",
        "en": "The generated answer is not backed by the documents, so it is not shown.",
    },
    "qa_fallback": {
        "ja": "回答生成モデル「{model}」がこのマシンにないため、文書から該当する文をそのまま示しています。",
        "en": 'The answer model "{model}" is not installed on this machine, so the answer is quoted from the '
        "documents.",
    },
    "qg_fallback": {
        "ja": "問題生成モデル「{model}」がこのマシンにないため、文書の文から穴埋め問題を作りました。",
        "en": 'The question model "{model}" is not installed on this machine, so the questions are fill-in-the-blank '
        "sentences from the documents.",
    },
    "verify_skipped": {
        "ja": "確認用の回答生成モデル「{model}」がこのマシンにないため、問題の検証は行っていません。",
        "en": 'The answer model "{model}" is not installed on this machine, so the questions were not verified.',
    },
}


def message(key: str, language: Language, **values: str) -> str:
    """The message `key` in `language`, with its {placeholders} filled."""
    return MESSAGES[key][language].format(**values)
