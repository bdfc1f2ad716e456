"""``fcctl invoke``: run a function once, synchronously or through the async queue.

The short form of ``fcctl function invoke`` with the issue's options: ``--qualifier``, ``--async``
(prints the request id, and the stateful invocation id when the function records them, for
``fcctl async get``), ``--event-file PATH|-`` and ``--tail`` (the log tail on standard error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fcd.cli import args as a
from fcd.cli.output import Message, Raw
from fcd.client import Client


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    invoke = a.leaf(subparsers, "invoke", "invoke a function (sync, or --async)", run_invoke)
    invoke.add_argument("function", type=a.function_ref, metavar="SERVICE[.QUALIFIER]/FUNCTION")
    invoke.add_argument("--qualifier", default=None, help="a version id or alias (default LATEST)")
    add_event_options(invoke)
    invoke.add_argument(
        "--async",
        dest="asynchronous",
        action="store_true",
        help="queue the invocation (202) and print its ids",
    )
    invoke.add_argument(
        "--tail", action="store_true", help="print the invocation's log tail to standard error"
    )


def add_event_options(parser: argparse.ArgumentParser) -> None:
    """``--event`` or ``--event-file``, the options :func:`read_event` reads."""
    event = parser.add_mutually_exclusive_group()
    event.add_argument("--event", default=None, metavar="TEXT", help="the event (default: none)")
    event.add_argument(
        "--event-file", default=None, metavar="PATH|-", help="read the event from a file or stdin"
    )


def read_event(args: argparse.Namespace) -> bytes:
    """The payload: ``--event``, ``--event-file PATH`` or ``--event-file -`` (stdin)."""
    if args.event_file == "-":
        return sys.stdin.buffer.read()
    if args.event_file is not None:
        return Path(args.event_file).read_bytes()
    return (args.event or "").encode()


def run_invoke(client: Client, args: argparse.Namespace) -> Any:
    service, qualifier, function = args.function
    qualifier = args.qualifier or qualifier
    payload = read_event(args)
    result = client.invoke_function(
        service,
        function,
        payload,
        qualifier,
        asynchronous=args.asynchronous,
        log_tail=args.tail and not args.asynchronous,
    )
    if args.asynchronous:
        invocation_id = result.headers.get("x-fc-stateful-async-invocation-id", "")
        data = {"requestId": result.request_id, "invocationId": invocation_id or None}
        text = f"queued, request id {result.request_id}"
        if invocation_id:
            text += f", invocation id {invocation_id} (fcctl async get)"
        return Message(text, data)
    # With --json the log is in the JSON printed; on standard error too, it would show twice.
    if result.log and not getattr(args, "json", False):
        sys.stderr.write(result.log if result.log.endswith("\n") else result.log + "\n")
    data = {
        "requestId": result.request_id,
        "errorType": result.error_type or None,
        "body": result.body.decode(errors="replace"),
        "log": result.log or None,
    }
    failure = f"the function failed: {result.error_type}" if result.error_type else ""
    return Raw(result.body, data, failure)
