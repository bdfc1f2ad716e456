"""fcd.client signs as the official SDKs do, and packs code as FC unpacks it."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import socket
import stat
import threading
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest
from fc2.auth import Auth

from fcd import errors, signature
from fcd.client import (
    Client,
    ClientError,
    Credentials,
    code_from_path,
    segment,
    signed_headers,
    zip_directory,
)

DATE = "Mon, 09 Nov 2020 09:46:33 GMT"
NOW = 1604915193.0  # DATE as epoch seconds
CREDS = Credentials(
    endpoint="http://127.0.0.1:9000", access_key_id="akid", access_key_secret="aksecret"
)


def test_matches_the_spec_vector_for_list_services() -> None:
    """Spec §2.6 vector 3, produced with fc2.auth.Auth."""
    headers = signed_headers(
        CREDS,
        "GET",
        "/2016-08-15/services",
        headers={"Content-Type": "application/json"},
        date=DATE,
    )
    assert headers["authorization"] == "FC akid:W1LQtFcZDL0Oxn7sTLMHbbtJUQQZw+bh5+emRFZIJMQ="


@pytest.mark.parametrize(
    ("method", "path", "body", "extra"),
    [
        ("GET", "/2016-08-15/services/s1.LATEST/functions", b"", {}),
        ("POST", "/2016-08-15/services", b'{"serviceName":"s"}', {}),
        ("PUT", "/2016-08-15/services/s1", b'{"description":"d"}', {"If-Match": "abc"}),
        ("DELETE", "/2016-08-15/services/s1/aliases/a", b"", {"X-Fc-Trace-Id": "t-1"}),
        (
            "GET",
            "/2016-08-15/layerarn/" + segment("acs:fc:cn-hangzhou:123:layers/l/versions/1"),
            b"",
            {},
        ),
    ],
)
def test_agrees_with_the_python_sdk(
    method: str, path: str, body: bytes, extra: dict[str, str]
) -> None:
    creds = Credentials(
        endpoint="http://h",
        access_key_id="id1",
        access_key_secret="sec",
        account_id="1234567890123456",
        security_token="tok",
    )
    headers = signed_headers(creds, method, path, body=body, headers=extra, date=DATE)
    sdk = Auth("id1", "sec", "tok").sign_request(method, unquote(path), headers)
    assert headers["authorization"] == sdk
    assert headers["x-fc-account-id"] == "1234567890123456"
    assert headers["x-fc-security-token"] == "tok"
    if body:
        assert headers["content-type"] == "application/json"
        assert headers["content-md5"] == base64.b64encode(hashlib.md5(body).digest()).decode()
    else:
        assert "content-md5" not in headers


def test_the_daemon_verifier_accepts_it_and_rejects_tampering() -> None:
    path = "/2016-08-15/layerarn/" + segment("acs:fc:cn-hangzhou:123:layers/l/versions/1")
    headers = signed_headers(CREDS, "GET", path, date=DATE)
    secrets = {"akid": "aksecret"}.get
    verified = signature.verify(
        method="GET", raw_path=path, headers=headers, query={}, secret_for=secrets, now=NOW
    )
    assert verified == "akid"
    with pytest.raises(errors.SignatureNotMatch):
        signature.verify(
            method="DELETE", raw_path=path, headers=headers, query={}, secret_for=secrets, now=NOW
        )
    with pytest.raises(errors.InvalidAccessKeyID):
        signature.verify(
            method="GET",
            raw_path=path,
            headers=headers,
            query={},
            secret_for=lambda key_id: None,
            now=NOW,
        )


def _tree(root: Path) -> Path:
    (root / "lib" / "pkg").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "index.py").write_text("def handler(event, context):\n    return 'hi'\n")
    (root / "lib" / "pkg" / "mod.py").write_text("X = 1\n")
    (root / "bootstrap").write_text("#!/bin/sh\nexec python3 server.py\n")
    (root / "bootstrap").chmod(0o755)
    (root / "link.py").symlink_to("index.py")
    return root


def test_zip_directory_keeps_layout_modes_links_and_is_reproducible(tmp_path: Path) -> None:
    root = _tree(tmp_path / "code")
    data = zip_directory(root)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        assert sorted(infos) == ["bootstrap", "empty/", "index.py", "lib/pkg/mod.py", "link.py"]
        assert archive.read("lib/pkg/mod.py") == b"X = 1\n"
        assert stat.S_IMODE(infos["bootstrap"].external_attr >> 16) == 0o755
        assert stat.S_ISLNK(infos["link.py"].external_attr >> 16)
        assert archive.read("link.py") == b"index.py"
    os.utime(root / "index.py", (0, 0))
    assert zip_directory(root) == data


def test_code_from_path_takes_a_zip_as_is_and_refuses_other_files(tmp_path: Path) -> None:
    zipped = tmp_path / "code.zip"
    zipped.write_bytes(zip_directory(_tree(tmp_path / "code")))
    assert base64.b64decode(code_from_path(zipped)["zipFile"]) == zipped.read_bytes()
    other = tmp_path / "index.py"
    other.write_text("print(1)\n")
    with pytest.raises(ValueError, match="neither a directory nor a ZIP"):
        code_from_path(other)
    with pytest.raises(FileNotFoundError):
        code_from_path(tmp_path / "missing")


class OneShotServer:
    """Answers one request per connection, then closes it without saying so (no
    ``Connection: close``), as a server does when its keep-alive timer fires between requests."""

    def __init__(self, status: int, body: bytes) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.status, self.body = status, body
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            with conn:
                self.connections += 1
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                head = (
                    f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
                    f"X-Fc-Request-Id: {'r' * 36}\r\nContent-Length: {len(self.body)}\r\n\r\n"
                )
                conn.sendall(head.encode() + self.body)

    def close(self) -> None:
        # shutdown wakes the accept() blocked in the thread; close alone does not.
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join(5)


def test_a_connection_closed_while_idle_is_reopened_once() -> None:
    server = OneShotServer(200, b'{"services": []}')
    try:
        with Client(Credentials(server.endpoint, "id", "secret")) as client:
            assert client.list_services() == {"services": []}
            assert client.list_services() == {"services": []}
        assert server.connections == 2
    finally:
        server.close()


def test_an_fc_error_body_becomes_a_client_error() -> None:
    body = b'{"ErrorCode": "ServiceNotFound", "ErrorMessage": "service \'s\' does not exist"}'
    server = OneShotServer(404, body)
    try:
        with (
            Client(Credentials(server.endpoint, "id", "secret")) as client,
            pytest.raises(ClientError) as caught,
        ):
            client.get_service("s")
        error = caught.value
        assert (error.status, error.code) == (404, "ServiceNotFound")
        assert error.message == "service 's' does not exist"
        assert error.request_id == "r" * 36
        assert str(error) == (
            f"404 ServiceNotFound: service 's' does not exist (request id {'r' * 36})"
        )
    finally:
        server.close()
