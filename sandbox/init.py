"""Sandbox building blocks: namespaces, mounts, loopback, privilege drop (ctypes on libc),
closing inherited descriptors, and the keyring filter (ctypes on libseccomp).

Stdlib only and independent of fcd (Python 3.11 has no os.unshare/setns). ``sandbox/zygote.py``
uses these in the processes it forks:

    zygote
      └─ pid 1 of a new pid namespace, in the sandbox's cgroup: builds the root, reaps orphans
           └─ runtime: uid/gid from the daemon's pool, no_new_privs

The root is a small tmpfs with read-only binds of the host's system directories (the host's
Python packages hidden), a minimal /etc, the function's code read-only at /code, layers at /opt
(overlay when several, the first one wins), the instance's own disk at /tmp (diskSize), a
private /proc and a /dev with only harmless nodes. It is built in two steps,
:func:`prepare_root` (generic, ahead of requests) and :func:`specialise_root` (the function's
files, then pivot_root and detaching the host's tree).
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import glob
import os
import socket
import struct

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
SIOCADDRT = 0x890B
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
SIOCSIFADDR = 0x8916
SIOCSIFNETMASK = 0x891C
RTF_UP, RTF_GATEWAY = 0x1, 0x2
IFF_UP = 0x1
IFF_RUNNING = 0x40
FD_LIMIT = 1 << 30  # above any descriptor number (close_range takes the whole range at once)

# libseccomp (Debian's libseccomp2), loaded by soname: the kernel keyring filter below.
SECCOMP_LIBRARY = "libseccomp.so.2"
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000
SCMP_FLTATR_CTL_NNP = 3
# Not namespaced: one uid's keyrings outlive its sandbox, and request_key makes the host run
# /sbin/request-key as root. Docker's and containerd's default profiles refuse them too.
KEYRING_SYSCALLS = (b"add_key", b"request_key", b"keyctl")
# Other ABIs the native arch can run, so a 32-bit binary gets the same refusal, not a kill.
COMPAT_ARCHES = (b"x86", b"x32")

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
# Last on every sandboxed runtime's PATH: links to the interpreters (see _link_commands).
COMMANDS_DIR = "/var/fc/bin"
# The host's third-party Python packages (Debian's and pip's), hidden under an empty read-only
# tmpfs: functions see the standard library, their code, layers and fcd's preinstalled set
# only, as on FC, also from a python3 they start themselves. Listed once, in the zygote.
HOST_PACKAGE_DIRS = tuple(
    path
    for pattern in ("/usr/lib/python3*/*-packages", "/usr/local/lib/python3*/*-packages")
    for path in sorted(glob.glob(pattern))
    if os.path.basename(path) in ("dist-packages", "site-packages") and os.path.isdir(path)
)

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
        _set_flags_up(s, b"lo")


def _set_flags_up(s: socket.socket, name: bytes) -> None:
    req = struct.pack("16sH", name, 0) + b"\0" * 22
    flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, req)[:18])[1]
    fcntl.ioctl(
        s, SIOCSIFFLAGS, struct.pack("16sH", name, flags | IFF_UP | IFF_RUNNING) + b"\0" * 22
    )


def no_ipv6_uplink() -> None:
    """Give interfaces added to this network namespace from now on no IPv6 (its eth0).

    IPv4 is the only way out (NAT on the host). With IPv6, eth0 and the host's end of the pair
    get link-local addresses that no IPv4 rule covers, and the host answers on them; loopback
    keeps ::1, which reaches only the sandbox itself. The function cannot undo this (no
    CAP_NET_ADMIN). Nothing to do on a kernel without IPv6.
    """
    try:
        with open("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w") as f:
            f.write("1")
    except FileNotFoundError:
        pass


def _sockaddr(ip: str) -> bytes:
    return struct.pack("=HH4s8x", socket.AF_INET, 0, socket.inet_aton(ip))


def configure_uplink(uplink: dict[str, object]) -> None:
    """Address ``eth0`` (the sandbox's end of its veth pair) and route through the host's end.

    ioctls rather than netlink: the sandbox code is stdlib-only and this takes microseconds.
    """
    name = b"eth0"
    prefix = int(uplink["prefix"])  # type: ignore[call-overload]
    netmask = socket.inet_ntoa(struct.pack(">I", (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(
            s, SIOCSIFADDR, struct.pack("16s", name) + _sockaddr(str(uplink["ip"])) + b"\0" * 8
        )
        fcntl.ioctl(s, SIOCSIFNETMASK, struct.pack("16s", name) + _sockaddr(netmask) + b"\0" * 8)
        _set_flags_up(s, name)
        # struct rtentry (x86_64, 120 bytes): dst 0.0.0.0/0 via the gateway.
        route = struct.pack(
            "=Q16s16s16sHh4xQQh6xQQQH6x",
            0,
            _sockaddr("0.0.0.0"),
            _sockaddr(str(uplink["gateway"])),
            _sockaddr("0.0.0.0"),
            RTF_UP | RTF_GATEWAY,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
        )
        fcntl.ioctl(s, SIOCADDRT, route)


def _mkdir(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


def _touch(path: str) -> None:
    with open(path, "a"):
        pass


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def prepare_root(desc: dict[str, object]) -> None:
    """Build the generic part of the root under ``desc['root']``: everything but the function.

    Runs in the new mount namespace before anything is known of the function, so that a
    pre-forked sandbox only has its code, layers and mounts added when it is specialised.
    """
    root = str(desc["root"])
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=755")
    for path in SYSTEM_DIRS:
        if os.path.islink(path):
            os.symlink(os.readlink(path), root + path)
        elif os.path.isdir(path):
            _mkdir(root + path)
            bind(path, root + path)
    _build_etc(root)
    _build_dev(root)
    write_identity(root, int(desc.get("uid", 10000)))  # type: ignore[call-overload]
    for path in ("/code", "/opt", "/tmp", "/proc", "/var/fc/runtime", COMMANDS_DIR):
        _mkdir(root + path)
    _link_commands(root, desc.get("commands", {}))  # type: ignore[arg-type]
    runtime_dir = desc.get("runtime_dir")
    if runtime_dir:
        bind(str(runtime_dir), root + "/var/fc/runtime")
        # ESM resolution ignores NODE_PATH but looks in every parent of /code: the preinstalled
        # node modules resolve from `import` as from `require` (after /code/node_modules).
        os.symlink("/var/fc/runtime/nodejs/node_modules", root + "/node_modules")
    for path in HOST_PACKAGE_DIRS:
        mount("tmpfs", root + path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k,mode=755")
    mount_tmp(root, str(desc["tmp_device"]))
    mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _link_commands(root: str, commands: dict[str, str]) -> None:
    """The commands FC's runtime images have on PATH that this host may not (``python`` on a
    Debian with only ``python3``): links in the sandbox's own root, to the host's binaries seen
    through the read-only system binds. Nothing is added to the host."""
    for name, target in commands.items():
        if "/" not in name and os.path.isabs(target):
            os.symlink(target, f"{root}{COMMANDS_DIR}/{name}")


def mount_tmp(root: str, device: str) -> None:
    """Mount the instance's disk at /tmp: an empty ext4 on a loop device, its root already
    mode 1777 (see fcd/isolation/scratch.py); ``discard`` gives the host its blocks back when
    the function deletes files; ``nobarrier``: no cache flushes, which would fsync the backing
    file on the host's disk for a disk that is thrown away with its instance (an fsync in the
    function, and the unmount when the instance ends, 6.6 against 10.2 ms on a loaded host).
    """
    mount(device, root + "/tmp", "ext4", MS_NOSUID | MS_NODEV, "discard,noinit_itable,nobarrier")


def specialise_root(desc: dict[str, object], spec: dict[str, object]) -> None:
    """Add the function's parts to the root and switch to it.

    The host's tree ends up under /.fcd/host, out of the function's reach (/.fcd is root's,
    mode 0700); :func:`detach_host` then removes it, off the request's path, in pid 1.
    """
    root = str(desc["root"])
    _write_host_names(root, spec)
    _mount_function(root, spec, host="")
    _pivot(root)
    _seal(spec)


def _pivot(root: str) -> None:
    os.mkdir(root + "/.fcd", 0o700)
    os.chmod(root + "/.fcd", 0o700)
    os.mkdir(root + "/.fcd/host")
    _check(_libc.syscall(SYS_PIVOT_ROOT, root.encode(), (root + "/.fcd/host").encode()), "pivot")
    os.chdir("/")


def detach_host() -> None:
    """Lazily unmount the host's tree kept at /.fcd/host (~0.1-3 ms: an RCU grace period)."""
    _check(_libc.umount2(b"/.fcd/host", MNT_DETACH), "umount host tree")


def pivot_keeping_host(desc: dict[str, object]) -> None:
    """Switch to the sandbox's root now, before the function is known (pre-started node).

    The runtime runs unprivileged and cannot pass /.fcd (mode 0700, root's), so the host's tree
    kept there stays out of its reach until :func:`specialise_prestarted` and
    :func:`detach_host`.
    """
    _pivot(str(desc["root"]))


def specialise_prestarted(spec: dict[str, object]) -> None:
    """Add the function's parts from the kept host tree (see pivot_keeping_host)."""
    _write_host_names("", spec)
    _mount_function("", spec, host="/.fcd/host")
    _seal(spec)


def write_identity(root: str, uid: int) -> None:
    """/etc/passwd and /etc/group naming the sandbox's user (written while pre-making)."""
    etc = root + "/etc"
    _write(
        etc + "/passwd",
        f"root:x:0:0:root:/root:/usr/sbin/nologin\nuser{uid}:x:{uid}:{uid}::/tmp:/usr/sbin/nologin\n",
    )
    _write(etc + "/group", f"root:x:0:\nuser{uid}:x:{uid}:\n")


def _write_host_names(root: str, spec: dict[str, object]) -> None:
    hostname = str(spec.get("hostname", "sandbox"))[:63]
    etc = root + "/etc"
    _write(etc + "/hosts", f"127.0.0.1\tlocalhost {hostname}\n::1\tlocalhost\n")
    _write(etc + "/hostname", hostname + "\n")
    custom = spec.get("resolv_conf")
    if custom is not None:  # customDNS replaces the default, as on FC
        _write(etc + "/resolv.conf", str(custom))
    elif spec.get("internet"):
        try:
            with open("/.fcd/host/etc/resolv.conf" if not root else "/etc/resolv.conf") as f:
                _write(etc + "/resolv.conf", f.read())
        except OSError:
            pass


def _mount_function(root: str, spec: dict[str, object], host: str) -> None:
    """Code at /code, layers at /opt, NAS mounts, /tmp's size; ``host`` prefixes host paths."""
    bind(host + str(spec["code_dir"]), root + "/code")
    _mount_layers(root, [host + str(d) for d in spec.get("layer_dirs", [])])  # type: ignore[attr-defined]
    tmp_device = spec.get("tmp_device")
    if tmp_device:  # another size than the pre-made sandbox's disk: swap it for this one
        _check(_libc.umount2((root + "/tmp").encode(), MNT_DETACH), "umount /tmp")
        mount_tmp(root, host + str(tmp_device))
    for source, target, read_only in spec.get("mounts", []):  # type: ignore[attr-defined]
        _mkdir(root + target)
        bind(host + source, root + target, bool(read_only))


def _seal(spec: dict[str, object]) -> None:
    """Make the root read-only, name the host, and bring up the uplink if it has one."""
    uplink = spec.get("uplink")
    if uplink:
        configure_uplink(uplink)  # type: ignore[arg-type]
    mount("none", "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    name = str(spec.get("hostname", "sandbox"))[:63].encode()
    _check(_libc.sethostname(name, len(name)), "sethostname")


def _build_etc(root: str) -> None:
    """A minimal /etc: what libc and TLS need; passwd and hosts come with the function."""
    etc = root + "/etc"
    _mkdir(etc)
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
    pid = "0"  # the writer itself, whatever pid namespace it is in
    for path in procs_files:
        with open(path, "w") as f:
            f.write(pid)


def close_other_fds(keep: list[int]) -> None:
    """Close every descriptor but ``keep``: only what fcd hands a sandbox reaches it.

    Whatever started the zygote may leave descriptors open without close-on-exec (uvloop's
    subprocess spawning leaves duplicates of the daemon's stdio), and a fork keeps even
    close-on-exec ones; closerange uses one close_range(2) per gap.
    """
    low = 0
    for fd in sorted(set(keep)):
        if low < fd:  # closerange(n, n) would close from n up (close_range with a last of -1)
            os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, FD_LIMIT)


def forbid_keyrings() -> None:
    """Refuse the kernel keyring syscalls (EPERM) to this process and all it will fork or exec.

    A seccomp filter built by libseccomp, which handles the architecture checks. Installed
    once in the zygote (root, so without no_new_privs: the sandbox sets that itself).

    Raises:
        SandboxError: libseccomp is missing or refused a step.
    """
    try:
        lib = ctypes.CDLL(SECCOMP_LIBRARY, use_errno=True)
    except OSError as e:
        raise SandboxError(f"{SECCOMP_LIBRARY} is missing (install libseccomp2): {e}") from e
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise SandboxError("seccomp_init failed")
    try:
        _seccomp(lib.seccomp_attr_set(ctypes.c_void_p(ctx), SCMP_FLTATR_CTL_NNP, 0), "attr")
        for arch in COMPAT_ARCHES:
            token = lib.seccomp_arch_resolve_name(arch)
            if token:
                # refused (-EEXIST, -EINVAL) where the native arch cannot run it: nothing to do
                lib.seccomp_arch_add(ctypes.c_void_p(ctx), ctypes.c_uint32(token))
        for name in KEYRING_SYSCALLS:
            number = lib.seccomp_syscall_resolve_name(name)
            action = ctypes.c_uint32(SCMP_ACT_ERRNO | errno.EPERM)
            rule = lib.seccomp_rule_add_array(ctypes.c_void_p(ctx), action, number, 0, None)
            _seccomp(rule, f"rule for {name.decode()}")
        _seccomp(lib.seccomp_load(ctypes.c_void_p(ctx)), "load")
    finally:
        lib.seccomp_release(ctx)


def _seccomp(result: int, what: str) -> None:
    if result != 0:
        raise SandboxError(f"seccomp {what}: {os.strerror(-result)}")


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
