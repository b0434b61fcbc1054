"""How often answers are right: a judged question set run through the real Answerer.

The set (data/eval/sample-qa/queries.jsonl) is one JSON object per line: `_id`, `text` (the question),
`answers` (substrings, any one of which a correct answer contains), `paths` (documents that answer it),
`paraphrase` (asked without the documents' words) and `answerable`. An answer is correct when it is
answerable and contains one of the expected substrings (compared after NFKC, case and punctuation are
folded); for an unanswerable question, any answer given is a confident wrong answer.

Run it against an index of data/sample:
    python -m search.evaluation.answers --index INDEX [--dataset data/eval/sample-qa] [--generative]
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search.errors import SearchError
from search.text.overlap import compact

if TYPE_CHECKING:
    from search.generation.answer import Answerer

DEFAULT_DATASET = Path(__file__).resolve().parents[2] / "data" / "eval" / "sample-qa"


@dataclass(frozen=True)
class JudgedQuestion:
    id: str
    text: str
    answers: list[str]
    paths: list[str]
    paraphrase: bool
    answerable: bool


def load_questions(dataset: Path) -> list[JudgedQuestion]:
    """queries.jsonl of a judged set; a malformed line names its number."""
    path = dataset / "queries.jsonl"
    if not path.is_file():
        raise SearchError(f"No judged questions at {path}: expected queries.jsonl (see {__name__})")
    out: list[JudgedQuestion] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out.append(
                JudgedQuestion(
                    row["_id"], row["text"], row["answers"], row["paths"], row["paraphrase"], row["answerable"]
                )
            )
        except (json.JSONDecodeError, KeyError) as exc:
            raise SearchError(f"{path} line {number}: {exc}; each line needs _id, text, answers, paths, ...") from exc
    return out


def is_correct(question: JudgedQuestion, answer: str | None) -> bool:
    """The answer contains one of the expected substrings (folded)."""
    return answer is not None and any(compact(expected) in compact(answer) for expected in question.answers)


def evaluate(answerer: Answerer, questions: list[JudgedQuestion], extractive: bool = True) -> dict[str, Any]:
    """Share of answerable questions answered correctly (overall and for paraphrases), and the number of
    confident answers to unanswerable ones; every question's outcome is listed for inspection."""
    rows: list[dict[str, Any]] = []
    for question in questions:
        result = answerer.answer(question.text, k=5, extractive=extractive)
        rows.append(
            {
                "id": question.id,
                "question": question.text,
                "answerable": question.answerable,
                "paraphrase": question.paraphrase,
                "answered": result.answerable,
                "correct": question.answerable and is_correct(question, result.answer),
                "answer": result.answer,
            }
        )
    answerable = [r for r in rows if r["answerable"]]
    paraphrased = [r for r in answerable if r["paraphrase"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    return {
        "answerable": len(answerable),
        "correct": sum(r["correct"] for r in answerable),
        "accuracy": sum(r["correct"] for r in answerable) / len(answerable) if answerable else 0.0,
        "paraphrased": len(paraphrased),
        "paraphrase_accuracy": sum(r["correct"] for r in paraphrased) / len(paraphrased) if paraphrased else 0.0,
        "unanswerable": len(unanswerable),
        "confident_answers_to_unanswerable": sum(r["answered"] for r in unanswerable),
        "questions": rows,
    }


def main(argv: list[str] | None = None) -> int:
    from search.generation.answer import Answerer
    from search.generation.settings import GenerationSettings
    from search.retrieval.searcher import Searcher

    parser = argparse.ArgumentParser(description="Score answers on a judged question set")
    parser.add_argument("--index", type=Path, required=True, help="an index of data/sample")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="folder with queries.jsonl")
    parser.add_argument("--generative", action="store_true", help="use the configured QA models (default: extract)")
    args = parser.parse_args(argv)
    searcher = Searcher(args.index, device="cpu", precision="fp32")
    answerer = Answerer(searcher, GenerationSettings.from_env(device="cpu", precision="fp32"))
    report = evaluate(answerer, load_questions(args.dataset), extractive=not args.generative)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
