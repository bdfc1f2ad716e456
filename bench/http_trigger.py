"""Warm HTTP-trigger latency and throughput, beside the invoke API and the floor, in one run.

    .venv/bin/python -m bench.http_trigger [--requests 3000] [--seconds 5] [--rounds 3]

Starts a real daemon (``python -m fcd``, a temporary data dir; sandboxed when run as root) and
the floor of ``bench.warm_invoke`` (a bare ASGI handler on the same uvicorn setup answering as
many bytes). Each function answers ``hello world``: a WSGI handler behind an anonymous HTTP
trigger, and the same text from an event handler called through the invoke API. Then:

* **1 client**: sequential requests over one keep-alive connection, p50 and p99, for
  ``GET /2016-08-15/proxy/...`` (HTTP trigger), ``POST .../invocations`` (invoke API) and the
  floor, with the ratios trigger/floor and trigger/invoke;
* **32 clients**: requests/s on functions with instanceConcurrency 10, same three columns.

The HTTP-trigger path differs from the invoke API in what it carries: the request's method,
path, query and headers go to the runtime, and the WSGI app's status and headers come back.
A benchmark prints numbers; it asserts nothing.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from pathlib import Path

from bench.mgmt_api import FLOOR_SIZE_HEADER, start_floor
from bench.warm_invoke import (
    HELLO,
    _throughput,
    bench_arguments,
    latency,
    percentile,
    request_bytes,
    start_bench_daemon,
    throughput,
)
from tests.conftest import make_client
from tests.signed_http import sign_headers

WSGI_HELLO = (
    "def handler(environ, start_response):\n"
    "    start_response('200 OK', [('Content-Type', 'text/plain')])\n"
    "    return [b'hello world']\n"
)
SERVICE = "bench"
CONCURRENCY = 10


def code_dir(source: str) -> str:
    code = Path(tempfile.mkdtemp(prefix="fcd-bench-code-"))
    (code / "index.py").write_text(source)
    return str(code)


def get_bytes(port: int, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def main() -> None:
    args = bench_arguments(__doc__.split("\n\n")[0], requests=3000)
    daemon = start_bench_daemon(args.isolation)
    floor, floor_port = start_floor()
    try:
        client = make_client(daemon.endpoint)
        client.create_service(SERVICE)
        trigger = {"authType": "anonymous", "methods": ["GET"]}
        for suffix, concurrency in (("", 1), ("10", CONCURRENCY)):
            web, event = f"web{suffix}", f"event{suffix}"
            for name, source in ((web, WSGI_HELLO), (event, HELLO)):
                client.create_function(
                    SERVICE,
                    name,
                    "python3",
                    "index.handler",
                    codeDir=code_dir(source),
                    instanceConcurrency=concurrency,
                )
            client.create_trigger(SERVICE, web, "http", "http", trigger, "", "")
        requests: dict[str, bytes] = {}
        for suffix in ("", "10"):
            requests["web" + suffix] = get_bytes(
                daemon.port, f"/2016-08-15/proxy/{SERVICE}/web{suffix}/"
            )
            path = f"/2016-08-15/services/{SERVICE}/functions/event{suffix}/invocations"
            headers = sign_headers("POST", path, {"Content-Type": "application/octet-stream"})
            requests["event" + suffix] = request_bytes(daemon.port, path, headers, b"{}")
        floor_request = request_bytes(
            floor_port, "/", {FLOOR_SIZE_HEADER: str(len(b"hello world"))}, b"{}"
        )
        for name in ("web", "event"):
            latency(daemon.port, requests[name], 200)  # cold start and warm-up
        latency(floor_port, floor_request, 200)

        rows: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            for label, port, request in (
                ("http", daemon.port, requests["web"]),
                ("invoke", daemon.port, requests["event"]),
                ("floor", floor_port, floor_request),
            ):
                samples = latency(port, request, args.requests)
                rows.setdefault(f"{label} p50", []).append(statistics.median(samples))
                rows.setdefault(f"{label} p99", []).append(percentile(samples, 0.99))
        for name in ("web10", "event10"):  # warm instances for 32 clients
            asyncio.run(_throughput(daemon.port, requests[name], 1.0))
        assert daemon.process is not None
        for _ in range(args.rounds):
            for label, port, request, pid in (
                ("http", daemon.port, requests["web10"], daemon.process.pid),
                ("invoke", daemon.port, requests["event10"], daemon.process.pid),
                ("floor", floor_port, floor_request, floor.pid),
            ):
                rate, cpu = throughput(port, request, args.seconds, pid)
                rows.setdefault(f"{label} rate", []).append(rate)
                rows.setdefault(f"{label} cpu", []).append(cpu)
        m = {key: statistics.median(values) for key, values in rows.items()}
        print(
            f"warm HTTP trigger, python3 WSGI hello, isolation={args.isolation}, "
            f"{os.cpu_count()} CPUs; medians over {args.rounds} rounds"
        )
        for q in ("p50", "p99"):
            print(
                f"  1 client  {q}  http trigger {m[f'http {q}']:.3f} ms   invoke API "
                f"{m[f'invoke {q}']:.3f} ms   floor {m[f'floor {q}']:.3f} ms   "
                f"http/floor {m[f'http {q}'] / m[f'floor {q}']:.2f}   "
                f"http/invoke {m[f'http {q}'] / m[f'invoke {q}']:.2f}"
            )
        print(
            f"  32 clients   http trigger {m['http rate']:.0f}/s   invoke API "
            f"{m['invoke rate']:.0f}/s   floor {m['floor rate']:.0f}/s   "
            f"http/floor {m['http rate'] / m['floor rate']:.2f}   "
            f"http/invoke {m['http rate'] / m['invoke rate']:.2f}"
        )
        print(
            f"  daemon CPU   http trigger {m['http cpu']:.0f} us/req   invoke API "
            f"{m['invoke cpu']:.0f} us/req   floor server {m['floor cpu']:.0f} us/req"
        )
    finally:
        floor.kill()
        floor.wait()
        daemon.stop()


if __name__ == "__main__":
    main()
