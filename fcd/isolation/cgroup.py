"""Per-sandbox cgroups on either hierarchy: v1 (one tree per controller) or v2 (unified).

Each sandbox gets one group (v1: one per controller) with a memory limit (plus memsw, so swap
cannot stretch it), a CPU share in proportion to its memory, and a pids cap. The daemon reads
the peak memory and whether the kernel OOM-killed something from the same group, and kills
every process in it at teardown, so nothing a function forked outlives its instance.

CPU ratio: one GiB of memory buys the weight of one ordinary process (v1 ``cpu.shares`` 1024,
v2 ``cpu.weight`` 100); 128 MiB gets an eighth of that. Under contention CPU is split in
proportion to memorySize, as FC does; an idle host lets any instance use all of it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

MOUNT = Path("/sys/fs/cgroup")
# Processes and threads one sandbox may hold: room for a threaded server, not for a fork bomb.
PIDS_MAX = 512


# The CFS period a CPU quota is measured in (the kernel's default, 100 ms).
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    pids_max: int = PIDS_MAX
    cpu: float | None = None  # vCPUs of CFS quota (the function's cpu); None: no quota

    @property
    def cpu_quota_us(self) -> int:
        """The quota per period; -1 (none) without ``cpu``; never below the kernel's 1 ms."""
        return -1 if self.cpu is None else max(1000, round(self.cpu * CPU_PERIOD_US))

    @property
    def memory_bytes(self) -> int:
        return self.memory_mb * 1024 * 1024

    @property
    def cpu_shares(self) -> int:
        """v1 ``cpu.shares``: 1024 per GiB (the kernel's minimum is 2)."""
        return max(2, self.memory_mb * 1024 // 1024)

    @property
    def cpu_weight(self) -> int:
        """v2 ``cpu.weight``: 100 per GiB, within the kernel's 1..10000."""
        return min(10000, max(1, self.memory_mb * 100 // 1024))


class Cgroup(Protocol):
    """One sandbox's group, whichever hierarchy holds it."""

    name: str

    def procs_files(self) -> list[Path]: ...
    def set_limits(self, limits: Limits) -> None: ...
    def pids(self) -> list[int]: ...
    def first_pids(self) -> list[int]: ...
    def peak_memory_file(self) -> Path: ...
    def oom_kills(self) -> int: ...
    def kill_all(self) -> None: ...
    def remove(self) -> bool: ...


class Backend(Protocol):
    version: int

    def create(self, name: str) -> Cgroup: ...


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _keyed(path: Path, key: str) -> int:
    """The value of ``key`` in a flat-keyed cgroup file (memory.events, memory.oom_control)."""
    try:
        for line in path.read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def _own_path(controller: str) -> str:
    """This process's group in ``controller``'s hierarchy ("" for the unified one)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if controller in names.split(",") or (controller == "" and names == ""):
            return path.lstrip("/")
    return ""


def _kill_pids(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _rmdir(path: Path) -> bool:
    try:
        path.rmdir()
    except FileNotFoundError:
        return True
    except OSError as e:
        if e.errno == errno.EBUSY:
            return False
        raise
    return True


def _sweep(base: Path) -> None:
    """Remove empty groups that a killed daemon left behind.

    Group names start with ``sbx-<pid of the daemon that made it>-``; groups of live daemons
    (possibly just created and still empty) are left alone.
    """
    for child in base.iterdir():
        owner = child.name.split("-")
        if not child.is_dir() or len(owner) < 3 or not owner[1].isdigit():
            continue
        if Path(f"/proc/{owner[1]}").exists():
            continue
        with contextlib.suppress(OSError):
            if not (child / "cgroup.procs").read_text().strip():
                child.rmdir()


class V1Group:
    """A group in each v1 hierarchy: memory, cpu, pids and freezer."""

    def __init__(self, name: str, dirs: dict[str, Path]) -> None:
        self.name = name
        self.dirs = dirs

    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in self.dirs.values()]

    def set_limits(self, limits: Limits) -> None:
        memory = self.dirs["memory"]
        memsw = memory / "memory.memsw.limit_in_bytes"
        # memory ≤ memsw at every moment: raise memsw first when growing, last when shrinking.
        files = [memory / "memory.limit_in_bytes"] + ([memsw] if memsw.exists() else [])
        if memsw.exists() and _read_int(memsw) < limits.memory_bytes:
            files.reverse()
        for path in files:
            _write(path, str(limits.memory_bytes))
        _write(memory / "memory.swappiness", "0")
        if "cpu" in self.dirs:
            _write(self.dirs["cpu"] / "cpu.shares", str(limits.cpu_shares))
            if limits.cpu is not None:
                _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(limits.cpu_quota_us))
        if "pids" in self.dirs:
            _write(self.dirs["pids"] / "pids.max", str(limits.pids_max))

    def pids(self) -> list[int]:
        pids: set[int] = set()
        for procs in self.procs_files():
            with contextlib.suppress(OSError):
                pids.update(int(p) for p in procs.read_text().split())
        return sorted(pids)

    def first_pids(self) -> list[int]:
        """The processes of the memory group alone (one read, for the hot path)."""
        try:
            return [int(p) for p in (self.dirs["memory"] / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def peak_memory_file(self) -> Path:
        """The single-value file of the group's peak usage (kept open and pread by sandboxes)."""
        return self.dirs["memory"] / "memory.max_usage_in_bytes"

    def oom_kills(self) -> int:
        return _keyed(self.dirs["memory"] / "memory.oom_control", "oom_kill")

    def kill_all(self) -> None:
        """Freeze, SIGKILL everything, thaw: a frozen group cannot fork new processes meanwhile."""
        freezer = self.dirs.get("freezer")
        if freezer is not None:
            with contextlib.suppress(OSError):
                _write(freezer / "freezer.state", "FROZEN")
        for _ in range(50):
            pids = self.pids()
            if not pids:
                break
            _kill_pids(pids)
            if freezer is not None:
                with contextlib.suppress(OSError):
                    _write(freezer / "freezer.state", "THAWED")
            time.sleep(0.001)
        if freezer is not None:
            with contextlib.suppress(OSError):
                _write(freezer / "freezer.state", "THAWED")

    def remove(self) -> bool:
        return all([_rmdir(d) for d in self.dirs.values()])

    def __repr__(self) -> str:
        return f"<V1Group {self.name} {sorted(self.dirs)}>"


class V1Backend:
    """cgroup v1: groups under this process's own group in each controller, in ``fcd/``."""

    version = 1
    CONTROLLERS = ("memory", "cpu", "pids", "freezer")

    def __init__(self) -> None:
        self.bases: dict[str, Path] = {}
        for controller in self.CONTROLLERS:
            mount = MOUNT / controller
            if not (mount / "cgroup.procs").exists():
                continue
            base = mount / _own_path(controller) / "fcd"
            base.mkdir(exist_ok=True)
            _sweep(base)
            self.bases[controller] = base

    def create(self, name: str) -> V1Group:
        dirs = {}
        for controller, base in self.bases.items():
            path = base / name
            path.mkdir(exist_ok=True)
            dirs[controller] = path
        return V1Group(name, dirs)

    def __repr__(self) -> str:
        return f"<CgroupV1 {sorted(self.bases)}>"


class V2Group:
    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.path = path

    def procs_files(self) -> list[Path]:
        return [self.path / "cgroup.procs"]

    def set_limits(self, limits: Limits) -> None:
        _write(self.path / "memory.max", str(limits.memory_bytes))
        if (self.path / "memory.swap.max").exists():
            _write(self.path / "memory.swap.max", "0")
        if (self.path / "cpu.weight").exists():
            _write(self.path / "cpu.weight", str(limits.cpu_weight))
        if limits.cpu is not None and (self.path / "cpu.max").exists():
            _write(self.path / "cpu.max", f"{limits.cpu_quota_us} {CPU_PERIOD_US}")
        _write(self.path / "pids.max", str(limits.pids_max))

    def pids(self) -> list[int]:
        try:
            return sorted(int(p) for p in (self.path / "cgroup.procs").read_text().split())
        except OSError:
            return []

    def first_pids(self) -> list[int]:
        return self.pids()

    def peak_memory_file(self) -> Path:
        peak = self.path / "memory.peak"
        return peak if peak.exists() else self.path / "memory.current"

    def oom_kills(self) -> int:
        return _keyed(self.path / "memory.events", "oom_kill")

    def kill_all(self) -> None:
        kill = self.path / "cgroup.kill"
        if kill.exists():
            with contextlib.suppress(OSError):
                _write(kill, "1")
        for _ in range(50):
            pids = self.pids()
            if not pids:
                return
            _kill_pids(pids)
            time.sleep(0.001)

    def remove(self) -> bool:
        return _rmdir(self.path)

    def __repr__(self) -> str:
        return f"<V2Group {self.path}>"


# v2: the leaf the daemon moves itself to, so that its group can hand controllers to the
# sandboxes' groups ("no internal processes": only the root group may do both).
DAEMON_LEAF = "fcd-daemon"


def _vacate(parent: Path, mount: Path) -> None:
    """Move this process out of ``parent`` (its group, e.g. its systemd unit's with
    ``Delegate=yes``) into the leaf ``fcd-daemon/``; the root group needs no such move."""
    if parent == mount or not (parent / "cgroup.procs").read_text().split():
        return
    leaf = parent / DAEMON_LEAF
    leaf.mkdir(exist_ok=True)
    _write(leaf / "cgroup.procs", str(os.getpid()))


class V2Backend:
    """cgroup v2: groups in ``fcd/`` beside this process's own group, controllers enabled.

    The daemon's own group cannot enable controllers for its children while it holds a process,
    so the daemon moves to ``fcd-daemon/`` first (a daemon already there uses the group above).

    Raises:
        OSError: the memory or pids controller cannot be had for the sandboxes' groups.
    """

    version = 2
    REQUIRED = frozenset({"memory", "pids"})

    def __init__(self, mount: Path) -> None:
        parent = mount / _own_path("")
        if parent.name == DAEMON_LEAF:
            parent = parent.parent
        _vacate(parent, mount)
        self.base = parent / "fcd"
        self.base.mkdir(exist_ok=True)
        _sweep(self.base)
        wanted = {"memory", "pids", "cpu"}
        available = set((parent / "cgroup.controllers").read_text().split())
        for target in (parent, self.base):
            with contextlib.suppress(OSError):
                _write(
                    target / "cgroup.subtree_control",
                    " ".join(f"+{c}" for c in sorted(wanted & available)),
                )
        enabled = set((self.base / "cgroup.subtree_control").read_text().split())
        if missing := self.REQUIRED - enabled:
            raise OSError(
                errno.EOPNOTSUPP,
                f"cgroup v2 controllers {' '.join(sorted(missing))} cannot be enabled below "
                f"{parent}: it must hold no other process and have them delegated "
                "(run fcd as a systemd unit with Delegate=yes)",
            )

    def create(self, name: str) -> V2Group:
        path = self.base / name
        path.mkdir(exist_ok=True)
        return V2Group(name, path)

    def __repr__(self) -> str:
        return f"<CgroupV2 {self.base}>"


def detect() -> Backend | None:
    """The hierarchy that holds the memory controller: v2 if it is unified, else v1, else None.

    Raises:
        OSError: a hierarchy exists but the daemon cannot create its groups there.
    """
    for mount in (MOUNT, MOUNT / "unified"):
        controllers = mount / "cgroup.controllers"
        if controllers.exists() and "memory" in controllers.read_text().split():
            return V2Backend(mount)
    if (MOUNT / "memory" / "memory.limit_in_bytes").exists():
        return V1Backend()
    return None
