"""``fcctl alias create|get|list|update|delete`` (spec §3 routes 22-26)."""

from __future__ import annotations

import argparse
from typing import Any

from fcd.cli import args as a
from fcd.cli.output import Listing, Message
from fcd.client import Client

COLUMNS = ("aliasName", "versionId", "additionalVersionWeight", "description", "lastModifiedTime")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    actions = a.group(subparsers, "alias", "manage the aliases of a service")

    create = a.leaf(actions, "create", "create an alias pointing at a version", run_create)
    _add_ref(create)
    create.add_argument("--version-id", required=True, metavar="VERSION")
    _add_fields(create)

    get = a.leaf(actions, "get", "show an alias", run_get)
    _add_ref(get)

    listing = a.leaf(actions, "list", "list the aliases of a service, by name", run_list)
    listing.add_argument("service", metavar="SERVICE", help="service name")
    a.add_paging(listing)

    update = a.leaf(actions, "update", "change fields of an alias; others are kept", run_update)
    _add_ref(update)
    update.add_argument("--version-id", default=None, metavar="VERSION")
    _add_fields(update)
    a.add_if_match(update)

    delete = a.leaf(actions, "delete", "delete an alias", run_delete)
    _add_ref(delete)
    a.add_if_match(delete)


def _add_ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("service", metavar="SERVICE", help="service name")
    parser.add_argument("name", metavar="NAME", help="alias name")


def _add_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--description", default=None)
    parser.add_argument(
        "--weight",
        type=a.version_weight,
        action="append",
        default=None,
        metavar="VERSION=WEIGHT",
        help="send this share (0-1) of traffic to another version; repeatable",
    )
    a.add_body(parser)


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    body = a.fields(args, {"description": "description", "version_id": "versionId"})
    if args.weight is not None:
        body["additionalVersionWeight"] = dict(args.weight)
    return body


def run_create(client: Client, args: argparse.Namespace) -> Any:
    body = _fields(args)
    return client.create_alias(args.service, args.name, body.pop("versionId"), **body)


def run_get(client: Client, args: argparse.Namespace) -> Any:
    return client.get_alias(args.service, args.name)


def run_list(client: Client, args: argparse.Namespace) -> Any:
    found = client.iter_aliases(args.service, prefix=args.prefix, start_key=args.start_key)
    return Listing(a.take(found, args.limit), COLUMNS)


def run_update(client: Client, args: argparse.Namespace) -> Any:
    return client.update_alias(args.service, args.name, if_match=args.if_match, **_fields(args))


def run_delete(client: Client, args: argparse.Namespace) -> Any:
    client.delete_alias(args.service, args.name, if_match=args.if_match)
    return Message(f"deleted alias '{args.name}' of service '{args.service}'")
