"""``fcctl layer publish|list`` (spec §3 routes 51-59): layers, and the operator's copies of
FC's official layers (``--official``), which functions name as
``acs:fc:<region>:official:layers/<Name>/versions/<n>``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fcd.cli import args as a
from fcd.cli.output import Listing
from fcd.client import Client, code_from_path

COLUMNS = ("layerName", "version", "arnV2", "createTime")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    actions = a.group(subparsers, "layer", "publish and list layers")

    publish = a.leaf(actions, "publish", "publish a new version of a layer", run_publish)
    publish.add_argument("name", metavar="NAME", help="layer name")
    publish.add_argument("--code", type=Path, required=True, help="a directory or a .zip")
    publish.add_argument(
        "--compatible-runtime",
        nargs="+",
        required=True,
        metavar="RUNTIME",
        help="the runtimes the layer is for",
    )
    publish.add_argument("--description", default=None)
    publish.add_argument(
        "--official",
        action="store_true",
        help="publish it as an official layer (acs:fc:<region>:official:layers/NAME/...)",
    )

    listing = a.leaf(actions, "list", "list the newest version of each layer", run_list)
    listing.add_argument("--official", action="store_true", help="list the official layers")


def run_publish(client: Client, args: argparse.Namespace) -> Any:
    fields: dict[str, Any] = {"compatibleRuntime": args.compatible_runtime}
    if args.description is not None:
        fields["description"] = args.description
    return client.publish_layer_version(
        args.name, code_from_path(args.code), official=args.official, **fields
    )


def run_list(client: Client, args: argparse.Namespace) -> Any:
    layers: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = client.list_layers(official=args.official, next_token=token)
        layers += page.get("layers", [])
        token = page.get("nextToken")
        if not token:
            return Listing(layers, COLUMNS)
