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
import socket
import struct
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fcd.config import Config
from fcd.isolation import cgroup
from fcd.isolation.netns import Link, Uplink

log = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parents[2]
ZYGOTE = PROJECT / "sandbox" / "zygote.py"
RUNTIMES = PROJECT / "runtimes"
# Unprivileged ids handed to sandboxes (FC's images pre-create user10000…user10999).
UID_FIRST, UID_COUNT = 10000, 1000
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
        self._loop.add_reader(self._pidfd, self._on_exit)

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
                for _ in range(100):
                    if self.group.remove():
                        break
                    self.group.kill_all()
                    await asyncio.sleep(0.01)
                else:
                    log.warning("cgroup %s still busy after kill", self.group.name)
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
    return ""


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
        self._free_uids = list(range(UID_FIRST, UID_FIRST + UID_COUNT))
        self._pools: dict[Kind, list[Prepared]] = {"generic": [], "node": []}
        self._refill = asyncio.Event()
        self._full = asyncio.Event()
        self._names = itertools.count()
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
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
        """Keep the pool of generic sandboxes full; refills are off every request's path."""
        ready.set()
        while not self._closed:
            for kind, pool in self._pools.items():
                while len(pool) < self.targets[kind] and not self._closed:
                    try:
                        prepared = await self._prepare(kind, background=True)
                    except OSError as e:
                        log.warning("cannot pre-make a sandbox: %s", e)
                        await asyncio.sleep(1)
                        continue
                    if self._closed:
                        await self._discard(prepared)
                        break
                    pool.append(prepared)
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
        await self.zygote.close()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.backend is not None:
            with contextlib.suppress(OSError):
                for base in getattr(self.backend, "bases", {}).values():
                    base.rmdir()
                if hasattr(self.backend, "base"):
                    self.backend.base.rmdir()

    # -- making sandboxes --------------------------------------------------------------------
    async def _prepare(self, kind: Kind = "generic", background: bool = False) -> Prepared:
        """Have the zygote fork a generic sandbox, in a fresh cgroup when isolated.

        Raises:
            OSError: the cgroup, pipes or the fork could not be made.
        """
        group = None
        if self.isolated:
            assert self.backend is not None
            group = self.backend.create(f"sbx-{os.getpid()}-{next(self._names)}")
            # Until specialised a sandbox holds only its init (and node): cap it modestly.
            memory = PREPARED_NODE_MEMORY_MB if kind == "node" else PREPARED_MEMORY_MB
            group.set_limits(cgroup.Limits(memory))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        setup_ours, setup_theirs = (None, None)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        description: dict[str, object] = {
            "mode": self.mode,
            "root": str(self.root_mountpoint),
            "runtime_dir": str(RUNTIMES),
            "cgroup_procs": [str(p) for p in group.procs_files()] if group else [],
            "background": background,
        }
        uid = None
        if self.isolated:
            uid = self._free_uids.pop(0)
            description["uid"] = uid
        if kind == "node":
            setup_ours, setup_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            description.update(
                prestart=True,
                argv=[self.node, "/var/fc/runtime/nodejs/bootstrap.js"],
                env=NODE_BASE_ENV,
            )
        fds = [theirs.fileno(), out_w, err_w] + ([setup_theirs.fileno()] if setup_theirs else [])
        try:
            pid = await self.zygote.fork(description, fds)
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            ours.close()
            if setup_ours is not None:
                setup_ours.close()
            if group is not None:
                group.remove()
            if uid is not None:
                self._free_uids.append(uid)
            raise
        finally:
            theirs.close()
            if setup_theirs is not None:
                setup_theirs.close()
            os.close(out_w)
            os.close(err_w)
        prepared = Prepared(Watched(pid), ours, out_r, err_r, group, kind, setup_ours, uid)
        try:
            await self._await_prepared(prepared)
            if self.isolated and background:
                # Most functions have internet access: pay for the veth pair ahead too.
                try:
                    prepared.link = await self.uplink.attach(pid)
                except OSError as e:
                    log.warning("no veth pair for a pre-made sandbox: %s", e)
        except BaseException:
            await self._discard(prepared)
            raise
        return prepared

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
        kind: Kind = "node" if runtime == "exec" and self.isolated else "generic"
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
                prepared.group.set_limits(cgroup.Limits(spec.memory_mb, spec.pids_max))
                for pid in prepared.group.first_pids():  # made at niceness 10: now on a request
                    with contextlib.suppress(OSError):
                        os.setpriority(os.PRIO_PROCESS, pid, 0)
            message = {
                "t": "specialise",
                "code_dir": str(spec.code_dir),
                "layer_dirs": [str(d) for d in spec.layer_dirs],
                "mounts": [[str(h), t, ro] for h, t, ro in spec.mounts],
                "tmp_size_mb": spec.tmp_size_mb,
                "hostname": spec.name,
                "uid": prepared.uid,
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
