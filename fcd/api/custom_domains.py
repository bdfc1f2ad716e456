"""Custom domains: create, get, update, delete and list (spec §3 routes 27-31, §4.6).

Decisions where FC's behaviour is not pinned down:

* Routes may name services and functions that do not exist (yet): the official Python test
  routes to ``s1/f1`` and ``s2/f2`` without creating them. Requests to such a route fail when
  they arrive, not when the route is written. The route itself is checked: the path starts with
  ``/`` and has ``*`` only at its end, names follow FC's name rules, methods are HTTP methods,
  and no path appears twice.
* Domain names are DNS names, so ``Example.com`` and ``example.com`` are the same domain: the
  stored key is lower case, lookups and list filters ignore case, and responses show the name
  as first created. No DNS check is made (FC's ``DomainNameNotResolved`` does not apply here).
* ``HTTPS`` needs a certificate: a ``protocol`` containing HTTPS without a ``certConfig`` (given
  or stored) is refused. The private key is stored and never returned (``privateKey: null``);
  an update whose ``certConfig`` omits the key keeps the stored one, so a get-modify-put works.
* A custom domain shares the daemon's listeners with the API, so names that would take the
  daemon's own traffic are refused with ``InvalidArgument`` at create and update: IP addresses,
  ``localhost`` and ``*.localhost``, and the hosts the daemon listens on. Routes under
  ``/2016-08-15/`` or at ``/healthz`` are refused too: the daemon serves those paths itself on
  every host (``fcd.wire.custom_domains``).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from typing import Any

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
from fcd.wire import rewrite
from fcd.wire.custom_domains import (
    API_PREFIX,
    HEALTH_PATH,
    CertConfig,
    CustomDomain,
    CustomDomainInput,
    CustomDomainList,
    RouteConfig,
    TlsConfig,
    is_daemon_path,
    name_refusal,
)
from fcd.wire.triggers import HTTP_METHODS

routes = Blueprint("custom_domains", __name__, url_prefix="/2016-08-15/custom-domains")

_domain_decoder = msgspec.json.Decoder(CustomDomain)
PROTOCOLS = frozenset({"HTTP", "HTTPS"})
# DNS limits (RFC 1035): 63 characters per label, 253 in all; "*." allows a wildcard domain.
MAX_DOMAIN = 253
_DOMAIN = re.compile(
    r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
MAX_SERVICE_NAME = 128
MAX_FUNCTION_NAME = 64


def domain_key(name: str) -> str:
    return name.lower()


def check_domain_name(name: str | None, own_hosts: Iterable[str]) -> str:
    """A domain name this daemon can route by (see :func:`name_refusal`).

    Raises:
        errors.InvalidArgument: naming ``domainName`` and why it is refused.
    """
    if not name:
        raise errors.InvalidArgument("domainName is required")
    refusal = name_refusal(name, own_hosts)
    if refusal is not None:
        raise errors.InvalidArgument(
            f"domainName '{name}' {refusal}: a custom domain would take the requests "
            "meant for the daemon itself; use a DNS name that points at this host"
        )
    if len(name) > MAX_DOMAIN or not _DOMAIN.fullmatch(name):
        raise errors.InvalidArgument(f"domainName '{name}' is not a valid domain name")
    return name


def check_protocol(protocol: str) -> str:
    """``HTTP``, ``HTTPS`` or both, comma-separated; echoed as sent.

    Raises:
        errors.InvalidArgument: naming ``protocol``.
    """
    parts = protocol.split(",")
    if not parts or len(set(parts)) != len(parts) or not set(parts) <= PROTOCOLS:
        raise errors.InvalidArgument(
            f"protocol must be HTTP, HTTPS or HTTP,HTTPS, got '{protocol}'"
        )
    return protocol


def check_routes(route_config: RouteConfig) -> RouteConfig:
    """Raises: errors.InvalidArgument naming the route field (``routeConfig.routes[1].path``)."""
    seen: set[str] = set()
    for index, route in enumerate(route_config.routes):
        field = f"routeConfig.routes[{index}]"
        _check_path(f"{field}.path", route.path)
        if route.path in seen:
            raise errors.InvalidArgument(f"{field}.path '{route.path}' appears twice")
        seen.add(route.path)
        check_name(f"{field}.serviceName", route.service_name, MAX_SERVICE_NAME)
        check_name(f"{field}.functionName", route.function_name, MAX_FUNCTION_NAME)
        if route.rewrite_config is not None:
            rewrite.check(route.rewrite_config, f"{field}.rewriteConfig")
        for method in route.methods or ():
            if method not in HTTP_METHODS:
                raise errors.InvalidArgument(
                    f"{field}.methods contains '{method}'; allowed: {', '.join(HTTP_METHODS)}"
                )
    return route_config


def _check_path(field: str, path: str) -> None:
    if not path.startswith("/") or any(c.isspace() for c in path) or "*" in path[:-1]:
        raise errors.InvalidArgument(
            f"{field} '{path}' is invalid: it must start with '/', contain no spaces, and may "
            "end with '*' (e.g. '/', '/login', '/api/*')"
        )
    if is_daemon_path(path.rstrip("*")):
        raise errors.InvalidArgument(
            f"{field} '{path}' is served by the daemon itself on every host (the FC API under "
            f"'{API_PREFIX}/' and '{HEALTH_PATH}'), so no function would ever get it"
        )


# What fcd's TLS listener does for every domain (fcd/gateway/tls.py): TLS 1.2 to 1.3 with
# OpenSSL's default cipher suites, one listener context. OpenSSL keeps the listener's protocol
# versions and ciphers when the SNI callback swaps in a domain's certificate, so other values
# cannot be honoured per domain.
TLS_MIN_VERSIONS = frozenset({"", "TLSv1.2"})
TLS_MAX_VERSIONS = frozenset({"", "TLSv1.3"})


def check_tls(tls: TlsConfig) -> TlsConfig:
    """Accept a ``tlsConfig`` only when it asks for what the listener does.

    Raises:
        errors.InvalidArgument: another minVersion/maxVersion, or cipherSuites.
    """
    if (tls.min_version or "") not in TLS_MIN_VERSIONS or (
        tls.max_version or ""
    ) not in TLS_MAX_VERSIONS:
        raise errors.InvalidArgument(
            f"tlsConfig minVersion {tls.min_version!r} / maxVersion {tls.max_version!r} is not "
            "supported: fcd's TLS listener serves TLSv1.2 to TLSv1.3 for every domain; set "
            "minVersion TLSv1.2 and maxVersion TLSv1.3, or leave them empty"
        )
    if tls.cipher_suites:
        raise errors.InvalidArgument(
            "tlsConfig.cipherSuites is not supported: fcd's TLS listener uses OpenSSL's default "
            "suites for every domain; leave cipherSuites empty"
        )
    return tls


def merge_cert(given: CertConfig, stored: CertConfig | None) -> CertConfig:
    """Validate a ``certConfig``; a missing private key falls back to the stored one.

    Raises:
        errors.InvalidArgument: naming the missing or malformed ``certConfig`` field.
    """
    # FC's API metadata: certName 128, certificate 20480, privateKey 4096 characters.
    wire.check_length("certConfig.certName", given.cert_name, 128)
    wire.check_length("certConfig.certificate", given.certificate, 20480)
    wire.check_length("certConfig.privateKey", given.private_key, 4096)
    private_key = given.private_key
    if private_key is None and stored is not None:
        private_key = stored.private_key
    if not given.cert_name:
        raise errors.InvalidArgument("certConfig.certName is required")
    if "-----BEGIN CERTIFICATE-----" not in given.certificate:
        raise errors.InvalidArgument("certConfig.certificate must be a PEM certificate")
    if not private_key or "PRIVATE KEY-----" not in private_key:
        raise errors.InvalidArgument("certConfig.privateKey must be a PEM private key")
    return msgspec.structs.replace(given, private_key=private_key)


def _apply(domain: CustomDomain, change: CustomDomainInput, now: str) -> CustomDomain:
    """Lay ``change`` over ``domain`` and check the result.

    Raises:
        errors.InvalidArgument
    """
    updates: dict[str, Any] = {"last_modified_time": now}
    if change.protocol is not None:
        updates["protocol"] = check_protocol(change.protocol)
    if change.route_config is not None:
        updates["route_config"] = check_routes(change.route_config)
    if change.cert_config is not None:
        updates["cert_config"] = merge_cert(change.cert_config, domain.cert_config)
    if change.tls_config is not None:
        updates["tls_config"] = check_tls(change.tls_config)
    if change.waf_config is not None:
        updates["waf_config"] = change.waf_config
    result = msgspec.structs.replace(domain, **updates)
    if "HTTPS" in result.protocol.split(",") and result.cert_config is None:
        raise errors.InvalidArgument("protocol HTTPS needs a certConfig")
    return result


def public(domain: CustomDomain) -> CustomDomain:
    """The response shape: the private key never leaves the daemon."""
    if domain.cert_config is None:
        return domain
    return msgspec.structs.replace(
        domain, cert_config=msgspec.structs.replace(domain.cert_config, private_key=None)
    )


def _domain_doc(conn: sqlite3.Connection, name: str) -> docs.Doc:
    """Raises: errors.DomainNameNotFound."""
    doc = docs.get(conn, lookup.CUSTOM_DOMAIN, "", domain_key(name))
    if doc is None:
        raise errors.DomainNameNotFound(f"domain name '{name}' does not exist")
    return doc


@routes.post("")
async def create_custom_domain() -> Response:
    change = await body(CustomDomainInput)
    name = check_domain_name(change.domain_name, ctx().config.listen_hosts)
    created = wire.timestamp(ctx().clock())
    domain = _apply(
        CustomDomain(
            domain_name=name,
            account_id=ctx().config.account_id,
            created_time=created,
            last_modified_time=created,
        ),
        change,
        created,
    )

    def tx(conn: sqlite3.Connection) -> str:
        try:
            return docs.insert(
                conn, lookup.CUSTOM_DOMAIN, "", domain_key(name), wire.encode(domain)
            )
        except sqlite3.IntegrityError:
            raise errors.DomainNameAlreadyExists(f"domain name '{name}' already exists") from None

    etag = await ctx().store.write(tx)
    return json_response(public(domain), etag=etag)


@routes.get("")
async def list_custom_domains() -> Response:
    query = list_query()
    for key in ("prefix", "start_key"):
        query[key] = domain_key(query[key])
    found = ctx().store.read(lambda conn: docs.page(conn, lookup.CUSTOM_DOMAIN, "", **query))
    domains = [public(_domain_decoder.decode(d.body)) for d in found.docs]
    return json_response(CustomDomainList(domains, found.next_token))


@routes.get("/<name>")
async def get_custom_domain(name: str) -> Response:
    doc = ctx().store.read(lambda conn: _domain_doc(conn, name))
    return json_response(public(_domain_decoder.decode(doc.body)), etag=doc.etag)


@routes.put("/<name>")
async def update_custom_domain(name: str) -> Response:
    # A domain stored before these rules existed may be one they refuse: it serves nothing
    # (DomainIndex skips it) and is refused here until it is deleted.
    check_domain_name(name, ctx().config.listen_hosts)
    change = await body(CustomDomainInput)
    now = wire.timestamp(ctx().clock())
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> tuple[CustomDomain, str]:
        current = _domain_doc(conn, name)
        check_if_match(wanted, current.etag)
        updated = _apply(_domain_decoder.decode(current.body), change, now)
        return updated, docs.put(conn, lookup.CUSTOM_DOMAIN, "", current.name, wire.encode(updated))

    updated, etag = await ctx().store.write(tx)
    return json_response(public(updated), etag=etag)


@routes.delete("/<name>")
async def delete_custom_domain(name: str) -> Response:
    wanted = if_match_header()

    def tx(conn: sqlite3.Connection) -> None:
        current = _domain_doc(conn, name)
        check_if_match(wanted, current.etag)
        docs.delete(conn, lookup.CUSTOM_DOMAIN, "", current.name)

    await ctx().store.write(tx)
    return no_content()
