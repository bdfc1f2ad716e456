"""Warm invoke latency and throughput, each beside its floor measured in the same run.

    .venv/bin/python -m bench.warm_invoke [--requests 5000] [--seconds 5] [--rounds 3]

Starts a real daemon (``python -m fcd``, a temporary data dir; sandboxed when run as root) with a
python3 "hello" function, and beside it the floor: a bare ASGI handler on the same uvicorn setup
(``bench.mgmt_api``'s floor: httptools, uvloop, one process) answering as many bytes. Then:

* **1 client**: sequential invokes over one keep-alive connection, p50 and p99, beside the same
  client's round trip to the floor (DESIGN §7 target: p50 ≤ 0.4 ms, p99 ≤ 1 ms);
* **32 clients**: invokes/s of a function with instanceConcurrency 10, and the daemon process's
  own CPU time per invoke (the gateway's share; instances are other processes), beside the
  floor's requests/s (target: ≥ 10,000/s, ≤ 60 µs of gateway CPU per invoke).

The client is as cheap as Python allows: each request's bytes are built and signed once (a
signature is valid for 15 minutes), responses are parsed just enough to find their end. A
benchmark prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import psutil

from bench.mgmt_api import FLOOR_SIZE_HEADER, start_floor
from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon
from tests.signed_http import sign_headers

HELLO = "def handler(event, context):\n    return b'hello world'\n"
SERVICE = "bench"
CONCURRENT_CLIENTS = 32
CONCURRENCY = 10


def request_bytes(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _response_end(buffer: bytes) -> int:
    """The length of the first complete response in ``buffer``, or 0 if it is not all there."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return 0
    head = buffer[:head_end].lower()
    start = head.find(b"content-length:")
    if start < 0:  # the floor answers chunked
        return len(buffer) if buffer.endswith(b"\r\n0\r\n\r\n") else 0
    line_end = head.find(b"\r\n", start)
    length = int(head[start + 15 : line_end if line_end >= 0 else len(head)])
    total = head_end + 4 + length
    return total if len(buffer) >= total else 0


def latency(port: int, request: bytes, count: int) -> list[float]:
    """Sequential round trips over one connection, in milliseconds."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    samples = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            sock.sendall(request)
            buffer = b""
            while not _response_end(buffer):
                buffer += sock.recv(65536)
            samples.append((time.perf_counter() - start) * 1000)
            if not buffer.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(buffer[:300].decode(errors="replace"))
    finally:
        sock.close()
    return samples


async def _client(
    port: int, request: bytes, deadline: float, counts: list[int], expect: bytes = b"HTTP/1.1 200"
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        while time.perf_counter() < deadline:
            writer.write(request)
            buffer = b""
            while not _response_end(buffer):
                chunk = await reader.read(65536)
                if not chunk:
                    raise RuntimeError("connection closed")
                buffer += chunk
            if not buffer.startswith(expect):
                raise RuntimeError(buffer[:300].decode(errors="replace"))
            done += 1
    finally:
        writer.close()
        counts.append(done)


async def _throughput(port: int, request: bytes, seconds: float) -> int:
    counts: list[int] = []
    deadline = time.perf_counter() + seconds
    async with asyncio.TaskGroup() as group:
        for _ in range(CONCURRENT_CLIENTS):
            group.create_task(_client(port, request, deadline, counts))
    return sum(counts)


def throughput(port: int, request: bytes, seconds: float, pid: int) -> tuple[float, float]:
    """(requests/s, server process CPU µs per request) at 32 connections."""
    import uvloop

    process = psutil.Process(pid)
    before = process.cpu_times()
    start = time.perf_counter()
    total = uvloop.run(_throughput(port, request, seconds))
    elapsed = time.perf_counter() - start
    after = process.cpu_times()
    cpu = (after.user - before.user) + (after.system - before.system)
    return total / elapsed, cpu / total * 1e6


def hello_dir() -> str:
    code = Path(tempfile.mkdtemp(prefix="fcd-bench-code-"))
    (code / "index.py").write_text(HELLO)
    return str(code)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_arguments(description: str, requests: int) -> argparse.Namespace:
    """The options every warm benchmark takes: sizes, rounds and the isolation to run under."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--requests", type=int, default=requests)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--isolation",
        choices=["namespaces", "none"],
        default="namespaces" if os.geteuid() == 0 else "none",
    )
    return parser.parse_args()


def start_bench_daemon(isolation: str) -> RunningDaemon:
    """A quiet daemon on a fresh temporary data dir."""
    data_dir = Path(tempfile.mkdtemp(prefix="fcd-bench-")) / "data"
    return start_daemon(data_dir, FCD_LOG_LEVEL="warning", FCD_ISOLATION=isolation)


def main() -> None:
    args = bench_arguments(__doc__.split("\n\n")[0], requests=5000)
    daemon = start_bench_daemon(args.isolation)
    floor, floor_port = start_floor()
    try:
        client = make_client(daemon.endpoint)
        client.create_service(SERVICE)
        client.create_function(SERVICE, "hello", "python3", "index.handler", codeDir=hello_dir())
        client.create_function(
            SERVICE,
            "hello10",
            "python3",
            "index.handler",
            codeDir=hello_dir(),
            instanceConcurrency=CONCURRENCY,
        )
        assert daemon.process is not None
        daemon_pid = daemon.process.pid
        requests = {}
        for name in ("hello", "hello10"):
            path = f"/2016-08-15/services/{SERVICE}/functions/{name}/invocations"
            headers = sign_headers("POST", path, {"Content-Type": "application/octet-stream"})
            requests[name] = request_bytes(daemon.port, path, headers, b"{}")
        floor_headers = {FLOOR_SIZE_HEADER: str(len(b"hello world"))}
        floor_request = request_bytes(floor_port, "/", floor_headers, b"{}")
        latency(daemon.port, requests["hello"], 200)  # cold start and warm-up
        latency(floor_port, floor_request, 200)

        rows: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            fcd = latency(daemon.port, requests["hello"], args.requests)
            base = latency(floor_port, floor_request, args.requests)
            for key, value in (
                ("fcd p50", statistics.median(fcd)),
                ("fcd p99", percentile(fcd, 0.99)),
                ("floor p50", statistics.median(base)),
                ("floor p99", percentile(base, 0.99)),
            ):
                rows.setdefault(key, []).append(value)
        # Warm enough instances for 32 clients at concurrency 10 before timing.
        asyncio.run(_throughput(daemon.port, requests["hello10"], 1.0))
        for _ in range(args.rounds):
            rate, cpu = throughput(daemon.port, requests["hello10"], args.seconds, daemon_pid)
            floor_rate, floor_cpu = throughput(floor_port, floor_request, args.seconds, floor.pid)
            for key, value in (
                ("fcd rate", rate),
                ("fcd cpu", cpu),
                ("floor rate", floor_rate),
                ("floor cpu", floor_cpu),
            ):
                rows.setdefault(key, []).append(value)
        m = {key: statistics.median(values) for key, values in rows.items()}
        print(f"warm invoke, python3 hello, isolation={args.isolation}, {os.cpu_count()} CPUs")
        print(f"  medians over {args.rounds} rounds of {args.requests} sequential invokes")
        print(
            f"  1 client   p50 {m['fcd p50']:.3f} ms  (floor {m['floor p50']:.3f} ms, "
            f"ratio {m['fcd p50'] / m['floor p50']:.2f})   target p50 <= 0.4 ms"
        )
        print(
            f"             p99 {m['fcd p99']:.3f} ms  (floor {m['floor p99']:.3f} ms, "
            f"ratio {m['fcd p99'] / m['floor p99']:.2f})   target p99 <= 1 ms"
        )
        print(
            f"  32 clients {m['fcd rate']:.0f} invokes/s (floor {m['floor rate']:.0f} req/s, "
            f"ratio {m['fcd rate'] / m['floor rate']:.2f})   target >= 10000/s"
        )
        print(
            f"             daemon CPU {m['fcd cpu']:.0f} us/invoke (floor server "
            f"{m['floor cpu']:.0f} us/req)   target <= 60 us"
        )
    finally:
        floor.kill()
        floor.wait()
        daemon.stop()


if __name__ == "__main__":
    main()
