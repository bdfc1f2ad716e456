"""Where resources are stored and the shapes every layer reads back: document kinds, version
snapshots and alias targets.

The management API (:mod:`fcd.api.lookup`, which re-exports all of this) writes these documents;
the invoke path (:mod:`fcd.invocations.catalog`) reads them and may not import the API, so the
shared part lives here, in the store layer. See :mod:`fcd.api.lookup` for the table of kinds,
scopes and names.
"""

from __future__ import annotations

import msgspec

SERVICE = "service"
FUNCTION = "function"
TRIGGER = "trigger"
VERSION = "version"
ALIAS = "alias"
CUSTOM_DOMAIN = "custom_domain"
LAYER = "layer"
LAYER_VERSION = "layer_version"
PROVISION = "provision"
ON_DEMAND = "on_demand"
ASYNC_CONFIG = "async_config"

LATEST = "LATEST"


class VersionSnapshot(msgspec.Struct, rename="camel"):
    """What a published version stores: its metadata and the frozen service and functions."""

    version_id: str
    description: str
    created_time: str
    last_modified_time: str
    service: msgspec.Raw
    functions: dict[str, msgspec.Raw]
    # Digest of the service and functions at publish time: publishing an unchanged service fails.
    digest: str = ""


class AliasTarget(msgspec.Struct, rename="camel"):
    """The part of an alias document that routing reads."""

    version_id: str
    additional_version_weight: dict[str, float] = msgspec.field(default_factory=dict)


_snapshot_decoder = msgspec.json.Decoder(VersionSnapshot)
_alias_decoder = msgspec.json.Decoder(AliasTarget)


def is_version_id(text: str) -> bool:
    """Version ids are ASCII decimal numbers (``str.isdigit`` alone also accepts ``"²"``)."""
    return text.isascii() and text.isdigit()


def version_key(version_id: str | int) -> str:
    """Version ids sort as numbers: store them zero-padded."""
    return f"{int(version_id):010d}"


def decode_snapshot(raw: bytes) -> VersionSnapshot:
    return _snapshot_decoder.decode(raw)


def alias_target(raw: bytes) -> AliasTarget:
    """The routing part of a stored alias document."""
    return _alias_decoder.decode(raw)
