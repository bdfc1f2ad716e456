"""A signed request's ``Content-MD5`` binds its body.

The FC signature covers the ``Content-MD5`` header but not the body, so a request signed over
one body was accepted with another one swapped in. Now a request that carries ``Content-MD5``
(the management API, the invoke path, signed HTTP triggers) is refused with 400
``InvalidArgument`` unless its body matches, in any of the encodings the SDKs send (spec
§1.2: Java base64 of the digest, Go the hex digest, Node base64 of the hex digest).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import fc2
import pytest

from tests.daemon import RunningDaemon
from tests.fc_errors import assert_fc_error
from tests.integration.test_http_trigger import WSGI_ECHO, http_trigger, proxy
from tests.integration.test_http_trigger import write_code as write_files
from tests.integration.test_invoke import ECHO, invoke_path, write_code
from tests.signed_http import API, fc_request


def java_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


def go_md5(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def node_md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).hexdigest().encode()).decode()


ENCODINGS = [java_md5, go_md5, node_md5]


@pytest.mark.parametrize("md5", ENCODINGS)
def test_the_api_refuses_a_body_swapped_under_a_signed_md5(
    daemon: RunningDaemon, unique: str, md5: Callable[[bytes], str]
) -> None:
    signed_for = json.dumps({"serviceName": f"md5_a_{unique}"}).encode()
    swapped = json.dumps({"serviceName": f"md5_b_{unique}"}).encode()
    headers = {"Content-MD5": md5(signed_for)}
    refused = fc_request(daemon.endpoint, "POST", f"{API}/services", swapped, headers)
    body = assert_fc_error(refused, 400, "InvalidArgument")
    assert "Content-MD5" in body["ErrorMessage"]
    created = fc_request(daemon.endpoint, "POST", f"{API}/services", signed_for, headers)
    assert created.status_code == 200, created.text
    assert created.json()["serviceName"] == f"md5_a_{unique}"
    listed = fc_request(daemon.endpoint, "GET", f"{API}/services?prefix=md5_b_{unique}")
    assert listed.json()["services"] == []


def test_the_api_without_content_md5_is_unaffected(client: fc2.Client, unique: str) -> None:
    # The Python SDK never sends Content-MD5.
    assert client.create_service(f"md5_none_{unique}").data["serviceName"] == f"md5_none_{unique}"


def test_the_invoke_path_refuses_a_swapped_payload(
    client: fc2.Client, daemon: RunningDaemon, unique: str, tmp_path: Path
) -> None:
    service = f"md5_inv_{unique}"
    client.create_service(service)
    client.create_function(
        service, "echo", "python3", "index.handler", codeDir=write_code(tmp_path, ECHO), timeout=5
    )
    path = invoke_path(service, "echo")
    for md5 in ENCODINGS:
        headers = {"Content-MD5": md5(b"transfer 1"), "Content-Type": "application/octet-stream"}
        refused = fc_request(daemon.endpoint, "POST", path, b"transfer 1000000", headers)
        assert_fc_error(refused, 400, "InvalidArgument")
        done = fc_request(daemon.endpoint, "POST", path, b"transfer 1", headers)
        assert done.status_code == 200, done.text
        assert done.content == b"transfer 1"
    # Async invocations check it before the event is queued.
    async_headers = {"Content-MD5": go_md5(b"a"), "X-Fc-Invocation-Type": "Async"}
    queued = fc_request(daemon.endpoint, "POST", path, b"b", async_headers)
    assert_fc_error(queued, 400, "InvalidArgument")
    # A large payload (hashed off the event loop) too.
    big = b"x" * (1024 * 1024)
    refused = fc_request(daemon.endpoint, "POST", path, big + b"y", {"Content-MD5": go_md5(big)})
    assert_fc_error(refused, 400, "InvalidArgument")
    assert fc_request(daemon.endpoint, "POST", path, big, {"Content-MD5": go_md5(big)}).ok


def test_a_signed_http_trigger_refuses_a_swapped_body(
    client: fc2.Client, daemon: RunningDaemon, unique: str, tmp_path: Path
) -> None:
    service = f"md5_http_{unique}"
    client.create_service(service)
    client.create_function(
        service,
        "signed",
        "python3",
        "index.handler",
        codeDir=write_files(tmp_path, {"index.py": WSGI_ECHO}),
    )
    http_trigger(client, service, "signed", auth="function")
    headers = {"Content-MD5": java_md5(b"mine")}
    refused = fc_request(daemon.endpoint, "POST", proxy(service, "signed", "/p"), b"yours", headers)
    assert_fc_error(refused, 400, "InvalidArgument")
