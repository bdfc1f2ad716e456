"""Cold start benchmark: request → handler reply on an instance that did not exist, no HTTP.

Prints p50/p99 for python3 (pool hit: a pre-made sandbox is specialised; pool empty: the zygote
builds the sandbox on demand), nodejs and custom, each beside its floor measured in the same
run (``/usr/bin/python3 -c pass`` and ``node -e 0`` with a clean environment; for custom, the
time to the first accept of the same server run bare) and the ratio to it (DESIGN §7).

    sudo .venv/bin/python bench/cold_start.py [--runs 50] [--isolation namespaces|none]
        [--settle-ms 5]   (pause between pool-empty starts)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fcd.config import Config
from fcd.instances.instance import Instance, Isolation
from fcd.model import FunctionContext, InstanceSpec, InvokeRequest

CLEAN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
PY_HELLO = {"index.py": "def handler(event, context):\n    return 'hello world'\n"}
NODE_HELLO = {"index.js": "exports.handler = (e, c, cb) => cb(null, 'hello world');\n"}
CUSTOM_PORT = 9000
# The port comes from FC_CUSTOM_LISTEN_PORT (fcd sets it to caPort): the floor runs the same
# server on a free port of the host, where 9000 may be another daemon's instance.
CUSTOM_SERVER = """#!/usr/bin/python3 -S
import os, socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(os.environ.get("FC_CUSTOM_LISTEN_PORT", "%d"))))
s.listen(16)
while True:
    c, _ = s.accept()
    f = c.makefile("rb")
    while True:
        line = f.readline()
        if not line:
            break
        length = 0
        while line not in (b"\\r\\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
            line = f.readline()
        f.read(length)
        c.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 11\\r\\n\\r\\nhello world")
"""


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99


def floor_exec(argv: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, env=CLEAN_ENV, check=True)
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def floor_first_accept(code: Path, runs: int) -> list[float]:
    """The custom server started bare until it accepts, on a free port of the host."""
    samples = []
    for _ in range(runs):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**CLEAN_ENV, "FC_CUSTOM_LISTEN_PORT": str(port)}
        t0 = time.perf_counter()
        server = subprocess.Popen([str(code / "bootstrap")], env=env, cwd=code)
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.0005)
        samples.append((time.perf_counter() - t0) * 1000)
        server.kill()
        server.wait()
    return samples


def make_code(base: Path) -> tuple[Path, Path, Path]:
    py = write(base / "py", PY_HELLO)
    node = write(base / "node", NODE_HELLO)
    custom = write(base / "custom", {"bootstrap": CUSTOM_SERVER % CUSTOM_PORT})
    return py, node, custom


def write(base: Path, files: dict[str, str]) -> Path:
    base.mkdir(parents=True)
    base.chmod(0o755)
    for name, text in files.items():
        (base / name).write_text(text)
        (base / name).chmod(0o755)
    return base


# CPU is shared in proportion to memorySize (1024 MB = the weight of an ordinary process, like
# the floors'); a smaller function runs at a fraction of the floor's weight on a busy host.
MEMORY_MB = 1024
# Pause between pool-empty starts; --settle-ms raises it to keep the previous instance's
# teardown (its /tmp disk is unmounted by a kernel worker a jiffy after it exits) apart.
SETTLE_S = 0.005


def spec(code: Path, runtime: str) -> InstanceSpec:
    context = FunctionContext(
        service_name="bench",
        function_name="hello",
        qualifier="LATEST",
        version_id="",
        handler="index.handler",
        memory_mb=MEMORY_MB,
        timeout_s=10,
        initializer="",
        initialization_timeout_s=3,
        region="cn-hangzhou",
        account_id="1",
    )
    return InstanceSpec(
        instance_id="c-" + uuid.uuid4().hex[:16],
        runtime=runtime,
        code_dir=code,
        layer_dirs=(),
        environment={},
        context=context,
        ca_port=CUSTOM_PORT,
    )


async def cold_starts(
    isolation: Isolation,
    code: Path,
    runtime: str,
    runs: int,
    pooled: bool,
    settle_s: float = SETTLE_S,
) -> tuple[list[float], list[tuple[float, float, float, float]]]:
    samples, parts = [], []
    for _ in range(runs):
        if pooled:
            await isolation.filled()
        else:
            await asyncio.sleep(settle_s)  # let the previous instance's teardown settle
        t0 = time.perf_counter()
        instance = await Instance.start(spec(code, runtime), isolation, lambda *a: None)
        result = await instance.invoke(InvokeRequest(str(uuid.uuid4()), b"", 10))
        samples.append((time.perf_counter() - t0) * 1000)
        assert result.body == b"hello world", result.body
        c = instance.cold_start
        parts.append((c.sandbox_ms, c.runtime_ms, c.code_load_ms, c.initializer_ms))
        await instance.stop()
    return samples, parts


def report(
    name: str,
    samples: list[float],
    floor_name: str,
    floor: list[float],
    parts: list[tuple[float, float, float, float]] | None = None,
) -> None:
    p50, p99 = percentiles(samples)
    f50, f99 = percentiles(floor)
    line = (
        f"{name:<28} p50 {p50:7.2f} ms  p99 {p99:7.2f} ms   {floor_name:<26} "
        f"p50 {f50:7.2f} ms  p99 {f99:7.2f} ms   ratio p50 {p50 / f50:5.2f}"
    )
    print(line)
    if parts:
        medians = [statistics.median(p[i] for p in parts) for i in range(4)]
        print(
            f"{'':<28} median breakdown: sandbox {medians[0]:.2f} ms, runtime start "
            f"{medians[1]:.2f} ms, code load {medians[2]:.2f} ms, initializer {medians[3]:.2f} ms"
        )


def main() -> None:
    """Floors first (no event loop running), then the cold starts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    default = "namespaces" if os.geteuid() == 0 else "none"
    parser.add_argument("--isolation", choices=["namespaces", "none"], default=default)
    parser.add_argument("--settle-ms", type=float, default=SETTLE_S * 1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="fcd-bench-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)
        asyncio.run(measure(base, args.runs, args.isolation, args.settle_ms / 1000))


async def measure(base: Path, runs: int, mode: str, settle_s: float = SETTLE_S) -> None:
    py, node, custom = await asyncio.to_thread(make_code, base)
    py_floor = await asyncio.to_thread(floor_exec, ["/usr/bin/python3", "-c", "pass"], runs)
    node_floor = await asyncio.to_thread(floor_exec, ["/usr/bin/node", "-e", "0"], runs)
    custom_floor = await asyncio.to_thread(floor_first_accept, custom, min(runs, 20))
    config = Config(isolation=mode)  # type: ignore[arg-type]
    print(
        f"isolation: {mode}, {runs} runs, memorySize {MEMORY_MB} MB, "
        f"request → handler reply, no HTTP, load average {os.getloadavg()[0]:.1f}"
    )

    async def with_isolation(pool: bool, body: Callable[[Isolation], Awaitable[None]]) -> None:
        isolation = Isolation.from_config(config, base / "data")
        if not pool:
            isolation.pool_size = 0
            isolation.targets["generic"] = 0
        ready = asyncio.Event()
        refill = asyncio.create_task(isolation.run(ready=ready))
        try:
            await ready.wait()
            if pool and isolation.pool_size:
                await isolation.filled()
            await body(isolation)
        finally:
            refill.cancel()
            await asyncio.gather(refill, return_exceptions=True)
            await isolation.close()

    async def python_pooled(iso: Isolation) -> None:
        await cold_starts(iso, py, "python3", 3, True)  # warm the zygote's page cache
        samples, parts = await cold_starts(iso, py, "python3", runs, True)
        name = "python3 pool hit" if iso.pool_size else "python3 (no pool: isolation none)"
        report(name, samples, "python3 -c pass", py_floor, parts)

    async def python_empty(iso: Isolation) -> None:
        samples, parts = await cold_starts(iso, py, "python3", runs, False, settle_s)
        report("python3 pool empty", samples, "python3 -c pass", py_floor, parts)

    async def nodejs(iso: Isolation) -> None:
        samples, parts = await cold_starts(iso, node, "nodejs20", runs, True)
        report("nodejs20 pool hit", samples, "node -e 0", node_floor, parts)

    async def custom_runtime(iso: Isolation) -> None:
        samples, parts = await cold_starts(iso, custom, "custom", min(runs, 20), True)
        report("custom pool hit", samples, "same server, first accept", custom_floor, parts)

    await with_isolation(True, python_pooled)
    await with_isolation(False, python_empty)
    await with_isolation(True, nodejs)
    await with_isolation(True, custom_runtime)


if __name__ == "__main__":
    main()
