"""`indexer serve`: the HTTP API and the web page over one index.

Everything that can be refused is refused before anything slow happens: the arguments, the key policy and
the port (bound here, before torch is imported or a model is loaded), so that a mistake costs a second, not
the half minute a model takes to load. This is the only module of `indexer/` that imports `api/`.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from indexer import generation_options as gen
from indexer import options as opt
from search import settings as config
from search.errors import SearchError

if TYPE_CHECKING:
    from api.settings import ApiSettings
    from search.generation.settings import GenerationSettings

NAME = "serve"


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(NAME, help="run the HTTP search API and web page (OpenAPI page at /docs)")
    opt.add_index(parser)
    parser.add_argument("--host", default=config.HOST.default, help=config.HOST.describe())
    opt.add_setting(parser, config.PORT, default=config.PORT.default)
    parser.add_argument(
        "--api-key-file",
        type=Path,
        default=None,
        metavar="FILE",
        help="file holding the API key clients must send (else $INDEXER_API_KEY, else $INDEXER_API_KEY_FILE)",
    )
    # Access control: identities with groups, a proxy's groups header, the audit log (search/access).
    for setting in (
        config.API_KEYS_FILE,
        config.TRUSTED_GROUPS_HEADER,
        config.TRUSTED_USER_HEADER,
        config.TRUSTED_PROXIES,
        config.AUDIT_LOG,
        config.AUDIT_LOG_MAX_MB,
        config.AUDIT_LOG_BACKUPS,
    ):
        opt.add_setting(parser, setting, **({"type": Path} if setting is config.API_KEYS_FILE else {}))
    parser.add_argument("--insecure", action="store_true", help="allow a non-loopback --host without an API key")
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow browser calls from this origin (repeatable; else comma-separated $INDEXER_CORS_ORIGINS)",
    )
    for setting in (
        config.MAX_CONCURRENT_MODEL_CALLS,
        config.MODEL_QUEUE_TIMEOUT,
        config.THREADS_PER_CALL,
        config.QUERY_CACHE_SIZE,
        config.RERANKER,
        config.RERANK_DEPTH,
    ):
        opt.add_setting(parser, setting)
    gen.add_model_flags(parser, qg=True)  # generation models load on the first request using them
    gen.add_limits(parser)
    opt.add_setting(parser, config.WORKERS, default=config.WORKERS.default)
    parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="server log detail (default: info)",
    )
    opt.add_runtime(parser)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now: a port in use is an error before any model loads (exit 2).

    The protocol is named (IPPROTO_TCP), not left 0: asyncio turns Nagle's algorithm off only on
    connections whose socket says TCP. Without it uvicorn's response headers and body, written separately,
    waited for the client's delayed acknowledgement: every request after the first on a keep-alive
    connection (a browser's) took 40 ms longer.
    """
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise SearchError(
            f"cannot listen on {host}:{port} ({exc.strerror}): another program may be using the port; "
            "choose another with --port (0 picks a free one)"
        ) from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def api_settings(args: argparse.Namespace) -> ApiSettings:
    """The API's settings from the flags (also in each worker process, from the same flags)."""
    from api.settings import load_settings

    return load_settings(
        index_dir=opt.index_dir(args),
        api_key_file=args.api_key_file,
        cors_origins=args.cors_origin,
        device=opt.setting_value(args, config.DEVICE),
        precision=opt.setting_value(args, config.PRECISION),
        max_concurrent_model_calls=opt.setting_value(args, config.MAX_CONCURRENT_MODEL_CALLS),
        model_queue_timeout_s=opt.setting_value(args, config.MODEL_QUEUE_TIMEOUT),
        threads_per_call=opt.setting_value(args, config.THREADS_PER_CALL),
        query_cache_size=opt.setting_value(args, config.QUERY_CACHE_SIZE),
        reranker=opt.setting_value(args, config.RERANKER),
        rerank_depth=opt.setting_value(args, config.RERANK_DEPTH),
        api_keys_file=args.api_keys_file,
        trusted_groups_header=args.trusted_groups_header,
        trusted_user_header=args.trusted_user_header,
        trusted_proxies=args.trusted_proxies,
        audit_log=args.audit_log,
        audit_log_max_mb=args.audit_log_max_mb,
        audit_log_backups=args.audit_log_backups,
    )


def run(args: argparse.Namespace) -> int:
    from api.settings import is_loopback

    settings = api_settings(args)
    if not settings.authenticates and not is_loopback(args.host):
        if not args.insecure:
            print(
                f"error: refusing to serve on {args.host} without an API key: anyone who can reach this machine "
                "could read the whole index. Set one with --api-key-file FILE or $INDEXER_API_KEY, bind to "
                "127.0.0.1, or pass --insecure to serve without a key anyway",
                file=sys.stderr,
            )
            return opt.EXIT_ERROR
        print(f"warning: serving on {args.host} without an API key (--insecure)", file=sys.stderr)
    generation = gen.settings_from_args(args)  # bad generation settings fail here, before loading
    gen.required_models(args, tuple(gen.MODEL_SETTINGS))  # a model flag that is not here: exit 2 now
    check_workers(settings.index_dir, args.workers)
    sock = bind(args.host, args.port)
    try:
        if args.workers > 1:
            return _serve_workers(args, settings, sock)
        return _serve(args, settings, generation, sock)
    finally:
        sock.close()


def check_workers(index_dir: Path, workers: int) -> None:
    """Several workers need a vector store several processes can open: a Milvus Lite file admits one."""
    from search.storage.generations import read_manifest
    from search.storage.vector_store import MILVUS, lite_path

    manifest = read_manifest(index_dir)
    uri = manifest.get("milvus_uri")
    if workers > 1 and manifest.get("vector_store") == MILVUS and uri and lite_path(uri, index_dir) is not None:
        raise SearchError(
            f"the index {index_dir} keeps its vectors in the Milvus Lite file {uri}, which one process at a time can "
            "open: serve it with --workers 1, or rebuild it with --milvus-uri http://HOST:19530 (a Milvus server)"
        )


def _serve_workers(args: argparse.Namespace, settings: ApiSettings, sock: socket.socket) -> int:
    """`args.workers` uvicorn worker processes accept on the socket bound here, before any model loads.

    Each worker is a fresh (spawned) process that calls `worker_app(args)`: it re-reads the settings from the
    same flags, opens the index and loads its own query encoder, and follows new generations on its own, as
    one process does. The supervisor restarts a worker that dies. Connections that arrive while the workers
    load wait in the socket's backlog.
    """
    import functools
    import logging

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    print(
        f"Serving http://{shown_host}:{port} with {args.workers} worker processes, each loading the index "
        f"{settings.index_dir} and its embedding model  (OpenAPI page: /docs; API key "
        f"{'required' if settings.authenticates else 'not required'}; Ctrl+C stops)",
        file=sys.stderr,
        flush=True,
    )
    # An application factory, not an app: uvicorn builds it in each worker (a partial pickles into the spawn).
    app = functools.partial(worker_app, args)
    uvicorn_config = uvicorn.Config(app, factory=True, workers=args.workers, log_level=args.log_level)
    Multiprocess(uvicorn_config, sockets=[sock]).run()
    return opt.EXIT_OK


def worker_app(args: argparse.Namespace) -> Any:
    """The app of one worker process (see _serve_workers)."""
    return _make_app(args, api_settings(args), gen.settings_from_args(args))


def _serve(args: argparse.Namespace, settings: ApiSettings, generation: GenerationSettings, sock: socket.socket) -> int:
    import logging

    import uvicorn

    # The API's own log lines (start-up summary, unexpected errors) next to uvicorn's, in the same format.
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    app = _make_app(args, settings, generation)
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    print(
        f"Serving http://{shown_host}:{port}  (OpenAPI page: /docs; API key "
        f"{'required' if settings.authenticates else 'not required'}; Ctrl+C stops)",
        file=sys.stderr,
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(app, log_level=args.log_level))
    server.run(sockets=[sock])
    return opt.EXIT_OK


def _make_app(args: argparse.Namespace, settings: ApiSettings, generation: GenerationSettings) -> Any:
    """The app over a loaded searcher: a missing index or model, or an unwritable audit log, ends here."""
    from api.app import create_app
    from api.deps import audit_log, load_searcher
    from api.routes.generation import configure_generation
    from search.models.seq2seq import model_available

    print(f"Loading the index {settings.index_dir} and its embedding model ...", file=sys.stderr)
    searcher = load_searcher(settings)  # a missing index or model ends here, exit 2
    app = create_app(settings, searcher=searcher)
    audit = audit_log(app.state.docsearch)  # access control: an unwritable audit log ends here, not at a request
    print(f"Audit log: {audit.path if audit else 'off'}", file=sys.stderr)
    configure_generation(app, generation)
    # Generation models load on first use (memory); say now, not at the first request, which ones are missing.
    for setting in (config.QA_MODEL_JA, config.QA_MODEL_EN, config.QG_MODEL):
        model = getattr(generation, setting.name)
        if model_available(model):
            continue
        effect = "quizzes are made without it" if setting is config.QG_MODEL else "answers are extractive"
        print(
            f"note: generation model {model} ({setting.flag} or ${setting.env}) is neither a local directory nor in "
            f"the Hugging Face cache: the first request that needs it downloads it; offline, {effect}",
            file=sys.stderr,
        )
    return app
