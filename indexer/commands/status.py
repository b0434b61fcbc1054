"""`indexer status`: what an index holds and whether SQLite and FAISS agree."""

from __future__ import annotations

import argparse

from indexer import options as opt
from indexer.output import print_json, print_status

NAME = "status"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(NAME, help="show what an index holds and whether it is consistent")
    opt.add_index(parser)
    opt.add_json(parser, "the status")


def run(args: argparse.Namespace) -> int:
    from search import Index

    status = Index(opt.index_dir(args)).status()
    if args.json:
        print_json(status)
    else:
        print_status({key: value for key, value in status.items() if key != "groups"})  # groups: the line below
        groups = status.get("groups") or {}
        print("documents per access group: " + ", ".join(f"{g} {n}" for g, n in sorted(groups.items())))
    return opt.EXIT_OK if status["consistent"] else opt.EXIT_PARTIAL
