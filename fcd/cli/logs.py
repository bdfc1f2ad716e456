"""``fcctl logs SERVICE/FUNCTION`` and ``fcctl usage``: function output and metering.

Both read fcd's own routes (``docs/api-compat.md`` rows 101-102): the log lines the function
printed, tagged with their request ids, and the metering totals per function and UTC day.

The logs route answers an empty list for a function that does not exist, so ``fcctl logs`` reads
the function first (through the qualifier, when one is given): a missing service, function,
version or alias is FC's 404, not "(no log lines)". ``--follow`` polls the route from the newest
line seen on, printing each line once, until interrupted.
"""

from __future__ import annotations

import argparse
import datetime
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

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
# Levels the runtimes' loggers put in a line (python: "[INFO]", nodejs: "[info]"), low to high.
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_LEVEL = re.compile(r"\[(DEBUG|INFO|WARN|WARNING|ERROR|CRITICAL|FATAL)\]", re.IGNORECASE)
_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL"}
# Lines asked for per poll after the first (the route's own cap).
MAX_FOLLOW_PAGE = 10_000
# Seconds between polls of --follow: a log line shows up within about this long.
FOLLOW_INTERVAL = 1.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = a.leaf(subparsers, "logs", "show the log lines a function printed", run_logs)
    logs.add_argument(
        "function",
        metavar="SERVICE[.QUALIFIER]/FUNCTION",
        type=a.function_ref,
        help="the function (a qualifier is checked to exist; logs are per function)",
    )
    logs.add_argument("--request-id", default="", help="only the lines of this invocation")
    logs.add_argument(
        "--since",
        type=since,
        default=None,
        help="only lines from this time: epoch seconds, or an age such as 90s, 10m, 2h, 1d",
    )
    logs.add_argument(
        "--tail", type=int, default=100, help="the newest N lines (default 100; 0 prints none)"
    )
    logs.add_argument(
        "--level",
        type=str.upper,
        choices=LEVELS,
        default=None,
        help="only lines logged at this level or above (lines without a level are kept out)",
    )
    logs.add_argument(
        "--follow",
        "-f",
        action="store_true",
        help="keep printing new lines as they are written, until interrupted",
    )

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


def line_level(message: str) -> str | None:
    """The level a runtime's logger wrote into ``message`` (``[INFO]``), normalised, or None."""
    found = _LEVEL.search(message)
    if not found:
        return None
    name = found.group(1).upper()
    return _ALIASES.get(name, name)


def at_level(lines: Iterable[dict[str, Any]], level: str | None) -> list[dict[str, Any]]:
    """The lines at ``level`` or above; all of them when ``level`` is None."""
    if level is None:
        return list(lines)
    floor = LEVELS.index(level)
    return [
        x
        for x in lines
        if (found := line_level(str(x.get("message", "")))) is not None
        and LEVELS.index(found) >= floor
    ]


def render(line: dict[str, Any]) -> str:
    return f"{line['time']} {line['requestId'] or '-'} {line['message']}"


def run_logs(client: Client, args: argparse.Namespace) -> Any:
    service, qualifier, function = args.function
    if args.tail < 0:
        raise argparse.ArgumentTypeError("--tail must be 0 or more")
    # FC's 404 (ServiceNotFound, FunctionNotFound, VersionNotFound, AliasNotFound) for a
    # function that is not there, instead of an empty page.
    client.get_function(service, function, qualifier)
    if args.follow:
        follow(client, args, out=sys.stdout)
        return None
    if args.tail == 0:
        return Message("", data=[]) if getattr(args, "json", False) else None
    lines = at_level(fetch(client, service, function, args, args.since, args.tail), args.level)
    text = "\n".join(render(x) for x in lines)
    return Message(text, data=lines) if lines else Message("(no log lines)", data=[])


def fetch(
    client: Client,
    service: str,
    function: str,
    args: argparse.Namespace,
    since: float | None,
    tail: int,
) -> list[dict[str, Any]]:
    query = {"tail": str(tail)}
    if args.request_id:
        query["requestId"] = args.request_id
    if since is not None:
        query["since"] = repr(since)
    path = f"/services/{service}/functions/{function}/logs"
    found = client.call("GET", path, query=query).json()
    return list((found or {}).get("logs") or [])


def follow(
    client: Client,
    args: argparse.Namespace,
    *,
    out: TextIO,
    sleep: Callable[[float], None] = time.sleep,
    rounds: int | None = None,
) -> None:
    """Print the last ``--tail`` lines, then each new line once, polling until interrupted.

    Lines are keyed by (time, request id, message) within the newest millisecond seen, since
    the route's ``since`` is inclusive and times have millisecond precision.
    """
    service, _, function = args.function
    since: float | None = args.since
    tail = args.tail
    seen: set[tuple[str, str, str]] = set()
    newest = ""
    done = 0
    while rounds is None or done < rounds:
        done += 1
        lines = fetch(client, service, function, args, since, max(tail, 1)) if tail else []
        for line in lines:
            key = (line["time"], line["requestId"] or "", line["message"])
            if key in seen or line["time"] < newest:
                continue
            if line["time"] > newest:
                newest, seen = line["time"], set()
            seen.add(key)
            if at_level([line], args.level):
                out.write(render(line) + "\n")
        out.flush()
        if newest:
            since = parse_time(newest)
        # After the first page, ask for everything new (bounded by the route's page size).
        tail = MAX_FOLLOW_PAGE
        sleep(FOLLOW_INTERVAL)


def parse_time(text: str) -> float:
    """FC's body time (``2020-04-01T08:14:58.123Z``) as epoch seconds."""
    moment = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.replace(tzinfo=datetime.UTC).timestamp()


def run_usage(client: Client, args: argparse.Namespace) -> Any:
    query = {"service": args.service, "function": args.function, "day": args.day}
    if args.request_id:
        query = {"requestId": args.request_id}
    report = client.call("GET", "/usage", query={k: v for k, v in query.items() if v}).json()
    if args.request_id:
        return report.get("invocation") or Message("no such invocation", data=None)
    # The route leaves an empty list out of its JSON: no usage is an empty table and a 0 total.
    rows = report.get("usage") or []
    total = {**(report.get("total") or {}), "day": "TOTAL", "serviceName": "", "functionName": ""}
    total.setdefault("invocations", 0)
    return Listing([*rows, total], USAGE_COLUMNS)
