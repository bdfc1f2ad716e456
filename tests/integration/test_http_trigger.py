"""HTTP triggers end to end: ``/2016-08-15/proxy/...`` driven by requests, curl and the SDK.

Every test runs real functions on the session daemon: a WSGI echo app (python3), a Flask app
vendored into the code package, a nodejs ``(req, resp, context)`` handler, and the FC auth types
(anonymous, function-signed with the query, pre-signed URLs). What is asserted is what a caller
sees: status, headers (repeated ones too), bytes of the body, FC's error JSON.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path
from urllib.parse import quote, urlencode

import fc2
import pytest
import requests

from fcd import signature
from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, RunningDaemon
from tests.signed_http import fc_request, sign_headers

METHODS = ["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"]

WSGI_ECHO = r"""
import json, os

def handler(environ, start_response):
    path = environ["PATH_INFO"]
    body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
    if path == "/raw":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return [body]
    if path == "/write":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"pushed ")
        return [b"returned"]
    if path == "/crash":
        os._exit(3)
    if path == "/raise":
        raise ValueError("broken app")
    if path == "/big-headers":
        start_response("200 OK", [("X-Big", "x" * 9000)])
        return [b""]
    ctx = environ["fc.context"]
    seen = {
        "method": environ["REQUEST_METHOD"],
        "path": path,
        "query": environ["QUERY_STRING"],
        "content_length": environ["CONTENT_LENGTH"],
        "content_type": environ.get("CONTENT_TYPE", ""),
        "remote_addr": environ["REMOTE_ADDR"],
        "request_uri": environ["fc.request_uri"],
        "request_id": ctx.request_id,
        "function": ctx.function.name,
        "headers": {k: v for k, v in environ.items() if k.startswith("HTTP_")},
        "body": body.decode("latin-1"),
        "protocol": environ["SERVER_PROTOCOL"],
    }
    status = environ["QUERY_STRING"].startswith("status=202") and "202 Accepted" or "200 OK"
    start_response(status, [
        ("Content-Type", "application/json"),
        ("Set-Cookie", "a=1"),
        ("Set-Cookie", "b=2"),
        ("X-Custom", "custom value"),
        ("X-Fc-Forged", "no"),
        ("Server", "forged"),
    ])
    return [json.dumps(seen).encode()]
"""

NODE_HTTP = r"""
const getRawBody = require('raw-body');
exports.handler = (req, resp, context) => {
  getRawBody(req, (err, body) => {
    if (req.path === '/raw') {
      resp.setHeader('content-type', 'application/octet-stream');
      resp.send(body);
      return;
    }
    resp.setStatusCode(201);
    resp.setHeader('Content-Type', 'application/json');
    resp.setHeader('X-Gone', 'x');
    resp.setHeader('Set-Cookie', ['n=1', 'm=2']);
    resp.deleteHeader('x-gone');
    for (const [k, v] of Object.entries(req.queries)) resp.setHeader('x-q-' + k, v);
    resp.send(JSON.stringify({
      path: req.path, method: req.method, queries: req.queries, headers: req.headers,
      url: req.url, clientIP: req.clientIP, body: body.toString(), requestId: context.requestId,
    }));
  });
};
"""

FLASK_APP = r"""
from flask import Flask, request, jsonify, make_response

app = Flask(__name__)

@app.route("/hello/<name>", methods=["GET", "POST"])
def hello(name):
    response = make_response(jsonify(
        name=name, args=request.args.to_dict(flat=False), data=request.get_data(as_text=True),
        method=request.method,
    ))
    response.headers["X-Flask"] = "yes"
    return response

@app.route("/missing")
def missing():
    return "nope", 404

def handler(environ, start_response):
    return app(environ, start_response)
"""


def write_code(tmp_path: Path, files: dict[str, str], name: str = "code") -> str:
    code = tmp_path / name
    code.mkdir()
    for file, text in files.items():
        (code / file).write_text(text)
    return str(code)


def proxy(service: str, function: str, sub: str = "/", qualifier: str = "") -> str:
    head = f"{service}.{qualifier}" if qualifier else service
    return f"/2016-08-15/proxy/{head}/{function}{sub}"


@pytest.fixture
def service(client: fc2.Client, unique: str) -> str:
    name = f"http_{unique}"
    client.create_service(name)
    return name


def http_trigger(
    client: fc2.Client, service: str, function: str, auth: str = "anonymous", **extra: object
) -> None:
    config = {"authType": auth, "methods": extra.pop("methods", METHODS)}
    client.create_trigger(service, function, f"{function}-http", "http", config, "", "", **extra)


@pytest.fixture
def wsgi(client: fc2.Client, service: str, tmp_path: Path) -> str:
    client.create_function(
        service,
        "wsgi",
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, {"index.py": WSGI_ECHO}),
        timeout=10,
    )
    http_trigger(client, service, "wsgi")
    return "wsgi"


def test_every_method_with_query_and_multi_value_headers(
    daemon: RunningDaemon, service: str, wsgi: str
) -> None:
    url = daemon.endpoint + proxy(service, wsgi, "/some/path")
    for method in METHODS:
        response = requests.request(
            method,
            url,
            params=[("b", "2"), ("a", "1"), ("a", "x y")],
            data=b"payload" if method not in ("GET", "HEAD") else None,
            headers={"X-Client": "yes", "Connection": "keep-alive", "X-Fc-Anything": "dropped"},
            timeout=30,
        )
        assert response.status_code == 200, (method, response.text)
        assert response.raw.headers.getlist("Set-Cookie") == ["a=1", "b=2"]
        assert response.headers["X-Custom"] == "custom value"
        assert "x-fc-forged" not in response.headers
        assert response.headers.get("server") != "forged"
        assert len(response.headers["x-fc-request-id"]) == 36
        if method == "HEAD":
            assert response.content == b""
            continue
        seen = response.json()
        assert seen["method"] == method
        assert seen["path"] == "/some/path"
        assert seen["query"] == "b=2&a=1&a=x+y"
        assert seen["request_uri"] == proxy(service, wsgi, "/some/path") + "?b=2&a=1&a=x+y"
        assert seen["remote_addr"] == "127.0.0.1"
        assert seen["function"] == "wsgi"
        assert seen["request_id"] == response.headers["x-fc-request-id"]
        assert seen["headers"]["HTTP_X_CLIENT"] == "yes"
        assert "HTTP_CONNECTION" not in seen["headers"]
        assert "HTTP_X_FC_ANYTHING" not in seen["headers"]
        assert seen["protocol"] == "HTTP/1.1"
        expected_body = "payload" if method not in ("GET", "HEAD") else ""
        assert seen["body"] == expected_body
        assert seen["content_length"] == str(len(expected_body))


def test_wsgi_status_and_repeated_request_headers_with_curl(
    daemon: RunningDaemon, service: str, wsgi: str
) -> None:
    url = daemon.endpoint + proxy(service, wsgi, "/x") + "?status=202"
    out = subprocess.run(
        ["curl", "-sS", "-i", "-H", "X-Multi: one", "-H", "X-Multi: two", url],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout.decode()
    head, _, body = out.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 202 Accepted")
    assert head.lower().count("set-cookie:") == 2
    seen = json.loads(body)
    assert seen["headers"]["HTTP_X_MULTI"] == "one,two"


def test_binary_and_five_megabyte_bodies_pass_through(
    daemon: RunningDaemon, service: str, wsgi: str, tmp_path: Path
) -> None:
    pushed = requests.get(daemon.endpoint + proxy(service, wsgi, "/write"), timeout=30)
    assert pushed.text == "pushed returned"  # PEP 3333 write() output comes first
    url = daemon.endpoint + proxy(service, wsgi, "/raw")
    binary = bytes(range(256)) * 64
    response = requests.post(url, data=binary, timeout=30)
    assert response.status_code == 200
    assert response.content == binary
    big = (bytes(range(256)) * 4096 * 5)[: 5 * 1024 * 1024]
    response = requests.put(url, data=big, timeout=60)
    assert response.content == big
    assert response.headers["content-length"] == str(len(big))
    upload = tmp_path / "big.bin"
    upload.write_bytes(big)
    downloaded = tmp_path / "back.bin"
    subprocess.run(
        ["curl", "-sS", "-f", "--data-binary", f"@{upload}", "-o", str(downloaded), url],
        check=True,
        timeout=60,
    )
    assert downloaded.read_bytes() == big


def test_errors_limits_and_crash(
    client: fc2.Client, daemon: RunningDaemon, service: str, wsgi: str
) -> None:
    base = daemon.endpoint
    crashed = requests.get(base + proxy(service, wsgi, "/crash"), timeout=30)
    assert crashed.status_code == 502
    error = crashed.json()
    assert error["errorMessage"].startswith("Process exited unexpectedly before completing request")
    assert "ErrorCode" not in error
    raised = requests.get(base + proxy(service, wsgi, "/raise"), timeout=30)
    assert raised.status_code == 502
    assert raised.json()["errorMessage"] == "broken app"
    # After a crash the next request is served by a new instance.
    assert requests.get(base + proxy(service, wsgi, "/ok"), timeout=30).status_code == 200

    big_headers = requests.get(base + proxy(service, wsgi, "/big-headers"), timeout=30)
    assert big_headers.status_code == 502
    assert big_headers.json()["ErrorCode"] == "BadResponse"

    too_many = requests.get(
        base + proxy(service, wsgi, "/x"), headers={"X-Pad": "p" * 9000}, timeout=30
    )
    assert too_many.status_code == 400
    assert too_many.json()["ErrorCode"] == "InvalidArgument"
    too_long = requests.get(base + proxy(service, wsgi, "/" + "a" * 4200), timeout=30)
    assert too_long.status_code == 400
    assert too_long.json()["ErrorCode"] == "InvalidArgument"

    missing = requests.get(base + proxy(service, "nope", "/"), timeout=30)
    assert missing.status_code == 404
    assert missing.json()["ErrorCode"] == "TriggerNotFound"
    other_qualifier = requests.get(base + proxy(service, wsgi, "/", "1"), timeout=30)
    assert other_qualifier.json()["ErrorCode"] == "TriggerNotFound"


def test_methods_outside_the_trigger_are_refused(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    client.create_function(
        service,
        "getonly",
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, {"index.py": WSGI_ECHO}),
    )
    http_trigger(client, service, "getonly", methods=["GET"])
    url = daemon.endpoint + proxy(service, "getonly", "/")
    assert requests.get(url, timeout=30).status_code == 200
    refused = requests.post(url, data=b"x", timeout=30)
    assert refused.status_code == 405
    assert refused.json()["ErrorCode"] == "MethodNotAllowed"


@pytest.fixture
def signed_fn(client: fc2.Client, service: str, tmp_path: Path) -> str:
    client.create_function(
        service,
        "signed",
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, {"index.py": WSGI_ECHO}),
    )
    http_trigger(client, service, "signed", auth="function")
    return "signed"


def test_function_auth_with_the_sdk_and_signed_requests(
    client: fc2.Client, daemon: RunningDaemon, service: str, signed_fn: str
) -> None:
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        response = client.do_http_request(
            method,
            service,
            signed_fn,
            "/sdk/path",
            headers={"X-Sdk": "1"},
            params={"k": "v", "z": "last", "a": "first"},
            body=b"sdk body" if method != "GET" else None,
        )
        assert response.status_code == 200, response.text
        seen = response.json()
        assert seen["method"] == method
        assert seen["path"] == "/sdk/path"
        assert sorted(seen["query"].split("&")) == ["a=first", "k=v", "z=last"]
    # Unsigned, or signed without the query, is refused.
    url = daemon.endpoint + proxy(service, signed_fn, "/p")
    unsigned = requests.get(url, timeout=30)
    assert unsigned.status_code == 403
    assert unsigned.json()["ErrorCode"] == "AccessDenied"
    path = proxy(service, signed_fn, "/p")
    headers = sign_headers("GET", path)  # signed over the path alone
    wrong = requests.get(url, params={"q": "1"}, headers=headers, timeout=30)
    assert wrong.status_code == 403
    assert wrong.json()["ErrorCode"] == "SignatureNotMatch"
    right = requests.get(
        url, params={"q": "1"}, headers=sign_headers("GET", path + "?q=1"), timeout=30
    )
    assert right.status_code == 200


def presigned_url(endpoint: str, path: str, expires: int, query: dict[str, str]) -> str:
    """A URL signed the way Go's ``SignURL`` signs it (spec §2.4)."""
    params = {
        **query,
        "x-fc-expires": str(expires),
        "x-fc-access-key-id": ACCESS_KEY_ID,
    }
    text = signature.string_to_sign("GET", {}, path, {k: [v] for k, v in params.items()})
    params["x-fc-signature"] = signature.sign(ACCESS_KEY_SECRET, text)
    return f"{endpoint}{quote(path)}?{urlencode(params)}"


def test_pre_signed_urls(daemon: RunningDaemon, service: str, signed_fn: str) -> None:
    path = proxy(service, signed_fn, "/shared")
    fresh = presigned_url(daemon.endpoint, path, int(time.time()) + 300, {"who": "me"})
    response = requests.get(fresh, timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["path"] == "/shared"
    expired = presigned_url(daemon.endpoint, path, int(time.time()) - 5, {"who": "me"})
    refused = requests.get(expired, timeout=30)
    assert refused.status_code == 403
    assert refused.json()["ErrorCode"] == "AccessDenied"
    tampered = fresh.replace("who=me", "who=you")
    assert requests.get(tampered, timeout=30).json()["ErrorCode"] == "SignatureNotMatch"


def test_flask_app_as_wsgi_handler(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    code = Path(write_code(tmp_path, {"index.py": FLASK_APP}))
    vendor_python_packages(
        code, ["flask", "werkzeug", "jinja2", "markupsafe", "itsdangerous", "click", "blinker"]
    )
    client.create_function(service, "flask", "python3", "index.handler", codeDir=str(code))
    http_trigger(client, service, "flask")
    url = daemon.endpoint + proxy(service, "flask", "/hello/world")
    response = requests.post(url, params={"x": ["1", "2"]}, data="form text", timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["X-Flask"] == "yes"
    assert response.json() == {
        "name": "world",
        "args": {"x": ["1", "2"]},
        "data": "form text",
        "method": "POST",
    }
    missing = requests.get(daemon.endpoint + proxy(service, "flask", "/missing"), timeout=30)
    assert missing.status_code == 404
    assert missing.text == "nope"


def vendor_python_packages(code: Path, names: list[str]) -> None:
    """Copy installed pure-Python packages from this venv into a function's code directory."""
    import importlib

    for name in names:
        module = importlib.import_module(name)
        assert module.__file__ is not None
        shutil.copytree(Path(module.__file__).parent, code / name)


def test_nodejs_req_resp_handler(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    client.create_function(
        service,
        "node",
        "nodejs14",
        "index.handler",
        codeDir=write_code(tmp_path, {"index.js": NODE_HTTP}),
    )
    http_trigger(client, service, "node")
    url = daemon.endpoint + proxy(service, "node", "/n/p")
    response = requests.post(
        url,
        params=[("one", "1"), ("many", "a"), ("many", "b")],
        data=b"node body",
        headers={"X-Node": "yes"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    assert response.headers["x-q-one"] == "1"
    assert "x-gone" not in response.headers
    assert response.raw.headers.getlist("Set-Cookie") == ["n=1", "m=2"]
    seen = response.json()
    assert seen["path"] == "/n/p"
    assert seen["method"] == "POST"
    assert seen["queries"] == {"one": "1", "many": ["a", "b"]}
    assert seen["headers"]["x-node"] == "yes"
    assert seen["url"] == proxy(service, "node", "/n/p") + "?one=1&many=a&many=b"
    assert seen["clientIP"] == "127.0.0.1"
    assert seen["body"] == "node body"
    assert seen["requestId"] == response.headers["x-fc-request-id"]
    binary = bytes(range(256)) * 16
    raw = requests.put(daemon.endpoint + proxy(service, "node", "/raw"), data=binary, timeout=30)
    assert raw.content == binary


def test_async_http_request_runs_later_with_the_whole_request(
    client: fc2.Client, daemon: RunningDaemon, service: str, wsgi: str
) -> None:
    client.put_function_async_invoke_config(service, "LATEST", wsgi, {"statefulInvocation": True})
    response = requests.post(
        daemon.endpoint + proxy(service, wsgi, "/later"),
        params={"k": "v"},
        data=b"later body",
        headers={"X-Fc-Invocation-Type": "Async", "X-Later": "yes"},
        timeout=30,
    )
    assert response.status_code == 202, response.text
    assert response.content == b""
    request_id = response.headers["x-fc-request-id"]
    path = (
        f"/2016-08-15/services/{service}/functions/{wsgi}/stateful-async-invocations/{request_id}"
    )
    deadline = time.monotonic() + 20
    record: dict[str, object] = {}
    while time.monotonic() < deadline:
        record = fc_request(daemon.endpoint, "GET", path).json()
        if record.get("status") == "Succeeded":
            break
        time.sleep(0.2)
    assert record.get("status") == "Succeeded", record
    # The function saw the HTTP request, not just its body.
    seen = json.loads(str(record["returnPayload"]))
    assert seen["method"] == "POST"
    assert seen["path"] == "/later"
    assert seen["query"] == "k=v"
    assert seen["body"] == "later body"
    assert seen["headers"]["HTTP_X_LATER"] == "yes"
    too_big = requests.post(
        daemon.endpoint + proxy(service, wsgi, "/raw"),
        data=b"x" * (128 * 1024 + 1),
        headers={"X-Fc-Invocation-Type": "Async"},
        timeout=30,
    )
    assert too_big.status_code == 400


def test_a_forwarded_for_header_does_not_forge_the_client_address(
    daemon: RunningDaemon, service: str, wsgi: str
) -> None:
    """fcd is the edge: no proxy in front of it is trusted to name the client (uvicorn's
    proxy-headers middleware took X-Forwarded-For from any loopback peer)."""
    url = daemon.endpoint + proxy(service, wsgi, "/who")
    response = requests.get(
        url,
        headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert response.json()["remote_addr"] == "127.0.0.1"
