"""``fcctl function create|get|list|update|delete|deploy|code`` (spec §3 routes 7-12).

``deploy`` is the everyday command: it zips a directory (or takes a ZIP as is) and creates the
function, or updates it when it exists.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fcd.cli import args as a
from fcd.cli.invoke import add_event_options, run_invoke
from fcd.cli.output import Listing, Message
from fcd.client import Client, code_from_path

COLUMNS = (
    "functionName",
    "runtime",
    "handler",
    "memorySize",
    "timeout",
    "codeSize",
    "lastModifiedTime",
)
# Option attribute → wire field.
FIELDS = {
    "runtime": "runtime",
    "handler": "handler",
    "description": "description",
    "memory_size": "memorySize",
    "timeout": "timeout",
    "initializer": "initializer",
    "initialization_timeout": "initializationTimeout",
    "instance_concurrency": "instanceConcurrency",
    "ca_port": "caPort",
    "layers": "layers",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    actions = a.group(subparsers, "function", "manage functions and their code")

    create = a.leaf(actions, "create", "create a function", run_create)
    _add_ref(create)
    _add_fields(create, required=True, code_option=True)

    get = a.leaf(actions, "get", "show a function, through a qualifier if given", run_get)
    _add_ref(get, qualifier=True)

    listing = a.leaf(actions, "list", "list the functions of a service, by name", run_list)
    listing.add_argument("service", type=a.service_ref, metavar="SERVICE[.QUALIFIER]")
    a.add_paging(listing)

    update = a.leaf(actions, "update", "change fields of a function; others are kept", run_update)
    _add_ref(update)
    _add_fields(update, required=False, code_option=True)
    a.add_if_match(update)

    delete = a.leaf(actions, "delete", "delete a function without triggers", run_delete)
    _add_ref(delete)
    a.add_if_match(delete)

    deploy = a.leaf(actions, "deploy", "upload code: create the function or update it", run_deploy)
    _add_ref(deploy)
    deploy.add_argument(
        "path", type=Path, metavar="DIR|ZIP", help="a directory (zipped here) or a .zip file"
    )
    _add_fields(deploy, required=False)

    code = a.leaf(actions, "code", "show where a function's code can be downloaded", run_code)
    _add_ref(code, qualifier=True)

    # The same command as ``fcctl invoke``, under the group where users look for it.
    invoking = a.leaf(actions, "invoke", "invoke a function and print its answer", run_invoke)
    _add_ref(invoking, qualifier=True)
    add_event_options(invoking)
    invoking.add_argument(
        "--async",
        dest="asynchronous",
        action="store_true",
        help="queue the invocation and return at once",
    )
    invoking.add_argument(
        "--log",
        "--tail",
        dest="tail",
        action="store_true",
        help="print the tail of the invocation's log to standard error",
    )
    invoking.set_defaults(qualifier=None)


def _add_ref(parser: argparse.ArgumentParser, *, qualifier: bool = False) -> None:
    metavar = "SERVICE[.QUALIFIER]/FUNCTION" if qualifier else "SERVICE/FUNCTION"
    parser.add_argument("function", type=a.function_ref, metavar=metavar)


def _add_fields(
    parser: argparse.ArgumentParser, *, required: bool, code_option: bool = False
) -> None:
    if code_option:
        parser.add_argument(
            "--code",
            type=Path,
            default=None,
            metavar="DIR|ZIP",
            help="code: a directory (zipped here) or a .zip file",
        )
    parser.add_argument(
        "--runtime", required=required, default=None, help="python3.10, nodejs16, custom, ..."
    )
    parser.add_argument("--handler", required=required, default=None, help="e.g. index.handler")
    parser.add_argument("--description", default=None)
    parser.add_argument("--memory-size", type=int, default=None, metavar="MB")
    parser.add_argument("--timeout", type=int, default=None, metavar="SECONDS")
    parser.add_argument("--initializer", default=None, help="e.g. index.initializer")
    parser.add_argument("--initialization-timeout", type=int, default=None, metavar="SECONDS")
    parser.add_argument("--instance-concurrency", type=int, default=None, metavar="N")
    parser.add_argument(
        "--ca-port", type=int, default=None, metavar="PORT", help="custom runtime listen port"
    )
    parser.add_argument(
        "--env",
        type=a.key_value,
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="environment variable; repeatable; replaces the whole set",
    )
    parser.add_argument(
        "--layer",
        dest="layers",
        action="append",
        default=None,
        metavar="ARN",
        help="layer; repeatable; replaces the whole list",
    )
    a.add_body(parser)


def _fields(args: argparse.Namespace) -> dict[str, Any]:
    body = a.fields(args, FIELDS)
    if args.env is not None:
        body["environmentVariables"] = dict(args.env)
    if getattr(args, "code", None) is not None:
        body["code"] = code_from_path(args.code)
    return body


def _plain(args: argparse.Namespace) -> tuple[str, str]:
    service, qualifier, function = args.function
    if qualifier is not None:
        raise argparse.ArgumentTypeError(
            f"'{service}.{qualifier}/{function}': only reads go through a qualifier"
        )
    return service, function


def run_create(client: Client, args: argparse.Namespace) -> Any:
    service, function = _plain(args)
    return client.create_function(service, function, **_fields(args))


def run_get(client: Client, args: argparse.Namespace) -> Any:
    service, qualifier, function = args.function
    return client.get_function(service, function, qualifier)


def run_list(client: Client, args: argparse.Namespace) -> Any:
    service, qualifier = args.service
    found = client.iter_functions(service, qualifier, prefix=args.prefix, start_key=args.start_key)
    return Listing(a.take(found, args.limit), COLUMNS)


def run_update(client: Client, args: argparse.Namespace) -> Any:
    service, function = _plain(args)
    return client.update_function(service, function, if_match=args.if_match, **_fields(args))


def run_delete(client: Client, args: argparse.Namespace) -> Any:
    service, function = _plain(args)
    client.delete_function(service, function, if_match=args.if_match)
    return Message(f"deleted function '{service}/{function}'")


def run_deploy(client: Client, args: argparse.Namespace) -> Any:
    service, function = _plain(args)
    return client.deploy_function(service, function, args.path, **_fields(args))


def run_code(client: Client, args: argparse.Namespace) -> Any:
    service, qualifier, function = args.function
    return client.get_function_code(service, function, qualifier)
