"""Custom domains and custom runtimes behind HTTP triggers, driven by requests.

A custom domain routes by ``Host`` (port ignored) and path (exact, then the longest ``*``
prefix, with per-route methods) to a function whose HTTP trigger then applies; the function
sees the path unchanged. An express app runs as a ``custom`` runtime and gets the original
method, path, query, headers and body. The optional second listener (``http_listen``) serves
only these routes.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import fc2
import pytest
import requests
from fc2.fc_exceptions import FcError

from tests.conftest import make_client
from tests.daemon import RunningDaemon, free_port, start_daemon
from tests.integration.test_http_trigger import METHODS, WSGI_ECHO, http_trigger, write_code
from tests.signed_http import api_call

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "tests" / "node" / "node_modules"

EXPRESS_APP = r"""
const express = require('express');
const app = express();
app.use(express.raw({ type: () => true, limit: '10mb' }));
app.all('*', (req, res) => {
  res.set('X-Express', 'yes');
  res.append('Set-Cookie', ['c=1', 'd=2']);
  res.status(req.query.status ? Number(req.query.status) : 200).json({
    method: req.method, url: req.originalUrl, query: req.query,
    header: req.get('x-express-in') || null,
    controlPath: req.get('x-fc-control-path') || null,
    body: Buffer.isBuffer(req.body) ? req.body.toString('base64') : null,
  });
});
app.listen(9000, '0.0.0.0');
"""


@pytest.fixture
def service(client: fc2.Client, unique: str) -> str:
    name = f"dom_{unique}"
    client.create_service(name)
    return name


def wsgi_function(client: fc2.Client, service: str, name: str, tmp_path: Path) -> str:
    client.create_function(
        service,
        name,
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, {"index.py": WSGI_ECHO}, name),
    )
    http_trigger(client, service, name)
    return name


def test_routes_by_host_and_path(
    client: fc2.Client, daemon: RunningDaemon, service: str, unique: str, tmp_path: Path
) -> None:
    api = wsgi_function(client, service, "api", tmp_path)
    site = wsgi_function(client, service, "site", tmp_path)
    login = wsgi_function(client, service, "login", tmp_path)
    domain = f"app-{unique}.example.test".lower().replace("_", "-")
    client.create_custom_domain(
        domain,
        protocol="HTTP",
        routeConfig={
            "routes": [
                {"path": "/*", "serviceName": service, "functionName": site},
                {"path": "/api/*", "serviceName": service, "functionName": api},
                {
                    "path": "/login",
                    "serviceName": service,
                    "functionName": login,
                    "methods": ["POST"],
                },
            ]
        },
    )
    try:

        def call(method: str, path: str, host: str = "") -> requests.Response:
            host = host or f"{domain}:{daemon.port}"
            return requests.request(
                method, daemon.endpoint + path, headers={"Host": host}, timeout=30
            )

        by_api = call("GET", "/api/v1/items?x=1")
        assert by_api.status_code == 200, by_api.text
        seen = by_api.json()
        assert seen["function"] == api
        assert seen["path"] == "/api/v1/items"  # nothing is stripped on custom domains
        assert seen["request_uri"] == "/api/v1/items?x=1"
        assert by_api.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
        assert call("GET", "/index.html").json()["function"] == site
        assert call("GET", "/").json()["function"] == site
        # Host matching ignores case and the port.
        assert call("GET", "/api/", host=domain.upper()).json()["function"] == api
        assert call("POST", "/login").json()["function"] == login
        # /login only serves POST; GET falls through to the /* route.
        assert call("GET", "/login").json()["function"] == site
        # A host that is no custom domain is the API as before.
        api_host = call("GET", "/api/v1/items", host=f"127.0.0.1:{daemon.port}")
        assert api_host.status_code == 404
        assert api_host.json()["ErrorCode"] != "TriggerNotFound"

        # A route's qualifier is used for its trigger lookup; the route changes live.
        client.update_custom_domain(
            domain,
            routeConfig={
                "routes": [
                    {"path": "/only/*", "serviceName": service, "functionName": api},
                    {
                        "path": "/v1/*",
                        "serviceName": service,
                        "functionName": api,
                        "qualifier": "1",
                    },
                ]
            },
        )
        assert call("GET", "/only/x").json()["function"] == api
        unrouted = call("GET", "/elsewhere")
        assert unrouted.status_code == 404
        assert unrouted.json()["ErrorCode"] == "NotFound"
        no_trigger = call("GET", "/v1/x")
        assert no_trigger.json()["ErrorCode"] == "TriggerNotFound"
    finally:
        client.delete_custom_domain(domain)


def vendor_node_package(code: Path, name: str) -> None:
    """Copy ``name`` and its dependency closure from tests/node/node_modules into ``code``."""
    todo, done = [name], set()
    while todo:
        package = todo.pop()
        if package in done:
            continue
        done.add(package)
        source = NODE_MODULES / package
        shutil.copytree(source, code / "node_modules" / package, symlinks=True)
        manifest = json.loads((source / "package.json").read_text())
        todo.extend(manifest.get("dependencies", {}))


@pytest.fixture
def express(client: fc2.Client, service: str, tmp_path: Path) -> str:
    if not (NODE_MODULES / "express").is_dir():
        pytest.fail("express is missing: run scripts/install-test-deps")
    code = Path(write_code(tmp_path, {"server.js": EXPRESS_APP}, "express"))
    bootstrap = code / "bootstrap"
    bootstrap.write_text("#!/bin/sh\nexec node /code/server.js\n")
    bootstrap.chmod(0o755)
    vendor_node_package(code, "express")
    client.create_function(service, "express", "custom", "index.handler", codeDir=str(code))
    http_trigger(client, service, "express")
    return "express"


def test_express_app_as_custom_runtime(
    client: fc2.Client, daemon: RunningDaemon, service: str, express: str
) -> None:
    base = f"{daemon.endpoint}/2016-08-15/proxy/{service}/{express}"
    binary = bytes(range(256)) * 8
    for method in METHODS:
        response = requests.request(
            method,
            base + "/shop/cart",
            params={"status": "201", "q": "a b"},
            data=binary if method not in ("GET", "HEAD") else None,
            headers={"X-Express-In": "hello", "Content-Type": "application/octet-stream"},
            timeout=60,
        )
        assert response.status_code == 201, (method, response.text)
        assert response.headers["X-Express"] == "yes"
        assert response.raw.headers.getlist("Set-Cookie") == ["c=1", "d=2"]
        if method == "HEAD":
            continue
        seen = response.json()
        assert seen["method"] == method
        assert seen["url"] == f"/2016-08-15/proxy/{service}/{express}/shop/cart?status=201&q=a+b"
        assert seen["query"] == {"status": "201", "q": "a b"}
        assert seen["header"] == "hello"
        assert seen["controlPath"] == "/http-invoke"
        if method not in ("GET", "HEAD", "OPTIONS", "DELETE"):
            assert base64.b64decode(seen["body"]) == binary


def self_signed(tmp_path: Path, name: str) -> tuple[str, str, Path]:
    """(certificate PEM, private key PEM, certificate file) for ``name``, made by openssl."""
    key, cert = tmp_path / f"{name}.key", tmp_path / f"{name}.crt"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={name}"),
            *("-addext", f"subjectAltName=DNS:{name}"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert.read_text(), key.read_text(), cert


def test_second_listeners_plain_and_tls(tmp_path: Path, unique: str) -> None:
    port, tls_port = free_port(), free_port()
    other = start_daemon(
        tmp_path / "data",
        FCD_HTTP_LISTEN=f"127.0.0.1:{port}",
        FCD_HTTPS_LISTEN=f"127.0.0.1:{tls_port}",
    )
    try:
        client = make_client(other.endpoint)
        service = f"second_{unique}"
        client.create_service(service)
        api = wsgi_function(client, service, "api", tmp_path)
        triggers = f"http://127.0.0.1:{port}"
        served = requests.get(f"{triggers}/2016-08-15/proxy/{service}/{api}/p", timeout=30)
        assert served.status_code == 200, served.text
        assert served.json()["path"] == "/p"
        api_call = requests.get(f"{triggers}/2016-08-15/services", timeout=30)
        assert api_call.status_code == 404
        assert api_call.json()["ErrorCode"] == "NotFound"

        # TLS: each custom domain presents its own certificate, chosen by SNI.
        route = {"routes": [{"path": "/*", "serviceName": service, "functionName": api}]}
        names = ("one.example.test", "two.example.test")
        certs = {}
        for name in names:
            certificate, key, cert_file = self_signed(tmp_path, name)
            certs[name] = cert_file
            client.create_custom_domain(
                name,
                protocol="HTTP,HTTPS",
                routeConfig=route,
                certConfig={"certName": name, "certificate": certificate, "privateKey": key},
            )
        client.create_custom_domain("plain.example.test", protocol="HTTP", routeConfig=route)
        for name in names:
            out = https(tls_port, name, "/x?y=1", "--cacert", str(certs[name]))
            assert out.returncode == 0, out.stderr
            seen = json.loads(out.stdout)
            assert seen["path"] == "/x"
            assert seen["request_uri"] == "/x?y=1"
        # The other domain's certificate does not verify; a domain without one gets no TLS.
        assert https(tls_port, names[0], "/", "--cacert", str(certs[names[1]])).returncode != 0
        assert https(tls_port, "plain.example.test", "/", "-k").returncode != 0
    finally:
        assert other.stop() == 0


def https(port: int, name: str, path: str, *options: str) -> subprocess.CompletedProcess[bytes]:
    """curl ``https://name:port/path`` on loopback: SNI and Host are ``name``."""
    url = f"https://{name}:{port}{path}"
    return subprocess.run(
        ["curl", "-sS", "-f", *options, "--resolve", f"{name}:{port}:127.0.0.1", url],
        capture_output=True,
        timeout=30,
        check=False,
    )


def test_route_rewrite_config_changes_the_path_the_function_sees(
    client: fc2.Client, daemon: RunningDaemon, service: str, unique: str, tmp_path: Path
) -> None:
    api = wsgi_function(client, service, "rw", tmp_path)
    domain = f"rw-{unique}.example.test".lower().replace("_", "-")
    rules = {
        "equalRules": [{"match": "/old", "replacement": "/new"}],
        "wildcardRules": [{"match": "^/api/*", "replacement": "/$1"}],
        "regexRules": [{"match": "^/v(\\d+)/(.*)$", "replacement": "/version/$1/$2"}],
    }
    route = {"path": "/*", "serviceName": service, "functionName": api, "rewriteConfig": rules}
    client.create_custom_domain(domain, protocol="HTTP", routeConfig={"routes": [route]})
    try:

        def seen(path: str) -> str:
            host = f"{domain}:{daemon.port}"
            response = requests.get(daemon.endpoint + path, headers={"Host": host}, timeout=30)
            assert response.status_code == 200, response.text
            return str(response.json()["path"])

        assert seen("/old") == "/new"
        assert seen("/api/items") == "/items"
        assert seen("/v2/a/b") == "/version/2/a/b"
        assert seen("/other") == "/other"
        stored = client.get_custom_domain(domain).data["routeConfig"]["routes"][0]
        assert stored["rewriteConfig"]["regexRules"][0]["match"] == "^/v(\\d+)/(.*)$"
    finally:
        client.delete_custom_domain(domain)


def test_unusable_rewrite_rules_and_tls_settings_are_refused(
    client: fc2.Client, daemon: RunningDaemon, service: str, unique: str
) -> None:
    domain = f"bad-{unique}.example.test".lower().replace("_", "-")
    bad_rule = {"regexRules": [{"match": "(", "replacement": "/x"}]}
    route = {"path": "/*", "serviceName": service, "functionName": "f", "rewriteConfig": bad_rule}
    with pytest.raises(FcError) as regex:
        client.create_custom_domain(domain, protocol="HTTP", routeConfig={"routes": [route]})
    assert regex.value.status_code == 400
    # The SDK has no tlsConfig argument: signed raw requests.
    for tls in ({"minVersion": "TLSv1.0"}, {"cipherSuites": ["TLS_RSA_WITH_RC4_128_SHA"]}):
        body = {"domainName": domain, "protocol": "HTTP", "tlsConfig": tls}
        refused = api_call(daemon, "POST", "/custom-domains", body)
        assert refused.status_code == 400, refused.text
        assert "not supported" in refused.json()["ErrorMessage"]
    body = {
        "domainName": domain,
        "protocol": "HTTP",
        "tlsConfig": {"minVersion": "TLSv1.2", "maxVersion": "TLSv1.3"},
    }
    assert api_call(daemon, "POST", "/custom-domains", body).status_code == 200
    client.delete_custom_domain(domain)
