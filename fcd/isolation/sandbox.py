"""Start processes in sandboxes: namespaces + cgroup + private root, or plain processes.

This module knows nothing of functions: it gets a :class:`SandboxSpec` (memory, mounts, network)
and the argv/environment of what to run, and hands back a :class:`Sandbox` that can report
memory use and OOM kills and be destroyed without leaving a process, cgroup or mount behind.
The in-sandbox half is ``sandbox/init.py`` (stdlib only), run under the system interpreter.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fcd.config import Config
from fcd.isolation import cgroup

log = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parents[2]
INIT = PROJECT / "sandbox" / "init.py"
RUNTIMES = PROJECT / "runtimes"
# Unprivileged ids handed to sandboxes (FC's images pre-create user10000…user10999).
UID_FIRST, UID_COUNT = 10000, 1000
NAMESPACES = ("mnt", "pid", "ipc", "uts", "net")
# Time a sandbox's processes get between SIGTERM and SIGKILL of the whole cgroup.
GRACE_SECONDS = 1.0


class IsolationUnavailable(Exception):
    """Namespaces or cgroups are missing: the daemon refuses to start unless isolation = none."""


@dataclass(frozen=True)
class SandboxSpec:
    """What one sandbox needs, in host terms."""

    name: str
    memory_mb: int
    code_dir: Path
    layer_dirs: tuple[Path, ...] = ()
    mounts: tuple[tuple[Path, str, bool], ...] = ()
    tmp_size_mb: int = 512
    internet: bool = False
    pids_max: int = cgroup.PIDS_MAX


@dataclass
class Sandbox:
    """A running sandboxed process tree; ``destroy`` is idempotent and never raises."""

    name: str
    process: asyncio.subprocess.Process
    started: float  # CLOCK_MONOTONIC when the spawn began
    group: cgroup.Cgroup | None = None
    uid: int | None = None
    on_destroy: list[object] = field(default_factory=list)
    _destroyed: bool = False
    _peak_mb: float = 0.0

    @property
    def pid(self) -> int:
        return self.process.pid

    def peak_memory_mb(self) -> float:
        """The cgroup's peak, or the runtime process's peak RSS without a cgroup.

        The last value read is kept, so it survives the process and the cgroup.
        """
        if self._destroyed:
            return self._peak_mb
        if self.group is not None:
            peak = self.group.peak_memory_bytes() / (1024 * 1024)
        else:
            peak = 0.0
            try:
                with open(f"/proc/{self.process.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = int(line.split()[1]) / 1024
            except OSError:
                pass
        self._peak_mb = max(self._peak_mb, peak)
        return self._peak_mb

    def oom_killed(self) -> bool:
        return self.group is not None and self.group.oom_kills() > 0

    async def terminate(self, grace: float = GRACE_SECONDS) -> None:
        """SIGTERM, wait up to ``grace``, then destroy."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), grace)
        await self.destroy()

    async def destroy(self) -> None:
        """Kill every process of the sandbox and remove its cgroup."""
        if self._destroyed:
            return
        self.peak_memory_mb()
        self._destroyed = True
        try:
            if self.group is not None:
                self.group.kill_all()
            elif self.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.process.wait(), 5)
            if self.group is not None:
                for _ in range(100):
                    if self.group.remove():
                        break
                    self.group.kill_all()
                    await asyncio.sleep(0.01)
                else:
                    log.warning("cgroup %s still busy after kill", self.group.name)
        finally:
            for callback in self.on_destroy:
                callback()  # type: ignore[operator]

    def __repr__(self) -> str:
        state = "running" if self.process.returncode is None else f"exit {self.process.returncode}"
        return f"<Sandbox {self.name} pid={self.process.pid} uid={self.uid} {state}>"


def namespaces_available() -> str:
    """Why real sandboxes cannot be built here ("" when they can)."""
    if os.geteuid() != 0:
        return "not running as root"
    for ns in NAMESPACES:
        if not os.path.exists(f"/proc/self/ns/{ns}"):
            return f"the kernel has no {ns} namespace"
    return ""


class Isolation:
    """Builds sandboxes for instances, as configured: ``namespaces`` or ``none``.

    One per daemon. It owns the uid pool and the cgroup backend (detected at start).
    """

    def __init__(
        self,
        mode: Literal["namespaces", "none"],
        data_dir: Path,
        python: str,
        node: str,
        backend: cgroup.Backend | None = None,
    ) -> None:
        self.mode = mode
        self.data_dir = data_dir
        self.python = python
        self.node = node
        self.backend = backend
        self.root_mountpoint = data_dir / "sandbox-root"
        self._free_uids = list(range(UID_FIRST, UID_FIRST + UID_COUNT))
        self._names = itertools.count()
        if mode == "namespaces":
            self.root_mountpoint.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_config(cls, config: Config, data_dir: Path) -> Isolation:
        """The daemon's isolation.

        Raises:
            IsolationUnavailable: ``namespaces`` is configured but namespaces or cgroups are
                unavailable; the daemon must refuse to start.
        """
        if config.isolation == "none":
            log.warning("isolation = none: functions run as plain processes, without sandboxes")
            return cls("none", data_dir, config.runtimes.python, config.runtimes.node)
        reason = namespaces_available()
        if reason:
            raise IsolationUnavailable(f"cannot build sandboxes: {reason} (set isolation = none)")
        try:
            backend = cgroup.detect()
        except OSError as e:
            raise IsolationUnavailable(f"cannot create cgroups: {e}") from e
        if backend is None:
            raise IsolationUnavailable("no cgroup hierarchy with the memory controller")
        log.info("isolation: namespaces, cgroup v%d", backend.version)
        return cls("namespaces", data_dir, config.runtimes.python, config.runtimes.node, backend)

    # -- paths as the runtime sees them ------------------------------------------------------
    @property
    def isolated(self) -> bool:
        return self.mode == "namespaces"

    def code_path(self, spec: SandboxSpec) -> str:
        return "/code" if self.isolated else str(spec.code_dir)

    def runtime_path(self) -> str:
        return "/var/fc/runtime" if self.isolated else str(RUNTIMES)

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self, *, ready: asyncio.Event) -> None:
        """Background work (pool refills); for now it only signals readiness and waits."""
        ready.set()
        await asyncio.Event().wait()

    async def close(self) -> None:
        if self.backend is not None:
            with contextlib.suppress(OSError):
                for base in getattr(self.backend, "bases", {}).values():
                    base.rmdir()
                if hasattr(self.backend, "base"):
                    self.backend.base.rmdir()

    async def spawn(
        self,
        spec: SandboxSpec,
        argv: list[str],
        env: Mapping[str, str],
        keep_fds: tuple[int, ...],
    ) -> Sandbox:
        """Start ``argv`` in a new sandbox; stdout/stderr are pipes on the returned process.

        Raises:
            OSError: the process or the cgroup could not be created.
        """
        started = time.monotonic()
        if not self.isolated:
            process = await asyncio.create_subprocess_exec(
                *argv,
                env={**env, "FCD_T_SANDBOX": repr(time.monotonic())},
                cwd=spec.code_dir,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=keep_fds,
                start_new_session=True,
            )
            return Sandbox(spec.name, process, started)
        assert self.backend is not None
        uid = self._free_uids.pop(0)
        group = self.backend.create(spec.name)
        try:
            group.set_limits(cgroup.Limits(spec.memory_mb, spec.pids_max))
            description = {
                "root": str(self.root_mountpoint),
                "code_dir": str(spec.code_dir),
                "layer_dirs": [str(d) for d in spec.layer_dirs],
                "mounts": [[str(h), t, ro] for h, t, ro in spec.mounts],
                "tmp_size_mb": spec.tmp_size_mb,
                "runtime_dir": str(RUNTIMES),
                "hostname": spec.name[:63],
                "uid": uid,
                "gid": uid,
                "internet": spec.internet,
                "cgroup_procs": [str(p) for p in group.procs_files()],
                "keep_fds": list(keep_fds),
                "argv": argv,
                "env": dict(env),
            }
            process = await asyncio.create_subprocess_exec(
                self.python,
                "-I",
                "-S",
                str(INIT),
                env={"FCD_SANDBOX": json.dumps(description)},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=keep_fds,
                start_new_session=True,
            )
        except BaseException:
            group.kill_all()
            group.remove()
            self._free_uids.append(uid)
            raise
        sandbox = Sandbox(spec.name, process, started, group, uid)
        sandbox.on_destroy.append(lambda: self._free_uids.append(uid))
        return sandbox

    def __repr__(self) -> str:
        return f"<Isolation {self.mode} {self.backend!r} uids free {len(self._free_uids)}>"
