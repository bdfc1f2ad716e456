"""Management API latency and write rate, each beside its floor measured in the same run.

    .venv/bin/python -m bench.mgmt_api [--functions 1000] [--requests 2000] [--rounds 3]

Starts a real daemon (``python -m fcd``, a temporary data dir, ``isolation = "none"`` so no
sandbox pool refills in the background) and, beside it, a *floor*: a bare ASGI handler on the
same uvicorn setup (httptools, uvloop, one process) that answers every request with as many
bytes as fcd answered to it. It then, from one client over one keep-alive connection:

* creates ``--functions`` functions in one service (creates/s, one client and 8 clients);
* times GetFunction on random functions and ListFunctions (default page of 20, and 100);
* times ``GET /healthz``: a Quart route with no auth and no store, so the Quart share shows.

Every figure is printed beside the floor's, as a ratio. Requests are signed once per path before
the timing (a signature is valid for 15 minutes), so the client does the same work for fcd and the
floor. Rounds alternate fcd and floor; the medians over rounds are printed. A benchmark prints
numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.daemon import free_port, start_daemon
from tests.signed_http import sign_headers

API = "/2016-08-15"
SERVICE = "bench"
CONCURRENT_WRITERS = 8
FLOOR_SIZE_HEADER = "x-floor-size"


# The floor: a bare ASGI handler ------------------------------------------------------------
async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the body, answer ``x-floor-size`` bytes of JSON-typed filler: nothing else."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    size = 2
    for name, value in scope["headers"]:
        if name == FLOOR_SIZE_HEADER.encode():
            size = int(value)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": b"x" * size})


def serve_on_uvicorn(app: Any, port: int) -> None:
    """Run ``app`` exactly as fcd runs its own: the daemon's uvicorn setup, in uvloop."""
    import uvloop

    from fcd.daemon import http_server

    uvloop.run(http_server(app, "127.0.0.1", port).serve())


def serve_floor(port: int) -> None:
    serve_on_uvicorn(floor_app, port)


def start_server(module: str, *args: str) -> tuple[subprocess.Popen[bytes], int]:
    """``python -m module *args PORT`` on a free port; returns once it answers HTTP."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", module, *args, str(port)])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            Client(port).request("GET", "/", {}, b"")
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{module} {' '.join(args)} did not start")


def start_floor() -> tuple[subprocess.Popen[bytes], int]:
    return start_server("bench.mgmt_api", "--serve-floor")


# The client ---------------------------------------------------------------------------------
class Client:
    """One keep-alive connection; ``request`` returns (status, body length, seconds)."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, int, float]:
        start = time.perf_counter()
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        elapsed = time.perf_counter() - start
        if response.status >= 300:
            raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
        return response.status, len(data), elapsed

    def close(self) -> None:
        self.conn.close()


@dataclass
class Call:
    """A request prepared ahead of timing: signed headers for fcd, a sized twin for the floor."""

    method: str
    path: str
    body: bytes
    headers: dict[str, str]
    floor_size: int = 2

    def floor_headers(self) -> dict[str, str]:
        return {**self.headers, FLOOR_SIZE_HEADER: str(self.floor_size)}


def prepare(method: str, path: str, body: bytes = b"") -> Call:
    return Call(method, path, body, sign_headers(method, path))


def hello_zip() -> str:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("index.py", "def handler(event, context):\n    return 'hi'\n")
    return base64.b64encode(out.getvalue()).decode()


def create_calls(names: list[str]) -> list[Call]:
    code = hello_zip()
    path = f"{API}/services/{SERVICE}/functions"
    calls = []
    for name in names:
        body: dict[str, object] = {
            "functionName": name,
            "runtime": "python3.10",
            "handler": "index.handler",
        }
        body["code"] = {"zipFile": code}
        calls.append(prepare("POST", path, json.dumps(body).encode()))
    return calls


# Measuring ----------------------------------------------------------------------------------
def latencies(port: int, calls: list[Call], floor: bool) -> list[float]:
    client = Client(port)
    try:
        out = []
        for call in calls:
            headers = call.floor_headers() if floor else call.headers
            _, size, elapsed = client.request(call.method, call.path, headers, call.body)
            if not floor:
                call.floor_size = size
            out.append(elapsed)
        return out
    finally:
        client.close()


def rate(port: int, calls: list[Call], floor: bool, clients: int) -> float:
    """Requests per second with ``clients`` connections sharing ``calls``."""
    chunks = [calls[i::clients] for i in range(clients)]
    errors: list[BaseException] = []

    def run(chunk: list[Call]) -> None:
        try:
            latencies(port, chunk, floor)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return len(calls) / elapsed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Figure:
    name: str
    unit: str
    fcd: list[float]
    floor: list[float]
    higher_is_better: bool = False

    def row(self) -> str:
        ours, base = statistics.median(self.fcd), statistics.median(self.floor)
        # "times the floor's cost": latency over latency, or the floor's rate over ours.
        ratio = base / ours if self.higher_is_better else ours / base
        return f"| {self.name} | {ours:,.3f} {self.unit} | {base:,.3f} {self.unit} | {ratio:.1f}x |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--functions", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-floor", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        serve_floor(args.serve_floor)
        return

    with tempfile.TemporaryDirectory(prefix="fcd-bench-") as tmp:
        daemon = start_daemon(Path(tmp) / "data", FCD_ISOLATION="none", FCD_LOG_LEVEL="warning")
        floor_process, floor_port = start_floor()
        try:
            figures = run_rounds(daemon.port, floor_port, args)
        finally:
            daemon.stop()
            floor_process.terminate()
            floor_process.wait(10)
    print_report(figures, args)


def run_rounds(port: int, floor_port: int, args: argparse.Namespace) -> list[Figure]:
    rng = random.Random(1)
    one = Client(port)
    one.request(
        "POST",
        f"{API}/services",
        sign_headers("POST", f"{API}/services"),
        json.dumps({"serviceName": SERVICE}).encode(),
    )
    one.close()
    names = [f"fn_{i:05d}" for i in range(args.functions)]
    figures = {
        key: Figure(key, unit, [], [], higher)
        for key, unit, higher in [
            ("CreateFunction, 1 client", "/s", True),
            (f"CreateFunction, {CONCURRENT_WRITERS} clients", "/s", True),
            ("GetFunction p50", "ms", False),
            ("GetFunction p99", "ms", False),
            ("ListFunctions limit=20 p50", "ms", False),
            ("ListFunctions limit=20 p99", "ms", False),
            ("ListFunctions limit=100 p50", "ms", False),
            ("ListFunctions limit=100 p99", "ms", False),
            ("Quart route /healthz p50", "ms", False),
            ("Quart route /healthz p99", "ms", False),
        ]
    }

    def record(key: str, ours: float, floor: float) -> None:
        figures[key].fcd.append(ours)
        figures[key].floor.append(floor)

    # Writes: the first round creates the functions that the reads use; later rounds create
    # and measure extra ones, so every round writes into a store of the same size or larger.
    for r in range(args.rounds):
        batch = names if r == 0 else [f"x{r}_{n}" for n in names[: args.functions // 2]]
        half = len(batch) // 2
        sequential, concurrent = create_calls(batch[:half]), create_calls(batch[half:])
        ours_seq = rate(port, sequential, floor=False, clients=1)
        ours_par = rate(port, concurrent, floor=False, clients=CONCURRENT_WRITERS)
        floor_seq = rate(floor_port, sequential, floor=True, clients=1)
        floor_par = rate(floor_port, concurrent, floor=True, clients=CONCURRENT_WRITERS)
        record("CreateFunction, 1 client", ours_seq, floor_seq)
        record(f"CreateFunction, {CONCURRENT_WRITERS} clients", ours_par, floor_par)

        gets = [
            prepare("GET", f"{API}/services/{SERVICE}/functions/{rng.choice(names)}")
            for _ in range(args.requests)
        ]
        lists20 = [
            prepare("GET", f"{API}/services/{SERVICE}/functions?startKey={rng.choice(names)}")
            for _ in range(args.requests // 4)
        ]
        lists100 = [
            prepare(
                "GET", f"{API}/services/{SERVICE}/functions?limit=100&startKey={rng.choice(names)}"
            )
            for _ in range(args.requests // 4)
        ]
        health = [prepare("GET", "/healthz") for _ in range(args.requests)]
        for label, calls in [
            ("GetFunction", gets),
            ("ListFunctions limit=20", lists20),
            ("ListFunctions limit=100", lists100),
            ("Quart route /healthz", health),
        ]:
            ours = latencies(port, calls, floor=False)
            floor = latencies(floor_port, calls, floor=True)
            record(f"{label} p50", pct(ours, 0.5) * 1e3, pct(floor, 0.5) * 1e3)
            record(f"{label} p99", pct(ours, 0.99) * 1e3, pct(floor, 0.99) * 1e3)
    return list(figures.values())


def print_report(figures: list[Figure], args: argparse.Namespace) -> None:
    print(
        f"fcd management API, {args.functions} functions in one service, "
        f"{args.rounds} rounds (medians over rounds), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end (the machine is shared: compare ratios)"
    )
    print("| figure | fcd | floor: bare ASGI on the same uvicorn | cost vs floor |")
    print("|---|---|---|---|")
    for figure in figures:
        print(figure.row())


if __name__ == "__main__":
    main()
