"""Service versions: publish, list and delete (spec §3 routes 19-21, §4.4).

A version is an immutable snapshot of the service and every function document, stored verbatim
(:class:`~fcd.api.lookup.VersionSnapshot`), so reads through ``svc.<version>`` decode the same
shapes as LATEST. Triggers are not part of it. Version ids come from a per-service counter and
are never reused, even after a delete.

Publishing when nothing changed since the newest existing version fails with
``400 InvalidArgument``: FC refuses it (PYT:version_test.py) but no source names the code, and
InvalidArgument is what clients already handle for a request that cannot be honoured as sent.
"Changed" compares content, not edit history: a digest of the service and function documents
without ``createdTime``/``lastModifiedTime`` (which move on every update) and without the
service's ``tags`` (tags are not versioned configuration). So an update that sets a field to its
current value does not make a new version possible, while a changed code checksum does.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping
from typing import Any

import msgspec
from quart import Blueprint, Response

from fcd import errors, wire
from fcd.api import lookup
from fcd.api.context import ctx
from fcd.api.http import (
    body,
    check_if_match,
    if_match_header,
    json_response,
    no_content,
    query_int,
    query_str,
)
from fcd.store import docs
from fcd.wire.versions import BACKWARD, DIRECTIONS, FORWARD, Version, VersionInput, VersionList

routes = Blueprint("versions", __name__, url_prefix="/2016-08-15/services/<service>/versions")

# Fields that change on every write without changing what a version would run.
VOLATILE_FIELDS = frozenset({"createdTime", "lastModifiedTime"})
# Service fields that are not versioned configuration.
SERVICE_UNVERSIONED_FIELDS = VOLATILE_FIELDS | {"tags"}

_json_decoder = msgspec.json.Decoder()
_canonical_encoder = msgspec.json.Encoder(order="sorted")


def content_digest(service: bytes, functions: Mapping[str, bytes]) -> str:
    """A digest of what a version would freeze, blind to timestamps and tags (see module doc)."""
    digest = hashlib.sha256()
    digest.update(_canonical(service, SERVICE_UNVERSIONED_FIELDS))
    for name in sorted(functions):
        digest.update(b"\0" + name.encode() + b"\0")
        digest.update(_canonical(functions[name], VOLATILE_FIELDS))
    return digest.hexdigest()


def _canonical(raw: bytes, dropped: frozenset[str]) -> bytes:
    document: dict[str, Any] = _json_decoder.decode(raw)
    return _canonical_encoder.encode({k: v for k, v in document.items() if k not in dropped})


def version_view(snapshot: lookup.VersionSnapshot) -> Version:
    return Version(
        version_id=snapshot.version_id,
        description=snapshot.description,
        created_time=snapshot.created_time,
        last_modified_time=snapshot.last_modified_time,
    )


@routes.post("")
async def publish_version(service: str) -> Response:
    change = await body(VersionInput)
    wire.check_length("description", change.description, wire.MAX_DESCRIPTION)
    wanted = if_match_header()
    published = wire.timestamp(ctx().clock())

    def tx(conn: sqlite3.Connection) -> tuple[lookup.VersionSnapshot, str]:
        current = lookup.service_doc(conn, service)
        check_if_match(wanted, current.etag)
        functions = {d.name: d.body for d in docs.all_in(conn, lookup.FUNCTION, service)}
        digest = content_digest(current.body, functions)
        newest = lookup.newest_version(conn, service)
        if newest is not None and newest.digest == digest:
            raise errors.InvalidArgument(
                f"can not publish a version of service '{service}': nothing has changed "
                f"since version {newest.version_id}"
            )
        version_id = str(docs.next_counter(conn, lookup.VERSION, service))
        snapshot = lookup.VersionSnapshot(
            version_id=version_id,
            description=change.description or "",
            created_time=published,
            last_modified_time=published,
            service=msgspec.Raw(current.body),
            functions={name: msgspec.Raw(raw) for name, raw in functions.items()},
            digest=digest,
        )
        key = lookup.version_key(version_id)
        etag = docs.insert(conn, lookup.VERSION, service, key, wire.encode(snapshot))
        return snapshot, etag

    snapshot, etag = await ctx().store.write(tx)
    return json_response(version_view(snapshot), etag=etag)


@routes.get("")
async def list_versions(service: str) -> Response:
    direction = (query_str("direction") or BACKWARD).upper()
    if direction not in DIRECTIONS:
        raise errors.InvalidArgument(
            f"direction must be {BACKWARD} or {FORWARD}, got '{direction}'"
        )
    # Tokens and start keys are version ids; stored names are zero-padded ids.
    bounds = {key: _version_bound(key) for key in ("startKey", "nextToken")}
    limit = query_int("limit")

    def read(conn: sqlite3.Connection) -> docs.Page:
        lookup.service_doc(conn, service)
        return docs.page(
            conn,
            lookup.VERSION,
            service,
            start_key=bounds["startKey"],
            next_token=bounds["nextToken"],
            limit=limit,
            descending=direction == BACKWARD,
        )

    found = ctx().store.read(read)
    versions = [version_view(lookup.decode_snapshot(d.body)) for d in found.docs]
    next_token = str(int(found.next_token)) if found.next_token else None
    return json_response(VersionList(versions, direction, next_token))


def _version_bound(parameter: str) -> str:
    """A ``startKey``/``nextToken`` query value as a stored name ("" when absent).

    Raises:
        errors.InvalidArgument: the value is not a version id.
    """
    value = query_str(parameter)
    if not value:
        return ""
    if not lookup.is_version_id(value):
        raise errors.InvalidArgument(f"{parameter} must be a version id, got '{value}'")
    return lookup.version_key(value)


@routes.delete("/<version_id>")
async def delete_version(service: str, version_id: str) -> Response:
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> None:
        lookup.service_doc(conn, service)
        doc = lookup.version_doc(conn, service, version_id)
        check_if_match(wanted, doc.etag)
        # FC deletes a version even while aliases point at it (the official SDKs' clean-up
        # deletes versions before aliases; see docs/api-compat.md). The aliases stay, and
        # reads or invocations through them answer VersionNotFound until they are updated.
        docs.delete(conn, lookup.VERSION, service, doc.name)

    await ctx().store.write(tx)
    return no_content()
