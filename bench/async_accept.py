"""Async invocation: accept rate beside a bare SQLite insert rate, and accept → handler start.

    .venv/bin/python -m bench.async_accept [--seconds 5] [--rounds 3] [--latency 300]

Starts a real daemon (``python -m fcd``, temporary data dir; sandboxed when run as root). Then:

* **accept rate**: 32 keep-alive connections POST ``X-Fc-Invocation-Type: Async`` invokes of a
  function whose max instances is 0, so nothing runs and every 202 is a committed row (group
  commit on the store's writer thread); committed 202s per second;
* **floor**: the same row shape inserted into a bare SQLite file with the daemon's pragmas (WAL,
  synchronous=NORMAL), one transaction per row (what a naive "commit before 202" costs), and 64
  rows per transaction (the best group commit can do); rows per second;
* **accept → handler start**: async invokes of a warm function, one every 10 ms; the handler
  returns ``time.time()`` as it starts, read back from the queue's row; the client's clock before
  sending is the start. p50 and p99 in milliseconds.

Beside the accept rate, the daemon process's CPU time per accepted invocation (all its threads:
the event loop and the store's writer), a figure that holds when the machine is shared.

The client builds and signs each request once (a signature is valid for 15 minutes) and parses
responses just enough to find their end. A benchmark prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from bench.warm_invoke import _client, percentile, request_bytes
from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon
from tests.signed_http import sign_headers

SERVICE = "bench"
CONNECTIONS = 32
STARTED = "import time\n\ndef handler(event, context):\n    return repr(time.time())\n"
ROW = (
    "INSERT INTO q(request_id, invocation_id, service, qualifier, function, source, stateful,"
    " payload, status, attempts, enqueued_at, due_at, events)"
    " VALUES (?, ?, 's', 'LATEST', 'f', 'api', 0, ?, 'Enqueued', 0, ?, ?, '[]')"
)


def sqlite_floor(path: Path, seconds: float, per_tx: int) -> float:
    """Rows/s inserted with the daemon's pragmas, ``per_tx`` rows per committed transaction."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(
        "CREATE TABLE IF NOT EXISTS q (seq INTEGER PRIMARY KEY, request_id TEXT UNIQUE,"
        " invocation_id TEXT, service TEXT, qualifier TEXT, function TEXT, source TEXT,"
        " stateful INTEGER, payload BLOB, status TEXT, attempts INTEGER, enqueued_at REAL,"
        " due_at REAL, events TEXT)"
    )
    conn.execute("CREATE INDEX IF NOT EXISTS q_due ON q(due_at, seq) WHERE status = 'Enqueued'")
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    payload = b"{}"
    while time.perf_counter() < deadline:
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(per_tx):
            rid = os.urandom(16).hex()
            now = time.time()
            conn.execute(ROW, (rid, rid, payload, now, now))
        conn.execute("COMMIT")
        done += per_tx
    elapsed = time.perf_counter() - start
    conn.close()
    return done / elapsed


async def _accepts(port: int, request: bytes, seconds: float) -> float:
    counts: list[int] = []
    start = time.perf_counter()
    deadline = start + seconds
    async with asyncio.TaskGroup() as group:
        for _ in range(CONNECTIONS):
            group.create_task(_client(port, request, deadline, counts, b"HTTP/1.1 202"))
    return sum(counts) / (time.perf_counter() - start)


def async_request(daemon: RunningDaemon, function: str) -> bytes:
    path = f"/2016-08-15/services/{SERVICE}/functions/{function}/invocations"
    headers = sign_headers(
        "POST",
        path,
        {"Content-Type": "application/octet-stream", "X-Fc-Invocation-Type": "Async"},
    )
    return request_bytes(daemon.port, path, headers, b"{}")


def end_to_end(daemon: RunningDaemon, count: int) -> list[float]:
    """Milliseconds from sending an async invoke to its handler starting."""
    import requests

    path = f"/2016-08-15/services/{SERVICE}/functions/started/invocations"
    sent: dict[str, float] = {}
    with requests.Session() as session:
        for _ in range(count):
            headers = sign_headers(
                "POST",
                path,
                {"Content-Type": "application/octet-stream", "X-Fc-Invocation-Type": "Async"},
            )
            t0 = time.time()
            response = session.post(daemon.endpoint + path, data=b"{}", headers=headers)
            sent[response.headers["x-fc-request-id"]] = t0
            time.sleep(0.01)
    db = sqlite3.connect(f"file:{daemon.data_dir / 'fcd.sqlite3'}?mode=ro", uri=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            marks = (",".join("?" * len(sent)),)
            rows = db.execute(
                f"SELECT request_id, return_payload FROM async_invocations"
                f" WHERE status = 'Succeeded' AND request_id IN ({marks[0]})",
                list(sent),
            ).fetchall()
            if len(rows) == len(sent) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        db.close()
    return [(float(bytes(body).decode()) - sent[rid]) * 1000 for rid, body in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency", type=int, default=300, help="async invokes timed end to end")
    parser.add_argument(
        "--isolation",
        choices=["namespaces", "none"],
        default="namespaces" if os.geteuid() == 0 else "none",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="fcd-bench-async-"))
    # The parked function's backlog grows by every accept: lift the queue's bounds (the
    # bounds' own checks are on the measured path either way).
    bounds = "[async]\nmax_queued_per_function = 100000000\nmax_stored_bytes = 1099511627776\n"
    daemon = start_daemon(
        tmp / "data", config=bounds, FCD_LOG_LEVEL="warning", FCD_ISOLATION=args.isolation
    )
    try:
        client = make_client(daemon.endpoint)
        client.create_service(SERVICE)
        code = tmp / "code"
        code.mkdir()
        (code / "index.py").write_text(STARTED)
        for name in ("parked", "started"):
            client.create_function(SERVICE, name, "python3", "index.handler", codeDir=str(code))
        client.put_on_demand_config(SERVICE, "LATEST", "parked", 0)  # accepted, never run

        rows: dict[str, list[float]] = {}
        parked = async_request(daemon, "parked")
        asyncio.run(_accepts(daemon.port, parked, 1.0))  # warm-up
        assert daemon.process is not None
        process = psutil.Process(daemon.process.pid)
        for i in range(args.rounds):
            before = process.cpu_times()
            start = time.perf_counter()
            rate = asyncio.run(_accepts(daemon.port, parked, args.seconds))
            accepted = rate * (time.perf_counter() - start)
            after = process.cpu_times()
            cpu = (after.user - before.user) + (after.system - before.system)
            rows.setdefault("accept", []).append(rate)
            rows.setdefault("cpu", []).append(cpu / accepted * 1e6)
            rows.setdefault("floor1", []).append(
                sqlite_floor(tmp / f"floor-{i}.sqlite3", args.seconds, 1)
            )
            rows.setdefault("floor64", []).append(
                sqlite_floor(tmp / f"floor-{i}.sqlite3", args.seconds, 64)
            )
        end_to_end(daemon, 20)  # cold start and warm-up
        latencies = end_to_end(daemon, args.latency)
    finally:
        daemon.stop()

    print(f"async accept, {CONNECTIONS} connections, {args.seconds:g}s x {args.rounds} rounds")
    print(f"  fcd committed 202s/s          {statistics.median(rows['accept']):9.0f}")
    print(f"  fcd daemon CPU per accept     {statistics.median(rows['cpu']):9.0f} µs")
    print(f"  bare SQLite, 1 row per commit {statistics.median(rows['floor1']):9.0f} rows/s")
    print(f"  bare SQLite, 64 rows/commit   {statistics.median(rows['floor64']):9.0f} rows/s")
    print(f"async accept -> handler start ({len(latencies)} of {args.latency} measured)")
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    print(f"  p50 {p50:7.2f} ms   p99 {p99:7.2f} ms")


if __name__ == "__main__":
    main()
