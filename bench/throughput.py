"""Warm invoke throughput under wrk, beside bare uvicorn, at 1, 8, 32 and 128 connections.

    .venv/bin/python -m bench.throughput [--seconds 5] [--rounds 3] [--connections 1,8,32,128]

Starts a real daemon (``python -m fcd``, a temporary data dir; sandboxed when run as root) with a
python3 "hello" function (instanceConcurrency 10), and beside it the floor of every warm
benchmark: a bare ASGI handler served by ``fcd.daemon.http_server`` (the daemon's own uvicorn
setup: httptools, uvloop, one process) answering as many bytes. ``wrk`` (Debian package ``wrk``,
installed by ``scripts/install-test-deps``) drives both with the same client cost: the invoke is
signed once (a signature is valid for 15 minutes) and replayed with the same headers each time.

Per connection count, fcd and the floor alternate (A/B/A/B, ``--rounds`` each) and the medians
are printed: requests/s, p50 and p99 latency, and the server process's CPU per request from
``/proc/<pid>/stat`` (utime + stime of every thread, before and after each run, divided by the
requests served), each beside the floor's as a ratio, with the 1-minute load average measured
across the runs. wrk shares the two cores with both servers: compare ratios, not absolutes.
A benchmark prints numbers; it asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.mgmt_api import FLOOR_SIZE_HEADER, start_floor
from bench.warm_invoke import hello_dir, latency, request_bytes, start_bench_daemon
from tests.conftest import make_client
from tests.signed_http import sign_headers

SERVICE = "bench"
FUNCTION = "hello10"
CONCURRENCY = 10
BODY = "{}"
# wrk's done() hook prints one parseable line: requests, µs elapsed, non-2xx/3xx answers, socket
# errors, p50 and p99 in µs.
_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Run:
    rate: float  # requests/s
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU per request
    load: float  # 1-minute load average after the run


def wrk_script(path: Path, headers: dict[str, str], body: str) -> Path:
    """A Lua script that sends ``POST`` with ``headers`` and ``body`` on every request."""
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua(body)}"]
    lines += [f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items()]
    path.write_text("\n".join(lines) + "\n" + _DONE)
    return path


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cpu_seconds(pid: int) -> float:
    """utime + stime of every thread of ``pid`` (``/proc/<pid>/stat`` sums them)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def run_wrk(url: str, script: Path, connections: int, seconds: int, pid: int) -> Run:
    threads = min(2, connections)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    before = cpu_seconds(pid)
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - before
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    requests, elapsed_us, bad, socket_errors, p50_us, p99_us = (int(x) for x in line.split()[1:])
    if bad or socket_errors or not requests:
        raise RuntimeError(f"wrk: {bad} bad answers, {socket_errors} socket errors\n{out}")
    return Run(
        rate=requests / elapsed_us * 1e6,
        p50_ms=p50_us / 1000,
        p99_ms=p99_us / 1000,
        cpu_us=cpu / requests * 1e6,
        load=os.getloadavg()[0],
    )


def median_run(runs: list[Run]) -> Run:
    return Run(*(statistics.median(getattr(r, f) for r in runs) for f in Run.__annotations__))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", default="1,8,32,128")
    parser.add_argument(
        "--isolation",
        choices=["namespaces", "none"],
        default="namespaces" if os.geteuid() == 0 else "none",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: run scripts/install-test-deps (apt: wrk)")
    connections = [int(c) for c in args.connections.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="fcd-bench-wrk-"))
    daemon = start_bench_daemon(args.isolation)
    floor, floor_port = start_floor()
    try:
        client = make_client(daemon.endpoint)
        client.create_service(SERVICE)
        client.create_function(
            SERVICE,
            FUNCTION,
            "python3",
            "index.handler",
            codeDir=hello_dir(),
            instanceConcurrency=CONCURRENCY,
        )
        assert daemon.process is not None
        pid = daemon.process.pid
        path = f"/2016-08-15/services/{SERVICE}/functions/{FUNCTION}/invocations"
        signed = sign_headers("POST", path, {"Content-Type": "application/octet-stream"})
        fcd_script = wrk_script(scratch / "fcd.lua", signed, BODY)
        floor_headers = {FLOOR_SIZE_HEADER: str(len(b"hello world"))}
        floor_script = wrk_script(scratch / "floor.lua", floor_headers, BODY)
        fcd_url = f"http://127.0.0.1:{daemon.port}{path}"
        floor_url = f"http://127.0.0.1:{floor_port}/"
        # A cold start, then enough warm instances for the largest connection count.
        latency(daemon.port, request_bytes(daemon.port, path, signed, BODY.encode()), 50)
        run_wrk(fcd_url, fcd_script, max(connections), 2, pid)
        run_wrk(floor_url, floor_script, max(connections), 1, floor.pid)

        print(
            f"warm invoke under wrk, python3 hello (instanceConcurrency {CONCURRENCY}), "
            f"isolation={args.isolation}, {os.cpu_count()} CPUs, medians of {args.rounds} "
            f"alternated runs of {args.seconds} s; ratio = fcd / floor"
        )
        header = (
            f"{'conns':>5} {'fcd req/s':>10} {'floor':>8} {'ratio':>6} | "
            f"{'p50 ms':>7} {'floor':>6} {'ratio':>6} | {'p99 ms':>7} {'floor':>6} {'ratio':>6} | "
            f"{'cpu us/req':>10} {'floor':>6} {'ratio':>6} | {'load':>5}"
        )
        print(header)
        for conns in connections:
            fcd_runs, floor_runs = [], []
            for _ in range(args.rounds):
                fcd_runs.append(run_wrk(fcd_url, fcd_script, conns, args.seconds, pid))
                floor_runs.append(run_wrk(floor_url, floor_script, conns, args.seconds, floor.pid))
            a, b = median_run(fcd_runs), median_run(floor_runs)
            load = statistics.median([r.load for r in fcd_runs + floor_runs])
            print(
                f"{conns:>5} {a.rate:>10.0f} {b.rate:>8.0f} {a.rate / b.rate:>6.2f} | "
                f"{a.p50_ms:>7.3f} {b.p50_ms:>6.3f} {a.p50_ms / b.p50_ms:>6.2f} | "
                f"{a.p99_ms:>7.3f} {b.p99_ms:>6.3f} {a.p99_ms / b.p99_ms:>6.2f} | "
                f"{a.cpu_us:>10.1f} {b.cpu_us:>6.1f} {a.cpu_us / b.cpu_us:>6.2f} | {load:>5.2f}",
                flush=True,
            )
    finally:
        floor.kill()
        floor.wait()
        daemon.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
