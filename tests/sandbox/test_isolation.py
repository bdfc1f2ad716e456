"""What a sandbox keeps a function from doing (DESIGN §8). Root only: real namespaces/cgroups."""

from __future__ import annotations

import contextlib
import json
import socket
from pathlib import Path
from typing import Any

import pytest

from fcd.config import Config
from fcd.instances.instance import Instance, Isolation
from fcd.isolation.cgroup import V1Group, V2Group
from tests.sandbox.conftest import Starter, invoke, write_code

pytestmark = pytest.mark.root

PROBE = {
    "index.py": """
        import json, os, socket, subprocess

        def attempt(fn):
            try:
                return ["ok", fn()]
            except Exception as e:
                return ["error", type(e).__name__]

        def write(path):
            with open(path, "w") as f:
                f.write("x")
            return path

        def connect(port):
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                return "connected"

        def handler(event, context):
            args = json.loads(event)
            what = args["what"]
            if what == "read":
                return json.dumps(attempt(lambda: open(args["path"]).read()))
            if what == "write":
                return json.dumps(attempt(lambda: write(args["path"])))
            if what == "pids":
                return json.dumps(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
            if what == "ids":
                return json.dumps([os.getuid(), os.getgid(), os.getgroups(), os.uname().nodename,
                                   open("/proc/self/status").read().split("NoNewPrivs:")[1].split()[0]])
            if what == "connect":
                return json.dumps(attempt(lambda: connect(args["port"])))
            if what == "connect_to":
                def to():
                    with socket.create_connection((args["host"], args["port"]), timeout=1):
                        return "connected"
                return json.dumps(attempt(to))
            if what == "fill_tmp":
                written = 0
                try:
                    with open("/tmp/fill", "wb") as f:
                        while written < 64 << 20:
                            f.write(b"\\0" * (1 << 20))
                            written += 1 << 20
                        f.flush()
                except OSError as e:
                    return json.dumps(["error", e.errno, written])
                return json.dumps(["ok", written])
            if what == "ifaces":
                return json.dumps(sorted(n for _, n in socket.if_nameindex()))
            if what == "mounts":
                return open("/proc/self/mounts").read()
            if what == "oom":
                hog = []
                while True:
                    hog.append(bytearray(8 << 20))
            if what == "forkbomb":
                children = []
                try:
                    while len(children) < 5000:
                        children.append(subprocess.Popen(["/bin/sleep", "30"]))
                except OSError as e:
                    return json.dumps(["limited", len(children)])
                return json.dumps(["unlimited", len(children)])
            return "?"
    """
}


async def probe(instance: Instance, **args: object) -> Any:
    result = await invoke(instance, json.dumps(args).encode(), limit=60)
    assert result.error_type is None, result.body
    return json.loads(result.body) if result.body[:1] in b"[{" else result.body


async def test_a_function_cannot_read_another_functions_code(
    sandboxed: Starter, tmp_path: Path
) -> None:
    other = write_code(tmp_path / "other", {"secret.py": "KEY = 'hunter2'\n"})
    instance = await sandboxed(PROBE)
    assert await probe(instance, what="read", path="/code/index.py") != [
        "error",
        "FileNotFoundError",
    ]
    assert (await probe(instance, what="read", path=str(other / "secret.py")))[0] == "error"
    assert (await probe(instance, what="read", path="/etc/shadow"))[0] == "error"
    assert (await probe(instance, what="read", path="/.fcd/host/etc/hostname"))[0] == "error"
    mounts = await probe(instance, what="mounts")
    assert str(other) not in mounts.decode()


async def test_runs_unprivileged_with_no_new_privileges(sandboxed: Starter) -> None:
    instance = await sandboxed(PROBE)
    uid, gid, groups, hostname, no_new_privs = await probe(instance, what="ids")
    assert hostname == instance.id
    assert uid in sandboxed.isolation.uids
    assert gid == uid
    assert groups == []
    assert no_new_privs == "1"


async def test_host_processes_are_invisible(sandboxed: Starter) -> None:
    pids = await probe(await sandboxed(PROBE), what="pids")
    assert max(pids) < 10  # its own pid namespace: reaper 1, runtime 2
    assert 1 in pids


async def test_only_tmp_is_writable(sandboxed: Starter) -> None:
    instance = await sandboxed(PROBE)
    for path in ("/code/new.py", "/etc/passwd", "/usr/x", "/x", "/opt/x", "/var/fc/runtime/x"):
        assert (await probe(instance, what="write", path=path))[0] == "error", path
    assert await probe(instance, what="write", path="/tmp/x") == ["ok", "/tmp/x"]


async def test_tmp_is_size_capped(sandboxed: Starter) -> None:
    result = await probe(await sandboxed(PROBE, tmp_size_mb=8), what="fill_tmp")
    assert result[0] == "error"
    assert result[1] == 28  # ENOSPC
    assert result[2] <= 8 << 20


async def test_no_network_but_loopback_without_internet_access(sandboxed: Starter) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        instance = await sandboxed(PROBE, internet_access=False)
        assert (await probe(instance, what="connect", port=port))[0] == "error"
    assert await probe(instance, what="ifaces") == ["lo"]


async def test_internet_access_gives_an_uplink_but_not_the_host(sandboxed: Starter) -> None:
    """eth0 + NAT via the host; the host itself (any address) stays unreachable. No packet
    leaves the machine: the only connection tried goes to the host's end of the veth pair."""
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        port = listener.getsockname()[1]
        instance = await sandboxed(PROBE, internet_access=True)
        assert await probe(instance, what="ifaces") == ["eth0", "lo"]
        routes = (await probe(instance, what="read", path="/proc/net/route"))[1]
        default = [
            line.split() for line in routes.splitlines()[1:] if line.split()[1] == "00000000"
        ]
        assert default
        assert default[0][0] == "eth0"
        gateway = socket.inet_ntoa(int(default[0][2], 16).to_bytes(4, "little"))
        assert gateway.startswith("10.200.")
        result = await probe(instance, what="connect_to", host=gateway, port=port)
        assert result[0] == "error"
    assert (await probe(instance, what="read", path="/etc/resolv.conf"))[0] == "ok"


async def test_oom_is_reported_as_oom(sandboxed: Starter) -> None:
    instance = await sandboxed(PROBE, memory_mb=128)
    result = await invoke(instance, json.dumps({"what": "oom"}).encode(), limit=30)
    assert result.error_type == "UnhandledInvocationError"
    assert (result.instance_fatal, result.fatal_reason) == (True, "oom")
    message = json.loads(result.body)["errorMessage"]
    assert message.startswith("Process exited unexpectedly before completing request")
    assert "out of memory" in message
    assert 100 < result.max_memory_mb <= 129


async def test_fork_bomb_is_limited_by_pids(sandboxed: Starter) -> None:
    instance = await sandboxed(PROBE)
    verdict, count = await probe(instance, what="forkbomb")
    assert verdict == "limited"
    assert count < 512


async def test_isolation_refuses_without_root_unless_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fcd.isolation import sandbox

    monkeypatch.setattr("fcd.isolation.sandbox.os.geteuid", lambda: 1000)
    with pytest.raises(sandbox.IsolationUnavailable, match="isolation = none"):
        Isolation.from_config(Config(isolation="namespaces"), tmp_path)
    assert Isolation.from_config(Config(isolation="none"), tmp_path).mode == "none"


async def test_pool_of_pre_made_sandboxes(tmp_path: Path) -> None:
    """Isolation.run keeps generic sandboxes ready; a start takes one and the pool refills."""
    import asyncio

    from tests.sandbox.conftest import starter

    async with starter("namespaces", tmp_path) as start:
        isolation = start.isolation
        ready = asyncio.Event()
        refill = asyncio.create_task(isolation.run(ready=ready))
        try:
            await ready.wait()
            async with asyncio.timeout(10):
                await isolation.filled()
            assert f"[pool {isolation.pool_size}/{isolation.pool_size}" in repr(isolation)
            instance = await start({"index.py": "def handler(e, c):\n    return 'pooled'\n"})
            assert instance.cold_start.pool_hit
            assert (await invoke(instance)).body == b"pooled"
            # pre-made sandboxes carry a veth pair: used with internet access, else left
            # down without an address or route (and deleted in the background)
            offline = await start(PROBE, internet_access=False)
            online = await start(PROBE, internet_access=True)
            assert offline.cold_start.pool_hit
            assert online.cold_start.pool_hit
            assert await probe(online, what="ifaces") == ["eth0", "lo"]
            routes = (await probe(offline, what="read", path="/proc/net/route"))[1]
            assert routes.splitlines()[1:] == []
            status, addresses = await probe(offline, what="read", path="/proc/net/fib_trie")
            assert status == "ok"
            assert "127.0.0.1" in addresses
            assert "10.200." not in addresses
            async with asyncio.timeout(10):
                await isolation.filled()
            # node is pre-started only once a node function has run here
            assert "node 0/0" in repr(isolation)
            files = {"index.js": "exports.handler = async () => 'node';\n"}
            first = await start(files, runtime="nodejs20")
            assert not first.cold_start.pool_hit
            async with asyncio.timeout(20):
                await isolation.filled()
            assert isolation.pooled_node == 2
            second = await start(files, runtime="nodejs20")
            assert second.cold_start.pool_hit
            assert (await invoke(second)).body == b"node"
        finally:
            refill.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refill


async def test_cpu_is_a_cfs_quota(sandboxed: Starter) -> None:
    """A function's cpu caps it (cpu.cfs_quota_us / cpu.max): a spinning handler at 0.05 vCPU
    is throttled by the kernel."""
    spin = {
        "index.py": """
            import time

            def handler(event, context):
                end = time.monotonic() + 0.5
                while time.monotonic() < end:
                    pass
                return "spun"
        """
    }
    instance = await sandboxed(spin, cpu=0.05)
    assert (await invoke(instance)).body == b"spun"
    group = instance.sandbox.group
    assert group is not None
    if isinstance(group, V1Group):  # cgroup v1
        cpu_dir = group.dirs["cpu"]
        assert (cpu_dir / "cpu.cfs_quota_us").read_text().split() == ["5000"]
    else:
        assert isinstance(group, V2Group)
        cpu_dir = group.path
        assert (cpu_dir / "cpu.max").read_text().split() == ["5000", "100000"]
    stat = dict(line.split() for line in (cpu_dir / "cpu.stat").read_text().splitlines())
    assert int(stat["nr_throttled"]) > 0
