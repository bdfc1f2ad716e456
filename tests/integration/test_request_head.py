"""Every listener bounds a request's head in size, fields and time, before it buffers more.

An anonymous client needs no signature to send a head (``/healthz`` will do), so these tests
speak raw sockets to a daemon started with a short ``limits.header_timeout``: a head over
``header_bytes`` or with more than ``header_count`` fields gets 431 and a closed connection
without the daemon's memory growing by the head's size; a head that dribbles in gets 408
after the timeout while other clients are served; ordinary and keep-alive requests, and the
official SDK, work as before.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import make_client
from tests.daemon import RunningDaemon, free_port, start_daemon
from tests.integration.test_http_trigger_domains import self_signed
from tests.signed_http import sign_headers

HEADER_TIMEOUT = 2  # seconds, the test daemon's limits.header_timeout
BODY_TIMEOUT = 3  # seconds, the test daemon's limits.body_timeout
HEADER_BYTES = 64 * 1024  # the default limits.header_bytes
HEADER_COUNT = 100  # the default limits.header_count
MIB = 1024 * 1024
DEADLINE = 30.0  # seconds any answer may take on a busy shared machine


@dataclass
class Listeners:
    daemon: RunningDaemon
    http_port: int
    https_port: int


@pytest.fixture(scope="module")
def listeners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listeners]:
    base = tmp_path_factory.mktemp("head")
    config = base / "fcd.toml"
    config.write_text(
        f"[limits]\nheader_timeout = {HEADER_TIMEOUT}\nbody_timeout = {BODY_TIMEOUT}\n"
    )
    http_port, https_port = free_port(), free_port()
    daemon = start_daemon(
        base / "data",
        config,
        FCD_HTTP_LISTEN=f"127.0.0.1:{http_port}",
        FCD_HTTPS_LISTEN=f"127.0.0.1:{https_port}",
        # Nothing here runs a function: no sandboxes, so no host-wide lock is needed.
        FCD_ISOLATION="none",
    )
    yield Listeners(daemon, http_port, https_port)
    assert daemon.stop() == 0, daemon.logs()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    closed: bool  # the daemon closed the connection after the answer


def read_answer(
    sock: socket.socket, *, expect_close: bool = True, pending: bytearray | None = None
) -> Answer:
    """One response off ``sock``; with ``expect_close``, also wait for the daemon to close
    when the response says it will.

    ``pending`` carries bytes read past one response over to the next (pipelining).
    """
    sock.settimeout(DEADLINE)
    buffer = pending if pending is not None else bytearray()
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before an answer: {bytes(buffer)!r}"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    buffer[:] = rest[length:]
    closed = False
    if expect_close and headers.get("connection") == "close":
        try:
            while sock.recv(65536):
                pass
        except (ConnectionResetError, ssl.SSLError):
            pass
        closed = True
    return Answer(int(lines[0].split()[1]), headers, rest[:length], closed)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)


def send_all(sock: socket.socket, data: bytes) -> int:
    """Send ``data``; return how much went before the daemon stopped taking it."""
    sent = 0
    view = memoryview(data)
    try:
        while sent < len(data):
            sent += sock.send(view[sent : sent + 65536])
    except OSError:  # reset, broken pipe, or TLS closed under us: the daemon stopped reading
        pass
    return sent


def healthz(port: int) -> Answer:
    """``GET /healthz``: 200 on the main listener; the triggers-only ones answer it 404."""
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return read_answer(sock)


def peak_rss(daemon: RunningDaemon) -> int:
    """The daemon process's peak resident memory so far (VmHWM), in bytes."""
    assert daemon.process is not None
    for line in Path(f"/proc/{daemon.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/<pid>/status")


def assert_refused(answer: Answer, status: int, code: str) -> None:
    assert answer.status == status, answer
    assert answer.headers["connection"] == "close"
    assert answer.headers["content-type"] == "application/json"
    assert json.loads(answer.body)["ErrorCode"] == code
    assert answer.closed


LISTENERS = {"listen": 200, "http_listen": 404}  # what each answers GET /healthz with


def port_of(listeners: Listeners, listener: str) -> int:
    return listeners.daemon.port if listener == "listen" else listeners.http_port


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_1_mib_header_gets_431_and_the_connection_closes(
    listeners: Listeners, listener: str
) -> None:
    port = port_of(listeners, listener)
    with connect(port) as sock:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * MIB + b"\r\n\r\n"
        send_all(sock, head)
        answer = read_answer(sock)
    assert_refused(answer, 431, "RequestHeaderFieldsTooLarge")
    assert str(HEADER_BYTES) in json.loads(answer.body)["ErrorMessage"]
    assert healthz(port).status == LISTENERS[listener]


def test_a_header_flood_does_not_grow_the_daemons_memory(listeners: Listeners) -> None:
    """16 MiB of one header: well above the allocator's noise, the unbounded daemon held all of
    it (and copies while joining its pieces); the bounded one reads about the limit and stops."""
    daemon = listeners.daemon
    assert healthz(daemon.port).status == 200
    before = peak_rss(daemon)
    size = 16 * MIB
    with connect(daemon.port) as sock:
        head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
        sent = send_all(sock, head)
        answer = read_answer(sock)
    assert answer.status == 431, answer
    assert sent < size, "the daemon read the whole flood"
    grown = peak_rss(daemon) - before
    assert grown < 4 * MIB, f"the daemon's peak RSS grew by {grown / MIB:.1f} MiB"


@pytest.mark.parametrize("listener", LISTENERS)
def test_too_many_header_fields_get_431(listeners: Listeners, listener: str) -> None:
    port = port_of(listeners, listener)
    fields = b"".join(b"X-F%d: v\r\n" % i for i in range(HEADER_COUNT + 1))
    with connect(port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        answer = read_answer(sock)
    assert_refused(answer, 431, "RequestHeaderFieldsTooLarge")
    assert f"{HEADER_COUNT} header fields" in json.loads(answer.body)["ErrorMessage"]


def test_a_head_just_under_the_limits_is_served(listeners: Listeners) -> None:
    # HEADER_COUNT fields in all (with Host and Connection), about 60 KiB, in three reads.
    fields = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 600) for i in range(HEADER_COUNT - 2))
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"Connection: close\r\n\r\n"
    assert len(head) < HEADER_BYTES
    with connect(listeners.daemon.port) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        third = len(head) // 3
        for part in (head[:third], head[third : 2 * third], head[2 * third :]):
            sock.sendall(part)
        answer = read_answer(sock)
    assert answer.status == 200, answer


def dribble(sock: socket.socket, data: bytes, stop: threading.Event) -> None:
    """Send ``data`` a byte at a time, a byte every 100 ms, until told to stop or refused."""
    for byte in data:
        if stop.wait(0.1):
            return
        try:
            sock.send(bytes([byte]))
        except OSError:
            return


@pytest.mark.parametrize("listener", LISTENERS)
def test_a_dribbled_head_gets_408_while_others_are_served(
    listeners: Listeners, listener: str
) -> None:
    port = port_of(listeners, listener)
    stop = threading.Event()
    with connect(port) as sock:
        start = time.monotonic()
        sender = threading.Thread(
            target=dribble,
            args=(sock, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: y\r\n" * 99, stop),
        )
        sender.start()
        try:
            # Meanwhile another client is served at once, over and over.
            served = 0
            while served < 5:
                assert healthz(port).status == LISTENERS[listener]
                served += 1
            answer = read_answer(sock)
            elapsed = time.monotonic() - start
        finally:
            stop.set()
            sender.join()
    assert_refused(answer, 408, "RequestTimeout")
    assert elapsed >= HEADER_TIMEOUT * 0.9


def test_a_keep_alive_connection_that_starts_a_request_and_stalls_gets_408(
    listeners: Listeners,
) -> None:
    with connect(listeners.daemon.port) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        first = read_answer(sock, expect_close=False)
        assert first.status == 200
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        start = time.monotonic()
        answer = read_answer(sock)
    assert_refused(answer, 408, "RequestTimeout")
    assert time.monotonic() - start >= HEADER_TIMEOUT * 0.9


def test_a_body_that_stalls_gets_408_while_others_are_served(listeners: Listeners) -> None:
    # A signed invoke whose body starts and then stops: the client holds a connection and the
    # daemon a growing buffer until [limits] body_timeout, then 408 and close.
    path = "/2016-08-15/services/slow/functions/body/invocations"
    headers = sign_headers("POST", path, {"Content-Length": str(MIB)})
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\n" + "".join(
        f"{k}: {v}\r\n" for k, v in headers.items()
    )
    with connect(listeners.daemon.port) as sock:
        sock.sendall(head.encode() + b"\r\n" + b"x" * 70_000)  # more than one read's worth
        start = time.monotonic()
        for _ in range(3):  # meanwhile other clients are served at once
            assert healthz(listeners.daemon.port).status == 200
        answer = read_answer(sock)
        elapsed = time.monotonic() - start
    assert_refused(answer, 408, "RequestTimeout")
    assert "body_timeout" in json.loads(answer.body)["ErrorMessage"]
    assert elapsed >= BODY_TIMEOUT * 0.9


def test_a_connection_that_sends_nothing_is_closed(listeners: Listeners) -> None:
    with connect(listeners.daemon.port) as sock:
        start = time.monotonic()
        sock.settimeout(DEADLINE)
        assert sock.recv(1024) == b""
    assert time.monotonic() - start >= HEADER_TIMEOUT * 0.9


def test_keep_alive_requests_and_the_sdk_still_work(listeners: Listeners, unique: str) -> None:
    with connect(listeners.daemon.port) as sock:
        for _ in range(20):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert read_answer(sock, expect_close=False).status == 200
        # Two requests in one write (pipelined) are both answered.
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
        pending = bytearray()
        assert read_answer(sock, expect_close=False, pending=pending).status == 200
        assert read_answer(sock, expect_close=False, pending=pending).status == 200
    client = make_client(listeners.daemon.endpoint)
    client.create_service(f"head_{unique}", description="bounded heads")
    got = client.get_service(f"head_{unique}").data
    assert got["description"] == "bounded heads"


def test_the_tls_listener_refuses_a_huge_header_too(
    listeners: Listeners, tmp_path: Path, unique: str
) -> None:
    name = f"head-{unique}.example.test"
    certificate, key, cert_file = self_signed(tmp_path, name)
    client = make_client(listeners.daemon.endpoint)
    route = {"routes": [{"path": "/*", "serviceName": "s", "functionName": "f"}]}
    client.create_custom_domain(
        name,
        protocol="HTTP,HTTPS",
        routeConfig=route,
        certConfig={"certName": name, "certificate": certificate, "privateKey": key},
    )
    context = ssl.create_default_context(cafile=str(cert_file))
    with (
        connect(listeners.https_port) as raw,
        context.wrap_socket(raw, server_hostname=name) as sock,
    ):
        head = b"GET / HTTP/1.1\r\nHost: " + name.encode() + b"\r\nX-Big: " + b"a" * MIB
        send_all(sock, head + b"\r\n\r\n")
        answer = read_answer(sock)
    assert_refused(answer, 431, "RequestHeaderFieldsTooLarge")


def test_a_head_answer_in_a_pipeline_is_sent_whole_and_in_order(listeners: Listeners) -> None:
    """A HEAD answer has no body write to join its head to: it still leaves at once."""
    with connect(listeners.daemon.port) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        pending = bytearray()
        first = read_answer(sock, expect_close=False, pending=pending)
        assert first.status == 200
        while pending.count(b"\r\n\r\n") < 1:
            chunk = sock.recv(65536)
            assert chunk
            pending += chunk
        head, _, rest = bytes(pending).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        pending[:] = rest  # a HEAD answer has no body: the next answer follows its head
        last = read_answer(sock, pending=pending)
        assert last.status == 200
        assert last.body == first.body
        assert last.closed


def test_expect_100_continue_is_answered_before_the_body_is_sent(
    listeners: Listeners, unique: str
) -> None:
    """100 Continue is written as soon as the app reads the body, not held with the answer."""
    from tests.signed_http import sign_headers

    path = "/2016-08-15/services"
    body = json.dumps({"serviceName": f"cont_{unique}"}).encode()
    headers = sign_headers("POST", path, {"Content-Type": "application/json"})
    head = [f"POST {path} HTTP/1.1", "Host: x", f"Content-Length: {len(body)}"]
    head += ["Expect: 100-continue", *(f"{k}: {v}" for k, v in headers.items())]
    with connect(listeners.daemon.port) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.settimeout(DEADLINE)
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = sock.recv(1)
            assert chunk, "closed before 100 Continue"
            interim += chunk
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = read_answer(sock, expect_close=False)
    assert answer.status == 200, answer.body
    assert json.loads(answer.body)["serviceName"] == f"cont_{unique}"
