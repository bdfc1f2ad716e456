"""Custom domains: a request whose ``Host`` is a custom domain goes where its routes say.

``routeConfig.routes`` maps paths to ``serviceName.qualifier/functionName`` (spec §4.6). A path
is either exact (``/login``) or a prefix ending in ``*`` (``/api/*``, ``/*``); an exact match
wins, then the longest prefix. A route with ``methods`` serves only those; a path that matches
only routes of other methods is a 405, a path no route matches a 404. The function sees the
request path unchanged (nothing is stripped, spec §5.5) and its HTTP trigger still decides the
methods and the auth type.

Domain names are matched without the port and case-insensitively; a ``*.example.com`` domain
serves every sub-domain that has no domain of its own. The domains are read from the store
once and kept until the next notifying write, like the catalog's function configs. A stored
domain whose name the API now refuses (an IP address, ``localhost``, a host the daemon listens
on: :func:`fcd.wire.custom_domains.name_refusal`) is skipped with a warning, so it captures
nothing.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from fcd import errors
from fcd.gateway.http_trigger import Target
from fcd.store import Store, docs
from fcd.wire.custom_domains import CustomDomain, PathConfig, name_refusal
from fcd.wire.rewrite import rewrite

log = logging.getLogger(__name__)
CUSTOM_DOMAIN = "custom_domain"  # the document kind fcd.api.lookup stores domains under

_domain = msgspec.json.Decoder(CustomDomain)


def host_name(host: str) -> str:
    """``Example.com:9000`` → ``example.com``; ``[::1]:80`` → ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _matches(pattern: str, path: str) -> int:
    """How well ``pattern`` matches ``path``: -1 no, else a rank (exact beats any prefix)."""
    if pattern.endswith("*"):
        prefix = pattern[:-1]
        if path.startswith(prefix) or path + "/" == prefix:
            return len(prefix)
        return -1
    return 1 << 20 if pattern == path else -1


def match_route(routes: Iterable[PathConfig], path: str, method: str) -> PathConfig:
    """The route serving ``method path``: exact path first, then the longest ``*`` prefix.

    Raises:
        errors.NotFound: no route's path matches.
        errors.MethodNotAllowed: routes match the path, none for this method.
    """
    best: PathConfig | None = None
    best_rank = -1
    path_matched = False
    for route in routes:
        rank = _matches(route.path, path)
        if rank < 0:
            continue
        path_matched = True
        if route.methods and method.upper() not in {m.upper() for m in route.methods}:
            continue
        if rank > best_rank:
            best, best_rank = route, rank
    if best is not None:
        return best
    if path_matched:
        raise errors.MethodNotAllowed(f"no route of this custom domain serves {method} {path}")
    raise errors.NotFound(f"no route of this custom domain matches the path '{path}'")


@dataclass
class DomainIndex:
    """Every custom domain by lower-case name, cached until a store write.

    ``own_hosts`` are the hosts the daemon listens on (``Config.listen_hosts``).
    """

    store: Store
    own_hosts: tuple[str, ...] = ()
    _domains: dict[str, CustomDomain] | None = None
    _wildcards: list[tuple[str, CustomDomain]] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"<DomainIndex {'unloaded' if self._domains is None else len(self._domains)}>"

    def invalidate(self) -> None:
        self._domains = None

    def _load(self) -> dict[str, CustomDomain]:
        def read(conn: sqlite3.Connection) -> list[bytes]:
            return [doc.body for doc in docs.all_in(conn, CUSTOM_DOMAIN, "")]

        domains: dict[str, CustomDomain] = {}
        for domain in map(_domain.decode, self.store.read(read)):
            refusal = name_refusal(domain.domain_name, self.own_hosts)
            if refusal is not None:
                log.warning(
                    "custom domain '%s' is not served: its name %s; delete it",
                    domain.domain_name,
                    refusal,
                )
                continue
            domains[domain.domain_name.lower()] = domain
        self._wildcards = sorted(
            ((name[1:], d) for name, d in domains.items() if name.startswith("*.")),
            key=lambda item: -len(item[0]),
        )
        self._domains = domains
        return domains

    def any(self) -> bool:
        """Whether any custom domain exists (the invoke path asks this on every request)."""
        return bool(self._domains if self._domains is not None else self._load())

    def domain(self, host: str) -> CustomDomain | None:
        """The custom domain named by a ``Host`` header, or None."""
        domains = self._domains if self._domains is not None else self._load()
        name = host_name(host)
        found = domains.get(name)
        if found is not None:
            return found
        for suffix, wildcard in self._wildcards:
            if name.endswith(suffix):
                return wildcard
        return None

    def target(self, domain: CustomDomain, path: str, method: str) -> Target:
        """Where ``method path`` on ``domain`` goes.

        Raises:
            errors.NotFound, errors.MethodNotAllowed: see :func:`match_route`.
        """
        route = match_route(domain.route_config.routes, path, method)
        seen = rewrite(route.rewrite_config, path)  # the route's rewriteConfig, if any
        return Target(
            route.service_name, route.qualifier or "", route.function_name, seen, proxy=False
        )
