"""Idle-instance density: private memory per idle warm python3 instance, beside a bare python3.

    sudo .venv/bin/python -m bench.density [--instances 200] [--memory 128]

Starts a real daemon (``python -m fcd``, a temporary data dir, sandboxed: needs root), creates
``--instances`` distinct python3 hello functions through the official Python SDK and invokes
each once (16 at a time), so that as many instances sit idle. Each instance's sandbox is its
own memory cgroup (``sbx-<daemon pid>-…`` under the daemon's group, with the function's
``memorySize`` as its limit, which tells it from the pre-made sandboxes of the pool, capped
lower). For each instance it reads:

* **USS**: the sum of ``psutil.Process.memory_full_info().uss`` over every process in the
  cgroup (pages no other process maps: what the instance alone costs; pages shared with the
  zygote it was forked from are not counted);
* **cgroup usage**: ``memory.usage_in_bytes`` (v1) or ``memory.current`` (v2), which also
  charges the page cache and tmpfs pages the sandbox touched first;

and, for the daemon, the growth of its own USS per instance, and the host's MemAvailable drop
per instance (which also counts kernel memory: page tables, namespaces, stacks). The floor is
the USS of a bare idle ``/usr/bin/python3 -c "import time; time.sleep(60)"`` (beside a twin:
see floor_uss). Prints median/p99 per instance, the ratio to the floor, and the projected
count of idle instances on 24 GiB (DESIGN §7 target: ≥ 2,000 on 24 GiB, ≤ 2 MiB private
memory each). It asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.cold_burst import (
    bounded,
    create_functions,
    failures,
    invoke_request,
    isolation_default,
    running_daemon,
)
from bench.cold_start import CLEAN_ENV, percentiles

MIB = 1024 * 1024
HOST_BYTES = 24 * 1024 * MIB
WARM_CONCURRENCY = 16


@dataclass
class Usage:
    """One instance's memory: the USS of its processes and its cgroup's charge, in bytes."""

    uss: int
    charged: int
    processes: int
    largest: int  # USS of its biggest process (the runtime); the rest is the sandbox's init
    names: str  # its processes, by name


def uss(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_full_info().uss)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0


def available() -> int:
    """The host's MemAvailable in bytes (kernel memory included: page tables, stacks)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def names(pids: list[int]) -> str:
    found = []
    for pid in pids:
        try:
            found.append(" ".join(psutil.Process(pid).cmdline())[:60])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return " | ".join(found)


def floor_uss() -> int:
    """USS of a bare idle python3, once it has settled into its sleep, beside a twin.

    A file page mapped by one process alone counts in its USS: a lone python3 (no other
    interpreter running) would be charged its binary's and libraries' text, which instances
    share with the zygote and with each other. Two sleepers, the smaller USS, keep it fair.
    """
    argv = ["/usr/bin/python3", "-c", "import time; time.sleep(60)"]
    sleepers = [subprocess.Popen(argv, env=CLEAN_ENV) for _ in range(2)]
    try:
        time.sleep(1.0)
        return min(uss(s.pid) for s in sleepers)
    finally:
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


def sandbox_groups(daemon_pid: int) -> tuple[list[Path], str, str]:
    """The daemon's sandbox cgroups, and the names of the usage and limit files in them."""
    for line in Path(f"/proc/{daemon_pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            base = Path("/sys/fs/cgroup/memory") / path.lstrip("/") / "fcd"
            usage, limit = "memory.usage_in_bytes", "memory.limit_in_bytes"
            break
    else:  # cgroup v2: the unified hierarchy
        path = Path(f"/proc/{daemon_pid}/cgroup").read_text().split("::", 1)[1].strip()
        base = Path("/sys/fs/cgroup") / path.lstrip("/") / "fcd"
        usage, limit = "memory.current", "memory.max"
    groups = sorted(base.glob(f"sbx-{daemon_pid}-*")) if base.exists() else []
    return groups, usage, limit


def instance_usages(daemon_pid: int, memory_mb: int) -> list[Usage]:
    """Memory of every sandbox whose limit is ``memory_mb``: the function instances."""
    groups, usage_file, limit_file = sandbox_groups(daemon_pid)
    out = []
    for group in groups:
        try:
            limit = (group / limit_file).read_text().strip()
            if limit != str(memory_mb * MIB):
                continue  # a pre-made sandbox of the pool, not yet given a function
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
            charged = int((group / usage_file).read_text())
        except (OSError, ValueError):
            continue
        each = [uss(p) for p in pids]
        out.append(Usage(sum(each), charged, len(pids), max(each, default=0), names(pids)))
    return out


def mib(n: float) -> str:
    return f"{n / MIB:6.2f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--memory", type=int, default=128, help="memorySize of each, MB")
    parser.add_argument("--settle", type=float, default=3.0, help="idle seconds before reading")
    parser.add_argument("--isolation", choices=["namespaces", "none"], default=isolation_default())
    args = parser.parse_args()
    if args.isolation != "namespaces":
        parser.error("density reads each sandbox's cgroup: run as root with namespaces")

    floor = floor_uss()
    load = os.getloadavg()
    with running_daemon(args.isolation) as (daemon, client):
        assert daemon.process is not None
        daemon_pid = daemon.process.pid
        names = [f"idle{i}" for i in range(args.instances)]
        create_functions(client, names, args.memory)
        requests = [invoke_request(daemon.port, n) for n in names]
        time.sleep(1.0)
        daemon_before, host_before = uss(daemon_pid), available()
        answers = asyncio.run(bounded(daemon.port, requests, WARM_CONCURRENCY))
        time.sleep(args.settle)
        usages = instance_usages(daemon_pid, args.memory)
        daemon_after, host_after = uss(daemon_pid), available()

    warmed = sum(a.ok for a in answers)
    print(
        f"idle density, python3 hello, isolation={args.isolation}, memorySize {args.memory} MB, "
        f"{os.cpu_count()} CPUs, load average before {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    print(f"  warmed {warmed}/{len(answers)} instances, found {len(usages)} instance cgroups")
    if warmed < len(answers):
        print(f"  failures: {failures(answers)}")
    print(f"  floor: bare idle /usr/bin/python3 (sleeping)  USS {mib(floor)}")
    if not usages:
        return
    processes = statistics.median(u.processes for u in usages)
    largest = statistics.median(u.largest for u in usages)
    daemon_share = max(0, daemon_after - daemon_before) / len(usages)
    for label, values in (
        ("USS (all processes)", [u.uss for u in usages]),
        ("cgroup usage", [u.charged for u in usages]),
    ):
        p50, p99 = percentiles([float(v) for v in values])
        per = p50 + daemon_share
        print(
            f"  per instance {label:<20} p50 {mib(p50)}  p99 {mib(p99)}  "
            f"ratio p50 / floor {p50 / floor:5.2f}   projected on 24 GiB "
            f"{HOST_BYTES / p50:7.0f} ({HOST_BYTES / per:7.0f} with the daemon's share)"
        )
    print(
        f"  processes per instance (median) {processes:.0f}, the largest's USS {mib(largest)}; "
        f"daemon USS grew "
        f"{mib(daemon_after - daemon_before)} in all, {daemon_share / 1024:.0f} KiB per instance"
    )
    host_share = (host_before - host_after) / len(usages)
    print(
        f"  host MemAvailable fell {mib(host_before - host_after)} while warming: "
        f"{mib(host_share)} per instance (noisy on a shared box), projected on 24 GiB "
        f"{HOST_BYTES / host_share if host_share > 0 else float('inf'):7.0f}"
    )
    print(f"  one instance's processes: {usages[0].names}")
    print("  target: >= 2000 idle instances on 24 GiB, <= 2 MiB private memory each")


if __name__ == "__main__":
    main()
