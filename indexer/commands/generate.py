"""`indexer ask` and `indexer quiz`: answers with citations, and study questions, from an index.

Kept apart from indexer/cli.py (which only registers these commands) so that the generation options live
next to the code that uses them. Every model is a flag and an environment variable (INDEXER_QA_MODEL_JA,
INDEXER_QA_MODEL_EN, INDEXER_QG_MODEL); flags win. A model from the environment or the defaults that is not
on the machine is replaced (extractive answers, cloze questions) and the output says so; a model typed as a
flag is what the user asked for, so its absence is an error (exit 2), not a note.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from indexer.commands.search import add_as, scoped
from search.generation.settings import ENVIRONMENT, GenerationSettings, generation_precision

AddOptions = Callable[[argparse.ArgumentParser], None]


def _add_generation(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-new-tokens", type=int, default=None, help="answer length limit in tokens (default: 64)")
    parser.add_argument(
        "--max-time", type=float, default=None, help="seconds one generation may take before it fails (default: 60)"
    )


def add_model_flags(parser: argparse.ArgumentParser, qg: bool = False, qa_use: str = "") -> None:
    """--qa-model-ja/--qa-model-en (and --qg-model): the same flags for ask, quiz and serve."""
    models = [("qg_model", "question generation model")] if qg else []
    models += [("qa_model_ja", f"Japanese QA model{qa_use}"), ("qa_model_en", f"English QA model{qa_use}")]
    for name, what in models:
        default = getattr(GenerationSettings, name)
        parser.add_argument(
            "--" + name.replace("_", "-"),
            default=None,
            metavar="ID",
            help=f"{what}: hub id or local directory (default: ${ENVIRONMENT[name]} or {default})",
        )


def add_parsers(commands: Any, add_index: AddOptions, add_runtime: AddOptions) -> None:
    """Register `ask` and `quiz` on the `indexer` subcommand parser."""
    ask = commands.add_parser("ask", help="answer a question from the index, with citations")
    ask.add_argument("question")
    add_index(ask)
    ask.add_argument("-k", type=int, default=5, help="passages to retrieve (default: 5)")
    ask.add_argument(
        "--filter", action="append", default=[], metavar="KEY=VALUE", help="same filters as `indexer search`"
    )
    add_model_flags(ask)
    ask.add_argument("--extractive", action="store_true", help="no generation model: answer with the best sentence")
    add_as(ask)  # access control
    _add_generation(ask)
    add_runtime(ask)
    ask.add_argument("--json", action="store_true", help="print the response as one JSON object")

    quiz = commands.add_parser("quiz", help="generate study questions from the top passages or one document")
    source = quiz.add_mutually_exclusive_group(required=True)
    source.add_argument("--query", help="make questions from the passages this query finds")
    source.add_argument("--document", metavar="PATH", help="make questions from one indexed document (its path)")
    add_index(quiz)
    quiz.add_argument("-n", type=int, default=5, help="number of questions (default: 5)")
    quiz.add_argument(
        "--multiple-choice",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add three wrong options per question (default: on)",
    )
    quiz.add_argument(
        "--filter", action="append", default=[], metavar="KEY=VALUE", help="filters for --query (as in search)"
    )
    add_model_flags(quiz, qg=True, qa_use=" for --verify")
    quiz.add_argument("--verify", action="store_true", help="keep only questions the QA model answers correctly")
    quiz.add_argument(
        "--mode",
        default="auto",
        choices=("auto", "generated", "cloze"),
        help="generated: written by the question-generation model; cloze: fill-in-the-blank sentences from the "
        "documents, no model needed; auto (default): generated when the model is on this machine, else cloze",
    )
    quiz.add_argument("--format", default="json", choices=("json", "csv", "tsv"), help="output format (default: json)")
    add_as(quiz)  # access control
    _add_generation(quiz)
    add_runtime(quiz)


def settings_from_args(args: argparse.Namespace) -> GenerationSettings:
    return GenerationSettings.from_env(
        qa_model_ja=getattr(args, "qa_model_ja", None),
        qa_model_en=getattr(args, "qa_model_en", None),
        qg_model=getattr(args, "qg_model", None),
        device=args.device,
        precision=generation_precision(args.precision),
        max_new_tokens=args.max_new_tokens,
        max_time=args.max_time,
    )


def explicit_models(args: argparse.Namespace, names: tuple[str, ...]) -> frozenset[str]:
    """The models given as flags, each checked to be on this machine (ModelUnavailableError, exit 2, if not):
    a mistyped --qa-model-ja must not turn into a quietly different answer."""
    from search.errors import ModelUnavailableError
    from search.models.seq2seq import model_available

    given: set[str] = set()
    for name in names:
        model = getattr(args, name, None)
        if model is None:
            continue
        if not model_available(model):
            raise ModelUnavailableError(
                model,
                "it is neither a local model directory nor in the Hugging Face cache",
                "--" + name.replace("_", "-"),
            )
        given.add(model)
    return frozenset(given)


def run_ask(args: argparse.Namespace) -> int:
    from indexer.options import EXIT_OK, parse_filters
    from search.generation.answer import Answerer
    from search.retrieval.searcher import Searcher

    settings = settings_from_args(args)
    explicit = frozenset() if args.extractive else explicit_models(args, ("qa_model_ja", "qa_model_en"))
    searcher = scoped(Searcher(args.index, device=args.device, precision=args.precision), args)  # --as
    result = Answerer(searcher, settings, explicit_models=explicit).answer(
        args.question, k=args.k, filters=parse_filters(args.filter), extractive=args.extractive
    )
    if args.json:
        print(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        print_answer(result.as_dict())
    return EXIT_OK


def print_answer(r: dict[str, Any]) -> None:
    print(f"Q: {r['question']}")
    if r["answerable"]:
        print(f"A: {r['answer']}")
    else:
        print(f"Not answerable from the documents: {r['reason']}")
        if r["generated_answer"]:
            print(f"   (rejected model output: {r['generated_answer']})")
    print(f"   [{r['mode']} answer, model {r['model']}]")
    if r["fallback_reason"]:
        print(f"   note: {r['fallback_reason']}")
    if r["citations"]:
        print("Sources:")
        for n, c in enumerate(r["citations"], 1):
            e = c["evidence"]
            print(f"  [{n}] {c['path']} ({c['title']}), chars {e['start']}-{e['end']}: {e['text']}")
    elif r["passages"]:
        print("Closest passages:")
        for p in r["passages"][:3]:
            text = " ".join(p["text"].split())
            print(f"  - {p['path']}, chars {p['start']}-{p['end']}: {text[:100]}{'…' if len(text) > 100 else ''}")


def run_quiz(args: argparse.Namespace) -> int:
    from indexer.options import EXIT_OK, EXIT_PARTIAL, parse_filters
    from search.generation.export import write_table
    from search.generation.quiz import QuizGenerator
    from search.retrieval.searcher import Searcher

    settings = settings_from_args(args)
    names = ("qg_model",) if args.mode != "cloze" else ()
    explicit = explicit_models(args, names + (("qa_model_ja", "qa_model_en") if args.verify else ()))
    searcher = scoped(Searcher(args.index, device=args.device, precision=args.precision), args)  # --as
    generator = QuizGenerator(searcher, settings, explicit_models=explicit)
    if args.query is not None:
        result = generator.from_query(
            args.query,
            n=args.n,
            multiple_choice=args.multiple_choice,
            verify=args.verify,
            filters=parse_filters(args.filter),
            mode=args.mode,
        )
    else:
        result = generator.from_document(
            args.document, n=args.n, multiple_choice=args.multiple_choice, verify=args.verify, mode=args.mode
        )
    data = result.as_dict()
    if result.fallback_reason:
        print(f"note: {result.fallback_reason}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps(data, ensure_ascii=False))
    else:
        sys.stdout.write(write_table(data["questions"], args.format))
    if len(result.questions) < args.n:
        print(
            f"note: {len(result.questions)} of {args.n} questions; dropped: "
            + (", ".join(f"{k} {v}" for k, v in sorted(result.skipped.items())) or "no candidates found"),
            file=sys.stderr,
        )
    return EXIT_OK if result.questions else EXIT_PARTIAL
