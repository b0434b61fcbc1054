"""A warm process that forks `indexer` command runs, for tests that SIGKILL dozens of builds.

Why: every `python -m indexer.cli build` pays seconds importing torch and transformers before it touches
the index, so a crash test with 20+ kills would spend minutes on imports alone. This launcher imports
everything once and then forks one child per request; the child runs `indexer.cli.main(argv)`, the very
function behind `python -m indexer.cli`, as its own process with its own pid, stdout/stderr in a log file.
A test kills that pid with SIGKILL exactly as it would kill a freshly started `indexer build`.

Torch is imported but never run here, so no thread pool exists yet when the children are forked.

Protocol: one JSON object per line on stdin, one JSON reply per line on stdout.
    {"run": [argv...], "env": {...}, "log": PATH}  ->  {"pid": PID}
    {"poll": PID}                                   ->  {"done": false} or {"done": true, "code": CODE}
    {"wait": PID}                                   ->  {"done": true, "code": CODE}
CODE is the exit status, or minus the signal number that ended the child (-9 for SIGKILL). A child is
reaped only when poll/wait reports it done, so until then its pid cannot be reused by another process.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback


def _warm_imports() -> None:
    for module in (
        "torch",
        "transformers",
        "search.ingest.build",
        "indexer.cli",
        "search.models.encoder",
        "search.retrieval.searcher",
    ):
        importlib.import_module(module)
    # transformers loads its model classes lazily, on first attribute access.
    from transformers import AutoConfig, AutoModel, AutoTokenizer, T5EncoderModel  # noqa: F401


def _child(argv: list[str], env: dict[str, str], log: str) -> None:
    """Runs in the forked child and never returns: the launcher's loop must not run twice."""
    code = 70
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        os.environ.update(env)
        from indexer.cli import main

        code = main(argv)
    except SystemExit as exc:  # argparse errors
        code = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: BLE001 - the child must end here whatever happens; the log shows why
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _status(status: int) -> int:
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def serve() -> None:
    _warm_imports()
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        if "run" in request:
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                _child(request["run"], request.get("env", {}), request["log"])
            reply: dict[str, object] = {"pid": pid}
        elif "poll" in request:
            pid, status = os.waitpid(request["poll"], os.WNOHANG)
            reply = {"done": False} if pid == 0 else {"done": True, "code": _status(status)}
        else:
            _, status = os.waitpid(request["wait"], 0)
            reply = {"done": True, "code": _status(status)}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    serve()
