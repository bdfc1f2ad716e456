"""Functions: create, get and list (through a qualifier), update, delete, and their code
(spec §3 routes 7-12).

A function document holds everything about the function, its code digest and resolved layers
included (see :mod:`fcd.wire.functions`), because a published version copies the documents
verbatim and reads through ``svc.1`` or ``svc.alias`` must find the code of that moment.
The package itself goes through :func:`fcd.api.code.store_zip` before the transaction: it is
checked and unpacked off the event loop, and stored under its digest, so a failed transaction
leaves at most an unreferenced package behind.
"""

from __future__ import annotations

import hashlib
import sqlite3
import uuid
from collections.abc import Mapping

import msgspec
from quart import Blueprint, Response, request

from fcd import errors, wire
from fcd.api import lookup
from fcd.api.code import download_url, store_zip
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
from fcd.config import Config
from fcd.instances import runtimes
from fcd.store import docs
from fcd.store.code import CodeInfo
from fcd.wire import layers as wire_layers
from fcd.wire.functions import (
    MAX_FUNCTION_NAME,
    RUNTIMES,
    FunctionCode,
    FunctionInput,
    FunctionList,
    LayerCode,
    StoredFunction,
    apply_input,
    check_function,
    check_input,
    decode_response,
    decode_stored,
    resolv_conf,
)

routes = Blueprint("functions", __name__, url_prefix="/2016-08-15/services")

CHECKSUM_HEADER = "X-Fc-Code-Checksum"


def page_of(
    bodies: Mapping[str, bytes],
    *,
    prefix: str = "",
    start_key: str = "",
    next_token: str = "",
    limit: int | None = None,
) -> tuple[list[bytes], str | None]:
    """:func:`fcd.store.docs.page` over documents already in memory (a version's snapshot)."""
    size = docs.clamp_limit(limit)
    lower = next_token or start_key
    names = sorted(n for n in bodies if n >= lower and n.startswith(prefix))
    following = names[size] if len(names) > size else None
    return [bodies[n] for n in names[:size]], following


def resolve_layers(conn: sqlite3.Connection, refs: list[str], config: Config) -> list[LayerCode]:
    """Each layer reference (either ARN form) as its v2 ARN and package digest.

    Raises:
        errors.InvalidArgument: a reference is not an ARN of this account, or names a layer
            version that does not exist.
    """
    resolved: list[LayerCode] = []
    for ref in refs:
        official = wire_layers.parse_official_arn(ref, region=config.region)
        if official is not None:
            resolved.append(_official_layer(conn, ref, *official))
            continue
        parsed = wire_layers.parse_arn(ref, region=config.region, account_id=config.account_id)
        if parsed is None:
            raise errors.InvalidArgument(
                f"layers: '{ref}' is not a layer version ARN of this account "
                f"(acs:fc:{config.region}:{config.account_id}:layers/<name>/versions/<n>)"
            )
        name, version = parsed
        doc = docs.get(conn, lookup.LAYER_VERSION, name, lookup.version_key(version))
        if doc is None:
            raise errors.InvalidArgument(f"layers: layer version '{ref}' does not exist")
        layer = wire_layers.decode_stored(doc.body)
        resolved.append(LayerCode(arn=layer.arn_v2, sha256=layer.code_sha256))
    return resolved


def _official_layer(conn: sqlite3.Connection, ref: str, name: str, version: int) -> LayerCode:
    """An official layer version the operator published on this host.

    Raises:
        errors.InvalidArgument: it is not published here, naming how to publish it.
    """
    scope = wire_layers.version_scope(name, official=True)
    doc = docs.get(conn, lookup.LAYER_VERSION, scope, lookup.version_key(version))
    if doc is None:
        raise errors.InvalidArgument(
            f"layers: official layer '{ref}' is not published on this fcd: FC's official layers "
            "are not shipped with fcd; an operator publishes one with "
            f"'fcctl layer publish --official {name} --code <dir> --compatible-runtime <r>' "
            f"(it gets the next version number of {name}), or use a layer of your own"
        )
    layer = wire_layers.decode_stored(doc.body)
    return LayerCode(arn=layer.arn_v2, sha256=layer.code_sha256)


def _with_code(function: StoredFunction, info: CodeInfo | None) -> StoredFunction:
    if info is None:
        return function
    return msgspec.structs.replace(
        function, code_size=info.size, code_checksum=info.checksum, code_sha256=info.sha256
    )


def _with_layers(
    conn: sqlite3.Connection, function: StoredFunction, refs: list[str] | None, config: Config
) -> StoredFunction:
    if refs is None:
        return function
    resolved = resolve_layers(conn, refs, config)
    return msgspec.structs.replace(
        function,
        layers=list(refs),
        layers_arn_v2=[layer.arn for layer in resolved],
        layer_code=resolved,
    )


async def _code_of(change: FunctionInput) -> CodeInfo | None:
    if change.code is None:
        return None
    return await store_zip(change.code, request.headers.get(CHECKSUM_HEADER))


def _check_runnable(change: FunctionInput) -> None:
    """FC runtime names this host cannot run are refused now, not at every invoke.

    Raises:
        errors.InvalidArgument: naming the runtimes fcd runs.
    """
    if change.runtime is None or change.runtime not in RUNTIMES:
        return  # not an FC runtime name at all: check_input answers FC's own message
    if (why := runtimes.refusal(change.runtime)) is not None:
        raise errors.InvalidArgument(why)


def _respond(raw: bytes, etag: str | None) -> Response:
    return json_response(decode_response(raw), etag=etag)


def _check_host(change: FunctionInput) -> None:
    """customDNS and cpu need a sandbox (its own /etc, its cgroup): without isolation, none.

    Raises:
        errors.InvalidArgument
    """
    if ctx().config.isolation == "namespaces":
        return
    if resolv_conf(change.custom_dns) is not None:
        raise errors.InvalidArgument(
            'customDNS needs sandboxes: this daemon runs with isolation = "none", where '
            'functions use the host\'s /etc/resolv.conf; set isolation = "namespaces"'
        )
    if change.cpu is not None:
        raise errors.InvalidArgument(
            'cpu needs sandboxes: this daemon runs with isolation = "none", without cgroups '
            'for a CPU quota; set isolation = "namespaces"'
        )


@routes.post("/<service>/functions")
async def create_function(service: str) -> Response:
    change = await body(FunctionInput)
    name = check_name("functionName", change.function_name, MAX_FUNCTION_NAME)
    if change.runtime is None:
        raise errors.InvalidArgument("runtime is required")
    _check_runnable(change)
    check_input(change)
    _check_host(change)
    context = ctx()
    # Fail on a missing service before the (possibly large) package is checked and stored.
    context.store.read(lambda conn: lookup.service_doc(conn, service))
    info = await _code_of(change)
    created = wire.timestamp(context.clock())
    function = apply_input(
        StoredFunction(
            function_id=str(uuid.uuid4()),
            function_name=name,
            runtime=change.runtime,
            handler="",
            created_time=created,
            last_modified_time=created,
        ),
        change,
    )
    function = _with_code(function, info)
    check_function(function)

    def tx(conn: sqlite3.Connection) -> tuple[bytes, str]:
        lookup.service_doc(conn, service)
        stored = _with_layers(conn, function, change.layers, context.config)
        raw = wire.encode(stored)
        try:
            return raw, docs.insert(conn, lookup.FUNCTION, service, name, raw)
        except sqlite3.IntegrityError:
            raise errors.FunctionAlreadyExists(
                f"function '{name}' already exists in service '{service}'"
            ) from None

    raw, etag = await context.store.write(tx)
    return _respond(raw, etag)


@routes.get("/<service_and_qualifier>/functions")
async def list_functions(service_and_qualifier: str) -> Response:
    service, qualifier = split_qualifier(service_and_qualifier)
    query = list_query()

    def read(conn: sqlite3.Connection) -> tuple[list[bytes], str | None]:
        if lookup.resolve_version(conn, service, qualifier) is None:
            found = docs.page(conn, lookup.FUNCTION, service, **query)
            return [d.body for d in found.docs], found.next_token
        return page_of(lookup.function_bodies(conn, service, qualifier), **query)

    bodies, next_token = ctx().store.read(read)
    return json_response(FunctionList([decode_response(b) for b in bodies], next_token))


def _read_function(service_and_qualifier: str, function: str) -> tuple[bytes, str]:
    """A function's document through a qualifier, and its ETag (a snapshot's is its digest).

    Raises:
        errors.ServiceNotFound, errors.VersionNotFound, errors.AliasNotFound,
        errors.FunctionNotFound
    """
    service, qualifier = split_qualifier(service_and_qualifier)

    def read(conn: sqlite3.Connection) -> tuple[bytes, str]:
        if lookup.resolve_version(conn, service, qualifier) is None:
            doc = lookup.function_doc(conn, service, function)
            return doc.body, doc.etag
        raw = lookup.function_body(conn, service, qualifier, function)
        return raw, hashlib.md5(raw, usedforsecurity=False).hexdigest()

    return ctx().store.read(read)


@routes.get("/<service_and_qualifier>/functions/<function>")
async def get_function(service_and_qualifier: str, function: str) -> Response:
    raw, etag = _read_function(service_and_qualifier, function)
    return _respond(raw, etag)


@routes.get("/<service_and_qualifier>/functions/<function>/code")
async def get_function_code(service_and_qualifier: str, function: str) -> Response:
    raw, _ = _read_function(service_and_qualifier, function)
    stored = decode_stored(raw)
    url = await download_url(stored.code_sha256) if stored.code_sha256 else ""
    return json_response(FunctionCode(url=url, checksum=stored.code_checksum))


@routes.put("/<service>/functions/<function>")
async def update_function(service: str, function: str) -> Response:
    change = await body(FunctionInput)
    _check_runnable(change)
    check_input(change)
    _check_host(change)
    wanted = if_match_header()
    context = ctx()
    context.store.read(lambda conn: lookup.function_doc(conn, service, function))
    info = await _code_of(change)
    now = wire.timestamp(context.clock())

    def tx(conn: sqlite3.Connection) -> tuple[bytes, str]:
        current = lookup.function_doc(conn, service, function)
        check_if_match(wanted, current.etag)
        updated = apply_input(decode_stored(current.body), change)
        updated = _with_code(updated, info)
        updated = _with_layers(conn, updated, change.layers, context.config)
        updated = msgspec.structs.replace(updated, last_modified_time=now)
        check_function(updated)
        raw = wire.encode(updated)
        return raw, docs.put(conn, lookup.FUNCTION, service, function, raw)

    raw, etag = await context.store.write(tx)
    return _respond(raw, etag)


@routes.delete("/<service>/functions/<function>")
async def delete_function(service: str, function: str) -> Response:
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> None:
        current = lookup.function_doc(conn, service, function)
        check_if_match(wanted, current.etag)
        scope = lookup.function_scope(service, function)
        if docs.count(conn, lookup.TRIGGER, scope):
            raise errors.FunctionNotEmpty(f"function '{function}' has active triggers")
        docs.delete_scope(conn, lookup.ASYNC_CONFIG, scope)
        docs.delete(conn, lookup.FUNCTION, service, function)

    await ctx().store.write(tx)
    return no_content()
