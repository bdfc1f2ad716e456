"""Triggers: create, get, update, delete and list (spec §3 routes 14-18, §4.3).

Triggers belong to the LATEST function (they are not part of versions) and carry their own
``qualifier`` (LATEST, a version or an alias, which must exist). This module only stores them;
firing HTTP, timer and OSS triggers is the job of other components, which read the same
documents. ``triggerConfig`` is kept byte-for-byte in meaning (see :mod:`fcd.wire.triggers`).

A function has at most one HTTP trigger per qualifier: a second one is refused with
``400 LimitExceededError``, FC's code for per-resource count limits.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

import msgspec
from quart import Blueprint, Response, request

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
from fcd.wire.triggers import (
    HTTP,
    TRIGGER_TYPES,
    Trigger,
    TriggerInput,
    TriggerList,
    config_value,
    validate_config,
)

routes = Blueprint(
    "triggers",
    __name__,
    url_prefix="/2016-08-15/services/<service>/functions/<function>/triggers",
)

_trigger_decoder = msgspec.json.Decoder(Trigger)
# Trigger names: 1..128 characters (spec §8).
MAX_NAME = 128


def decode_trigger(raw: bytes) -> Trigger:
    return _trigger_decoder.decode(raw)


def _qualifier(conn: sqlite3.Connection, service: str, qualifier: str | None) -> str:
    """The stored qualifier: LATEST when absent; a version or alias must exist.

    Raises:
        errors.VersionNotFound, errors.AliasNotFound
    """
    if not qualifier or qualifier == lookup.LATEST:
        return lookup.LATEST
    resolved = lookup.resolve_version(conn, service, qualifier)
    if lookup.is_version_id(qualifier) and resolved is not None:
        return resolved  # "01" is stored as "1"
    return qualifier


def _check_single_http(conn: sqlite3.Connection, scope: str, trigger: Trigger) -> None:
    """Raises: errors.LimitExceeded when another HTTP trigger serves the same qualifier."""
    if trigger.trigger_type != HTTP:
        return
    for doc in docs.all_in(conn, lookup.TRIGGER, scope):
        other = decode_trigger(doc.body)
        if (
            other.trigger_name != trigger.trigger_name
            and other.trigger_type == HTTP
            and other.qualifier == trigger.qualifier
        ):
            raise errors.LimitExceeded(
                f"function '{scope}' already has the HTTP trigger '{other.trigger_name}' for "
                f"qualifier '{trigger.qualifier}'; a function has at most one per qualifier"
            )


def _trigger_doc(conn: sqlite3.Connection, service: str, function: str, name: str) -> docs.Doc:
    """Raises: errors.ServiceNotFound, errors.FunctionNotFound, errors.TriggerNotFound."""
    lookup.function_doc(conn, service, function)
    doc = docs.get(conn, lookup.TRIGGER, lookup.function_scope(service, function), name)
    if doc is None:
        raise errors.TriggerNotFound(
            f"trigger '{name}' does not exist in function '{function}' of service '{service}'"
        )
    return doc


def with_urls(trigger: Trigger, service: str, function: str) -> Trigger:
    """An HTTP trigger's response carries the URL that invokes it, on the host the client used."""
    if trigger.trigger_type != HTTP:
        return trigger
    url = (
        f"{request.scheme}://{request.host}/2016-08-15/proxy/"
        f"{service}.{trigger.qualifier}/{function}/"
    )
    internet = None if config_value(trigger.trigger_config, "disableURLInternet") else url
    return msgspec.structs.replace(trigger, url_internet=internet, url_intranet=url)


def _check_lengths(change: TriggerInput) -> None:
    """Raises: errors.InvalidArgument naming a field longer than FC allows."""
    wire.check_length("description", change.description, wire.MAX_DESCRIPTION)
    wire.check_length("invocationRole", change.invocation_role, wire.MAX_ARN)
    wire.check_length("sourceArn", change.source_arn, wire.MAX_ARN)


def _config(trigger_type: str, config: Any) -> Any:
    """Raises: errors.InvalidArgument (missing or invalid ``triggerConfig``)."""
    if config is None:
        raise errors.InvalidArgument("triggerConfig is required")
    validate_config(trigger_type, config)
    return config


@routes.post("")
async def create_trigger(service: str, function: str) -> Response:
    change = await body(TriggerInput)
    name = check_name("triggerName", change.trigger_name, MAX_NAME)
    _check_lengths(change)
    trigger_type = change.trigger_type
    if trigger_type not in TRIGGER_TYPES:
        raise errors.InvalidArgument(
            f"triggerType {trigger_type!r} is invalid; valid types: "
            f"{', '.join(sorted(TRIGGER_TYPES))}"
        )
    config = _config(trigger_type, change.trigger_config)
    created = wire.timestamp(ctx().clock())
    scope = lookup.function_scope(service, function)

    def tx(conn: sqlite3.Connection) -> tuple[Trigger, str]:
        lookup.function_doc(conn, service, function)
        if docs.get(conn, lookup.TRIGGER, scope, name) is not None:
            raise errors.TriggerAlreadyExists(
                f"trigger '{name}' already exists in function '{function}' of service '{service}'"
            )
        trigger = Trigger(
            trigger_name=name,
            trigger_id=str(uuid.uuid4()),
            trigger_type=trigger_type,
            trigger_config=config,
            created_time=created,
            last_modified_time=created,
            description=change.description or "",
            source_arn=None if trigger_type == HTTP else change.source_arn,
            invocation_role=change.invocation_role or "",
            qualifier=_qualifier(conn, service, change.qualifier),
        )
        _check_single_http(conn, scope, trigger)
        return trigger, docs.insert(conn, lookup.TRIGGER, scope, name, wire.encode(trigger))

    trigger, etag = await ctx().store.write(tx)
    return json_response(with_urls(trigger, service, function), etag=etag)


@routes.get("")
async def list_triggers(service: str, function: str) -> Response:
    query = list_query()
    scope = lookup.function_scope(service, function)

    def read(conn: sqlite3.Connection) -> docs.Page:
        lookup.function_doc(conn, service, function)
        return docs.page(conn, lookup.TRIGGER, scope, **query)

    found = ctx().store.read(read)
    triggers = [with_urls(decode_trigger(d.body), service, function) for d in found.docs]
    return json_response(TriggerList(triggers, found.next_token))


@routes.get("/<name>")
async def get_trigger(service: str, function: str, name: str) -> Response:
    doc = ctx().store.read(lambda conn: _trigger_doc(conn, service, function, name))
    return json_response(with_urls(decode_trigger(doc.body), service, function), etag=doc.etag)


@routes.put("/<name>")
async def update_trigger(service: str, function: str, name: str) -> Response:
    """A partial update of ``triggerConfig``, ``invocationRole``, ``description`` and
    ``qualifier``; the name, type and source are fixed at creation."""
    change = await body(TriggerInput)
    _check_lengths(change)
    now = wire.timestamp(ctx().clock())
    wanted = if_match_header()
    scope = lookup.function_scope(service, function)

    def tx(conn: sqlite3.Connection) -> tuple[Trigger, str]:
        current = _trigger_doc(conn, service, function, name)
        check_if_match(wanted, current.etag)
        trigger = decode_trigger(current.body)
        updates: dict[str, Any] = {"last_modified_time": now}
        if change.trigger_config is not None:
            updates["trigger_config"] = _config(trigger.trigger_type, change.trigger_config)
        if change.invocation_role is not None:
            updates["invocation_role"] = change.invocation_role
        if change.description is not None:
            updates["description"] = change.description
        if change.qualifier is not None:
            updates["qualifier"] = _qualifier(conn, service, change.qualifier)
        trigger = msgspec.structs.replace(trigger, **updates)
        _check_single_http(conn, scope, trigger)
        return trigger, docs.put(conn, lookup.TRIGGER, scope, name, wire.encode(trigger))

    trigger, etag = await ctx().store.write(tx)
    return json_response(with_urls(trigger, service, function), etag=etag)


@routes.delete("/<name>")
async def delete_trigger(service: str, function: str, name: str) -> Response:
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> None:
        current = _trigger_doc(conn, service, function, name)
        check_if_match(wanted, current.etag)
        docs.delete(conn, lookup.TRIGGER, lookup.function_scope(service, function), name)

    await ctx().store.write(tx)
    return no_content()
