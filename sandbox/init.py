"""Enter a sandbox and run a runtime in it: namespaces, mounts, hostname, loopback, uid drop.

Stdlib only (ctypes on libc: Python 3.11 has no os.unshare/setns) and independent of fcd: the
daemon runs it under the system interpreter with the sandbox description as JSON in
``FCD_SANDBOX``. The process tree it builds:

    init (host pid ns, in the instance's cgroup; waits and exits with the runtime's status)
      └─ reaper: pid 1 of a new pid namespace; builds the root, reaps orphans
           └─ runtime: uid/gid from the daemon's pool, no_new_privs, exec'd

The root is a small tmpfs with read-only binds of the host's system directories, a minimal
/etc, the function's code read-only at /code, layers at /opt (overlay when several, the first
one wins), a size-capped tmpfs at /tmp, a private /proc and a /dev with only harmless nodes. The
old root is detached after pivot_root, so nothing else of the host is reachable.

``enter(spec)`` returns in the runtime process, so a forking zygote can run a runtime in-process;
``main()`` execs one.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import socket
import struct
import sys
import time

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_NO_NEW_PRIVS = 38
PR_SET_PDEATHSIG = 1
SYS_PIVOT_ROOT = 155  # x86_64
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFF_RUNNING = 0x40

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
ETC_BINDS = (
    "ssl",
    "ca-certificates",
    "alternatives",
    "ld.so.cache",
    "nsswitch.conf",
    "protocols",
    "services",
    "mime.types",
    "localtime",
    "host.conf",
    "gai.conf",
)
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")

_libc = ctypes.CDLL(None, use_errno=True)


class SandboxError(Exception):
    """A step of building the sandbox failed; the message names the step."""


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def mount(
    source: str, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )


def bind(source: str, target: str, read_only: bool = True) -> None:
    """Bind ``source`` at ``target``; read-only needs a second, remounting call."""
    mount(source, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | MS_NODEV | (MS_RDONLY if read_only else 0)
    mount("none", target, None, flags)


def loopback_up() -> None:
    """Bring ``lo`` up with two ioctls (pyroute2 costs ~8 ms for the same in a fresh netns)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, req + b"\0" * 22)[:18])[1]
        fcntl.ioctl(
            s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP | IFF_RUNNING) + b"\0" * 22
        )


def _mkdir(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _touch(path: str) -> None:
    with open(path, "a"):
        pass


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def build_root(spec: dict[str, object]) -> None:
    """Assemble the sandbox's root under ``spec['root']`` (in the private mount namespace)."""
    root = str(spec["root"])
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            os.symlink(os.readlink(path), root + path)
        elif os.path.isdir(path):
            _mkdir(root + path)
            bind(path, root + path)
    _build_etc(root, spec)
    _build_dev(root)
    _mkdir(root + "/code")
    bind(str(spec["code_dir"]), root + "/code")
    _mount_layers(root, [str(d) for d in spec.get("layer_dirs", [])])  # type: ignore[attr-defined]
    _mkdir(root + "/tmp")
    mount(
        "tmpfs",
        root + "/tmp",
        "tmpfs",
        MS_NOSUID | MS_NODEV,
        f"size={int(spec.get('tmp_size_mb', 512))}m,mode=1777",
    )  # type: ignore[call-overload]
    runtime_dir = spec.get("runtime_dir")
    if runtime_dir:
        _mkdir(root + "/var/fc/runtime")
        bind(str(runtime_dir), root + "/var/fc/runtime")
    for host, target, read_only in spec.get("mounts", []):  # type: ignore[attr-defined]
        _mkdir(root + target)
        bind(host, root + target, bool(read_only))
    _mkdir(root + "/proc")
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    _mkdir(root + "/.old")
    _check(_libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.old").encode()), "pivot_root")
    os.chdir("/")
    _check(_libc.umount2(b"/.old", MNT_DETACH), "umount old root")
    os.rmdir("/.old")
    mount("none", "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _build_etc(root: str, spec: dict[str, object]) -> None:
    etc = root + "/etc"
    _mkdir(etc)
    uid = int(spec.get("uid", 10000))  # type: ignore[call-overload]
    hostname = str(spec.get("hostname", "sandbox"))
    _write(
        etc + "/passwd",
        f"root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"user{uid}:x:{uid}:{uid}::/tmp:/usr/sbin/nologin\n",
    )
    _write(etc + "/group", f"root:x:0:\nuser{uid}:x:{uid}:\n")
    _write(etc + "/hosts", f"127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost\n")
    _write(etc + "/hostname", hostname + "\n")
    if spec.get("internet"):
        try:
            with open("/etc/resolv.conf") as f:
                _write(etc + "/resolv.conf", f.read())
        except OSError:
            pass
    for name in ETC_BINDS:
        host = "/etc/" + name
        if os.path.islink(host):
            os.symlink(os.readlink(host), etc + "/" + name)
        elif os.path.isdir(host):
            _mkdir(etc + "/" + name)
            bind(host, etc + "/" + name)
        elif os.path.isfile(host):
            _touch(etc + "/" + name)
            bind(host, etc + "/" + name)


def _build_dev(root: str) -> None:
    dev = root + "/dev"
    _mkdir(dev)
    mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "size=64k,mode=755")
    for name in DEV_NODES:
        if os.path.exists("/dev/" + name):
            _touch(dev + "/" + name)
            mount("/dev/" + name, dev + "/" + name, None, MS_BIND)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, dev + "/" + name)
    _mkdir(dev + "/shm")
    mount("tmpfs", dev + "/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=16m,mode=1777")


def _mount_layers(root: str, layers: list[str]) -> None:
    """Layers at /opt: one is bound; several are stacked read-only so the first one wins."""
    _mkdir(root + "/opt")
    if len(layers) == 1:
        bind(layers[0], root + "/opt")
    elif layers:
        mount(
            "overlay",
            root + "/opt",
            "overlay",
            MS_RDONLY | MS_NOSUID | MS_NODEV,
            "lowerdir=" + ":".join(layers),
        )


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` with no supplementary groups, and forbid regaining privileges."""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")


def join_cgroup(procs_files: list[str]) -> None:
    pid = str(os.getpid())
    for path in procs_files:
        with open(path, "w") as f:
            f.write(pid)


def _status_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _wait_for(child: int, reap_all: bool) -> int:
    """Wait until ``child`` ends (reaping any orphan on the way when pid 1); its exit code."""
    while True:
        try:
            pid, status = os.waitpid(-1 if reap_all else child, 0)
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == child:
            return _status_code(status)


def enter(spec: dict[str, object], keep_fds: tuple[int, ...] = ()) -> None:
    """Build the sandbox and return in its runtime process (pid 2 of the new pid namespace).

    The calling process and an intermediate reaper never return: they wait for the runtime and
    exit with its status. ``keep_fds`` stay open in the runtime only.

    Raises:
        SandboxError: a namespace, mount or privilege step failed (in the runtime process only
            after the tree is built; earlier failures exit the calling process with code 70).
    """
    join_cgroup([str(p) for p in spec.get("cgroup_procs", [])])  # type: ignore[attr-defined]
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    if not spec.get("share_net"):
        flags |= CLONE_NEWNET
    unshare(flags)
    reaper = os.fork()
    if reaper:
        for fd in keep_fds:
            os.close(fd)
        os._exit(_wait_for(reaper, reap_all=False))
    # pid 1 of the new namespace: when it exits, the kernel kills everything left in it.
    try:
        build_root(spec)
        hostname = str(spec.get("hostname", "sandbox")).encode()
        _check(_libc.sethostname(hostname, len(hostname)), "sethostname")
        if not spec.get("share_net"):
            loopback_up()
    except (OSError, SandboxError) as e:
        os.write(2, f"fcd sandbox: {e}\n".encode())
        os._exit(70)
    runtime = os.fork()
    if runtime:
        for fd in keep_fds:
            os.close(fd)
        signal.signal(signal.SIGTERM, lambda *_: os.kill(runtime, signal.SIGTERM))
        os._exit(_wait_for(runtime, reap_all=True))
    uid = int(spec.get("uid", 10000))  # type: ignore[call-overload]
    drop_privileges(uid, int(spec.get("gid", uid)))  # type: ignore[call-overload]
    os.chdir("/code")


def main() -> None:
    """Exec mode: enter the sandbox described by ``$FCD_SANDBOX`` and exec its ``argv``."""
    spec = json.loads(os.environ["FCD_SANDBOX"])
    keep = tuple(int(fd) for fd in spec.get("keep_fds", []))
    try:
        enter(spec, keep)
    except (OSError, SandboxError) as e:
        os.write(2, f"fcd sandbox: {e}\n".encode())
        os._exit(70)
    env = dict(spec["env"])
    env["FCD_T_SANDBOX"] = repr(time.monotonic())
    argv = list(spec["argv"])
    try:
        os.execve(argv[0], argv, env)
    except OSError as e:
        os.write(2, f"fcd sandbox: exec {argv[0]}: {e.strerror}\n".encode())
        os._exit(127 if e.errno == 2 else 126)


if __name__ == "__main__":
    sys.exit(main())
