"""`indexer`: the command line. Each command is one module in indexer/commands/ (register + run).

Exit codes: 0 success; 1 the command ran but something failed (e.g. some files could not be indexed);
2 bad input or an unusable index/model, with a message saying what to do.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version

from indexer import options as opt
from indexer.commands import ask, build, demo, evaluate, quiz, search, serve, status
from search.errors import SearchError
from search.settings import SETTINGS, SettingError

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = opt.EXIT_OK, opt.EXIT_PARTIAL, opt.EXIT_ERROR  # the exit codes documented above

COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    build.NAME: build.run,
    status.NAME: status.run,
    search.NAME: search.run,
    serve.NAME: serve.run,
    demo.NAME: demo.run,
    evaluate.NAME: evaluate.run,
    ask.NAME: ask.run,
    quiz.NAME: quiz.run,
}


def package_version() -> str:
    try:
        return version("jp-docsearch")
    except PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="indexer", description="Japanese-first semantic search over documents")
    parser.add_argument("--version", action="version", version=f"indexer {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (build, status, search, ask, quiz, serve, demo, evaluate):
        module.register(commands)
    return parser


def quiet_third_party_output() -> None:
    """Keep stderr for this program's own messages, which say what happened to which file.

    pypdf logs the defects it recovers from ("incorrect startxref pointer") without naming the file, so they
    are dropped (a PDF it cannot read is reported by the build, with its path). Outside a terminal (CI, cron,
    a log file) the Hugging Face progress bars ("Loading weights") are off: there they are only noise.
    """
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    if sys.stderr.isatty():
        return
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # read when huggingface_hub is imported
    if "transformers" in sys.modules:  # already imported (a caller of main() in the same process)
        sys.modules["transformers"].utils.logging.disable_progress_bar()


def main(argv: Sequence[str] | None = None) -> int:
    quiet_third_party_output()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return opt.EXIT_OK
    try:
        return COMMANDS[args.command](args)
    except SearchError as exc:
        report_error(args, exc)
        return opt.EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted: the index is unchanged unless the build had already committed", file=sys.stderr)
        return 130


SETTING_NAMED = re.compile(r"\(setting `(\w+)`\)")


def in_command_line_words(message: str) -> str:
    """The core names settings (`(setting `qg_model`)`); here they are the options a user types."""

    def option(match: re.Match[str]) -> str:
        setting = SETTINGS.get(match.group(1))
        if setting is None:
            return match.group(0)
        return f"(option {setting.flag}" + (f" or ${setting.env})" if setting.env else ")")

    return SETTING_NAMED.sub(option, message)


def report_error(args: argparse.Namespace, exc: SearchError) -> None:
    """The core's message, with a setting's name translated to this command line's option."""
    message = in_command_line_words(str(exc))
    if isinstance(exc, SettingError) and exc.setting in SETTINGS:
        flag = "-k" if exc.setting == "k" else SETTINGS[exc.setting].flag
        message = f"{flag}: {message}"
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "type": type(exc).__name__}, ensure_ascii=False))
    print(f"error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
