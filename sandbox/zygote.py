"""The zygote: one warm Python that forks every sandbox, so no interpreter starts on a cold start.

Stdlib only and independent of fcd. The daemon starts it once (``python3 -I -S zygote.py
<runtimes dir> <fd>``); it closes every descriptor but its stdio and that socket, denies itself
and all it forks the kernel keyring (a seccomp filter, when root), imports the sandbox code,
the python runtime, the custom-runtime agent and the standard modules handlers commonly use,
then serves fork requests on a SOCK_SEQPACKET socket: a JSON description plus three
descriptors (the sandbox's control socket and the write ends of its stdout/stderr pipes) in
SCM_RIGHTS. It answers with the child's pid. A child closes every descriptor but those.

A child is forked straight into a new pid namespace as its pid 1 (the zygote unshares the pid
namespace for it and setns()es back). It joins its cgroup, unshares mount/ipc/uts/net
namespaces, builds the root without the function's files, brings loopback up and forks the
runtime process, which says ``prepared`` and waits on the control socket for a ``specialise``
frame; so pools of these can be made ahead of requests. Specialising binds the code, layers
and mounts, pivots into the root (pid 1 then detaches the host's tree), drops to the sandbox's
uid with no_new_privs and runs the python runtime or the custom agent in-process (both already
imported), or execs another runtime. Node is started before specialising instead (see
:func:`prestart`).

With isolation "none" the child only starts a new session and, when specialised, runs the
runtime in its code directory.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import signal
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_PREFIX = struct.Struct(">II")
# Niceness of a sandbox while it is pre-made in the background (reset when specialised).
PREPARE_NICENESS = 10
# Standard modules user handlers import most; loading them once here saves each cold start.
PRELOAD = """
    json logging threading socket http.client http.server subprocess importlib traceback io
    urllib.parse urllib.request datetime base64 hashlib hmac uuid random re collections
    functools itertools dataclasses typing decimal tempfile shutil zipfile gzip csv
    concurrent.futures asyncio ssl email.utils wsgiref.simple_server
""".split()  # noqa: SIM905 - one line per group reads better than 35 lines


def _load(name: str, path: str) -> object:
    """Import a file under a private name, so user modules named like it are not shadowed."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _read_frame(sock: socket.socket) -> dict[str, object] | None:
    """Read exactly one frame, nothing more: the runtime reads the next ones from this socket."""
    prefix = _recv_exact(sock, _PREFIX.size)
    if prefix is None:
        return None
    header_len, payload_len = _PREFIX.unpack(prefix)
    header = _recv_exact(sock, header_len)
    if payload_len:
        _recv_exact(sock, payload_len)
    return json.loads(header) if header is not None else None


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _send_prepared(sock: socket.socket) -> None:
    """Tell the daemon this sandbox is ready to be specialised (it may wait in a pool)."""
    header = b'{"t":"prepared"}'
    sock.sendall(_PREFIX.pack(len(header), 0) + header)


def _fail(message: str) -> None:
    os.write(2, f"fcd sandbox: {message}\n".encode())
    os._exit(70)


def die_with_parent(parent: int) -> None:
    """SIGKILL this process when its parent dies: a killed daemon takes its sandboxes along.

    ``parent`` is the pid the parent had as seen from here (0 when it is outside our pid
    namespace); if it is already gone, exit now.
    """
    init = sys.modules["_fcd_init"]
    init._libc.prctl(init.PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(70)


def child(desc: dict[str, object], fds: list[int], zygote: int) -> None:
    """The sandbox's init (see the module docstring); never returns."""
    init = sys.modules["_fcd_init"]
    control_fd, out_fd, err_fd = fds[:3]
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    isolated = desc.get("mode") == "namespaces"
    # Isolated, this process is already pid 1 of its own pid namespace: see fork_sandbox.
    die_with_parent(0 if isolated else zygote)
    os.setsid()
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    # Nothing of the zygote's (its socket, its pid namespace) stays open in a sandbox.
    init.close_other_fds([0, 1, 2, *fds[:1], *fds[3:]])
    if isolated:
        if desc.get("background"):
            os.nice(PREPARE_NICENESS)  # pre-making yields the CPU to instances being started
        try:
            init.join_cgroup([str(p) for p in desc.get("cgroup_procs", [])])  # type: ignore[attr-defined]
            flags = init.CLONE_NEWNS | init.CLONE_NEWIPC | init.CLONE_NEWUTS
            init.unshare(flags | init.CLONE_NEWNET)
        except Exception as e:
            _fail(str(e))
        try:
            init.prepare_root(desc)
            init.loopback_up()
            init.no_ipv6_uplink()
        except Exception as e:
            _fail(str(e))
        if desc.get("prestart"):
            prestart(desc, control_fd, fds[3])
        # The runtime process is forked now, not when specialised: no fork on the cold path.
        pivoted_r, pivoted_w = os.pipe()
        runtime = os.fork()
        if runtime:
            os.close(control_fd)
            os.close(pivoted_w)
            signal.signal(signal.SIGTERM, lambda *_: os.kill(runtime, signal.SIGTERM))
            # Once the runtime has pivoted, detach the host's tree here, off its path.
            if os.read(pivoted_r, 1):
                try:
                    init.detach_host()
                except Exception as e:
                    os.write(2, f"fcd sandbox: {e}\n".encode())
            os.close(pivoted_r)
            os._exit(init._wait_for(runtime, reap_all=True))
        os.close(pivoted_r)
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=control_fd)
    _send_prepared(control)
    spec = _read_frame(control)
    if spec is None:
        os._exit(0)  # the daemon dropped this sandbox unused
    if isolated:
        os.setpriority(os.PRIO_PROCESS, 0, 0)  # back to normal: this one is on a request's path
        try:
            # pivot_root in specialise_root switches the root of the whole namespace (pid 1 too).
            init.specialise_root(desc, spec)
            os.write(pivoted_w, b"p")
            os.close(pivoted_w)
            uid = gid = int(desc.get("uid", 10000))  # type: ignore[call-overload]
            run_as = spec.get("run_as")
            if run_as:  # nasConfig's ids, checked by the daemon (never below the sandbox uids)
                uid, gid = (int(i) for i in run_as)  # type: ignore[attr-defined]
                if uid <= 0 or gid <= 0:
                    raise ValueError(f"refusing to run a function as {uid}:{gid}")
            init.drop_privileges(uid, gid)
        except Exception as e:
            _fail(str(e))
        os.chdir("/code")
    else:
        os.chdir(str(spec["code_dir"]))
    run_runtime(spec, control)


def prestart(desc: dict[str, object], control_fd: int, setup_fd: int) -> None:
    """Start the runtime (node) now, unprivileged, and specialise the sandbox around it later.

    This process (pid 1) keeps the host's tree out of the runtime's reach until the daemon
    sends ``specialise`` on the setup socket; it then mounts the function's files, detaches the
    host's tree, acknowledges, and stays as the reaper. Never returns.
    """
    init = sys.modules["_fcd_init"]
    setup = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, fileno=setup_fd)
    try:
        init.pivot_keeping_host(desc)
    except Exception as e:
        _fail(str(e))
    uid = int(desc.get("uid", 10000))  # type: ignore[call-overload]
    runtime = os.fork()
    if runtime == 0:
        setup.close()
        try:
            init.drop_privileges(uid, uid)
        except Exception as e:
            _fail(str(e))
        os.chdir("/tmp")
        argv = [str(a) for a in desc["argv"]]  # type: ignore[attr-defined]
        env = {str(k): str(v) for k, v in desc.get("env", {}).items()}  # type: ignore[attr-defined]
        env["FCD_CONTROL_FD"] = str(control_fd)
        env["FCD_PRESTART"] = "1"
        os.set_inheritable(control_fd, True)
        try:
            os.execve(argv[0], argv, env)
        except OSError as e:
            _fail(f"exec {argv[0]}: {e.strerror}")
    os.close(control_fd)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(runtime, signal.SIGTERM))
    spec = _read_frame(setup)
    if spec is None:
        os._exit(0)  # dropped unused: the namespace and its runtime go with this process
    os.setpriority(os.PRIO_PROCESS, 0, 0)
    os.setpriority(os.PRIO_PROCESS, runtime, 0)
    try:
        init.specialise_prestarted(spec)
    except Exception as e:
        _fail(str(e))
    header = json.dumps({"t": "ready", "sandbox_ready": time.monotonic()}).encode()
    setup.sendall(_PREFIX.pack(len(header), 0) + header)
    setup.close()
    try:
        init.detach_host()
    except Exception as e:
        os.write(2, f"fcd sandbox: {e}\n".encode())
    os._exit(init._wait_for(runtime, reap_all=True))


def run_runtime(spec: dict[str, object], control: socket.socket) -> None:
    """Become the runtime: the in-process python runtime or agent, or an exec'd one."""
    os.environ.clear()
    os.environ.update(spec.get("env", {}))  # type: ignore[call-overload]
    os.environ["FCD_T_SANDBOX"] = repr(time.monotonic())
    time.tzset()  # TZ arrived with the environment, after the interpreter started
    kind = spec.get("runtime")
    fd = control.detach()
    if kind == "python":
        sys.modules["_fcd_bootstrap"].main(fd)
    elif kind == "custom":
        sys.modules["_fcd_agent"].main(fd)
    else:
        argv = [str(a) for a in spec["argv"]]  # type: ignore[attr-defined]
        os.set_inheritable(fd, True)
        os.environ["FCD_CONTROL_FD"] = str(fd)
        try:
            os.execve(argv[0], argv, dict(os.environ))
        except OSError as e:
            _fail(f"exec {argv[0]}: {e.strerror}")
    os._exit(0)


def fork_sandbox(isolated: bool, own_pid_ns: int) -> int:
    """Fork; isolated, the child is pid 1 of a new pid namespace (no intermediate process).

    unshare(CLONE_NEWPID) only moves the caller's future children, so the zygote unshares,
    forks, and setns()es back to its own namespace for the next fork.
    """
    if not isolated:
        return os.fork()
    init = sys.modules["_fcd_init"]
    init.unshare(init.CLONE_NEWPID)
    try:
        return os.fork()
    finally:
        if os.getpid() != 1:  # the zygote, not the child
            init._check(init._libc.setns(own_pid_ns, init.CLONE_NEWPID), "setns")


def main() -> None:
    # The daemon runs with umask 077 (its data dir is private). Sandbox roots built from here
    # must be traversable by the function's uid (/etc, passwd, hosts), and functions get the
    # usual 022, whatever umask started the daemon.
    os.umask(0o022)
    runtimes = sys.argv[1]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET, fileno=int(sys.argv[2]))
    _load("_fcd_init", os.path.join(HERE, "init.py"))
    # Whatever the daemon's subprocess handling left open stays out of the zygote: only its
    # stdio and its socket (uvloop leaves duplicates of the daemon's stdio behind).
    sys.modules["_fcd_init"].close_other_fds([0, 1, 2, sock.fileno()])
    if os.geteuid() == 0:
        # Every sandbox inherits this filter: no kernel keyring, so nothing crosses tenants there.
        sys.modules["_fcd_init"].forbid_keyrings()
    # Started with -S (no site-packages, no .pth files): only site's builtins are wanted.
    import site

    site.setquit()
    site.setcopyright()
    site.sethelper()
    _load("_fcd_bootstrap", os.path.join(runtimes, "python", "bootstrap.py"))
    _load("_fcd_agent", os.path.join(runtimes, "custom", "agent.py"))
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    die_with_parent(int(sys.argv[3]))
    zygote = os.getpid()
    own_pid_ns = os.open("/proc/self/ns/pid", os.O_RDONLY) if os.geteuid() == 0 else -1
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    gc.freeze()  # keep the preloaded heap shared with children (no copy-on-write by the GC)
    while True:
        try:
            message, fds, _, _ = socket.recv_fds(sock, 1 << 20, 4)
        except InterruptedError:
            continue
        except ConnectionError:  # the daemon closed its end: done
            return
        if not message:
            return
        desc = json.loads(message)
        pid = fork_sandbox(desc.get("mode") == "namespaces", own_pid_ns)
        if pid == 0:
            sock.close()
            try:
                child(desc, fds, zygote)
            finally:
                os._exit(70)
        for fd in fds:
            os.close(fd)
        sock.send(json.dumps({"pid": pid}).encode())


if __name__ == "__main__":
    main()
