"""Finding resources, qualifiers included: the one place that knows where each kind is stored.

Document kinds and scopes (see :mod:`fcd.store.docs`):

==================  ======================  ==========================================
kind                scope                   name
==================  ======================  ==========================================
``service``         ``""``                  service name
``function``        service                 function name
``trigger``         ``service/function``    trigger name
``version``         service                 version id, zero-padded (:func:`version_key`)
``alias``           service                 alias name
``custom_domain``   ``""``                  domain name
``layer``           ``""``                  layer name
``layer_version``   layer name              version, zero-padded
``provision``       ``""``                  ``service#qualifier#function``
``on_demand``       ``""``                  ``services/svc.q/functions/fn``
``async_config``    ``service/function``    qualifier
==================  ======================  ==========================================

A published version's document is a snapshot (:class:`VersionSnapshot`): the version's own
fields plus the service and every function exactly as they were stored when it was published,
as raw JSON, so reading ``svc.3`` decodes the same shapes as reading ``svc``.
"""

from __future__ import annotations

import sqlite3

from fcd import errors
from fcd.store import docs

# The document kinds and the shapes every layer reads live in the store layer (the invoke
# path reads them too and may not import the API); they are re-exported here unchanged.
from fcd.store.resources import (
    ALIAS,
    ASYNC_CONFIG,
    CUSTOM_DOMAIN,
    FUNCTION,
    LATEST,
    LAYER,
    LAYER_VERSION,
    ON_DEMAND,
    PROVISION,
    SERVICE,
    TRIGGER,
    VERSION,
    AliasTarget,
    VersionSnapshot,
    alias_target,
    decode_snapshot,
    is_version_id,
    version_key,
)

# Everything public, the re-exported names included (mypy --strict needs them listed).
__all__ = [
    "ALIAS",
    "ASYNC_CONFIG",
    "CUSTOM_DOMAIN",
    "FUNCTION",
    "LATEST",
    "LAYER",
    "LAYER_VERSION",
    "ON_DEMAND",
    "PROVISION",
    "SERVICE",
    "TRIGGER",
    "VERSION",
    "AliasTarget",
    "VersionSnapshot",
    "alias_target",
    "aliases_using",
    "decode_snapshot",
    "function_bodies",
    "function_body",
    "function_doc",
    "function_scope",
    "is_version_id",
    "newest_version",
    "resolve_version",
    "service_body",
    "service_doc",
    "snapshot",
    "version_doc",
    "version_key",
]


def function_scope(service: str, function: str) -> str:
    return f"{service}/{function}"


def service_doc(conn: sqlite3.Connection, service: str) -> docs.Doc:
    """The LATEST service document.

    Raises:
        errors.ServiceNotFound
    """
    doc = docs.get(conn, SERVICE, "", service)
    if doc is None:
        raise errors.ServiceNotFound(f"service '{service}' does not exist")
    return doc


def function_doc(conn: sqlite3.Connection, service: str, function: str) -> docs.Doc:
    """The LATEST function document.

    Raises:
        errors.ServiceNotFound, errors.FunctionNotFound
    """
    doc = docs.get(conn, FUNCTION, service, function)
    if doc is None:
        service_doc(conn, service)
        raise errors.FunctionNotFound(
            f"function '{function}' does not exist in service '{service}'"
        )
    return doc


def resolve_version(conn: sqlite3.Connection, service: str, qualifier: str | None) -> str | None:
    """The version id a qualifier names for reads: ``None`` for LATEST, else a version id.

    An alias resolves to its main ``versionId`` (weights matter only to invocations).

    Raises:
        errors.ServiceNotFound, errors.VersionNotFound, errors.AliasNotFound
    """
    service_doc(conn, service)
    if qualifier is None or qualifier in ("", LATEST):
        return None
    if is_version_id(qualifier):
        if docs.get(conn, VERSION, service, version_key(qualifier)) is None:
            raise errors.VersionNotFound(
                f"version '{qualifier}' of service '{service}' does not exist"
            )
        return str(int(qualifier))
    alias = docs.get(conn, ALIAS, service, qualifier)
    if alias is None:
        raise errors.AliasNotFound(f"alias '{qualifier}' of service '{service}' does not exist")
    return alias_target(alias.body).version_id


def version_doc(conn: sqlite3.Connection, service: str, version_id: str) -> docs.Doc:
    """A published version's stored document.

    Raises:
        errors.VersionNotFound: no such version, or ``version_id`` is not a version id.
    """
    doc = None
    if is_version_id(version_id):
        doc = docs.get(conn, VERSION, service, version_key(version_id))
    if doc is None:
        raise errors.VersionNotFound(
            f"version '{version_id}' of service '{service}' does not exist"
        )
    return doc


def snapshot(conn: sqlite3.Connection, service: str, version_id: str) -> VersionSnapshot:
    """A published version's snapshot.

    Raises:
        errors.VersionNotFound
    """
    return decode_snapshot(version_doc(conn, service, version_id).body)


def newest_version(conn: sqlite3.Connection, service: str) -> VersionSnapshot | None:
    """The most recently published version that still exists, if any."""
    found = docs.page(conn, VERSION, service, limit=1, descending=True)
    return decode_snapshot(found.docs[0].body) if found.docs else None


def aliases_using(conn: sqlite3.Connection, service: str, version_id: str) -> list[str]:
    """Names of the aliases that route any traffic to ``version_id`` (main or weighted)."""
    return [
        doc.name
        for doc in docs.all_in(conn, ALIAS, service)
        if version_id == (target := alias_target(doc.body)).version_id
        or version_id in target.additional_version_weight
    ]


def service_body(conn: sqlite3.Connection, service: str, qualifier: str | None) -> bytes:
    """The service JSON as seen through a qualifier (LATEST, a version or an alias)."""
    version_id = resolve_version(conn, service, qualifier)
    if version_id is None:
        return service_doc(conn, service).body
    return bytes(snapshot(conn, service, version_id).service)


def function_bodies(
    conn: sqlite3.Connection, service: str, qualifier: str | None
) -> dict[str, bytes]:
    """Every function's JSON, by name, as seen through a qualifier."""
    version_id = resolve_version(conn, service, qualifier)
    if version_id is None:
        return {d.name: d.body for d in docs.all_in(conn, FUNCTION, service)}
    frozen = snapshot(conn, service, version_id).functions
    return {name: bytes(frozen[name]) for name in sorted(frozen)}


def function_body(
    conn: sqlite3.Connection, service: str, qualifier: str | None, function: str
) -> bytes:
    """One function's JSON as seen through a qualifier.

    Raises:
        errors.ServiceNotFound, errors.VersionNotFound, errors.AliasNotFound,
        errors.FunctionNotFound
    """
    version_id = resolve_version(conn, service, qualifier)
    if version_id is None:
        return function_doc(conn, service, function).body
    frozen = snapshot(conn, service, version_id).functions
    if function not in frozen:
        raise errors.FunctionNotFound(
            f"function '{function}' does not exist in service '{service}'"
        )
    return bytes(frozen[function])
