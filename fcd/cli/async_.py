"""``fcctl async list|get|stop``: the records of stateful async invocations (routes 47-49)."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote

from fcd.cli import args as a
from fcd.cli.output import Listing, Message
from fcd.client import Client, qualified

COLUMNS = ("invocationId", "status", "startedTime", "endTime", "alreadyRetriedTimes", "requestId")
STATUSES = ("Enqueued", "Running", "Succeeded", "Failed", "Stopped", "Expired")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    actions = a.group(subparsers, "async", "list, show and stop stateful async invocations")
    listing = a.leaf(actions, "list", "list a function's stateful async invocations", run_list)
    _add_ref(listing)
    listing.add_argument("--status", choices=STATUSES, default=None)
    listing.add_argument("--prefix", default=None, help="invocation ids starting with this")
    listing.add_argument("--limit", type=int, default=None, metavar="N")
    listing.add_argument("--next-token", default=None, metavar="TOKEN")
    listing.add_argument("--asc", action="store_true", help="oldest first (default newest)")
    listing.add_argument("--payload", action="store_true", help="include the events' payloads")

    get = a.leaf(actions, "get", "show one async invocation: status, times, events", run_get)
    _add_ref(get)
    get.add_argument("invocation_id", metavar="INVOCATION-ID")

    stop = a.leaf(actions, "stop", "stop an enqueued or running async invocation", run_stop)
    _add_ref(stop)
    stop.add_argument("invocation_id", metavar="INVOCATION-ID")


def _add_ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", type=a.function_ref, metavar="SERVICE[.QUALIFIER]/FUNCTION")


def _base(ref: tuple[str, str | None, str]) -> str:
    service, qualifier, function = ref
    return (
        f"/services/{qualified(service, qualifier)}/functions/{quote(function, safe='')}"
        "/stateful-async-invocations"
    )


def run_list(client: Client, args: argparse.Namespace) -> Any:
    query = {
        key: value
        for key, value in (
            ("status", args.status),
            ("invocationIdPrefix", args.prefix),
            ("limit", None if args.limit is None else str(args.limit)),
            ("nextToken", args.next_token),
            ("sortOrderByTime", "asc" if args.asc else None),
            ("includePayload", "true" if args.payload else None),
        )
        if value
    }
    page = client.call("GET", _base(args.function), query=query).json() or {}
    items = page.get("invocations") or []
    if page.get("nextToken"):
        items.append({"invocationId": f"(more: --next-token {page['nextToken']})"})
    return Listing(items, COLUMNS)


def run_get(client: Client, args: argparse.Namespace) -> Any:
    path = f"{_base(args.function)}/{quote(args.invocation_id, safe='')}"
    found: dict[str, Any] = client.call("GET", path).json()
    return found


def run_stop(client: Client, args: argparse.Namespace) -> Any:
    path = f"{_base(args.function)}/{quote(args.invocation_id, safe='')}"
    client.call("PUT", path)
    return Message(f"stopped async invocation {args.invocation_id}", {"stopped": True})
