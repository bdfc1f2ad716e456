"""http(s) async destinations never reach the host itself unless the operator allows it.

A real HTTP server listens on all of this host's addresses; a function fails (so its
onFailure destination is used). With the default config a literal loopback URL is refused at
write time (400 naming the config line), a name that resolves to loopback (this host's name,
from /etc/hosts) is refused when the record is sent, and the server receives nothing; the
refused destination ends ``Failed`` exactly as a closed port does. With ``[async]
destination_allow`` the server receives the record.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import fc2
import pytest
from fc2.fc_exceptions import FcError

from tests.conftest import make_client
from tests.daemon import RunningDaemon, free_port, start_daemon
from tests.integration.test_async import ASYNC, HANDLER, finished, stateful
from tests.integration.test_invoke import write_code


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.received.append((self.path, self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sink() -> Iterator[tuple[int, list[tuple[str, bytes]]]]:
    """An HTTP server on every address of this host (loopback included): port, requests."""
    received: list[tuple[str, bytes]] = []
    handler = type("Handler", (_Collector,), {"received": received})
    server = ThreadingHTTPServer(("0.0.0.0", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], received
    server.shutdown()
    server.server_close()
    thread.join()


def _service(client: fc2.Client, tmp_path: Path) -> str:
    client.create_service("egress")
    code = write_code(tmp_path, HANDLER)
    client.create_function("egress", "work", "python3", "index.handler", codeDir=code, timeout=10)
    return "egress"


def _fail_once(client: fc2.Client, daemon: RunningDaemon, service: str) -> dict[str, Any]:
    """Run one failing async invocation to its end (its onFailure destination included)."""
    rid = client.invoke_function(service, "work", payload="always-fail", headers=ASYNC).headers[
        "x-fc-request-id"
    ]
    done = finished(daemon, service, "work", rid)
    for _ in range(200):  # the POST follows the row's end; its status is written after it
        if done["destinationStatus"] not in ("", "Pending"):
            break
        done = finished(daemon, service, "work", rid)
    return dict(done)


@pytest.fixture
def default_daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    running = start_daemon(tmp_path / "data")
    yield running
    running.stop()


def test_default_config_keeps_destinations_off_this_host(
    default_daemon: RunningDaemon, tmp_path: Path, sink: tuple[int, list[tuple[str, bytes]]]
) -> None:
    port, received = sink
    client = make_client(default_daemon.endpoint)
    service = _service(client, tmp_path)
    # Literal local addresses: refused at write time, with the way to allow them.
    for url in (
        f"http://127.0.0.1:{port}/hook",
        f"http://[::1]:{port}/hook",
        f"http://[::ffff:127.0.0.1]:{port}/hook",
        f"http://2130706433:{port}/hook",
        f"http://0.0.0.0:{port}/hook",
        f"http://localhost:{port}/hook",
        "http://169.254.169.254/latest/meta-data",
    ):
        with pytest.raises(FcError) as refused:
            stateful(
                client,
                service,
                "work",
                maxAsyncRetryAttempts=0,
                destinationConfig={"onFailure": {"destination": url}},
            )
        assert refused.value.status_code == 400, url
        assert "destination_allow" in refused.value.message, refused.value.message
    # A name that resolves to loopback passes the write and is refused when sent.
    name = socket.gethostname()
    assert socket.gethostbyname(name).startswith("127."), "the test needs /etc/hosts's name"
    stateful(
        client,
        service,
        "work",
        maxAsyncRetryAttempts=0,
        destinationConfig={"onFailure": {"destination": f"http://{name}:{port}/hook"}},
    )
    refused_record = _fail_once(client, default_daemon, service)
    # A closed port (nothing listens): the same recorded outcome.
    stateful(
        client,
        service,
        "work",
        maxAsyncRetryAttempts=0,
        destinationConfig={"onFailure": {"destination": f"http://{name}:{free_port()}/hook"}},
    )
    closed_record = _fail_once(client, default_daemon, service)
    assert refused_record["destinationStatus"] == closed_record["destinationStatus"] == "Failed"
    assert received == []
    assert "destination_allow" in default_daemon.logs()


def test_allow_list_lets_the_record_through(
    tmp_path: Path, sink: tuple[int, list[tuple[str, bytes]]]
) -> None:
    port, received = sink
    daemon = start_daemon(
        tmp_path / "data", config=f'[async]\ndestination_allow = ["127.0.0.1:{port}"]\n'
    )
    try:
        client = make_client(daemon.endpoint)
        service = _service(client, tmp_path)
        stateful(
            client,
            service,
            "work",
            maxAsyncRetryAttempts=0,
            destinationConfig={"onFailure": {"destination": f"http://127.0.0.1:{port}/hook?x=1"}},
        )
        done = _fail_once(client, daemon, service)
        assert done["status"] == "Failed"
        assert done["destinationStatus"] == "Succeeded"
        path, body = received[0]
        assert path == "/hook?x=1"
        sent = json.loads(body)
        assert sent["requestContext"]["requestId"] == done["requestId"]
        assert sent["requestContext"]["condition"] == "RetriesExhausted"
        assert sent["requestContext"]["approximateInvokeCount"] == 1
        assert json.loads(sent["responsePayload"])["errorMessage"] == "always"
        # Another port of the same address is still refused at write time.
        with pytest.raises(FcError) as refused:
            stateful(
                client,
                service,
                "work",
                destinationConfig={"onFailure": {"destination": f"http://127.0.0.1:{port + 1}/"}},
            )
        assert refused.value.status_code == 400
    finally:
        daemon.stop()
