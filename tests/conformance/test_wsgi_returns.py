"""Point 1: every return value a WSGI app may give FC's python runtime, over an HTTP trigger."""

from __future__ import annotations

import fc2
import pytest
import requests

from tests.conformance.conftest import code_dir
from tests.daemon import RunningDaemon


@pytest.fixture
def wsgi_url(client: fc2.Client, daemon: RunningDaemon, service: str) -> str:
    client.create_function(
        service, "wsgi", "python3", "index.handler", codeDir=code_dir("wsgi_returns")
    )
    client.create_trigger(
        service, "wsgi", "http", "http", {"authType": "anonymous", "methods": ["GET"]}, "", ""
    )
    return f"{daemon.endpoint}/2016-08-15/proxy/{service}/wsgi"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/bytes", b"hello bytes"),
        ("/bytearray", b"hello bytearray"),
        ("/str", "hello str, 你好".encode()),
        ("/list", b"hello list"),
        ("/generator", b"hello generator"),
        ("/closing", b"hello closing"),
    ],
)
def test_each_return_shape_is_the_body(wsgi_url: str, path: str, body: bytes) -> None:
    response = requests.get(wsgi_url + path, timeout=30)
    assert (response.status_code, response.content) == (200, body)


def test_the_iterable_is_closed(wsgi_url: str) -> None:
    before = int(requests.get(wsgi_url + "/closed", timeout=30).text)
    assert requests.get(wsgi_url + "/closing", timeout=30).content == b"hello closing"
    assert int(requests.get(wsgi_url + "/closed", timeout=30).text) == before + 1
