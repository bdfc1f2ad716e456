"""A function that floods its output cannot grow the daemon or the database (docs/security.md).

The daemon runs as its own process with small log caps; python3 and nodejs functions print
far more than the caps allow, through the runtime (``print``, ``process.stdout.write``) and
straight to file descriptor 1 (``os.write``, which bypasses the bootstrap). The daemon's
resident memory, measured from ``/proc/<pid>/status``, and the database file stay bounded;
the flooding invocation's log ends with one marker line saying what was dropped; the next
invocation of the same function logs normally, and another function invoked meanwhile is
served as usual.
"""

from __future__ import annotations

import base64
import contextlib
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil
import pytest

from fcd.logs import store as log_store
from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon
from tests.integration.test_invoke import raw_invoke, signed_get, wait_for

pytestmark = pytest.mark.root

KIB = 1024
MIB = 1024 * KIB
INVOCATION_BYTES = 256 * KIB
LINE_BYTES = 4 * KIB
RETENTION_BYTES = 2 * MIB
CONFIG = f"""
[function_logs]
invocation_bytes = {INVOCATION_BYTES}
line_bytes = {LINE_BYTES}
instance_bytes_per_second = {1 * MIB}
instance_lines_per_second = 10000

[retention]
logs_bytes = {RETENTION_BYTES}
"""
# Far beyond the caps: without them the daemon buffered every byte (a 1 GiB flood took it
# to 3.8 GB of RSS) and wrote every line to SQLite.
FLOOD_MB = 200
# The daemon's resident memory may grow by this much while the floods run (it has nothing to
# keep of them but counters; allocator slack and the instances' bookkeeping stay far below).
RSS_GROWTH_LIMIT = 100 * MIB
MARKER = re.compile(r"^fcd: dropped (\d+) log lines \((\d+) bytes\)")

PYTHON = """
import os
import time

LINE = b"x" * 999 + b"\\n"

def handler(event, context):
    if event.startswith(b"fd:"):
        chunk = LINE * 1024  # 1 MiB of lines per write, straight to the descriptor
        for _ in range(int(event[3:])):
            os.write(1, chunk)
        return b"flooded"
    if event.startswith(b"print:"):
        text = "y" * 999
        for _ in range(int(event[6:]) * 1024):
            print(text)
        return b"flooded"
    if event.startswith(b"tiny:") or event.startswith(b"tinyfd:"):
        kind, seconds = event.split(b":")
        end = time.monotonic() + float(seconds)
        while time.monotonic() < end:
            for _ in range(1000):
                if kind == b"tiny":
                    print("a")
                else:
                    os.write(1, b"a\\n")
        return b"flooded"
    if event.startswith(b"long:"):
        os.write(1, b"z" * (int(event[5:]) * 1024 * 1024))  # one line, no newline
        os.write(1, b"\\n")
        return b"flooded"
    print("hello from", context.request_id)
    return b"hello"
"""

NODE = """
exports.handler = (event, context, callback) => {
  const text = event.toString();
  if (text.startsWith('write:')) {
    const line = 'w'.repeat(999) + '\\n';
    for (let i = 0; i < Number(text.slice(6)) * 1024; i++) process.stdout.write(line);
    callback(null, 'flooded');
    return;
  }
  console.log('hello from', context.requestId);
  callback(null, 'hello');
};
"""


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    base = tmp_path_factory.mktemp("logcap")
    config = base / "fcd.toml"
    config.write_text(CONFIG)
    running = start_daemon(base / "data", config=config)
    yield running
    code = running.stop()
    assert code == 0, f"fcd exited with {code} on SIGTERM:\n{running.logs()}"


@pytest.fixture(scope="module")
def functions(capped: RunningDaemon, tmp_path_factory: pytest.TempPathFactory) -> str:
    client = make_client(capped.endpoint)
    client.create_service("flood")
    base = tmp_path_factory.mktemp("code")
    for name, runtime, source, file, memory in (
        ("py", "python3", PYTHON, "index.py", 256),
        ("bystander", "python3", PYTHON, "index.py", 128),
        # Node queues what it cannot send yet in its own memory (the function's cgroup).
        ("node", "nodejs14", NODE, "index.js", 512),
    ):
        code = base / name
        code.mkdir()
        (code / file).write_text(source)
        client.create_function(
            "flood",
            name,
            runtime,
            "index.handler",
            codeDir=str(code),
            memorySize=memory,
            timeout=120,
        )
        assert client.invoke_function("flood", name, payload=b"warm").data == b"hello"
    return "flood"


def vm(pid: int, key: str) -> int:
    """A /proc/<pid>/status figure (VmRSS, VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * KIB
    raise KeyError(key)


def db_bytes(daemon: RunningDaemon) -> int:
    """The SQLite file and its write-ahead log."""
    files = [daemon.data_dir / "fcd.sqlite3", daemon.data_dir / "fcd.sqlite3-wal"]
    return sum(f.stat().st_size for f in files if f.exists())


def request_log(daemon: RunningDaemon, service: str, function: str, rid: str) -> list[str]:
    """The stored lines of one request, once its summary line (written last) is there."""
    path = f"/2016-08-15/services/{service}/functions/{function}/logs?requestId={rid}&tail=10000"
    logs = wait_for(
        lambda: signed_get(daemon, path).json()["logs"],
        lambda logs: any(x["message"].startswith("FC Invoke Summary") for x in logs),
        timeout=30,
    )
    return [x["message"] for x in logs]


def flood(daemon: RunningDaemon, function: str, event: bytes) -> tuple[str, str]:
    """Invoke with the tail log; the request id and the decoded X-Fc-Log-Result."""
    response = raw_invoke(daemon, "flood", function, event, **{"X-Fc-Log-Type": "Tail"})
    assert response.status_code == 200, response.text
    assert response.content == b"flooded"
    assert "x-fc-error-type" not in response.headers
    tail = base64.b64decode(response.headers["x-fc-log-result"]).decode(errors="replace")
    return response.headers["x-fc-request-id"], tail


def assert_capped(lines: list[str], tail: str, rid: str) -> None:
    """Kept lines within the cap, then ONE marker, then FC's end line and the summary."""
    markers = [line for line in lines if MARKER.match(line)]
    assert len(markers) == 1, lines[-5:]
    assert lines[-3] == markers[0], lines[-5:]
    assert lines[-2] == f"FC Invoke End RequestId: {rid}"
    assert lines[-1].startswith(f"FC Invoke Summary RequestId: {rid}")
    kept = sum(len(line) + 1 for line in lines[:-3])
    assert kept <= INVOCATION_BYTES
    dropped_lines, dropped_bytes = map(int, MARKER.match(markers[0]).groups())  # type: ignore[union-attr]
    assert dropped_bytes > 50 * MIB
    assert dropped_lines > 50 * KIB
    assert markers[0] in tail


def test_a_log_flood_is_capped_and_counted(capped: RunningDaemon, functions: str) -> None:
    assert capped.process is not None
    pid = capped.process.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
    rss_before = vm(pid, "VmRSS")
    db_before = db_bytes(capped)

    # A bystander keeps being invoked while the floods run.
    stop = threading.Event()
    served: list[tuple[float, bytes]] = []

    def bystander() -> None:
        client = make_client(capped.endpoint)
        while not stop.is_set():
            t0 = time.monotonic()
            body = client.invoke_function(functions, "bystander", payload=b"hi").data
            served.append((time.monotonic() - t0, body))
            stop.wait(0.05)

    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(bystander)
        try:
            floods = [
                ("py", b"fd:%d" % FLOOD_MB),
                ("py", b"print:%d" % (FLOOD_MB // 2)),
                ("node", b"write:%d" % (FLOOD_MB // 2)),
            ]
            results = [(fn, *flood(capped, fn, event)) for fn, event in floods]
        finally:
            stop.set()
            running.result()

    growth = vm(pid, "VmHWM") - rss_before
    assert growth < RSS_GROWTH_LIMIT, f"daemon RSS grew by {growth / MIB:.0f} MiB"
    for fn, rid, tail in results:
        assert_capped(request_log(capped, functions, fn, rid), tail, rid)
    # What the floods added to the database: their capped lines, nothing like their volume.
    assert db_bytes(capped) - db_before < len(floods) * INVOCATION_BYTES + 8 * MIB

    assert served
    assert all(body == b"hello" for _, body in served)
    assert max(seconds for seconds, _ in served) < 10

    # The same functions log normally on their next invocation.
    for fn in ("py", "node"):
        response = raw_invoke(capped, functions, fn, b"again")
        assert response.content == b"hello"
        rid = response.headers["x-fc-request-id"]
        lines = request_log(capped, functions, fn, rid)
        assert f"hello from {rid}" in lines
        assert not any(MARKER.match(line) for line in lines)


def test_a_huge_line_without_newline_is_cut(capped: RunningDaemon, functions: str) -> None:
    rid, _ = flood(capped, "py", b"long:16")
    lines = request_log(capped, functions, "py", rid)
    (cut,) = [line for line in lines if line.startswith("z")]
    assert len(cut) == LINE_BYTES
    (marker,) = [line for line in lines if MARKER.match(line)]
    assert "cut" in marker


def test_the_log_store_keeps_its_size_cap(capped: RunningDaemon, functions: str) -> None:
    """Many invocations at the per-invocation cap: the oldest lines go, the newest stay."""
    for _ in range(3 * RETENTION_BYTES // INVOCATION_BYTES):
        flood(capped, "py", b"fd:1")
    rid = raw_invoke(capped, functions, "py", b"last").headers["x-fc-request-id"]
    assert f"hello from {rid}" in request_log(capped, functions, "py", rid)

    def stored() -> int:
        path = f"file:{capped.data_dir / 'fcd.sqlite3'}?mode=ro"
        with contextlib.closing(sqlite3.connect(path, uri=True)) as conn:
            return log_store.size(conn)  # what the cap counts

    assert wait_for(stored, lambda total: total <= RETENTION_BYTES, timeout=10) <= RETENTION_BYTES


@pytest.mark.parametrize("event", [b"tiny:3", b"tinyfd:3"])
def test_a_flood_of_tiny_lines_gets_a_share_of_the_daemon(
    capped: RunningDaemon, functions: str, event: bytes
) -> None:
    """Each tiny line dropped costs the daemon a read or a frame: it reads a flooding instance
    less often, so the flood gets a fraction of its event loop instead of all of it."""
    assert capped.process is not None
    daemon = psutil.Process(capped.process.pid)
    before, started = daemon.cpu_times(), time.monotonic()
    flood(capped, "py", event)
    after, wall = daemon.cpu_times(), time.monotonic() - started
    busy = (after.user + after.system) - (before.user + before.system)
    # Unthrottled, the daemon spent 85-90 % of the flood's time on it (one core of two).
    assert busy < 0.6 * wall, f"the daemon was busy {busy:.2f} s of {wall:.2f} s"
