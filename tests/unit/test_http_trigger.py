"""The pure parts of HTTP triggers and custom domains: paths, limits, headers, routes, auth."""

from __future__ import annotations

import email.utils
import json

import pytest

from fcd import errors, signature
from fcd.config import ConfigError, load
from fcd.gateway.domains import host_name, match_route
from fcd.gateway.http_trigger import (
    Target,
    check_limits,
    function_headers,
    http_triggers,
    parse_query,
    proxy_target,
    response_headers,
    verify_domain_request,
)
from fcd.invocations import http_envelope
from fcd.model import HttpRequestInfo
from fcd.wire.custom_domains import PathConfig

NOW = 1_700_000_000.0


def test_proxy_target() -> None:
    assert proxy_target("/2016-08-15/proxy/s/f/a/b") == Target("s", "", "f", "/a/b")
    assert proxy_target("/2016-08-15/proxy/s.prod/f") == Target("s", "prod", "f", "/")
    assert proxy_target("/2016-08-15/proxy/s/f/") == Target("s", "", "f", "/")
    assert proxy_target("/2016-08-15/proxy/s") is None
    assert proxy_target("/2016-08-15/services/s") is None


def test_limits() -> None:
    check_limits([(b"a", b"b" * 8000)], b"/p", b"")
    with pytest.raises(errors.InvalidArgument, match="headers"):
        check_limits([(b"a", b"b" * 8200)], b"/p", b"")
    with pytest.raises(errors.InvalidArgument, match="path and query"):
        check_limits([], b"/" + b"p" * 3000, b"q" * 1200)


def test_headers_seen_and_returned() -> None:
    seen = function_headers(
        [(b"X-A", b"1"), (b"x-a", b"2"), (b"Connection", b"close"), (b"X-Fc-Date", b"x")]
    )
    assert seen == {"x-a": ["1", "2"]}
    kept = response_headers(
        [("Set-Cookie", "a"), ("Set-Cookie", "b"), ("Server", "s"), ("X-FC-Z", "z"), ("Date", "d")]
    )
    assert kept == [(b"Set-Cookie", b"a"), (b"Set-Cookie", b"b")]
    with pytest.raises(errors.BadResponse):
        response_headers([("X-Big", "v" * 9000)])
    assert parse_query(b"a=1&a=2&b&c=x+y") == {"a": ["1", "2"], "b": [""], "c": ["x y"]}


def test_http_triggers_by_qualifier() -> None:
    def doc(name: str, kind: str, qualifier: str, config: object) -> bytes:
        return json.dumps(
            {
                "triggerName": name,
                "triggerType": kind,
                "qualifier": qualifier,
                "triggerConfig": config,
            }
        ).encode()

    found = http_triggers(
        [
            doc("h", "http", "LATEST", {"AuthType": "anonymous", "Methods": ["GET", "post"]}),
            doc("p", "http", "prod", {"authType": "function", "methods": ["PUT"]}),
            doc("t", "timer", "LATEST", {"cronExpression": "@every 1m"}),
        ]
    )
    assert set(found) == {"LATEST", "prod"}
    assert found["LATEST"].auth_type == "anonymous"
    assert found["LATEST"].methods == {"GET", "POST"}
    assert found["prod"].name == "p"


def route(path: str, fn: str, methods: list[str] | None = None) -> PathConfig:
    return PathConfig(path=path, service_name="s", function_name=fn, methods=methods)


def test_route_matching_exact_then_longest_prefix() -> None:
    routes = [
        route("/*", "root"),
        route("/api/*", "api"),
        route("/api/v2/*", "v2"),
        route("/login", "login", ["POST"]),
    ]
    assert match_route(routes, "/api/v2/x", "GET").function_name == "v2"
    assert match_route(routes, "/api/v1", "GET").function_name == "api"
    assert match_route(routes, "/api", "GET").function_name == "api"
    assert match_route(routes, "/other", "GET").function_name == "root"
    assert match_route(routes, "/login", "post").function_name == "login"
    assert match_route(routes, "/login", "GET").function_name == "root"
    with pytest.raises(errors.MethodNotAllowed):
        match_route([route("/login", "login", ["POST"])], "/login", "GET")
    with pytest.raises(errors.NotFound):
        match_route([route("/a/*", "a")], "/b", "GET")


def test_host_name() -> None:
    assert host_name("Example.COM:9000") == "example.com"
    assert host_name("example.com") == "example.com"
    assert host_name("[::1]:80") == "[::1]"


def signed(method: str, path: str, query: dict[str, list[str]]) -> dict[str, str]:
    headers = {"date": email.utils.formatdate(NOW, usegmt=True)}
    text = signature.string_to_sign(method, headers, path, query)
    headers["authorization"] = signature.authorization("ak", "sk", text)
    return headers


def secret(key: str) -> str | None:
    return "sk" if key == "ak" else None


def test_custom_domain_signature_covers_path_and_query() -> None:
    query = {"b": ["2"], "a": ["1"]}
    headers = signed("GET", "/api/x", query)
    verify_domain_request("GET", "/api/x", headers, query, secret, NOW)
    with pytest.raises(errors.SignatureNotMatch):
        verify_domain_request("GET", "/api/x", headers, {"a": ["9"]}, secret, NOW)
    with pytest.raises(errors.AccessDenied):
        verify_domain_request("GET", "/api/x", headers, query, secret, NOW + 3600)
    with pytest.raises(errors.AccessDenied):
        verify_domain_request("GET", "/api/x", {}, {}, secret, NOW)
    presigned = {"x-fc-expires": [str(int(NOW) + 60)], "x-fc-access-key-id": ["ak"]}
    text = signature.string_to_sign("GET", {}, "/p", presigned)
    presigned["x-fc-signature"] = [signature.sign("sk", text)]
    verify_domain_request("GET", "/p", {}, presigned, secret, NOW)
    with pytest.raises(errors.AccessDenied, match="expired"):
        verify_domain_request("GET", "/p", {}, presigned, secret, NOW + 120)


def test_http_listen_config() -> None:
    assert load(None, {"FCD_HTTP_LISTEN": "0.0.0.0:8080"}).http_listen == "0.0.0.0:8080"
    with pytest.raises(ConfigError, match="http_listen"):
        load(None, {"FCD_HTTP_LISTEN": "nope"})
    assert load(None, {"FCD_HTTPS_LISTEN": "[::1]:8443"}).https_listen == "[::1]:8443"
    with pytest.raises(ConfigError, match="https_listen"):
        load(None, {"FCD_HTTPS_LISTEN": "host:99999"})


def test_http_envelope_round_trip() -> None:
    info = HttpRequestInfo(
        method="PUT",
        path="/p",
        request_uri="/2016-08-15/proxy/s/f/p?a=1",
        client_ip="10.0.0.1",
        host="h",
        queries={"a": ["1", "2"]},
        headers={"x": ["y"]},
    )
    body = bytes(range(256))
    payload = http_envelope.wrap(info, body)
    assert http_envelope.unwrap("http:web", payload) == (body, info)
    # Other sources keep their payload as it is, even one that looks wrapped.
    assert http_envelope.unwrap("api", payload) == (payload, None)
    assert http_envelope.unwrap("http:web", b"plain") == (b"plain", None)
