"""Command-line options made from the product's settings (search.settings), and the exit codes.

Each option's flag, type, bounds and help (with its default and environment variable) come from the one
definition of its setting, so the CLI cannot drift from the library, the API or the docs.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from search import settings as config
from search.errors import SearchError
from search.retrieval.filters import Filters, parse_filter_items

if TYPE_CHECKING:
    from search import Index

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 2


def add_setting(
    parser: argparse.ArgumentParser | Any,
    setting: config.Setting,
    *,
    default: Any = None,
    help: str | None = None,
    **extra: Any,
) -> None:
    """`--name` for `setting`. The default is None ("not given"), so that callers can tell a flag from the
    setting's default (e.g. an index keeps its recorded model unless --model is given); the help shows the
    setting's default and environment variable."""
    kind = setting.type if setting.type in (int, float) else None
    kwargs: dict[str, Any] = {"default": default, "help": help or setting.describe(), **extra}
    if kind is not None:
        kwargs["type"] = _checked(setting)
    if setting.choices:
        kwargs["choices"] = setting.choices
    if setting.metavar and not setting.choices:
        kwargs["metavar"] = setting.metavar
    parser.add_argument(setting.flag, **kwargs)


def _checked(setting: config.Setting) -> Any:
    """An argparse type that converts and checks bounds, so a bad value is a usage error naming the flag."""

    def convert(raw: str) -> Any:
        try:
            return setting.parse(raw, setting.flag)
        except config.SettingError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace(f" ({setting.name})", "")) from exc

    convert.__name__ = setting.type.__name__
    return convert


def setting_value(args: argparse.Namespace, setting: config.Setting) -> Any:
    """The flag's value when given, else the environment variable's, else the setting's default."""
    given = getattr(args, setting.name, None)
    return given if given is not None else setting.value()


def add_index(parser: argparse.ArgumentParser) -> None:
    add_setting(parser, config.INDEX, type=Path)


def add_runtime(parser: argparse.ArgumentParser) -> None:
    add_setting(parser, config.DEVICE)
    add_setting(parser, config.PRECISION)


def add_json(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as one JSON object")


def add_filters(parser: argparse.ArgumentParser, help: str | None = None) -> None:
    parser.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=help or "path_prefix=, path_glob=, format=, modified_after=, modified_before=, tag= (repeatable)",
    )


def index_dir(args: argparse.Namespace) -> Path:
    return Path(setting_value(args, config.INDEX))


def parse_filters(items: Sequence[str]) -> Filters:
    """`--filter KEY=VALUE` items; errors say `--filter` as the user typed it."""
    try:
        return parse_filter_items(items)
    except SearchError as exc:
        raise SearchError(f"--{exc}") from exc


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


def as_groups(args: argparse.Namespace) -> tuple[str, ...] | None:
    """The --as groups, checked like the groups of an access rules file, with `all` added."""
    from search.access.rules import check_groups
    from search.access.scope import caller_groups

    given = getattr(args, "as_groups", None)
    return None if given is None else caller_groups(check_groups(given, "--as"))


def open_index(args: argparse.Namespace, **options: Any) -> Index:
    """The index as the command's flags open it: --index, --device, --precision and --as (`options`: more of
    Index's keyword arguments)."""
    from search import Index

    return Index(
        index_dir(args),
        device=setting_value(args, config.DEVICE),
        precision=setting_value(args, config.PRECISION),
        groups=as_groups(args),
        **options,
    )
