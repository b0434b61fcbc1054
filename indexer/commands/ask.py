"""`indexer ask QUESTION`: an answer with citations to the exact passages, or a truthful "not answerable"."""

from __future__ import annotations

import argparse
from typing import Any

from indexer import generation_options as gen
from indexer import options as opt
from indexer.output import print_json, safe
from search import settings as config

NAME = "ask"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(NAME, help="answer a question from the index, with citations")
    parser.add_argument("question", help="the question, in Japanese or English")
    opt.add_index(parser)
    parser.add_argument("-k", type=int, default=config.ANSWER_K.default, help=config.ANSWER_K.describe())
    opt.add_filters(parser, help="same filters as `indexer search`")
    gen.add_model_flags(parser)
    parser.add_argument("--extractive", action="store_true", help="no generation model: answer with the best sentence")
    opt.add_as(parser)
    gen.add_limits(parser)
    opt.add_runtime(parser)
    opt.add_json(parser, "the response")


def run(args: argparse.Namespace) -> int:
    required = frozenset() if args.extractive else gen.required_models(args, ("qa_model_ja", "qa_model_en"))
    index = opt.open_index(args)
    result = index.ask(
        args.question,
        k=args.k,
        filters=opt.parse_filters(args.filter),
        extractive=args.extractive,
        generation=gen.settings_from_args(args),
        required_models=required,
    )
    if args.json:
        print_json(result.as_dict())
    else:
        print_answer(result.as_dict())
    return opt.EXIT_OK


def print_answer(r: dict[str, Any]) -> None:
    print(f"Q: {safe(r['question'])}")
    if r["answerable"]:
        print(f"A: {safe(r['answer'])}")
    else:
        print(f"Not answerable from the documents: {r['reason']}")
        if r["generated_answer"]:
            print(f"   (rejected model output: {safe(r['generated_answer'])})")
    print(f"   [{r['mode']} answer, model {r['model']}]")
    if r["fallback_reason"]:
        print(f"   note: {r['fallback_reason']}")
    if r["citations"]:
        print("Sources:")
        for n, c in enumerate(r["citations"], 1):
            e = c["evidence"]
            print(f"  [{n}] {safe(c['path'])} ({safe(c['title'])}), chars {e['start']}-{e['end']}: {safe(e['text'])}")
    elif r["passages"]:
        print("Closest passages:")
        for p in r["passages"][:3]:
            text = " ".join(p["text"].split())
            more = "…" if len(text) > 100 else ""
            print(f"  - {safe(p['path'])}, chars {p['start']}-{p['end']}: {safe(text[:100])}{more}")
