"""Cold-start burst: 200 distinct python3 functions invoked at once from zero, over HTTP.

    sudo .venv/bin/python -m bench.cold_burst [--functions 200] [--singles 20] [--memory 128]

Starts a real daemon (``python -m fcd``, a temporary data dir, sandboxed when run as root),
creates the functions through the official Python SDK, then measures, in this order:

* the **floor**: ``/usr/bin/python3 -c pass`` with a clean environment (``bench.cold_start``'s);
* **single cold start**: ``--singles`` fresh functions invoked one after another (the pool of
  pre-made sandboxes refilled between them), request → response over loopback HTTP;
* the **burst floor**: as many ``python3 -c pass`` started at once, ms from start to each exit
  (what 2 cores can do with that many fresh interpreters);
* the **burst**: ``--functions`` other fresh functions, one connection each opened beforehand,
  all requests written at once. Every answer must be ``200 hello world`` with no error type.

Prints successes, p50/p99/max of the burst beside the burst floor, the single cold start's p50
and the floor's,
and the ratios (DESIGN §7 target: all succeed, p99 ≤ 250 ms). It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import fc2

from bench.cold_start import CLEAN_ENV, floor_exec, percentiles
from bench.warm_invoke import request_bytes
from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon
from tests.signed_http import sign_headers

HELLO = "def handler(event, context):\n    return b'hello world'\n"
SERVICE = "bench"
# Generous: the measurement is the latency; a request is given up only past this.
REQUEST_TIMEOUT_S = 120.0


@dataclass
class Answer:
    """One invoke's outcome: latency in ms, and whether it was ``200 hello world``."""

    ms: float
    ok: bool
    detail: str = ""


def isolation_default() -> str:
    return "namespaces" if os.geteuid() == 0 else "none"


@contextmanager
def running_daemon(isolation: str) -> Iterator[tuple[RunningDaemon, fc2.Client]]:
    """A daemon on a free loopback port with a temporary data dir; SIGTERM and wait at the end."""
    data_dir = Path(tempfile.mkdtemp(prefix="fcd-bench-")) / "data"
    daemon = start_daemon(data_dir, FCD_LOG_LEVEL="warning", FCD_ISOLATION=isolation)
    try:
        client = make_client(daemon.endpoint)
        client.create_service(SERVICE)
        yield daemon, client
    finally:
        daemon.stop(timeout=60)


def create_functions(client: fc2.Client, names: list[str], memory_mb: int) -> None:
    """Create python3 hello functions (one code dir, zipped by the SDK for each)."""
    code = Path(tempfile.mkdtemp(prefix="fcd-bench-code-"))
    (code / "index.py").write_text(HELLO)
    for name in names:
        client.create_function(
            SERVICE,
            name,
            "python3",
            "index.handler",
            codeDir=str(code),
            memorySize=memory_mb,
            timeout=60,
        )


def invoke_request(port: int, name: str) -> bytes:
    """The signed bytes of one invoke of ``name`` (a signature stays valid for 15 minutes)."""
    path = f"/2016-08-15/services/{SERVICE}/functions/{name}/invocations"
    headers = sign_headers("POST", path, {"Content-Type": "application/octet-stream"})
    return request_bytes(port, path, headers, b"{}")


async def _read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.lower().split(b"\r\n"):
        if line.startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head, await reader.readexactly(length)


def _judge(head: bytes, body: bytes) -> tuple[bool, str]:
    error_type = b"\r\nx-fc-error-type:" in head.lower()
    ok = head.startswith(b"HTTP/1.1 200") and not error_type
    ok = ok and body == b"hello world"
    if ok:
        return True, ""
    return False, (head.split(b"\r\n", 1)[0] + b" " + body[:200]).decode(errors="replace")


async def invoke_once(port: int, request: bytes) -> Answer:
    """Connect, send, read the answer; the latency counts from the write."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        start = time.perf_counter()
        writer.write(request)
        head, body = await asyncio.wait_for(_read_response(reader), REQUEST_TIMEOUT_S)
        ms = (time.perf_counter() - start) * 1000
        return Answer(ms, *_judge(head, body))
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as e:
        return Answer(float("nan"), False, repr(e))
    finally:
        writer.close()


async def burst(port: int, requests: list[bytes]) -> tuple[list[Answer], float]:
    """All connections opened first, then every request written in one go.

    Returns the answers and the wall time from the first write to the last answer (ms)."""
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in requests]
    go = asyncio.Event()

    async def one(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], req: bytes) -> Answer:
        reader, writer = conn
        await go.wait()
        start = time.perf_counter()
        try:
            writer.write(req)
            head, body = await asyncio.wait_for(_read_response(reader), REQUEST_TIMEOUT_S)
            return Answer((time.perf_counter() - start) * 1000, *_judge(head, body))
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as e:
            return Answer(float("nan"), False, repr(e))
        finally:
            writer.close()

    tasks = [asyncio.create_task(one(c, r)) for c, r in zip(connections, requests, strict=True)]
    await asyncio.sleep(0.05)  # every task is parked on the event
    t0 = time.perf_counter()
    go.set()
    answers = await asyncio.gather(*tasks)
    return list(answers), (time.perf_counter() - t0) * 1000


async def bounded(port: int, requests: list[bytes], limit: int) -> list[Answer]:
    """Invoke each request once, at most ``limit`` in flight."""
    gate = asyncio.Semaphore(limit)

    async def one(req: bytes) -> Answer:
        async with gate:
            return await invoke_once(port, req)

    return list(await asyncio.gather(*(one(r) for r in requests)))


async def floor_burst(count: int) -> list[float]:
    """``count`` bare ``/usr/bin/python3 -c pass`` started at once: ms from start to each exit."""
    t0 = time.perf_counter()

    async def one() -> float:
        process = await asyncio.create_subprocess_exec(
            "/usr/bin/python3", "-c", "pass", env=CLEAN_ENV
        )
        await process.wait()
        return (time.perf_counter() - t0) * 1000

    return list(await asyncio.gather(*(one() for _ in range(count))))


def failures(answers: list[Answer]) -> str:
    details = sorted({a.detail for a in answers if not a.ok})
    return "; ".join(details[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--functions", type=int, default=200)
    parser.add_argument("--singles", type=int, default=20)
    parser.add_argument("--memory", type=int, default=128, help="memorySize of each, MB")
    parser.add_argument("--isolation", choices=["namespaces", "none"], default=isolation_default())
    args = parser.parse_args()

    floor = floor_exec(["/usr/bin/python3", "-c", "pass"], args.singles)
    floor_many = asyncio.run(floor_burst(args.functions))
    with running_daemon(args.isolation) as (daemon, client):
        singles = [f"single{i}" for i in range(args.singles)]
        many = [f"burst{i}" for i in range(args.functions)]
        create_functions(client, singles + many, args.memory)
        single_requests = [invoke_request(daemon.port, n) for n in singles]
        burst_requests = [invoke_request(daemon.port, n) for n in many]

        async def measure() -> tuple[list[Answer], list[Answer], float]:
            await asyncio.sleep(1.0)  # the sandbox pool fills after start
            alone = []
            for req in single_requests:
                alone.append(await invoke_once(daemon.port, req))
                await asyncio.sleep(0.2)  # let the pool refill, as between unrelated requests
            await asyncio.sleep(1.0)
            answers, wall = await burst(daemon.port, burst_requests)
            return alone, answers, wall

        load = os.getloadavg()
        alone, answers, wall = asyncio.run(measure())

    f50, f99 = percentiles(floor)
    good_alone = [a.ms for a in alone if a.ok]
    s50 = statistics.median(good_alone) if good_alone else float("nan")
    good = [a.ms for a in answers if a.ok]
    print(
        f"cold burst, python3 hello, isolation={args.isolation}, memorySize {args.memory} MB, "
        f"{os.cpu_count()} CPUs, load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"  floor  /usr/bin/python3 -c pass     p50 {f50:7.1f} ms  p99 {f99:7.1f} ms")
    print(
        f"  single cold start (HTTP, pool hit)  p50 {s50:7.1f} ms  "
        f"({len(good_alone)}/{len(alone)} ok, ratio to floor p50 {s50 / f50:.2f})"
    )
    b50, b99 = percentiles(floor_many)
    print(
        f"  floor burst: {args.functions} x python3 -c pass at once  p50 {b50:7.1f} ms  "
        f"p99 {b99:7.1f} ms"
    )
    if good:
        p50, p99 = percentiles(good)
        print(
            f"  burst of {len(answers)} at once: {len(good)}/{len(answers)} succeeded, "
            f"p50 {p50:.1f} ms  p99 {p99:.1f} ms  max {max(good):.1f} ms, "
            f"all answered in {wall:.0f} ms"
        )
        print(
            f"  ratios: burst p99 / floor burst p99 {p99 / b99:.2f}, p50 / floor burst p50 "
            f"{p50 / b50:.2f}, burst p99 / single p50 {p99 / s50:.0f}, burst p99 / floor p50 "
            f"{p99 / f50:.0f}   target: all succeed, p99 <= 250 ms"
        )
    if len(good) < len(answers) or len(good_alone) < len(alone):
        print(f"  failures: {failures(alone + answers)}")


if __name__ == "__main__":
    main()
