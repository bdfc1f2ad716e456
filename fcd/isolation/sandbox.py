"""Start processes in sandboxes: namespaces + cgroup + private root, or plain processes.

This module knows nothing of functions: it gets a :class:`SandboxSpec` (memory, mounts, network)
and the argv/environment of what to run, and hands back a :class:`Sandbox` that can report
memory use and OOM kills and be destroyed without leaving a process, cgroup or mount behind.
The in-sandbox half is ``sandbox/init.py`` (stdlib only), run under the system interpreter.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes.util
import itertools
import json
import logging
import os
import signal
import socket
import struct
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fcd import errors
from fcd.config import DEFAULTS, Config, ConfigError
from fcd.isolation import cgroup, scratch
from fcd.isolation.netns import Link, Uplink

log = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parents[2]
ZYGOTE = PROJECT / "sandbox" / "zygote.py"
RUNTIMES = PROJECT / "runtimes"
# The directory of the sandbox's command links (sandbox/init.py's COMMANDS_DIR).
COMMANDS_DIR = "/var/fc/bin"
# Unprivileged ids handed to sandboxes, one each (config: [sandbox] uid_first, uid_count).
UIDS = range(DEFAULTS.sandbox.uid_first, DEFAULTS.sandbox.uid_first + DEFAULTS.sandbox.uid_count)
NAMESPACES = ("mnt", "pid", "ipc", "uts", "net")
# Generic sandboxes kept ready; each holds ~1-2 MB and saves the namespace/root work of a start.
POOL_SIZE = 4
# Pre-started node sandboxes kept once a node function has run on this host.
NODE_POOL_SIZE = 2
# The environment node starts with; the function's own arrives with its handler (load).
NODE_BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "TZ": "UTC",
    "NODE_PATH": "/var/fc/runtime/nodejs/node_modules:/opt/nodejs/node_modules",
}
# How long after a sandbox is taken from a pool its replacement is started.
REFILL_DELAY_S = 0.02
# Sandboxes announce themselves with this frame once made; node needs ~30-100 ms to get there.
PREPARED_FRAME = struct.pack(">II", 16, 0) + b'{"t":"prepared"}'
PREPARE_TIMEOUT_S = 30.0
# pid 1 of a sandbox mounts a function's files in a few ms; this is for a wedged one.
SPECIALISE_TIMEOUT_S = 10.0
# Memory cap of a pre-made sandbox before it is given a function (its init needs a few MB).
PREPARED_MEMORY_MB = 64
PREPARED_NODE_MEMORY_MB = 256
# The /tmp disk a pre-made sandbox gets: FC's default diskSize. Another size is swapped in when
# the sandbox is specialised (on the request's path, ~1-3 ms more).
PREPARED_DISK_MB = 512
# Disks of that size attached ahead, for sandboxes made on a request's path (pool empty).
DISK_POOL_SIZE = 2


def _run_as(wanted: tuple[int, int] | None, own: int | None) -> list[int] | None:
    """The [uid, gid] the runtime drops to; -1 (or nothing asked) keeps the sandbox's own."""
    if wanted is None or own is None:
        return None
    uid, gid = wanted
    return [own if uid < 0 else uid, own if gid < 0 else gid]


def uids_needed(max_instances: int) -> int:
    """How many uids the range must hold: one per instance and per pre-made sandbox. Pure."""
    return max_instances + POOL_SIZE + NODE_POOL_SIZE


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
    # (uid, gid) to run as instead of the sandbox's own uid; -1 keeps the own uid.
    run_as: tuple[int, int] | None = None
    resolv_conf: str | None = None  # /etc/resolv.conf's text; None: the host's, with internet
    cpu: float | None = None  # vCPUs of CPU quota; None: none (a weight by memory only)
    tmp_size_mb: int = 512
    internet: bool = False
    pids_max: int = cgroup.PIDS_MAX


# "generic": the runtime is forked from the zygote when specialised (python, custom agent).
# "node": node is started ahead, unprivileged, and the sandbox is specialised around it.
Kind = Literal["generic", "node"]


class Watched:
    """A process that is not our child (the zygote forked it), watched through a pidfd."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[None] = self._loop.create_future()
        self._pidfd: int | None = None
        try:
            self._pidfd = os.pidfd_open(pid)
        except ProcessLookupError:
            self._exited.set_result(None)
            return
        try:
            self._loop.add_reader(self._pidfd, self._on_exit)
        except BaseException:
            os.close(self._pidfd)
            raise

    def _on_exit(self) -> None:
        self._close()
        if not self._exited.done():
            self._exited.set_result(None)

    def _close(self) -> None:
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    @property
    def exited(self) -> bool:
        return self._exited.done()

    def signal(self, sig: int) -> None:
        """Signal it through the pidfd, so a recycled pid is never hit."""
        if self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self._pidfd, sig)

    async def wait(self) -> None:
        await asyncio.shield(self._exited)

    def forget(self) -> None:
        self._close()
        if not self._exited.done():
            self._exited.set_result(None)


@dataclass
class Prepared:
    """A generic sandbox made ahead of a request: namespaces, cgroup, root without code."""

    process: Watched
    control: socket.socket
    stdout_fd: int
    stderr_fd: int
    group: cgroup.Cgroup | None
    kind: Kind = "generic"
    setup: socket.socket | None = None  # to pid 1 of a sandbox whose runtime is pre-started
    uid: int | None = None  # taken when the runtime starts unprivileged before specialising
    link: Link | None = None  # a veth pair made ahead, used if the function has internet access
    disk_mb: int = 0  # the size of the disk mounted at its /tmp (0: none, isolation "none")


@dataclass
class Sandbox:
    """A specialised sandbox running a runtime; ``destroy`` is idempotent and never raises."""

    name: str
    process: Watched
    control: socket.socket  # the runtime's end of the control channel is in the sandbox
    started: float  # CLOCK_MONOTONIC when the request for it began
    stdout_fd: int
    stderr_fd: int
    group: cgroup.Cgroup | None = None
    uid: int | None = None
    pool_hit: bool = False
    ready_at: float = 0.0  # CLOCK_MONOTONIC when specialised (pre-started runtimes only)
    on_destroy: list[Callable[[], None]] = field(default_factory=list)
    _destroyed: bool = False
    _peak_mb: float = 0.0
    _streams_open: bool = False
    _peak_fd: int = -1

    @property
    def pid(self) -> int:
        return self.process.pid

    async def open_pipes(
        self, factory: Callable[[], asyncio.Protocol]
    ) -> tuple[asyncio.BaseTransport, asyncio.BaseTransport]:
        """Read the sandbox's stdout and stderr with protocols made by ``factory`` (call once).

        The protocols see the bytes as they are read and may pause their transport: the pipe
        then fills and the sandbox's writers block.
        """
        loop = asyncio.get_running_loop()
        transports = []
        for fd in (self.stdout_fd, self.stderr_fd):
            transport, _ = await loop.connect_read_pipe(factory, os.fdopen(fd, "rb", 0))
            transports.append(transport)
        self._streams_open = True
        return transports[0], transports[1]

    def peak_memory_mb(self) -> float:
        """The cgroup's peak, or the runtime process's peak RSS without a cgroup.

        Read on every invocation, so the file is opened once and read with ``pread`` (1.5 µs
        against ~40 µs to open and read it by path). The last value read is kept, so it
        survives the process and the cgroup.
        """
        if self._destroyed:
            return self._peak_mb
        if self._peak_fd < 0:
            path = self.group.peak_memory_file() if self.group is not None else None
            try:
                self._peak_fd = os.open(path or f"/proc/{self.pid}/status", os.O_RDONLY)
            except OSError:
                return self._peak_mb
        try:
            data = os.pread(self._peak_fd, 4096, 0)
        except OSError:  # the process is gone
            return self._peak_mb
        self._peak_mb = max(self._peak_mb, _peak_mb(data, self.group is not None))
        return self._peak_mb

    def oom_killed(self) -> bool:
        return self.group is not None and self.group.oom_kills() > 0

    async def wait(self, within: float | None = None) -> bool:
        """Wait for the sandbox's init to exit; False when ``within`` seconds passed first."""
        try:
            async with asyncio.timeout(within):
                await self.process.wait()
        except TimeoutError:
            return False
        return True

    async def destroy(self) -> None:
        """Kill every process of the sandbox and remove its cgroup."""
        if self._destroyed:
            return
        self.peak_memory_mb()
        self._destroyed = True
        try:
            # The watched process first: pid 1 of the sandbox takes its namespace along, even
            # if it had not joined its cgroup yet.
            self.process.signal(signal.SIGKILL)
            if self.group is not None:
                self.group.kill_all()
            elif not self.process.exited:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)  # its own session and group
            if not await self.wait(5):
                log.warning("sandbox %s: init %d did not exit", self.name, self.pid)
                self.process.forget()
            if self.group is not None:
                await _remove_group(self.group)
        finally:
            self.control.close()
            if self._peak_fd >= 0:
                os.close(self._peak_fd)
                self._peak_fd = -1
            if not self._streams_open:
                for fd in (self.stdout_fd, self.stderr_fd):
                    with contextlib.suppress(OSError):
                        os.close(fd)
            for callback in self.on_destroy:
                callback()

    def __repr__(self) -> str:
        state = "exited" if self.process.exited else "running"
        return f"<Sandbox {self.name} pid={self.pid} uid={self.uid} {state}>"


def _peak_mb(data: bytes, single_value: bool) -> float:
    """MiB from a cgroup peak file's bytes, or from the ``VmHWM`` line of /proc/<pid>/status."""
    try:
        if single_value:
            return int(data.split()[0]) / (1024 * 1024)
        start = data.find(b"VmHWM:")
        if start < 0:
            return 0.0
        return int(data[start + 6 : data.index(b"kB", start)]) / 1024
    except (ValueError, IndexError):
        return 0.0


async def _remove_group(group: cgroup.Cgroup) -> None:
    """Kill what is left in ``group`` and remove it, waiting (off the loop's back) while the
    kernel still counts exiting processes in it."""
    for _ in range(100):
        if group.remove():
            return
        group.kill_all()
        await asyncio.sleep(0.01)
    log.warning("cgroup %s still busy after kill", group.name)


def _kill(pid: int) -> None:
    """SIGKILL a sandbox init that is not watched yet (the zygote's child: its pid is ours to
    signal until the zygote's kernel-side reaping, which needs it to exit first)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


class Zygote:
    """The forking Python (``sandbox/zygote.py``); restarted on demand if it dies."""

    def __init__(self, python: str) -> None:
        self.python = python
        self._process: asyncio.subprocess.Process | None = None
        self._sock: socket.socket | None = None
        self._lock = asyncio.Lock()

    async def _start(self) -> socket.socket:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self._process = await asyncio.create_subprocess_exec(
                self.python,
                "-I",
                "-S",  # no site-packages, no .pth files: functions see none of the host's
                str(ZYGOTE),
                str(RUNTIMES),
                str(theirs.fileno()),
                str(os.getpid()),
                env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        finally:
            theirs.close()
        ours.setblocking(False)
        self._sock = ours
        return ours

    async def fork(self, description: Mapping[str, object], fds: list[int]) -> int:
        """Fork a sandbox init with ``fds`` (control socket, stdout, stderr); its pid.

        Raises:
            OSError: the zygote cannot be started or died while forking.
        """
        async with self._lock:
            sock = self._sock
            if sock is None or self._process is None or self._process.returncode is not None:
                if sock is not None:
                    sock.close()
                sock = await self._start()
            loop = asyncio.get_running_loop()
            socket.send_fds(sock, [json.dumps(description).encode()], fds)
            reply = await loop.sock_recv(sock, 4096)
            if not reply:
                self._sock = None
                sock.close()
                raise ConnectionResetError("the zygote exited")
            return int(json.loads(reply)["pid"])

    async def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._process is not None and self._process.returncode is None:
            try:
                await asyncio.wait_for(self._process.wait(), 2)
            except TimeoutError:
                self._process.kill()
                await self._process.wait()


def namespaces_available() -> str:
    """Why real sandboxes cannot be built here ("" when they can)."""
    if os.geteuid() != 0:
        return "not running as root"
    for ns in NAMESPACES:
        if not os.path.exists(f"/proc/self/ns/{ns}"):
            return f"the kernel has no {ns} namespace"
    if ctypes.util.find_library("seccomp") is None:
        # the zygote's filter that keeps functions off the kernel keyring (sandbox/init.py)
        return "libseccomp is missing (install libseccomp2)"
    return scratch.available()  # each sandbox's /tmp is a disk of its own


class Isolation:
    """Builds sandboxes for instances, as configured: ``namespaces`` or ``none``.

    One per daemon. It owns the zygote, the cgroup backend (detected at start), the uid pool and
    a pool of pre-made generic sandboxes (namespaces, cgroup, root without code) that
    :meth:`run` keeps filled in the background, so a cold start only specialises one.
    """

    def __init__(
        self,
        mode: Literal["namespaces", "none"],
        data_dir: Path,
        python: str,
        node: str,
        backend: cgroup.Backend | None = None,
        pool_size: int = POOL_SIZE,
        uids: range = UIDS,
    ) -> None:
        self.mode = mode
        self.data_dir = data_dir
        self.python = python
        self.node = node
        self.backend = backend
        self.pool_size = pool_size if mode == "namespaces" else 0
        # The node pool fills only once a node function has started here (each holds ~40 MB).
        self.targets: dict[Kind, int] = {"generic": self.pool_size, "node": 0}
        self.root_mountpoint = data_dir / "sandbox-root"
        self.zygote = Zygote(python)
        self.uplink = Uplink()
        self.uids = uids
        self._free_uids = collections.deque(uids)
        self._pools: dict[Kind, list[Prepared]] = {"generic": [], "node": []}
        self._refill = asyncio.Event()
        self._full = asyncio.Event()
        self._names = itertools.count()
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.scratch = scratch.Scratch(data_dir / "scratch")
        self._disks: list[scratch.Disk] = []
        if mode == "namespaces":
            self.root_mountpoint.mkdir(parents=True, exist_ok=True)
            self.scratch.sweep()  # images a crashed run left between copying and attaching

    @classmethod
    def from_config(cls, config: Config, data_dir: Path) -> Isolation:
        """The daemon's isolation.

        Raises:
            ConfigError: the uid range cannot hold a uid for every instance and pre-made
                sandbox.
            IsolationUnavailable: ``namespaces`` is configured but namespaces or cgroups are
                unavailable; the daemon must refuse to start.
        """
        if config.isolation == "none":
            log.warning("isolation = none: functions run as plain processes, without sandboxes")
            return cls("none", data_dir, config.runtimes.python, config.runtimes.node)
        box = config.sandbox
        needed = uids_needed(config.instances.max_total)
        if box.uid_count < needed:
            raise ConfigError(
                f"config key 'sandbox.uid_count' ({box.uid_count}) must be at least"
                f" instances.max_total ({config.instances.max_total}) plus the pre-made"
                f" sandboxes ({needed - config.instances.max_total}): {needed}; raise it or"
                " lower instances.max_total"
            )
        reason = namespaces_available()
        if reason:
            raise IsolationUnavailable(f"cannot build sandboxes: {reason} (set isolation = none)")
        try:
            backend = cgroup.detect()
        except OSError as e:
            raise IsolationUnavailable(f"cannot create cgroups: {e}") from e
        if backend is None:
            raise IsolationUnavailable("no cgroup hierarchy with the memory controller")
        totals = cgroup.totals_for(box.pids_total, box.memory_total, *cgroup.host_limits())
        try:
            backend.set_totals(totals)
        except OSError as e:
            backend.close()
            raise IsolationUnavailable(f"cannot cap the sandboxes' cgroup: {e}") from e
        log.info(
            "isolation: namespaces, cgroup v%d; all sandboxes: %d pids, %d MiB, uids %d-%d",
            backend.version,
            totals.pids_max,
            totals.memory_bytes >> 20,
            box.uid_first,
            box.uid_first + box.uid_count - 1,
        )
        uids = range(box.uid_first, box.uid_first + box.uid_count)
        return cls(
            "namespaces",
            data_dir,
            config.runtimes.python,
            config.runtimes.node,
            backend,
            uids=uids,
        )

    # -- paths as the runtime sees them ------------------------------------------------------
    @property
    def isolated(self) -> bool:
        return self.mode == "namespaces"

    def code_path(self, spec: SandboxSpec) -> str:
        return "/code" if self.isolated else str(spec.code_dir)

    def runtime_path(self) -> str:
        return "/var/fc/runtime" if self.isolated else str(RUNTIMES)

    def commands(self) -> dict[str, str]:
        """Commands FC's runtime images provide, linked in every sandbox's ``commands_path``:
        ``python`` as well as ``python3`` (Debian has no ``python``), and ``node``."""
        return {"python": self.python, "python3": self.python, "node": self.node}

    def commands_path(self) -> str:
        """Where the sandbox's command links are (empty without sandboxes: the host's PATH)."""
        return COMMANDS_DIR if self.isolated else ""

    # -- lifecycle ---------------------------------------------------------------------------
    async def run(self, *, ready: asyncio.Event) -> None:
        """Keep the pool of generic sandboxes full; refills are off every request's path."""
        ready.set()
        while not self._closed:
            for kind, pool in self._pools.items():
                while len(pool) < self.targets[kind] and not self._closed:
                    try:
                        prepared = await self._prepare(kind, background=True)
                    except errors.ResourceExhausted:
                        # Every uid is held by an instance: the pool waits for one to end.
                        await asyncio.sleep(1)
                        continue
                    except OSError as e:
                        log.warning("cannot pre-make a sandbox: %s", e)
                        await asyncio.sleep(1)
                        continue
                    if self._closed:
                        await self._discard(prepared)
                        break
                    pool.append(prepared)
            while self.isolated and len(self._disks) < DISK_POOL_SIZE and not self._closed:
                try:
                    self._disks.append(await self._attach_disk(PREPARED_DISK_MB, pooled=False))
                except OSError as e:
                    log.warning("cannot attach a disk ahead: %s", e)
                    break
            self._full.set()
            self._refill.clear()
            await self._refill.wait()

    async def filled(self) -> None:
        """Return once the pool of pre-made sandboxes is full (for benchmarks and tests)."""
        await self._full.wait()

    @property
    def pooled(self) -> int:
        return len(self._pools["generic"])

    @property
    def uids_free(self) -> int:
        return len(self._free_uids)

    @property
    def pooled_node(self) -> int:
        return len(self._pools["node"])

    async def close(self) -> None:
        """Destroy the pooled sandboxes, stop the zygote, remove the cgroup bases."""
        self._closed = True
        self._refill.set()
        pools = [p for pool in self._pools.values() for p in pool]
        self._pools = {"generic": [], "node": []}
        for prepared in pools:
            await self._discard(prepared)
        for disk in self._disks:
            disk.close()
        self._disks.clear()
        await self.zygote.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.backend is not None:
            self.backend.close()

    # -- making sandboxes --------------------------------------------------------------------
    def _take_uid(self) -> int:
        """A uid no other sandbox holds.

        Raises:
            errors.ResourceExhausted: all of the configured range is in use (429, never a crash).
        """
        if not self._free_uids:
            raise errors.ResourceExhausted(
                f"all {len(self.uids)} sandbox uids are in use; try again when an instance ends"
            )
        return self._free_uids.popleft()

    async def _prepare(self, kind: Kind = "generic", background: bool = False) -> Prepared:
        """Have the zygote fork a generic sandbox, in a fresh cgroup and with its /tmp disk
        mounted when isolated.

        Each resource (uid, cgroup, socket pair, pipes, the forked process) is registered for
        release the moment it exists, before the next step that can fail; the registrations
        are given up only once the sandbox is prepared and owns them all.

        Raises:
            errors.ResourceExhausted: every uid of the range is in use.
            OSError: the disk, cgroup, pipes or the fork could not be made.
        """
        disk = await self._attach_disk(PREPARED_DISK_MB) if self.isolated else None
        try:
            return await self._fork_prepared(kind, background, disk)
        finally:
            if disk is not None:
                disk.close()  # mounted by the sandbox by now, or never: then the device is freed

    async def _fork_prepared(
        self, kind: Kind, background: bool, disk: scratch.Disk | None
    ) -> Prepared:
        async with contextlib.AsyncExitStack() as undo:
            group = None
            uid = None
            if self.isolated:
                assert self.backend is not None
                uid = self._take_uid()
                undo.callback(self._free_uids.append, uid)
                group = self.backend.create(f"sbx-{os.getpid()}-{next(self._names)}")
                undo.push_async_callback(_remove_group, group)
                # Until specialised a sandbox holds only its init (and node): cap it modestly.
                memory = PREPARED_NODE_MEMORY_MB if kind == "node" else PREPARED_MEMORY_MB
                group.set_limits(cgroup.Limits(memory))
            description: dict[str, object] = {
                "mode": self.mode,
                "root": str(self.root_mountpoint),
                "runtime_dir": str(RUNTIMES),
                "commands": self.commands(),
                "cgroup_procs": [str(p) for p in group.procs_files()] if group else [],
                "background": background,
            }
            if uid is not None:
                description["uid"] = uid
            if disk is not None:
                description["tmp_device"] = disk.device
            # The sandbox's ends of the channels: ours to close once it has them (or has not).
            with contextlib.ExitStack() as theirs:
                ours, their_control = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                undo.callback(ours.close)
                theirs.callback(their_control.close)
                out_r, out_w = os.pipe()
                undo.callback(os.close, out_r)
                theirs.callback(os.close, out_w)
                err_r, err_w = os.pipe()
                undo.callback(os.close, err_r)
                theirs.callback(os.close, err_w)
                fds = [their_control.fileno(), out_w, err_w]
                setup_ours = None
                if kind == "node":
                    setup_ours, setup_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                    undo.callback(setup_ours.close)
                    theirs.callback(setup_theirs.close)
                    fds.append(setup_theirs.fileno())
                    description.update(
                        prestart=True,
                        argv=[self.node, "/var/fc/runtime/nodejs/bootstrap.js"],
                        env=NODE_BASE_ENV,
                    )
                pid = await self.zygote.fork(description, fds)
            undo.callback(_kill, pid)  # until it is watched through a pidfd
            prepared = Prepared(Watched(pid), ours, out_r, err_r, group, kind, setup_ours, uid)
            prepared.disk_mb = disk.size_mb if disk is not None else 0
            # The prepared sandbox owns all of it now: destroying it releases every piece.
            undo.pop_all()
            undo.push_async_callback(self._discard, prepared)
            await self._await_prepared(prepared)
            if self.isolated and background:
                # Most functions have internet access: pay for the veth pair ahead too.
                try:
                    prepared.link = await self.uplink.attach(pid)
                except OSError as e:
                    log.warning("no veth pair for a pre-made sandbox: %s", e)
            undo.pop_all()
        return prepared

    async def _attach_disk(self, size_mb: int, pooled: bool = True) -> scratch.Disk:
        """A fresh disk for a sandbox's /tmp: one attached ahead when there is one (and
        ``pooled``), else made now; its template is made off the event loop, once.

        Raises:
            OSError: the image or loop device could not be made.
        """
        if pooled and self._disks and self._disks[-1].size_mb == size_mb:
            return self._disks.pop()
        if not self.scratch.has_template(size_mb):
            await asyncio.to_thread(self.scratch.template, size_mb)
        return self.scratch.attach(size_mb)

    async def _await_prepared(self, prepared: Prepared) -> None:
        """Wait for the sandbox's "prepared" frame: its namespaces, root and runtime are up.

        Raises:
            OSError: it exited or stayed silent (its stderr says why).
        """
        loop = asyncio.get_running_loop()
        prepared.control.setblocking(False)
        expected = len(PREPARED_FRAME)
        data = b""
        try:
            async with asyncio.timeout(PREPARE_TIMEOUT_S):
                while len(data) < expected:
                    chunk = await loop.sock_recv(prepared.control, expected - len(data))
                    if not chunk:
                        break
                    data += chunk
        except TimeoutError:
            raise OSError(f"a sandbox was not prepared within {PREPARE_TIMEOUT_S:.0f} s") from None
        if data != PREPARED_FRAME:
            error = b""
            with contextlib.suppress(OSError):
                os.set_blocking(prepared.stderr_fd, False)
                error = os.read(prepared.stderr_fd, 4096)
            raise OSError(
                f"a sandbox failed while being prepared: {error.decode(errors='replace')}"
            )

    async def _discard(self, prepared: Prepared) -> None:
        sandbox = self._sandbox("unused", prepared, 0.0, False)
        await sandbox.destroy()

    def _sandbox(self, name: str, prepared: Prepared, started: float, hit: bool) -> Sandbox:
        sandbox = Sandbox(
            name,
            prepared.process,
            prepared.control,
            started,
            prepared.stdout_fd,
            prepared.stderr_fd,
            prepared.group,
            prepared.uid,
            hit,
        )
        uid = prepared.uid
        if uid is not None:
            sandbox.on_destroy.append(lambda: self._free_uids.append(uid))
        if prepared.setup is not None:
            sandbox.on_destroy.append(prepared.setup.close)
        link = prepared.link
        if link is not None:
            sandbox.on_destroy.append(lambda: self.uplink.release(link))
        return sandbox

    async def spawn(
        self,
        spec: SandboxSpec,
        runtime: Literal["python", "custom", "exec"],
        argv: list[str],
        env: Mapping[str, str],
    ) -> Sandbox:
        """Specialise a sandbox (from the pool, or made now) to run ``runtime`` for ``spec``.

        ``python`` and ``custom`` run in the sandbox's process (forked from the zygote, where
        they are already imported); ``exec`` execs ``argv``. The returned sandbox's ``control``
        socket is connected to the runtime.

        Raises:
            OSError: no sandbox could be made.
        """
        started = time.monotonic()
        # A pre-started node already runs as its sandbox's uid: one that runs as other ids
        # (nasConfig) is exec'd from a generic sandbox instead.
        prestarted = runtime == "exec" and self.isolated and spec.run_as is None
        kind: Kind = "node" if prestarted else "generic"
        if kind == "node":
            self.targets["node"] = NODE_POOL_SIZE
        prepared = None
        pool = self._pools[kind]
        while pool:
            candidate = pool.pop()
            if not candidate.process.exited:
                prepared = candidate
                break
            await self._discard(candidate)
        pool_hit = prepared is not None
        self._full.clear()
        if prepared is None:
            prepared = await self._prepare(kind)
        # Refill a moment later, so the refill does not compete with this start for the CPU.
        asyncio.get_running_loop().call_later(REFILL_DELAY_S, self._refill.set)
        sandbox = self._sandbox(spec.name, prepared, started, pool_hit)
        try:
            uplink = None
            if spec.internet and self.isolated:
                link = prepared.link
                if link is None:
                    link = prepared.link = await self.uplink.attach(prepared.process.pid)
                    sandbox.on_destroy.append(lambda: self.uplink.release(link))
                uplink = {"ip": link.sandbox_ip, "prefix": link.prefix, "gateway": link.host_ip}
            if prepared.group is not None:
                limits = cgroup.Limits(spec.memory_mb, spec.pids_max, cpu=spec.cpu)
                prepared.group.set_limits(limits)
                for pid in prepared.group.first_pids():  # made at niceness 10: now on a request
                    with contextlib.suppress(OSError):
                        os.setpriority(os.PRIO_PROCESS, pid, 0)
            tmp_device = None
            if self.isolated and spec.tmp_size_mb != prepared.disk_mb:
                disk = await self._attach_disk(spec.tmp_size_mb)
                sandbox.on_destroy.append(disk.close)  # the sandbox holds it once mounted
                tmp_device = disk.device
            message = {
                "t": "specialise",
                "code_dir": str(spec.code_dir),
                "layer_dirs": [str(d) for d in spec.layer_dirs],
                "mounts": [[str(h), t, ro] for h, t, ro in spec.mounts],
                "tmp_device": tmp_device,
                "hostname": spec.name,
                "uid": prepared.uid,
                "run_as": _run_as(spec.run_as, prepared.uid),
                "resolv_conf": spec.resolv_conf,
                "internet": spec.internet,
                "uplink": uplink,
                "runtime": runtime,
                "argv": argv,
                "env": dict(env),
            }
            header = json.dumps(message).encode()
            frame = struct.pack(">II", len(header), 0) + header
            loop = asyncio.get_running_loop()
            if prepared.setup is None:
                prepared.control.setblocking(False)
                await loop.sock_sendall(prepared.control, frame)
            else:
                prepared.setup.setblocking(False)
                await loop.sock_sendall(prepared.setup, frame)
                async with asyncio.timeout(SPECIALISE_TIMEOUT_S):
                    ack = await loop.sock_recv(prepared.setup, 4096)
                if not ack:
                    raise ConnectionResetError("the sandbox exited while being specialised")
                sandbox.ready_at = time.monotonic()
                prepared.setup.close()
            if uplink is None and prepared.link is not None:
                # Unused pair: eth0 stays down and unaddressed, and the function cannot change
                # that (no CAP_NET_ADMIN); deleting it costs an RCU wait, so it happens here,
                # off the request's path.
                self._background(self.uplink.detach(prepared.link))
        except BaseException:
            await sandbox.destroy()
            raise
        return sandbox

    def _background(self, coro: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def __repr__(self) -> str:
        return (
            f"<Isolation {self.mode} {self.backend!r} [pool {self.pooled}/{self.pool_size}"
            f" | node {len(self._pools['node'])}/{self.targets['node']}"
            f" | uids free {len(self._free_uids)}]>"
        )
