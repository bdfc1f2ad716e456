"""Aliases: create, get, update, delete and list (spec §3 routes 22-26, §4.5).

An alias names a published version and may send a share of invocations to other versions
(``additionalVersionWeight``, chosen by :mod:`fcd.invocations.routing`). Every version it names
must exist when the alias is written. A weight on the main version itself is accepted and echoed,
as the official Python tests create ``{"1": 0.9}`` on version ``"1"`` (spec §4.5); weights must
lie in ``[0, 1]`` and add up to at most 1, because they are probabilities.
"""

from __future__ import annotations

import math
import sqlite3

import msgspec
from quart import Blueprint, Response

from fcd import errors, wire
from fcd.api import lookup
from fcd.api.context import ctx
from fcd.api.http import (
    body,
    check_if_match,
    check_name,
    if_match_header,
    json_response,
    list_query,
    no_content,
)
from fcd.store import docs
from fcd.wire.aliases import Alias, AliasInput, AliasList

routes = Blueprint("aliases", __name__, url_prefix="/2016-08-15/services/<service>/aliases")

_alias_decoder = msgspec.json.Decoder(Alias)
# Alias names: 1..128 characters (spec §8), never LATEST (it names the unpublished state).
MAX_NAME = 128
# Weights are floats from JSON: allow rounding when several add up to exactly 1.
WEIGHT_TOLERANCE = 1e-9


def _version_id(value: str | int | None, field: str = "versionId") -> str | None:
    """A version id as its canonical decimal string.

    Raises:
        errors.InvalidArgument: not a non-negative decimal number.
    """
    if value is None:
        return None
    text = str(value)
    if not lookup.is_version_id(text):
        raise errors.InvalidArgument(f"{field} must be a version id such as '1', got '{text}'")
    return str(int(text))


def check_weights(weights: dict[str, float]) -> dict[str, float]:
    """Validate ``additionalVersionWeight``; return it with canonical version ids as keys.

    Raises:
        errors.InvalidArgument: a key is not a version id, a weight is outside [0, 1], or the
            weights add up to more than 1.
    """
    checked: dict[str, float] = {}
    for key, weight in weights.items():
        version = _version_id(key, "additionalVersionWeight")
        assert version is not None
        if not (math.isfinite(weight) and 0.0 <= weight <= 1.0):
            raise errors.InvalidArgument(
                f"additionalVersionWeight of version '{key}' must be between 0 and 1, got {weight}"
            )
        checked[version] = weight
    if sum(checked.values()) > 1.0 + WEIGHT_TOLERANCE:
        raise errors.InvalidArgument("additionalVersionWeight values must add up to at most 1")
    return checked


def _require_versions(conn: sqlite3.Connection, service: str, alias: Alias) -> None:
    """Raises: errors.VersionNotFound for the first version the alias names that is missing."""
    for version in (alias.version_id, *alias.additional_version_weight):
        lookup.version_doc(conn, service, version)


def _alias_doc(conn: sqlite3.Connection, service: str, name: str) -> docs.Doc:
    """Raises: errors.ServiceNotFound, errors.AliasNotFound."""
    lookup.service_doc(conn, service)
    doc = docs.get(conn, lookup.ALIAS, service, name)
    if doc is None:
        raise errors.AliasNotFound(f"alias '{name}' of service '{service}' does not exist")
    return doc


@routes.post("")
async def create_alias(service: str) -> Response:
    change = await body(AliasInput)
    wire.check_length("description", change.description, wire.MAX_DESCRIPTION)
    name = check_name("aliasName", change.alias_name, MAX_NAME)
    if name == lookup.LATEST:
        raise errors.InvalidArgument("aliasName 'LATEST' is reserved")
    version_id = _version_id(change.version_id)
    if version_id is None:
        raise errors.InvalidArgument("versionId is required")
    created = wire.timestamp(ctx().clock())
    alias = Alias(
        alias_name=name,
        version_id=version_id,
        created_time=created,
        last_modified_time=created,
        description=change.description or "",
        additional_version_weight=check_weights(change.additional_version_weight or {}),
    )

    def tx(conn: sqlite3.Connection) -> str:
        lookup.service_doc(conn, service)
        if docs.get(conn, lookup.ALIAS, service, name) is not None:
            raise errors.AliasAlreadyExists(f"alias '{name}' of service '{service}' already exists")
        _require_versions(conn, service, alias)
        return docs.insert(conn, lookup.ALIAS, service, name, wire.encode(alias))

    etag = await ctx().store.write(tx)
    return json_response(alias, etag=etag)


@routes.get("")
async def list_aliases(service: str) -> Response:
    query = list_query()

    def read(conn: sqlite3.Connection) -> docs.Page:
        lookup.service_doc(conn, service)
        return docs.page(conn, lookup.ALIAS, service, **query)

    found = ctx().store.read(read)
    aliases = [_alias_decoder.decode(d.body) for d in found.docs]
    return json_response(AliasList(aliases, found.next_token))


@routes.get("/<name>")
async def get_alias(service: str, name: str) -> Response:
    doc = ctx().store.read(lambda conn: _alias_doc(conn, service, name))
    return json_response(_alias_decoder.decode(doc.body), etag=doc.etag)


@routes.put("/<name>")
async def update_alias(service: str, name: str) -> Response:
    """A partial update: ``versionId`` omitted keeps the version; ``description: ""`` clears it;
    ``additionalVersionWeight`` given replaces the whole map (``{}`` removes every weight)."""
    change = await body(AliasInput)
    wire.check_length("description", change.description, wire.MAX_DESCRIPTION)
    version_id = _version_id(change.version_id)
    weights = (
        None
        if change.additional_version_weight is None
        else check_weights(change.additional_version_weight)
    )
    now = wire.timestamp(ctx().clock())
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> tuple[Alias, str]:
        current = _alias_doc(conn, service, name)
        check_if_match(wanted, current.etag)
        alias = _alias_decoder.decode(current.body)
        updates: dict[str, object] = {"last_modified_time": now}
        if version_id is not None:
            updates["version_id"] = version_id
        if change.description is not None:
            updates["description"] = change.description
        if weights is not None:
            updates["additional_version_weight"] = weights
        alias = msgspec.structs.replace(alias, **updates)
        _require_versions(conn, service, alias)
        return alias, docs.put(conn, lookup.ALIAS, service, name, wire.encode(alias))

    alias, etag = await ctx().store.write(tx)
    return json_response(alias, etag=etag)


@routes.delete("/<name>")
async def delete_alias(service: str, name: str) -> Response:
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> None:
        current = _alias_doc(conn, service, name)
        check_if_match(wanted, current.etag)
        docs.delete(conn, lookup.ALIAS, service, name)

    await ctx().store.write(tx)
    return no_content()
