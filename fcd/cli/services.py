"""``fcctl service create|get|list|update|delete`` (spec §3 routes 2-6)."""

from __future__ import annotations

import argparse
from typing import Any

from fcd.cli import args as a
from fcd.cli.output import Listing, Message
from fcd.client import Client

COLUMNS = ("serviceName", "description", "internetAccess", "role", "lastModifiedTime")
# Option attribute → wire field.
FIELDS = {"description": "description", "role": "role", "internet_access": "internetAccess"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    actions = a.group(subparsers, "service", "manage services")

    create = a.leaf(actions, "create", "create a service", run_create)
    create.add_argument("name", metavar="NAME", help="service name")
    _add_fields(create)

    get = a.leaf(actions, "get", "show a service, through a qualifier if given", run_get)
    get.add_argument("service", type=a.service_ref, metavar="SERVICE[.QUALIFIER]")

    listing = a.leaf(actions, "list", "list services, by name", run_list)
    a.add_paging(listing)
    listing.add_argument(
        "--tag",
        type=a.key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only services with this tag (empty VALUE: with this key); repeatable",
    )

    update = a.leaf(actions, "update", "change fields of a service; others are kept", run_update)
    update.add_argument("name", metavar="NAME", help="service name")
    _add_fields(update)
    a.add_if_match(update)

    delete = a.leaf(actions, "delete", "delete an empty service", run_delete)
    delete.add_argument("name", metavar="NAME", help="service name")
    a.add_if_match(delete)


def _add_fields(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--description", default=None)
    parser.add_argument("--role", default=None, help="RAM role ARN the functions run as")
    parser.add_argument(
        "--internet-access",
        type=_boolean,
        default=None,
        metavar="true|false",
        help="whether functions may reach the network",
    )
    a.add_body(parser)


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "yes", "1"):
        return True
    if text.lower() in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"'{text}' is not true or false")


def run_create(client: Client, args: argparse.Namespace) -> Any:
    return client.create_service(args.name, **a.fields(args, FIELDS))


def run_get(client: Client, args: argparse.Namespace) -> Any:
    name, qualifier = args.service
    return client.get_service(name, qualifier)


def run_list(client: Client, args: argparse.Namespace) -> Any:
    found = client.iter_services(tags=dict(args.tag), prefix=args.prefix, start_key=args.start_key)
    return Listing(a.take(found, args.limit), COLUMNS)


def run_update(client: Client, args: argparse.Namespace) -> Any:
    return client.update_service(args.name, if_match=args.if_match, **a.fields(args, FIELDS))


def run_delete(client: Client, args: argparse.Namespace) -> Any:
    client.delete_service(args.name, if_match=args.if_match)
    return Message(f"deleted service '{args.name}'")
