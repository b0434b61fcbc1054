"""`indexer search QUERY`: ranked passages from an index."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from indexer import options as opt
from indexer.output import print_hits, print_json
from search import settings as config

if TYPE_CHECKING:
    from search.access.scope import ScopedSearcher
    from search.retrieval.searcher import Searcher

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
    add_as(parser)
    opt.add_runtime(parser)
    opt.add_json(parser, "the results")


def add_as(parser: argparse.ArgumentParser) -> None:
    """`--as GROUP…`: see only what members of these groups see (and `all`); without it, every document."""
    parser.add_argument(
        "--as",
        dest="as_groups",
        nargs="+",
        default=None,
        metavar="GROUP",
        help="search as a member of these access groups (and `all`) would; default: every document",
    )


def scoped(searcher: Searcher, args: argparse.Namespace) -> Searcher | ScopedSearcher:
    """The searcher as `--as` sees it (every read and search limited to those groups), or as is without it."""
    from search.access.scope import ScopedSearcher

    groups = as_groups(args)
    return searcher if groups is None else ScopedSearcher(searcher, groups)


def as_groups(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The --as groups, checked like the groups of an access rules file, with `all` added."""
    from search.access.rules import check_groups
    from search.access.scope import caller_groups

    given = getattr(args, "as_groups", None)
    return None if given is None else caller_groups(check_groups(given, "--as"))


def run(args: argparse.Namespace) -> int:
    from search import Index

    index = Index(
        opt.index_dir(args),
        device=opt.setting_value(args, config.DEVICE),
        precision=opt.setting_value(args, config.PRECISION),
    )
    filters = opt.parse_filters(args.filter).restricted_to(as_groups(args))
    result = index.search(args.query, k=args.k, mode=args.mode, filters=filters, offset=args.offset)
    if args.json:
        print_json(result.as_dict())
    else:
        print_hits(args.query, result, index.model)
    return opt.EXIT_OK
