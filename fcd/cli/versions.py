"""``fcctl version publish|list|delete`` (spec §3 routes 19-21): versions are immutable."""

from __future__ import annotations

import argparse
from typing import Any

from fcd.cli import args as a
from fcd.cli.output import Listing, Message
from fcd.client import Client

COLUMNS = ("versionId", "description", "createdTime")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    actions = a.group(subparsers, "version", "publish and list the versions of a service")

    publish = a.leaf(actions, "publish", "snapshot the service and its functions", run_publish)
    publish.add_argument("service", metavar="SERVICE", help="service name")
    publish.add_argument("--description", default=None)
    a.add_if_match(publish)

    listing = a.leaf(actions, "list", "list versions, newest first by default", run_list)
    listing.add_argument("service", metavar="SERVICE", help="service name")
    listing.add_argument(
        "--direction",
        choices=("BACKWARD", "FORWARD"),
        default=None,
        help="BACKWARD: newest first (default); FORWARD: oldest first",
    )
    a.add_paging(listing, prefix=False)

    delete = a.leaf(actions, "delete", "delete a version no alias points at", run_delete)
    delete.add_argument("service", metavar="SERVICE", help="service name")
    delete.add_argument("version_id", metavar="VERSION", help="version id")


def run_publish(client: Client, args: argparse.Namespace) -> Any:
    return client.publish_version(
        args.service, description=args.description, if_match=args.if_match
    )


def run_list(client: Client, args: argparse.Namespace) -> Any:
    found = client.iter_versions(args.service, direction=args.direction)
    return Listing(a.take(found, args.limit), COLUMNS)


def run_delete(client: Client, args: argparse.Namespace) -> Any:
    client.delete_version(args.service, args.version_id)
    return Message(f"deleted version {args.version_id} of service '{args.service}'")
