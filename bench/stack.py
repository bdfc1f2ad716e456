"""The stack choices of DESIGN.md §6, re-measured: each candidate beside the others in one run.

    .venv/bin/python -m bench.stack [--requests 3000] [--seconds 3] [--transactions 2000]

* **HTTP server**: the same bare ASGI app on uvicorn (httptools, uvloop) and on hypercorn
  (h11, uvloop), each in its own process: p50/p99 at one client, and requests/s with 16
  keep-alive connections from an asyncio client in this process.
* **SQLite writes**: fcd's store (one writer thread, transactions as plain functions, group
  commit) against the aiosqlite pattern emulated with the standard library (one dedicated
  thread, one hop per statement: BEGIN, INSERT, COMMIT, under an asyncio lock, as a
  transaction with aiosqlite needs), and the floor: the same INSERT+COMMIT on one thread with no
  event loop, with fcd's ``synchronous=NORMAL`` and with ``FULL`` (an fsync per commit). µs per
  transaction at one writer, and transactions/s with 64 concurrent writers.
* **JSON**: a CreateFunction body through ``fcd.wire.decode`` (case-insensitive, null-tolerant
  msgspec), through a plain typed ``msgspec.json.Decoder``, and through ``json.loads``.

Numbers, not assertions; the machines are shared, so compare within a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec

from bench.mgmt_api import Client, pct, serve_on_uvicorn, start_server
from fcd import wire
from fcd.store import Store
from fcd.wire.functions import FunctionInput

BODY = b"x" * 200


# HTTP servers --------------------------------------------------------------------------------
async def fixed_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """200 with a fixed 200-byte body and its length: the least an ASGI handler can do."""
    if scope["type"] != "http":
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"200")],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def serve(server: str, port: int) -> None:
    if server == "uvicorn":
        serve_on_uvicorn(fixed_app, port)
        return
    import uvloop
    from hypercorn.asyncio import serve as hypercorn_serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.loglevel = "WARNING"
    uvloop.run(hypercorn_serve(fixed_app, config))  # type: ignore[arg-type]


def start(server: str) -> tuple[subprocess.Popen[bytes], int]:
    return start_server("bench.stack", "--serve", server)


async def _connection_loop(port: int, until: float) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
    done = 0
    try:
        while time.perf_counter() < until:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            await reader.readexactly(length)
            done += 1
    finally:
        writer.close()
        await writer.wait_closed()
    return done


async def _throughput(port: int, connections: int, seconds: float) -> float:
    until = time.perf_counter() + seconds
    counts = await asyncio.gather(*(_connection_loop(port, until) for _ in range(connections)))
    return sum(counts) / seconds


def measure_servers(requests: int, seconds: float) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for server in ("uvicorn", "hypercorn"):
        process, port = start(server)
        try:
            client = Client(port)
            times = [client.request("GET", "/", {}, b"")[2] for _ in range(requests)]
            client.close()
            rate = asyncio.run(_throughput(port, 16, seconds))
        finally:
            process.terminate()
            process.wait(10)
        out[server] = {"p50": pct(times, 0.5) * 1e3, "p99": pct(times, 0.99) * 1e3, "rate": rate}
    return out


# SQLite writes -------------------------------------------------------------------------------
def _insert(conn: sqlite3.Connection, i: int) -> None:
    conn.execute(
        "INSERT INTO resources(kind, scope, name, body, etag) VALUES ('k', '', ?, ?, 'e')",
        (f"n{i:08d}", b"{}" * 100),
    )


class HopPerStatement:
    """The aiosqlite pattern: one thread owns the connection, every call is a hop to it."""

    def __init__(self, path: Path) -> None:
        self.pool = ThreadPoolExecutor(1)
        self.conn = self.pool.submit(self._open, path).result()
        self.lock = asyncio.Lock()

    @staticmethod
    def _open(path: Path) -> sqlite3.Connection:
        from fcd.store.sqlite import connect

        return connect(path)

    async def _hop(self, sql: str, args: tuple[Any, ...] = ()) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.pool, self.conn.execute, sql, args)

    async def insert(self, i: int) -> None:
        async with self.lock:
            await self._hop("BEGIN IMMEDIATE")
            await self._hop(
                "INSERT INTO resources(kind, scope, name, body, etag) VALUES ('k', '', ?, ?, 'e')",
                (f"n{i:08d}", b"{}" * 100),
            )
            await self._hop("COMMIT")

    def close(self) -> None:
        self.pool.submit(self.conn.close).result()
        self.pool.shutdown()


async def _sequential(write: Any, n: int, offset: int) -> float:
    start = time.perf_counter()
    for i in range(n):
        await write(offset + i)
    return (time.perf_counter() - start) / n * 1e6


async def _concurrent(write: Any, n: int, offset: int, writers: int = 64) -> float:
    async def one(start: int) -> None:
        for i in range(start, n, writers):
            await write(offset + i)

    began = time.perf_counter()
    await asyncio.gather(*(one(w) for w in range(writers)))
    return n / (time.perf_counter() - began)


def measure_store(n: int, tmp: Path) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}

    async def fcd_store() -> dict[str, float]:
        store = Store(tmp / "store.sqlite3")
        try:

            async def write(i: int) -> None:
                await store.write(lambda conn: _insert(conn, i))

            return {
                "us_per_tx": await _sequential(write, n, 0),
                "tx_per_s_64": await _concurrent(write, n, n),
            }
        finally:
            store.close()

    async def hop_per_statement() -> dict[str, float]:
        Store(tmp / "hops.sqlite3").close()  # the same schema and pragmas
        hops = HopPerStatement(tmp / "hops.sqlite3")
        try:
            return {
                "us_per_tx": await _sequential(hops.insert, n, 0),
                "tx_per_s_64": await _concurrent(hops.insert, n, n),
            }
        finally:
            hops.close()

    out["fcd writer thread"] = asyncio.run(fcd_store())
    out["hop per statement (aiosqlite pattern)"] = asyncio.run(hop_per_statement())

    from fcd.store.sqlite import connect

    for label, synchronous in [("", "NORMAL"), (", synchronous=FULL", "FULL")]:
        path = tmp / f"bare-{synchronous}.sqlite3"
        Store(path).close()
        conn = connect(path)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        start = time.perf_counter()
        for i in range(n):
            conn.execute("BEGIN IMMEDIATE")
            _insert(conn, i)
            conn.execute("COMMIT")
        out[f"floor: bare INSERT+COMMIT, no loop{label}"] = {
            "us_per_tx": (time.perf_counter() - start) / n * 1e6,
            "tx_per_s_64": float("nan"),
        }
        conn.close()
    return out


# JSON ------------------------------------------------------------------------------------------
def measure_json(rounds: int = 20000) -> dict[str, float]:
    body = json.dumps(
        {
            "functionName": "hello",
            "runtime": "python3.10",
            "handler": "index.handler",
            "memorySize": 512,
            "timeout": 30,
            "description": "a function",
            "environmentVariables": {"A": "1", "B": "2"},
            "instanceConcurrency": 10,
            "layers": None,
            "initializer": None,
        }
    ).encode()
    typed = msgspec.json.Decoder(FunctionInput)
    candidates: dict[str, Callable[[], object]] = {
        "fcd.wire.decode (case-insensitive, null = absent)": lambda: wire.decode(
            body, FunctionInput
        ),
        "msgspec typed Decoder (exact keys)": lambda: typed.decode(body),
        "json.loads (no validation)": lambda: json.loads(body),
    }
    out = {}
    for name, fn in candidates.items():
        samples = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(rounds // 5):
                fn()
            samples.append((time.perf_counter() - start) / (rounds // 5) * 1e6)
        out[name] = statistics.median(samples)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--transactions", type=int, default=2000)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return

    servers = measure_servers(args.requests, args.seconds)
    print("| HTTP server, bare ASGI app | p50 at 1 client | p99 | req/s, 16 connections |")
    print("|---|---|---|---|")
    for name, figures in servers.items():
        p50, p99, rate = figures["p50"], figures["p99"], figures["rate"]
        print(f"| {name} | {p50:.3f} ms | {p99:.3f} ms | {rate:,.0f} |")

    with tempfile.TemporaryDirectory(prefix="fcd-bench-") as tmp:
        store = measure_store(args.transactions, Path(tmp))
    print()
    print("| SQLite write path | µs per tx, 1 writer | tx/s, 64 concurrent writers |")
    print("|---|---|---|")
    for name, figures in store.items():
        print(f"| {name} | {figures['us_per_tx']:.0f} | {figures['tx_per_s_64']:,.0f} |")

    print()
    print("| JSON: a CreateFunction body | µs per decode |")
    print("|---|---|")
    for name, micros in measure_json().items():
        print(f"| {name} | {micros:.2f} |")


if __name__ == "__main__":
    main()
