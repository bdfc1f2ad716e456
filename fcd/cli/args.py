"""Argument helpers shared by the subcommand modules: resource references, JSON and K=V values.

Each subcommand module registers its parsers with :func:`leaf`, which adds the options every
command has (``--json``) and records the handler the command runs.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from fcd.client import Client

# A handler gets the client and the parsed arguments, and returns what to print.
Handler = Callable[[Client, argparse.Namespace], Any]


def group(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help_text: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A subcommand group (``fcctl service ...``) and the subparsers of its actions."""
    parser = subparsers.add_parser(name, help=help_text, description=help_text)
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    return actions


def leaf(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help_text: str,
    handler: Handler,
) -> argparse.ArgumentParser:
    """One action (``fcctl service create``), running ``handler``."""
    parser = actions.add_parser(name, help=help_text, description=help_text)
    # SUPPRESS keeps a --json given before the group (fcctl --json service list) from being reset.
    parser.add_argument(
        "--json", action="store_true", default=argparse.SUPPRESS, help="print raw JSON"
    )
    parser.set_defaults(execute=handler)
    return parser


def function_ref(text: str) -> tuple[str, str | None, str]:
    """``SERVICE[.QUALIFIER]/FUNCTION`` → (service, qualifier, function).

    Raises:
        argparse.ArgumentTypeError: not of that form.
    """
    service, slash, function = text.partition("/")
    if not slash or not service or not function or "/" in function:
        raise argparse.ArgumentTypeError(f"'{text}' is not SERVICE[.QUALIFIER]/FUNCTION")
    name, dot, qualifier = service.partition(".")
    return name, (qualifier if dot else None), function


def service_ref(text: str) -> tuple[str, str | None]:
    """``SERVICE[.QUALIFIER]`` → (service, qualifier)."""
    name, dot, qualifier = text.partition(".")
    if not name:
        raise argparse.ArgumentTypeError(f"'{text}' is not SERVICE[.QUALIFIER]")
    return name, (qualifier if dot else None)


def json_value(text: str) -> Any:
    """A JSON value given inline, or ``@path`` to read it from a file.

    Raises:
        argparse.ArgumentTypeError: unreadable file or invalid JSON.
    """
    try:
        raw = Path(text[1:]).read_text() if text.startswith("@") else text
        return json.loads(raw)
    except (OSError, ValueError) as e:
        raise argparse.ArgumentTypeError(f"invalid JSON value '{text}': {e}") from None


def key_value(text: str) -> tuple[str, str]:
    """``KEY=VALUE``."""
    key, eq, value = text.partition("=")
    if not eq or not key:
        raise argparse.ArgumentTypeError(f"'{text}' is not KEY=VALUE")
    return key, value


def version_weight(text: str) -> tuple[str, float]:
    """``VERSION=WEIGHT`` with a weight between 0 and 1."""
    version, weight = key_value(text)
    try:
        value = float(weight)
    except ValueError:
        raise argparse.ArgumentTypeError(f"weight in '{text}' is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"weight in '{text}' is not between 0 and 1")
    return version, value


def add_body(parser: argparse.ArgumentParser) -> None:
    """``--body JSON|@file``: any other wire fields, merged under the options given."""
    parser.add_argument(
        "--body",
        type=json_value,
        default=None,
        metavar="JSON",
        help="extra request fields as a JSON object (or @file.json); options win over it",
    )


def add_if_match(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--if-match", metavar="ETAG", default=None, help="only if the resource still has this ETag"
    )


def add_paging(parser: argparse.ArgumentParser, *, prefix: bool = True) -> None:
    if prefix:
        parser.add_argument("--prefix", default=None, help="only names starting with this")
        parser.add_argument("--start-key", default=None, help="only names from this one on")
    parser.add_argument("--limit", type=int, default=None, help="print at most this many")


def fields(args: argparse.Namespace, names: Mapping[str, str]) -> dict[str, Any]:
    """The request body: ``--body`` overlaid with each option given (attribute → wire name).

    Raises:
        argparse.ArgumentTypeError: ``--body`` is not a JSON object.
    """
    extra = getattr(args, "body", None) or {}
    if not isinstance(extra, dict):
        raise argparse.ArgumentTypeError("--body must be a JSON object")
    body = dict(extra)
    for attribute, wire_name in names.items():
        value = getattr(args, attribute, None)
        if value is not None:
            body[wire_name] = value
    return body


def take(items: Any, limit: int | None) -> list[Any]:
    """At most ``limit`` items of an iterator (all when ``limit`` is None)."""
    out: list[Any] = []
    for item in items:
        if limit is not None and len(out) >= limit:
            break
        out.append(item)
    return out
