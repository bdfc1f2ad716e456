"""``fcctl logs SERVICE/FUNCTION`` and ``fcctl usage``: function output and metering.

Both read fcd's own routes (``docs/api-compat.md`` rows 101-102): the log lines the function
printed, tagged with their request ids, and the metering totals per function and UTC day.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from fcd.cli import args as a
from fcd.cli.output import Listing, Message
from fcd.client import Client

USAGE_COLUMNS = (
    "day",
    "serviceName",
    "functionName",
    "invocations",
    "coldStarts",
    "errors",
    "billedDurationMs",
    "gbSeconds",
    "maxMemoryUsedMb",
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = a.leaf(subparsers, "logs", "show the log lines a function printed", run_logs)
    logs.add_argument(
        "function", metavar="SERVICE/FUNCTION", type=a.function_ref, help="the function"
    )
    logs.add_argument("--request-id", default="", help="only the lines of this invocation")
    logs.add_argument(
        "--since",
        type=since,
        default=None,
        help="only lines from this time: epoch seconds, or an age such as 90s, 10m, 2h, 1d",
    )
    logs.add_argument("--tail", type=int, default=100, help="the newest N lines (default 100)")

    usage = a.leaf(subparsers, "usage", "show metering per function and day", run_usage)
    usage.add_argument("--service", default="", help="only this service")
    usage.add_argument("--function", default="", help="only functions of this name")
    usage.add_argument("--day", default="", help="only this UTC day, YYYY-MM-DD")
    usage.add_argument("--request-id", default="", help="one invocation's metering row")


def since(text: str, now: float | None = None) -> float:
    """``--since``: epoch seconds, or an age (``10m``) counted back from now.

    Raises:
        argparse.ArgumentTypeError: neither form.
    """
    now = time.time() if now is None else now
    try:
        if text[-1:] in _UNITS:
            return now - float(text[:-1]) * _UNITS[text[-1]]
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is neither epoch seconds nor an age such as 10m"
        ) from None


def run_logs(client: Client, args: argparse.Namespace) -> Any:
    service, _, function = args.function
    query = {"tail": str(args.tail)}
    if args.request_id:
        query["requestId"] = args.request_id
    if args.since is not None:
        query["since"] = repr(args.since)
    found = client.call("GET", f"/services/{service}/functions/{function}/logs", query=query)
    lines = found.json()["logs"]
    text = "\n".join(f"{x['time']} {x['requestId'] or '-'} {x['message']}" for x in lines)
    return Message(text, data=lines) if lines else Message("(no log lines)", data=[])


def run_usage(client: Client, args: argparse.Namespace) -> Any:
    query = {"service": args.service, "function": args.function, "day": args.day}
    if args.request_id:
        query = {"requestId": args.request_id}
    report = client.call("GET", "/usage", query={k: v for k, v in query.items() if v}).json()
    if args.request_id:
        return report.get("invocation") or Message("no such invocation", data=None)
    total = {**report["total"], "day": "TOTAL", "serviceName": "", "functionName": ""}
    return Listing([*report["usage"], total], USAGE_COLUMNS)
