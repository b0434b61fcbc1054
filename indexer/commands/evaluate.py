"""`indexer eval DATASET_DIR`: retrieval quality on a BEIR-style dataset, end to end."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from indexer import options as opt
from indexer.output import print_json
from search import settings as config

NAME = "eval"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(NAME, help="measure retrieval quality on a BEIR-style dataset, end to end")
    parser.add_argument("dataset_dir", type=Path, help="folder with corpus.jsonl, queries.jsonl, qrels.tsv")
    parser.add_argument(
        "--mode",
        default="all",
        choices=("all", "hybrid", "dense", "keyword"),
        help="search mode to score (default: all three)",
    )
    opt.add_setting(parser, config.MODEL)
    # Not `add_index`: without --index the evaluation uses a temporary folder, never the user's index.
    parser.add_argument(
        "--index",
        dest="eval_index",
        type=Path,
        default=None,
        help="keep the evaluation index in this folder (default: a temporary folder, removed)",
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="score only the first N queries")
    for setting in (config.CHUNK_TOKENS, config.CHUNK_OVERLAP, config.MAX_LENGTH, config.BATCH_SIZE):
        opt.add_setting(parser, setting)
    opt.add_runtime(parser)
    opt.add_json(parser, "the report")


def run(args: argparse.Namespace) -> int:
    from search.evaluation.beir import evaluate_dataset, format_report
    from search.ingest.chunk import ChunkSettings
    from search.retrieval.searcher import MODES

    report = evaluate_dataset(
        args.dataset_dir,
        model=opt.setting_value(args, config.MODEL),
        modes=MODES if args.mode == "all" else (args.mode,),
        index_dir=args.eval_index,
        limit=args.limit,
        device=opt.setting_value(args, config.DEVICE),
        precision=opt.setting_value(args, config.PRECISION),
        chunk=ChunkSettings(
            max_tokens=opt.setting_value(args, config.CHUNK_TOKENS),
            overlap_tokens=opt.setting_value(args, config.CHUNK_OVERLAP),
        ),
        max_length=opt.setting_value(args, config.MAX_LENGTH),
        batch_size=opt.setting_value(args, config.BATCH_SIZE),
        progress=not args.json and sys.stderr.isatty(),
    )
    if args.json:
        print_json(report)
    else:
        print(format_report(report))
    return opt.EXIT_OK
