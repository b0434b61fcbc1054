"""`indexer build DOCS_DIR`: index a folder incrementally."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from indexer import options as opt
from indexer.output import print_build_summary, print_json
from search import settings as config

NAME = "build"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(NAME, help="index a folder of documents (incremental)")
    parser.add_argument("docs_dir", type=Path, help="folder with .txt .md .html .pdf .docx files")
    opt.add_index(parser)
    opt.add_setting(parser, config.MODEL, help=config.MODEL.describe() + "; naming another model re-encodes all")
    opt.add_runtime(parser)
    for setting in (config.BATCH_SIZE, config.MAX_LENGTH, config.CHUNK_TOKENS, config.CHUNK_OVERLAP):
        opt.add_setting(parser, setting)
    parser.add_argument("--include", action="append", default=[], metavar="GLOB", help="only paths matching")
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="leave out paths matching")
    parser.add_argument("--follow-symlinks", action="store_true", help="follow links that stay inside the folder")
    opt.add_setting(parser, config.MAX_FILE_MB)
    opt.add_setting(parser, config.FILE_TIMEOUT)
    parser.add_argument(
        "--synonyms",
        type=Path,
        default=None,
        metavar="FILE",
        help="your own synonyms, one group per line (有休, 有給休暇, 年休), kept in the index and used by every search",
    )
    access = parser.add_mutually_exclusive_group()
    opt.add_setting(access, config.ACL, type=Path)
    access.add_argument(
        "--no-acl", action="store_true", help="remove the index's access rules: every document is then in `all`"
    )
    # Scaling beyond one machine (docs/scaling.md): where passages are encoded and where vectors are kept.
    for setting in (
        config.EXECUTOR,
        config.RAY_ADDRESS,
        config.VECTOR_STORE,
        config.MILVUS_URI,
        config.MILVUS_COLLECTION,
    ):
        opt.add_setting(parser, setting)
    opt.add_json(parser, "the summary")


@contextlib.contextmanager
def scaling(args: argparse.Namespace) -> Iterator[None]:
    """The executor and vector store the flags name, for the build inside the block (else the settings'
    environment variables, else local encoding and the store the index records)."""
    from search.models.executors import make_executor, use_executor
    from search.storage.vector_store import MILVUS, StoreChoice, use_vector_store

    with contextlib.ExitStack() as stack:
        if args.executor is not None:
            executor = make_executor(args.executor, opt.setting_value(args, config.RAY_ADDRESS))
            stack.enter_context(use_executor(executor))
        if args.vector_store is not None:
            choice = StoreChoice(args.vector_store, args.milvus_uri, args.milvus_collection)
            stack.enter_context(use_vector_store(choice))
        elif args.milvus_uri is not None or args.milvus_collection is not None:
            raise config.SettingError(f"milvus_uri and milvus_collection apply to vector_store {MILVUS}; name it too")
        yield


def print_access(rules: int, relabelled: int) -> None:
    """Access control: which rules label the documents, and how many kept documents changed groups."""
    if rules:
        print(f"access rules: {rules} (documents re-labelled without re-encoding: {relabelled})")
    elif relabelled:
        print(f"access rules: none, every document in `all` ({relabelled} re-labelled)")


def run(args: argparse.Namespace) -> int:
    from search import Index

    index = Index(
        opt.index_dir(args),
        model=args.model,
        reencode=args.model is not None,  # an explicit --model re-encodes; the summary says so
        device=opt.setting_value(args, config.DEVICE),
        precision=opt.setting_value(args, config.PRECISION),
        batch_size=opt.setting_value(args, config.BATCH_SIZE),
        max_length=args.max_length,
        chunk_tokens=args.chunk_tokens,
        chunk_overlap=args.chunk_overlap,
    )
    with scaling(args):
        summary = index.build(
            args.docs_dir,
            include=tuple(args.include),
            exclude=tuple(args.exclude),
            follow_symlinks=args.follow_symlinks,
            max_file_mb=opt.setting_value(args, config.MAX_FILE_MB),
            file_timeout=opt.setting_value(args, config.FILE_TIMEOUT),
            synonyms=args.synonyms,
            progress=not args.json and sys.stderr.isatty(),
            acl=args.acl,
            clear_acl=args.no_acl,
        )
    if args.json:
        print_json(summary.as_dict())
    else:
        print_build_summary(summary.as_dict())
        print_access(summary.access_rules, summary.documents_relabelled)
    return opt.EXIT_PARTIAL if summary.files_failed else opt.EXIT_OK
