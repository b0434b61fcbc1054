"""`indexer quiz`: study questions from the passages a query finds, or from one document."""

from __future__ import annotations

import argparse
import sys

from indexer import generation_options as gen
from indexer import options as opt
from indexer.output import print_json
from search import settings as config

NAME = "quiz"
MODES = ("auto", "generated", "cloze")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(NAME, help="generate study questions from the top passages or one document")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--query", help="make questions from the passages this query finds")
    source.add_argument("--document", metavar="PATH", help="make questions from one indexed document (its path)")
    opt.add_index(parser)
    parser.add_argument("-n", type=int, default=config.QUIZ_N.default, help=config.QUIZ_N.describe())
    parser.add_argument(
        "--multiple-choice",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="add three wrong options per question (default: on)",
    )
    opt.add_filters(parser, help="filters for --query (as in search)")
    gen.add_model_flags(parser, qg=True, qa_use=" for --verify")
    parser.add_argument("--verify", action="store_true", help="keep only questions the QA model answers correctly")
    parser.add_argument(
        "--mode",
        default="auto",
        choices=MODES,
        help="generated: written by the question-generation model; cloze: fill-in-the-blank sentences from the "
        "documents, no model needed; auto (default): generated when the model is on this machine, else cloze",
    )
    parser.add_argument(
        "--format", default="json", choices=("json", "csv", "tsv"), help="output format (default: json)"
    )
    opt.add_as(parser)
    gen.add_limits(parser)
    opt.add_runtime(parser)


def run(args: argparse.Namespace) -> int:
    from search.generation.export import write_table

    names = ("qg_model",) if args.mode != "cloze" else ()
    required = gen.required_models(args, names + (("qa_model_ja", "qa_model_en") if args.verify else ()))
    index = opt.open_index(args)
    result = index.quiz(
        query=args.query,
        document=args.document,
        n=args.n,
        multiple_choice=args.multiple_choice,
        verify=args.verify,
        filters=opt.parse_filters(args.filter) if args.query is not None else None,
        mode=args.mode,
        generation=gen.settings_from_args(args),
        required_models=required,
    )
    data = result.as_dict()
    if result.fallback_reason:
        print(f"note: {result.fallback_reason}", file=sys.stderr)
    if args.format == "json":
        print_json(data)
    else:
        # Bytes: the table's CRLF rows and UTF-8 must reach the file as written, whatever the console's encoding.
        sys.stdout.flush()
        sys.stdout.buffer.write(write_table(data["questions"], args.format).encode("utf-8"))
        sys.stdout.buffer.flush()
    if len(result.questions) < args.n:
        print(
            f"note: {len(result.questions)} of {args.n} questions; dropped: "
            + (", ".join(f"{k} {v}" for k, v in sorted(result.skipped.items())) or "no candidates found"),
            file=sys.stderr,
        )
    return opt.EXIT_OK if result.questions else opt.EXIT_PARTIAL
