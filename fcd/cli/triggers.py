"""``fcctl trigger create|get|list|update|delete`` (spec §3 routes 14-18)."""

from __future__ import annotations

import argparse
from typing import Any

from fcd.cli import args as a
from fcd.cli.output import Listing, Message
from fcd.client import Client

COLUMNS = ("triggerName", "triggerType", "qualifier", "description", "lastModifiedTime")
# Option attribute → wire field.
FIELDS = {
    "config": "triggerConfig",
    "qualifier": "qualifier",
    "description": "description",
    "source_arn": "sourceArn",
    "invocation_role": "invocationRole",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    actions = a.group(subparsers, "trigger", "manage the triggers of a function")

    create = a.leaf(actions, "create", "create a trigger", run_create)
    _add_ref(create)
    create.add_argument(
        "--type", required=True, dest="trigger_type", help="http, timer, oss, log, mns_topic, ..."
    )
    _add_fields(create, config_required=True)

    get = a.leaf(actions, "get", "show a trigger", run_get)
    _add_ref(get)

    listing = a.leaf(actions, "list", "list the triggers of a function, by name", run_list)
    listing.add_argument("function", type=a.function_ref, metavar="SERVICE/FUNCTION")
    a.add_paging(listing)

    update = a.leaf(actions, "update", "change fields of a trigger; others are kept", run_update)
    _add_ref(update)
    _add_fields(update, config_required=False)
    a.add_if_match(update)

    delete = a.leaf(actions, "delete", "delete a trigger", run_delete)
    _add_ref(delete)
    a.add_if_match(delete)


def _add_ref(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("function", type=a.function_ref, metavar="SERVICE/FUNCTION")
    parser.add_argument("name", metavar="NAME", help="trigger name")


def _add_fields(parser: argparse.ArgumentParser, *, config_required: bool) -> None:
    parser.add_argument(
        "--config",
        type=a.json_value,
        required=config_required,
        default=None,
        metavar="JSON",
        help="triggerConfig as JSON (or @file.json)",
    )
    parser.add_argument("--qualifier", default=None, help="version or alias the trigger invokes")
    parser.add_argument("--description", default=None)
    parser.add_argument("--source-arn", default=None, help="event source ARN (oss, log, ...)")
    parser.add_argument("--invocation-role", default=None, help="RAM role ARN")
    a.add_body(parser)


def _names(args: argparse.Namespace) -> tuple[str, str, str]:
    service, _, function = args.function
    return service, function, args.name


def run_create(client: Client, args: argparse.Namespace) -> Any:
    body = a.fields(args, FIELDS)
    config = body.pop("triggerConfig")
    return client.create_trigger(*_names(args), args.trigger_type, config, **body)


def run_get(client: Client, args: argparse.Namespace) -> Any:
    return client.get_trigger(*_names(args))


def run_list(client: Client, args: argparse.Namespace) -> Any:
    service, _, function = args.function
    found = client.iter_triggers(service, function, prefix=args.prefix, start_key=args.start_key)
    return Listing(a.take(found, args.limit), COLUMNS)


def run_update(client: Client, args: argparse.Namespace) -> Any:
    return client.update_trigger(*_names(args), if_match=args.if_match, **a.fields(args, FIELDS))


def run_delete(client: Client, args: argparse.Namespace) -> Any:
    service, function, name = _names(args)
    client.delete_trigger(service, function, name, if_match=args.if_match)
    return Message(f"deleted trigger '{name}' of '{service}/{function}'")
