"""Sync invocations through the official Python SDK (and raw signed HTTP for exact headers).

Every test drives the session daemon: python3 functions in real instances (sandboxed when the
tests run as root), FC's response headers and error shapes, tail logs, instance concurrency and
429s, alias weights, metering rows and deploys under load.
"""

from __future__ import annotations

import base64
import json
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fc2
import pytest
import requests
from fc2.fc_exceptions import FcError

from tests.conftest import make_client
from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, RunningDaemon
from tests.integration.test_cli import clean_env, fcctl
from tests.signed_http import fc_request, sign_headers
from tests.waiting import wait_until

ECHO = """
import os, time

def handler(event, context):
    if event == b"str":
        return "hello world"
    if event.startswith(b"sleep:"):
        print("sleeping")  # tests wait for this line: the request is inside its instance
        time.sleep(float(event[6:]))  # the work that holds the instance
        return "slept"
    if event == b"raise":
        raise ValueError("something is wrong")
    if event == b"exit":
        os._exit(3)
    if event == b"version":
        return context.service.version_id or "LATEST"
    if event == b"whoami":
        print("line of", context.request_id)
        time.sleep(0.2)  # two lines apart in time; billed 300 ms (test_fcctl_logs_and_usage)
        print("another line of", context.request_id)
        return context.request_id
    return event
"""


def write_code(tmp_path: Path, source: str, name: str = "code") -> str:
    code = tmp_path / name
    code.mkdir()
    (code / "index.py").write_text(source)
    return str(code)


@pytest.fixture
def service(client: fc2.Client, unique: str) -> str:
    name = f"inv_{unique}"
    client.create_service(name)
    return name


@pytest.fixture
def echo(client: fc2.Client, service: str, tmp_path: Path) -> str:
    client.create_function(
        service, "echo", "python3", "index.handler", codeDir=write_code(tmp_path, ECHO), timeout=5
    )
    return "echo"


def invoke_path(service: str, function: str) -> str:
    return f"/2016-08-15/services/{service}/functions/{function}/invocations"


def raw_invoke(
    daemon: RunningDaemon, service: str, function: str, body: bytes, **headers: str
) -> requests.Response:
    return fc_request(daemon.endpoint, "POST", invoke_path(service, function), body, headers)


def test_python3_returns_exact_bytes_and_str(
    client: fc2.Client, daemon: RunningDaemon, service: str, echo: str
) -> None:
    binary = bytes(range(256)) * 4
    response = client.invoke_function(service, echo, payload=binary)
    assert response.data == binary
    assert client.invoke_function(service, echo, payload=b"str").data == b"hello world"
    assert client.invoke_function(service, echo, payload=b"").data == b""

    raw = raw_invoke(daemon, service, echo, b"str")
    assert raw.status_code == 200
    assert raw.headers["content-type"] == "application/octet-stream"
    assert len(raw.headers["x-fc-request-id"]) == 36
    assert raw.headers["x-fc-invocation-service-version"] == "LATEST"
    assert int(raw.headers["x-fc-invocation-duration"]) >= 1
    assert float(raw.headers["x-fc-max-memory-usage"]) > 0
    assert raw.headers["x-fc-instance-id"].startswith("c-")
    checksum = client.get_function(service, echo).data["codeChecksum"]
    assert raw.headers["x-fc-code-checksum"] == checksum
    assert "x-fc-error-type" not in raw.headers
    assert "x-fc-log-result" not in raw.headers


def test_unhandled_error_and_crash(
    client: fc2.Client, daemon: RunningDaemon, service: str, echo: str
) -> None:
    with pytest.raises(FcError) as raised:
        client.invoke_function(service, echo, payload=b"raise")
    assert raised.value.status_code == 200
    raw = raw_invoke(daemon, service, echo, b"raise")
    assert raw.status_code == 200
    assert raw.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert raw.headers["content-type"] == "application/json"
    error = raw.json()
    assert error["errorMessage"] == "something is wrong"
    assert error["errorType"] == "ValueError"
    assert error["stackTrace"]
    # A function error leaves the instance alive: the next call is warm on the same one.
    again = raw_invoke(daemon, service, echo, b"ok")
    assert again.headers["x-fc-instance-id"] == raw.headers["x-fc-instance-id"]

    crashed = raw_invoke(daemon, service, echo, b"exit")
    assert crashed.status_code == 200
    assert crashed.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert crashed.json()["errorMessage"].startswith(
        "Process exited unexpectedly before completing request"
    )
    # The dead instance is replaced on demand.
    after = raw_invoke(daemon, service, echo, b"ok")
    assert after.status_code == 200
    assert after.content == b"ok"
    assert after.headers["x-fc-instance-id"] != crashed.headers["x-fc-instance-id"]


def test_timeout_ends_the_request_and_recycles_the_instance(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    client.create_function(
        service, "slow", "python3", "index.handler", codeDir=write_code(tmp_path, ECHO), timeout=1
    )
    started = time.monotonic()
    timed_out = raw_invoke(daemon, service, "slow", b"sleep:30")
    assert time.monotonic() - started < 10
    assert timed_out.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert "timed out after 1 seconds" in timed_out.json()["errorMessage"]
    after = raw_invoke(daemon, service, "slow", b"ok")
    assert after.content == b"ok"
    assert after.headers["x-fc-instance-id"] != timed_out.headers["x-fc-instance-id"]


def test_tail_log_holds_only_that_requests_lines(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    client.create_function(
        service,
        "shared",
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, ECHO),
        instanceConcurrency=4,
    )

    def call(_: int) -> tuple[str, str, str]:
        r = raw_invoke(daemon, service, "shared", b"whoami", **{"X-Fc-Log-Type": "Tail"})
        log = base64.b64decode(r.headers["x-fc-log-result"]).decode()
        return r.text, r.headers["x-fc-instance-id"], log

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(call, range(4)))
    assert len({instance for _, instance, _ in results}) < 4  # some ran side by side
    request_ids = {rid for rid, _, _ in results}
    for rid, _, log in results:
        assert f"line of {rid}" in log
        assert f"another line of {rid}" in log
        assert f"FC Invoke Start RequestId: {rid}" in log
        assert f"FC Invoke Summary RequestId: {rid}" in log
        for other in request_ids - {rid}:
            assert other not in log


def test_instance_concurrency_and_max_instances_give_429_at_once(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    client.create_function(
        service,
        "capped",
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, ECHO),
        instanceConcurrency=2,
    )
    client.put_on_demand_config(service, "LATEST", "capped", 1)
    barrier = threading.Barrier(2)

    def slow(_: int) -> requests.Response:
        barrier.wait()
        return raw_invoke(daemon, service, "capped", b"sleep:1.5")

    with ThreadPoolExecutor(2) as pool:
        running = list(pool.map(lambda i: pool.submit(slow, i), range(2)))
        inside_handler(daemon, service, "capped", 2)  # both are inside the one instance now
        started = time.monotonic()
        with pytest.raises(FcError) as rejected:
            client.invoke_function(service, "capped", payload=b"x")
        waited = time.monotonic() - started
        results = [future.result() for future in running]
    assert rejected.value.status_code == 429
    assert rejected.value.err_code == "ResourceExhausted"
    assert waited < 0.5, "a sync invoke over capacity must be refused at once, not queued"
    assert [r.content for r in results] == [b"slept", b"slept"]
    assert len({r.headers["x-fc-instance-id"] for r in results}) == 1


def test_alias_weights_split_traffic(
    client: fc2.Client, daemon: RunningDaemon, service: str, echo: str, tmp_path: Path
) -> None:
    assert client.publish_version(service).data["versionId"] == "1"
    client.update_function(service, echo, codeDir=write_code(tmp_path, ECHO + "\n#v2\n", "v2"))
    assert client.publish_version(service).data["versionId"] == "2"
    client.create_alias(service, "split", "1", additionalVersionWeight={"2": 0.3})

    path = invoke_path(f"{service}.split", echo)
    headers = sign_headers("POST", path)  # valid for minutes: reused by every call
    total = 2000

    def batch(count: int) -> list[tuple[str, str]]:
        with requests.Session() as session:
            out = []
            for _ in range(count):
                r = session.post(daemon.endpoint + path, data=b"version", headers=headers)
                assert r.status_code == 200, r.text
                out.append((r.headers["x-fc-invocation-service-version"], r.text))
            return out

    with ThreadPoolExecutor(4) as pool:
        seen = [pair for part in pool.map(batch, [total // 4] * 4) for pair in part]
    # The version in the header is the one whose code ran (context.service.version_id).
    assert all(header == body for header, body in seen)
    to_2 = sum(1 for header, _ in seen if header == "2")
    assert {header for header, _ in seen} == {"1", "2"}
    # Binomial(2000, 0.3): mean 600, sd 20.5; five sd either side fails once in ~3.5 million.
    sd = math.sqrt(total * 0.3 * 0.7)
    assert abs(to_2 - total * 0.3) < 5 * sd, to_2


def test_metering_rows_match_the_arithmetic(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    client.create_function(
        service,
        "metered",
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, ECHO),
        memorySize=512,
    )
    cold = raw_invoke(daemon, service, "metered", b"sleep:0.15")
    warm = raw_invoke(daemon, service, "metered", b"raise")
    rows = [usage_of(daemon, r.headers["x-fc-request-id"]) for r in (cold, warm)]
    for row, response in zip(rows, (cold, warm), strict=True):
        duration = row["durationMs"]
        assert row["billedDurationMs"] == max(100, math.ceil(round(duration, 3) / 100) * 100)
        assert row["memorySize"] == 512
        assert row["gbSeconds"] == pytest.approx(row["billedDurationMs"] / 1000 * 0.5)
        assert row["maxMemoryUsedMb"] == pytest.approx(
            float(response.headers["x-fc-max-memory-usage"]), abs=0.01
        )
        assert row["serviceName"] == service
        assert row["functionName"] == "metered"
        assert row["versionId"] == "LATEST"
    assert rows[0]["durationMs"] >= 150
    assert rows[0]["billedDurationMs"] >= 200
    assert rows[0]["coldStart"] is True
    assert rows[0]["coldStartMs"] > 0
    assert rows[0]["status"] == "success"
    assert rows[1]["coldStart"] is False
    assert rows[1]["status"] == "unhandled_error"

    report = signed_get(daemon, f"/2016-08-15/usage?service={service}&function=metered").json()
    (day,) = report["usage"]
    assert day["invocations"] == 2
    assert day["coldStarts"] == 1
    assert day["errors"] == 1
    assert day["billedDurationMs"] == sum(r["billedDurationMs"] for r in rows)
    assert day["gbSeconds"] == pytest.approx(sum(r["gbSeconds"] for r in rows))
    assert report["total"]["invocations"] == 2


def test_logs_are_stored_per_request(
    client: fc2.Client, daemon: RunningDaemon, service: str, echo: str
) -> None:
    first = raw_invoke(daemon, service, echo, b"whoami")
    raw_invoke(daemon, service, echo, b"whoami")
    rid = first.headers["x-fc-request-id"]
    path = f"/2016-08-15/services/{service}/functions/{echo}/logs?requestId={rid}"
    lines = wait_for(lambda: signed_get(daemon, path).json()["logs"], lambda logs: len(logs) >= 5)
    assert {line["requestId"] for line in lines} == {rid}
    messages = [line["message"] for line in lines]
    assert f"line of {rid}" in messages
    assert any(m.startswith(f"FC Invoke Summary RequestId: {rid}") for m in messages)
    everything = signed_get(daemon, f"/2016-08-15/services/{service}/functions/{echo}/logs")
    assert len({line["requestId"] for line in everything.json()["logs"]} - {""}) == 2
    tail = signed_get(daemon, f"/2016-08-15/services/{service}/functions/{echo}/logs?tail=1")
    assert len(tail.json()["logs"]) == 1


def test_deploy_during_load_fails_no_request(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    old = ECHO.replace("return event\n", 'return b"old"\n')
    new = ECHO.replace("return event\n", 'return b"new"\n')
    client.create_function(
        service,
        "deployed",
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, old, "old"),
        instanceConcurrency=2,
    )
    path = invoke_path(service, "deployed")
    stop = threading.Event()
    answers: list[tuple[int, bytes]] = []  # every hammer's, as they come

    def hammer(_: int) -> list[tuple[int, bytes]]:
        seen = []
        with requests.Session() as session:
            while not stop.is_set():
                r = session.post(
                    daemon.endpoint + path, data=b"x", headers=sign_headers("POST", path)
                )
                seen.append((r.status_code, r.content))
                answers.append(seen[-1])
        return seen

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(hammer, i) for i in range(4)]
        wait_until(lambda: (200, b"old") in answers, 20, "the old code to answer")
        client.update_function(service, "deployed", codeDir=write_code(tmp_path, new, "new"))
        wait_until(lambda: answers.count((200, b"new")) >= 20, 20, "the new code to answer")
        stop.set()
        seen = [pair for future in futures for pair in future.result()]
    assert [pair for pair in seen if pair[0] != 200] == []
    bodies = [body for _, body in seen]
    assert b"old" in bodies
    assert b"new" in bodies
    # Once the update has answered, every new request runs the new code.
    assert client.invoke_function(service, "deployed", payload=b"x").data == b"new"


def test_payload_limit_and_missing_function(
    client: fc2.Client, daemon: RunningDaemon, service: str, echo: str
) -> None:
    too_big = raw_invoke(daemon, service, echo, b"x" * (32 * 1024 * 1024 + 1))
    assert too_big.status_code == 400
    assert too_big.json()["ErrorCode"] == "EntityTooLarge"
    with pytest.raises(FcError) as missing:
        client.invoke_function(service, "nope")
    assert missing.value.status_code == 404
    assert missing.value.err_code == "FunctionNotFound"
    unsigned = requests.post(daemon.endpoint + invoke_path(service, echo), data=b"x", timeout=10)
    assert unsigned.status_code == 403
    assert unsigned.json()["ErrorCode"] == "AccessDenied"


@pytest.mark.root
def test_out_of_memory_is_reported_as_such(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    hog = "def handler(event, context):\n    blocks = [bytearray(16 << 20) for _ in range(64)]\n"
    client.create_function(
        service,
        "hog",
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, hog),
        memorySize=128,
    )
    r = raw_invoke(daemon, service, "hog", b"")
    assert r.headers["x-fc-error-type"] == "UnhandledInvocationError"
    assert "out of memory" in r.json()["errorMessage"]


# helpers --------------------------------------------------------------------------------------
def signed_get(daemon: RunningDaemon, path: str) -> requests.Response:
    response = fc_request(daemon.endpoint, "GET", path)
    assert response.status_code == 200, response.text
    return response


def inside_handler(daemon: RunningDaemon, service: str, function: str, count: int) -> None:
    """Wait until ``count`` requests print "sleeping": they are running in their instances
    (the recorder writes log lines every 0.2 s, while the handler still runs)."""
    path = f"/2016-08-15/services/{service}/functions/{function}/logs"

    def sleeping() -> int:
        return sum(
            line["message"] == "sleeping" for line in signed_get(daemon, path).json()["logs"]
        )

    wait_until(lambda: sleeping() >= count, 20, f"{count} requests inside {function}")


def usage_of(daemon: RunningDaemon, request_id: str) -> dict[str, Any]:
    """One invocation's metering row, once the recorder has written it."""
    found = wait_for(
        lambda: signed_get(daemon, f"/2016-08-15/usage?requestId={request_id}").json(),
        lambda report: "invocation" in report,
    )
    row = found["invocation"]
    assert isinstance(row, dict)
    return row


def wait_for(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_fcctl_logs_and_usage(
    daemon: RunningDaemon, service: str, echo: str, tmp_path: Path
) -> None:
    first = raw_invoke(daemon, service, echo, b"whoami")
    raw_invoke(daemon, service, echo, b"whoami")
    rid = first.headers["x-fc-request-id"]
    env = clean_env(
        tmp_path,
        FCCTL_ENDPOINT=daemon.endpoint,
        ALIBABA_CLOUD_ACCESS_KEY_ID=ACCESS_KEY_ID,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
    )
    usage_of(daemon, rid)  # written by now
    shown = fcctl(env, "logs", f"{service}/{echo}", "--request-id", rid).stdout
    assert f" {rid} line of {rid}\n" in shown
    assert all(f" {rid} " in line for line in shown.splitlines())
    assert (
        len(
            fcctl(
                env, "logs", f"{service}/{echo}", "--tail", "2", "--since", "5m"
            ).stdout.splitlines()
        )
        == 2
    )
    assert fcctl(env, "logs", f"{service}/{echo}", "--since", str(time.time() + 60)).stdout == (
        "(no log lines)\n"
    )
    table = fcctl(env, "usage", "--service", service).stdout.splitlines()
    assert table[0].split()[:4] == ["day", "serviceName", "functionName", "invocations"]
    assert table[1].split()[1:4] == [service, echo, "2"]
    assert table[-1].split()[:2] == ["TOTAL", "2"]
    row = json.loads(fcctl(env, "usage", "--request-id", rid, "--json").stdout)
    assert row["requestId"] == rid
    assert row["billedDurationMs"] == 300  # the handler sleeps 0.2 s


def test_sigterm_lets_in_flight_invocations_finish(
    fresh_daemon: RunningDaemon, tmp_path: Path
) -> None:
    client = make_client(fresh_daemon.endpoint)
    client.create_service("drain")
    client.create_function(
        "drain", "slow", "python3", "index.handler", codeDir=write_code(tmp_path, ECHO)
    )
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(raw_invoke, fresh_daemon, "drain", "slow", b"sleep:1.5")
        inside_handler(fresh_daemon, "drain", "slow", 1)
        assert fresh_daemon.stop() == 0
        answered = running.result()
    assert answered.status_code == 200
    assert answered.content == b"slept"
    assert "Traceback" not in fresh_daemon.logs()


def _read_response(
    sock: Any, pending: bytearray, chunk: int
) -> tuple[bytes, dict[str, str], bytes]:
    """One response with a Content-Length off ``sock``, read ``chunk`` bytes at a time."""
    while b"\r\n\r\n" not in pending:
        data = sock.recv(chunk)
        assert data, "connection closed before an answer"
        pending += data
    head, _, rest = bytes(pending).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    body = bytearray(rest)
    length = int(headers["content-length"])
    while len(body) < length:
        data = sock.recv(chunk)
        assert data, "connection closed mid-body"
        body += data
    pending[:] = body[length:]
    return lines[0].encode(), headers, bytes(body[:length])


def test_pipelined_invokes_with_bodies_over_1_mib_reach_a_slow_reader_whole(
    daemon: RunningDaemon, service: str, echo: str
) -> None:
    """Head and body leave in one write per response (fcd.gateway.http11): pipelined answers
    stay in order and whole when the client reads slowly and the daemon's writes back up."""
    import socket

    path = invoke_path(service, echo)
    payloads = [bytes([i]) * (MIB_PAYLOAD + i) for i in range(1, 4)] + [b"str"]
    wire = b""
    for payload in payloads:
        headers = sign_headers("POST", path, {"Content-Type": "application/octet-stream"})
        head = [f"POST {path} HTTP/1.1", "Host: fcd", f"Content-Length: {len(payload)}"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        wire += ("\r\n".join(head) + "\r\n\r\n").encode() + payload
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=60) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow, small reader
        sender = threading.Thread(target=sock.sendall, args=(wire,))
        sender.start()
        pending = bytearray()
        answers = [_read_response(sock, pending, 4096) for _ in payloads]
        sender.join(60)
    expected = [*payloads[:-1], b"hello world"]
    for (status, headers, body), want in zip(answers, expected, strict=True):
        assert status == b"HTTP/1.1 200 OK"
        assert len(body) == len(want)
        assert body == want
        assert headers["content-length"] == str(len(want))
    assert pending == b""


MIB_PAYLOAD = 1024 * 1024 + 17
