"""Services: create, get (through a qualifier), update, delete and list (spec §3 routes 2-6)."""

from __future__ import annotations

import sqlite3
import uuid

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
    split_qualifier,
)
from fcd.store import docs
from fcd.wire.services import Service, ServiceInput, ServiceList, check_service

routes = Blueprint("services", __name__, url_prefix="/2016-08-15/services")

_service_decoder = msgspec.json.Decoder(Service)
# Service names: up to 128 characters (spec §2.2).
MAX_NAME = 128
TAG_QUERY_PREFIX = "tag_"


def decode_service(raw: bytes) -> Service:
    return _service_decoder.decode(raw)


def check_input(change: ServiceInput) -> None:
    """What this host cannot honour is refused before anything is stored.

    Raises:
        errors.InvalidArgument: naming the field and what to use instead.
    """
    config = ctx().config
    check_service(
        change, exports=config.nas.exports, mounts_possible=config.isolation == "namespaces"
    )


def apply_update(service: Service, change: ServiceInput, now: float) -> Service:
    """A partial update: fields that are absent (or null) keep their stored value.

    Raises:
        errors.InvalidArgument: ``description`` or ``role`` is longer than FC allows.
    """
    wire.check_length("description", change.description, wire.MAX_DESCRIPTION)
    wire.check_length("role", change.role, wire.MAX_ARN)
    updates = {
        field: value
        for field in ServiceInput.__struct_fields__
        if field != "service_name" and (value := getattr(change, field)) is not None
    }
    return msgspec.structs.replace(service, **updates, last_modified_time=wire.timestamp(now))


@routes.post("")
async def create_service() -> Response:
    change = await body(ServiceInput)
    name = check_name("serviceName", change.service_name, MAX_NAME)
    check_input(change)
    now = ctx().clock()
    created = wire.timestamp(now)
    service = apply_update(
        Service(
            service_name=name,
            service_id=str(uuid.uuid4()),
            created_time=created,
            last_modified_time=created,
        ),
        change,
        now,
    )

    def tx(conn: sqlite3.Connection) -> str:
        try:
            return docs.insert(conn, lookup.SERVICE, "", name, wire.encode(service))
        except sqlite3.IntegrityError:
            raise errors.ServiceAlreadyExists(f"service '{name}' already exists") from None

    etag = await ctx().store.write(tx)
    return json_response(service, etag=etag)


@routes.get("")
async def list_services() -> Response:
    tag_filter = {
        key[len(TAG_QUERY_PREFIX) :]: value
        for key, value in request.args.items()
        if key.startswith(TAG_QUERY_PREFIX)
    }
    query = list_query()
    if not tag_filter:
        found = ctx().store.read(lambda conn: docs.page(conn, lookup.SERVICE, "", **query))
        services = [decode_service(d.body) for d in found.docs]
        return json_response(ServiceList(services, found.next_token))
    # Tag filters apply before the limit: page through everything that matches.
    size = docs.clamp_limit(query.pop("limit"))
    matched: list[Service] = []
    next_token: str | None = None
    while True:
        found = ctx().store.read(
            lambda conn: docs.page(conn, lookup.SERVICE, "", **query, limit=docs.MAX_LIMIT)
        )
        for doc in found.docs:
            service = decode_service(doc.body)
            if _has_tags(service, tag_filter):
                if len(matched) == size:
                    next_token = service.service_name
                    break
                matched.append(service)
        if next_token is not None or found.next_token is None:
            break
        query["next_token"] = found.next_token
    return json_response(ServiceList(matched, next_token))


def _has_tags(service: Service, wanted: dict[str, str]) -> bool:
    """AND of every ``tag_k=v``; an empty value only asks that the key exists."""
    return all(
        key in service.tags and (value == "" or service.tags[key] == value)
        for key, value in wanted.items()
    )


@routes.get("/<service_and_qualifier>")
async def get_service(service_and_qualifier: str) -> Response:
    name, qualifier = split_qualifier(service_and_qualifier)

    def read(conn: sqlite3.Connection) -> tuple[Service, str]:
        latest = lookup.service_doc(conn, name)
        version_id = lookup.resolve_version(conn, name, qualifier)
        if version_id is None:
            return decode_service(latest.body), latest.etag
        # Through a version (or an alias), FC answers the version's description.
        frozen = lookup.snapshot(conn, name, version_id)
        service = decode_service(bytes(frozen.service))
        return msgspec.structs.replace(service, description=frozen.description), latest.etag

    service, etag = ctx().store.read(read)
    return json_response(service, etag=etag)


@routes.put("/<name>")
async def update_service(name: str) -> Response:
    change = await body(ServiceInput)
    check_input(change)
    now = ctx().clock()
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> tuple[Service, str]:
        current = lookup.service_doc(conn, name)
        check_if_match(wanted, current.etag)
        updated = apply_update(decode_service(current.body), change, now)
        return updated, docs.put(conn, lookup.SERVICE, "", name, wire.encode(updated))

    updated, etag = await ctx().store.write(tx)
    return json_response(updated, etag=etag)


@routes.delete("/<name>")
async def delete_service(name: str) -> Response:
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> None:
        current = lookup.service_doc(conn, name)
        check_if_match(wanted, current.etag)
        if docs.count(conn, lookup.FUNCTION, name):
            raise errors.ServiceNotEmpty(f"service '{name}' is not empty: it still has functions")
        if docs.count(conn, lookup.VERSION, name):
            raise errors.ServiceNotEmpty(
                f"service '{name}' is not empty: it still has published versions"
            )
        if docs.count(conn, lookup.ALIAS, name):
            raise errors.ServiceNotEmpty(f"service '{name}' is not empty: it still has aliases")
        docs.delete(conn, lookup.SERVICE, "", name)
        # Version ids are per incarnation of a service: a re-created one starts at 1 again.
        docs.reset_counter(conn, lookup.VERSION, name)

    await ctx().store.write(tx)
    return no_content()
