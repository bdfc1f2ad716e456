"""Layers: publish, list, get (by name or ARN), delete versions, and the ACL (spec §3 routes
51-59, §4.9).

Documents: each version is a ``layer_version`` document (scope: the layer name, name: the
zero-padded version), and the ``layer`` document of the same name is a copy of the newest
version, so ListLayers ("the latest version of each layer") is one ordered page. Version numbers
come from a per-layer counter and are never reused, even after a delete. A layer's code is a
package in the code store, like a function's; functions that use a version keep its digest, so
deleting the version does not break them (FC behaves the same).
"""

from __future__ import annotations

import sqlite3

import msgspec
from quart import Blueprint, Response, request

from fcd import errors, wire
from fcd.api import lookup
from fcd.api.code import download_url, store_zip
from fcd.api.context import ctx
from fcd.api.functions import CHECKSUM_HEADER, page_of
from fcd.api.http import body, check_name, json_response, list_query, no_content, query_int
from fcd.store import docs
from fcd.wire import MAX_DESCRIPTION, check_length
from fcd.wire import layers as wl
from fcd.wire.functions import RUNTIMES

routes = Blueprint("layers", __name__, url_prefix="/2016-08-15")


def _not_found(name: str, version: int | str | None = None) -> errors.LayerNotFound:
    if version is None:
        return errors.LayerNotFound(f"layer '{name}' does not exist")
    return errors.LayerNotFound(f"version {version} of layer '{name}' does not exist")


def _version_number(raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise errors.InvalidArgument(f"layer version '{raw}' is invalid: it must be 1 or more")
    return int(raw)


async def _respond(stored: wl.StoredLayer, etag: str | None = None) -> Response:
    return json_response(await _public(stored), etag=etag)


async def _public(stored: wl.StoredLayer) -> wl.Layer:
    """The response shape: internal fields dropped, ``code.location`` a fresh download URL."""
    fields = {name: getattr(stored, name) for name in wl.Layer.__struct_fields__}
    fields["code"] = wl.CodeLocation(location=await download_url(stored.code_sha256))
    return wl.Layer(**fields)


def _check_runtimes(runtimes: list[str] | None) -> list[str]:
    if not runtimes:
        raise errors.InvalidArgument("compatibleRuntime is required: list at least one runtime")
    for runtime in runtimes:
        if runtime not in RUNTIMES:
            raise errors.InvalidArgument(
                f"compatibleRuntime: '{runtime}' is not a valid runtime "
                "(Runtime is set to an invalid value)"
            )
    return list(runtimes)


def _official() -> bool:
    """``?official=true``: fcd's extension for the operator's copies of FC's official layers."""
    return request.args.get("official") == "true"


@routes.post("/layers/<name>/versions")
async def publish_layer_version(name: str) -> Response:
    check_name("layerName", name, wl.MAX_LAYER_NAME)
    official = _official()
    scope = wl.version_scope(name, official=official)
    list_scope = wl.OFFICIAL_LIST_SCOPE if official else ""
    change = await body(wl.PublishLayerInput)
    runtimes = _check_runtimes(change.compatible_runtime)
    description = change.description or ""
    check_length("description", description, MAX_DESCRIPTION)
    if change.code is None:
        raise errors.InvalidArgument("code is required (code.zipFile)")
    info = await store_zip(change.code, request.headers.get(CHECKSUM_HEADER))
    context = ctx()
    config = context.config
    created = wire.timestamp(context.clock())

    owner = wl.OFFICIAL if official else config.account_id

    def tx(conn: sqlite3.Connection) -> tuple[wl.StoredLayer, str]:
        latest = docs.get(conn, lookup.LAYER, list_scope, name)
        public = official or (latest is not None and wl.decode_stored(latest.body).acl)
        acl = wl.ACL_PUBLIC if public else wl.ACL_PRIVATE
        version = docs.next_counter(conn, lookup.LAYER_VERSION, scope)
        layer = wl.StoredLayer(
            layer_name=name,
            version=version,
            arn=wl.arn_v1(owner, name, version),
            arn_v2=wl.arn_v2(config.region, owner, name, version),
            create_time=created,
            description=description,
            code_size=info.size,
            code_checksum=info.checksum,
            acl=acl,
            compatible_runtime=runtimes,
            license=change.license,
            code_sha256=info.sha256,
        )
        raw = wire.encode(layer)
        etag = docs.insert(conn, lookup.LAYER_VERSION, scope, lookup.version_key(version), raw)
        docs.put(conn, lookup.LAYER, list_scope, name, raw)
        return layer, etag

    layer, etag = await context.store.write(tx)
    return await _respond(layer, etag)


@routes.get("/layers")
async def list_layers() -> Response:
    """The newest version of each layer; ``public=true`` keeps public layers only, and
    ``official=true`` lists the official layers the operator published."""
    query = list_query()
    if _official():

        def official(conn: sqlite3.Connection) -> tuple[list[bytes], str | None]:
            found = docs.page(conn, lookup.LAYER, wl.OFFICIAL_LIST_SCOPE, **query)
            return [d.body for d in found.docs], found.next_token

        bodies, token = ctx().store.read(official)
        return json_response(
            wl.LayerList([await _public(wl.decode_stored(b)) for b in bodies], token)
        )
    public_only = request.args.get("public") == "true"

    def read(conn: sqlite3.Connection) -> tuple[list[bytes], str | None]:
        if not public_only:
            found = docs.page(conn, lookup.LAYER, "", **query)
            return [d.body for d in found.docs], found.next_token
        public = {
            d.name: d.body
            for d in docs.all_in(conn, lookup.LAYER, "")
            if wl.decode_stored(d.body).acl == wl.ACL_PUBLIC
        }
        return page_of(public, **query)

    bodies, next_token = ctx().store.read(read)
    layers = [await _public(wl.decode_stored(b)) for b in bodies]
    return json_response(wl.LayerList(layers, next_token))


@routes.get("/layers/<name>/versions")
async def list_layer_versions(name: str) -> Response:
    start = query_int("startVersion", 1) or 1
    size = docs.clamp_limit(query_int("limit"))

    def read(conn: sqlite3.Connection) -> list[docs.Doc]:
        found = docs.all_in(conn, lookup.LAYER_VERSION, name)
        if not found:
            raise _not_found(name)
        return found

    versions = [wl.decode_stored(d.body) for d in ctx().store.read(read)]
    selected = [v for v in versions if v.version >= start]
    next_version = selected[size].version if len(selected) > size else None
    layers = [await _public(v) for v in selected[:size]]
    return json_response(wl.LayerVersionList(layers, next_version))


def _get_version(
    conn: sqlite3.Connection, name: str, version: int, *, official: bool = False
) -> docs.Doc:
    scope = wl.version_scope(name, official=official)
    doc = docs.get(conn, lookup.LAYER_VERSION, scope, lookup.version_key(version))
    if doc is None:
        raise _not_found(name, version)
    return doc


@routes.get("/layers/<name>/versions/<version>")
async def get_layer_version(name: str, version: str) -> Response:
    number = _version_number(version)
    doc = ctx().store.read(lambda conn: _get_version(conn, name, number))
    return await _respond(wl.decode_stored(doc.body), doc.etag)


@routes.get("/layerarn/<path:arn>")
async def get_layer_version_by_arn(arn: str) -> Response:
    config = ctx().config
    official = wl.parse_official_arn(arn, region=config.region)
    parsed = official or wl.parse_arn(arn, region=config.region, account_id=config.account_id)
    if parsed is None:
        raise errors.LayerNotFound(f"layer version '{arn}' does not exist")
    name, number = parsed
    doc = ctx().store.read(
        lambda conn: _get_version(conn, name, number, official=official is not None)
    )
    return await _respond(wl.decode_stored(doc.body), doc.etag)


def _delete_version(
    conn: sqlite3.Connection, name: str, version: int, *, official: bool = False
) -> None:
    """Delete a version and keep the ``layer`` document equal to the newest one left."""
    scope = wl.version_scope(name, official=official)
    list_scope = wl.OFFICIAL_LIST_SCOPE if official else ""
    if not docs.delete(conn, lookup.LAYER_VERSION, scope, lookup.version_key(version)):
        raise _not_found(name, version)
    remaining = docs.all_in(conn, lookup.LAYER_VERSION, scope)
    if remaining:
        docs.put(conn, lookup.LAYER, list_scope, name, remaining[-1].body)
    else:
        docs.delete(conn, lookup.LAYER, list_scope, name)


@routes.delete("/layers/<name>/versions/<version>")
async def delete_layer_version(name: str, version: str) -> Response:
    number = _version_number(version)
    official = _official()
    await ctx().store.write(lambda conn: _delete_version(conn, name, number, official=official))
    return no_content()


@routes.post("/adminlayers/<owner>/<name>/versions/<version>")
async def permanent_delete_layer_version(owner: str, name: str, version: str) -> Response:
    """Go's PermanentDeleteLayerVersion: an admin delete of another account's layer; on fcd
    there is one account, and the owner must be it."""
    number = _version_number(version)
    if owner != ctx().config.account_id:
        raise _not_found(name, number)
    await ctx().store.write(lambda conn: _delete_version(conn, name, number))
    return Response(b"", status=200, content_type="text/plain")


def _set_acl(conn: sqlite3.Connection, name: str, acl: int, version: int | None) -> None:
    """Set ``acl`` on one version, or on every version and the layer when ``version`` is None."""
    found = docs.all_in(conn, lookup.LAYER_VERSION, name)
    if not found:
        raise _not_found(name)
    keys = {d.name for d in found}
    if version is not None and lookup.version_key(version) not in keys:
        raise _not_found(name, version)
    for doc in found:
        if version is None or doc.name == lookup.version_key(version):
            layer = msgspec.structs.replace(wl.decode_stored(doc.body), acl=acl)
            docs.put(conn, lookup.LAYER_VERSION, name, doc.name, wire.encode(layer))
    newest = docs.all_in(conn, lookup.LAYER_VERSION, name)[-1]
    docs.put(conn, lookup.LAYER, "", name, newest.body)


@routes.put("/layers/<name>/acl")
async def put_layer_acl(name: str) -> Response:
    public = request.args.get("public", "")
    if public not in ("true", "false"):
        raise errors.InvalidArgument("query parameter 'public' must be 'true' or 'false'")
    acl = wl.ACL_PUBLIC if public == "true" else wl.ACL_PRIVATE
    await ctx().store.write(lambda conn: _set_acl(conn, name, acl, None))
    return Response(b"", status=200, content_type="text/plain")


@routes.post("/layers/<name>/versions/<version>")
async def publish_public_layer_version(name: str, version: str) -> Response:
    """Go's PublishPublicLayerVersion: make one version public."""
    number = _version_number(version)
    await ctx().store.write(lambda conn: _set_acl(conn, name, wl.ACL_PUBLIC, number))
    return Response(b"", status=200, content_type="text/plain")
