"""Custom domain shapes (spec §4.6)."""

from __future__ import annotations

import msgspec

from fcd.wire.rewrite import RewriteConfig

API_VERSION = "2016-08-15"
DEFAULT_PROTOCOL = "HTTP"


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
