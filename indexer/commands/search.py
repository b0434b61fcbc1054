"""`indexer search QUERY`: ranked passages from an index."""

from __future__ import annotations

import argparse

from indexer import options as opt
from indexer.output import print_hits, print_json
from search import settings as config

NAME = "search"
MODES = ("hybrid", "dense", "keyword")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(NAME, help="search an index")
    parser.add_argument("query", help="what to search for")
    opt.add_index(parser)
    parser.add_argument("-k", type=int, default=config.K.default, help=config.K.describe())
    parser.add_argument("--mode", default="hybrid", choices=MODES, help="ranking: hybrid (default), dense or keyword")
    opt.add_filters(parser)
    parser.add_argument("--offset", type=int, default=0, help=config.OFFSET.describe())
    opt.add_setting(parser, config.RERANKER)
    opt.add_setting(parser, config.RERANK_DEPTH)
    opt.add_as(parser)
    opt.add_runtime(parser)
    opt.add_json(parser, "the results")


def run(args: argparse.Namespace) -> int:
    index = opt.open_index(
        args,
        reranker=opt.setting_value(args, config.RERANKER),
        rerank_depth=opt.setting_value(args, config.RERANK_DEPTH),
    )
    result = index.search(
        args.query, k=args.k, mode=args.mode, filters=opt.parse_filters(args.filter), offset=args.offset
    )
    if args.json:
        print_json(result.as_dict())
    else:
        print_hits(args.query, result, index.model)
    return opt.EXIT_OK
