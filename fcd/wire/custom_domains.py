"""Custom domain shapes (spec §4.6), and what a custom domain may not take on this daemon.

On FC a custom domain is a host of its own; on fcd it shares the listeners with the API, so a
domain named after the daemon's own address would capture every request sent to it, signed
ones included. :func:`name_refusal` and :func:`is_daemon_path` are the rules, used where a domain
is written (the API) and where one is read for routing (the gateway).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import msgspec

from fcd.wire.rewrite import RewriteConfig

API_VERSION = "2016-08-15"
DEFAULT_PROTOCOL = "HTTP"
# Paths the daemon itself serves on every Host: the FC API (management, invocations, /proxy)
# and the health check. A custom domain never routes them to a function.
API_PREFIX = "/2016-08-15"
HEALTH_PATH = "/healthz"
# A last label that URL parsers read as a number makes the whole name an IPv4 address
# ("127.0.0.1", "127.1", "2130706433", "0x7f.1"): the WHATWG URL standard's "ends in a number".
_NUMBER = re.compile(r"[0-9]+|0[xX][0-9A-Fa-f]*")


def is_daemon_path(path: str) -> bool:
    """Whether ``path`` is the daemon's own (API or health check), whatever the ``Host``."""
    return path in (API_PREFIX, HEALTH_PATH) or path.startswith(API_PREFIX + "/")


def name_refusal(name: str, own_hosts: Iterable[str]) -> str | None:
    """Why ``name`` cannot be a custom domain here, or None when it can.

    Refused: IP addresses (v4 in any form URL parsers accept, v6), ``localhost`` and its
    sub-domains, and the hosts the daemon listens on (``own_hosts``, from the config), or a
    wildcard that covers one of them: each would take requests meant for the daemon itself.
    """
    lower = name.lower().rstrip(".")
    if ":" in lower or lower.startswith("["):
        return "is an IPv6 address, not a domain name"
    labels = lower.split(".")
    if _NUMBER.fullmatch(labels[-1]):
        return "is an IP address, not a domain name"
    wildcard = lower.startswith("*.")
    bare = lower[2:] if wildcard else lower
    if bare == "localhost" or bare.endswith(".localhost"):
        return "names the local host (localhost), which the daemon serves itself"
    for host in own_hosts:
        host = host.lower().strip("[]").rstrip(".")
        # "*.example.com" serves every sub-domain of example.com, not example.com itself.
        if host.endswith("." + bare) if wildcard else host == bare:
            return f"is a host this daemon listens on ('{host}')"
    return None


class PathConfig(msgspec.Struct, rename="camel"):
    """One route: requests under ``path`` go to ``serviceName.qualifier/functionName``."""

    path: str = ""
    service_name: str = ""
    function_name: str = ""
    qualifier: str | None = None
    methods: list[str] | None = None
    # equalRules, wildcardRules, regexRules: applied to the path (fcd.wire.rewrite).
    rewrite_config: RewriteConfig | None = None


class RouteConfig(msgspec.Struct, rename="camel"):
    routes: list[PathConfig] = msgspec.field(default_factory=list)


class CertConfig(msgspec.Struct, rename="camel"):
    """A TLS certificate; the private key is stored but always returned as ``null``."""

    cert_name: str = ""
    certificate: str = ""
    private_key: str | None = None


class TlsConfig(msgspec.Struct, rename="camel"):
    min_version: str | None = None
    max_version: str | None = None
    cipher_suites: list[str] | None = None


class WafConfig(msgspec.Struct, rename="camel"):
    enable_waf: bool | None = msgspec.field(default=None, name="enableWAF")


class CustomDomainInput(msgspec.Struct, rename="camel"):
    """Create and update body; ``None`` = not given (an update keeps the stored value)."""

    domain_name: str | None = None
    protocol: str | None = None
    route_config: RouteConfig | None = None
    cert_config: CertConfig | None = None
    tls_config: TlsConfig | None = None
    waf_config: WafConfig | None = None


class CustomDomain(msgspec.Struct, rename="camel"):
    """A stored custom domain and the response shape (with ``privateKey`` blanked)."""

    domain_name: str
    account_id: str
    created_time: str
    last_modified_time: str
    protocol: str = DEFAULT_PROTOCOL
    api_version: str = API_VERSION
    route_config: RouteConfig = msgspec.field(default_factory=RouteConfig)
    cert_config: CertConfig | None = None
    tls_config: TlsConfig | None = None
    waf_config: WafConfig | None = None


class CustomDomainList(msgspec.Struct, rename="camel", omit_defaults=True):
    """With no further page the object has exactly one key, ``customDomains`` (PYT asserts it)."""

    custom_domains: list[CustomDomain]
    next_token: str | None = None
