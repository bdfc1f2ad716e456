"""The daemon works inside the confinement of ``systemd/fcd.service``, and passes it on.

No systemd runs as pid 1 here, so ``tests/systemd_confine.py`` applies the unit's
NoNewPrivileges=, CapabilityBoundingSet= and the seccomp filters of RestrictNamespaces=,
ProtectHostname=, SystemCallFilter= and SystemCallArchitectures=native (read from the unit
file) before it execs ``python -m fcd serve``. Functions with and without internet access, and
a node function, must then work as they do unconfined, and a function must not be able to do
what the unit forbids.
"""

from __future__ import annotations

import json
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import fc2
import pytest

from tests.conftest import make_client
from tests.daemon import RunningDaemon, daemon_env, free_port
from tests.systemd_confine import capability_numbers, service_section

pytestmark = pytest.mark.root

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "fcd.service"

PROBE = """
import ctypes, json, os, socket

CLONE_NEWUSER = 0x10000000
PTRACE_TRACEME = 0


def default_route():
    with open("/proc/net/route") as f:
        rows = [line.split() for line in f.read().splitlines()[1:]]
    return [row[0] for row in rows if row[1] == "00000000"]


def handler(event, context):
    libc = ctypes.CDLL(None, use_errno=True)
    userns = libc.unshare(CLONE_NEWUSER)
    userns_errno = ctypes.get_errno()
    ptrace = libc.ptrace(PTRACE_TRACEME, 0, None, None)
    return json.dumps({
        "uid": os.getuid(),
        "hostname": socket.gethostname(),
        "ifaces": sorted(name for _, name in socket.if_nameindex()),
        "default_route": default_route(),
        "userns": [userns, userns_errno],
        "ptrace": [ptrace, ctypes.get_errno()],
    })
"""

NODE_PROBE = """
exports.handler = (event, context, callback) => {
  callback(null, JSON.stringify({uid: process.getuid(), hostname: require("os").hostname()}));
};
"""


def free_privileged_port() -> int:
    """A port below 1024 free on loopback (binding it needs CAP_NET_BIND_SERVICE)."""
    for port in range(1023, 600, -1):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail("no free port below 1024 on loopback")


@pytest.fixture(scope="module")
def confined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    data_dir = tmp_path_factory.mktemp("confined") / "data"
    data_dir.mkdir()
    port = free_port()
    # The HTTP-trigger listener on a privileged port, as on 80/443 in production.
    env = daemon_env(data_dir, port, FCD_HTTP_LISTEN=f"127.0.0.1:{free_privileged_port()}")
    prefix = (sys.executable, "-m", "tests.systemd_confine", str(UNIT), "--")
    running = RunningDaemon(data_dir, port, env, prefix=prefix).start()
    yield running
    code = running.stop()
    assert code == 0, f"fcd exited with {code} on SIGTERM:\n{running.logs()}"
    assert "Traceback" not in running.logs()


@pytest.fixture(scope="module")
def client(confined: RunningDaemon) -> fc2.Client:
    return make_client(confined.endpoint)


def _function(client: fc2.Client, tmp_path: Path, service: str, internet: bool) -> None:
    client.create_service(service, internetAccess=internet)
    code = tmp_path / service
    code.mkdir()
    (code / "index.py").write_text(PROBE)
    client.create_function(service, "probe", "python3", "index.handler", codeDir=str(code))


def test_the_daemon_runs_with_the_units_bounding_set(confined: RunningDaemon) -> None:
    assert confined.process is not None
    status = Path(f"/proc/{confined.process.pid}/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    expected = capability_numbers(service_section(UNIT)["CapabilityBoundingSet"].split())
    assert int(fields["CapBnd"], 16) == sum(1 << cap for cap in expected)
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"  # a filter is loaded
    host, _, port = confined.env["FCD_HTTP_LISTEN"].rpartition(":")
    socket.create_connection((host, int(port)), timeout=5).close()


@pytest.mark.parametrize("internet", [False, True])
def test_python_function_runs_confined(client: fc2.Client, tmp_path: Path, internet: bool) -> None:
    """Sandboxes are built (namespaces, mounts, sethostname, uid drop; a veth pair and NAT with
    internet access) with only the unit's capabilities and namespace types."""
    service = f"confined_{'online' if internet else 'offline'}"
    _function(client, tmp_path, service, internet)
    answer = json.loads(client.invoke_function(service, "probe").data)
    assert 10000 <= answer["uid"] < 11000
    assert answer["hostname"].startswith("c-")  # sethostname ran in the sandbox's uts namespace
    if internet:
        assert answer["ifaces"] == ["eth0", "lo"]
        assert answer["default_route"] == ["eth0"]
    else:
        assert answer["ifaces"] == ["lo"]
        assert answer["default_route"] == []


def test_a_function_cannot_create_a_user_namespace(client: fc2.Client, tmp_path: Path) -> None:
    """Unconfined, an unprivileged uid may unshare a user namespace (and, inside it, every
    other kind): the kernel surface most exploits go through. RestrictNamespaces= stops it."""
    _function(client, tmp_path, "confined_userns", False)
    answer = json.loads(client.invoke_function("confined_userns", "probe").data)
    assert answer["userns"] == [-1, 1]  # EPERM


def test_a_function_cannot_ptrace(client: fc2.Client, tmp_path: Path) -> None:
    """SystemCallFilter=~@debug: ptrace (and perf_event_open, pidfd_getfd) fail with EPERM."""
    _function(client, tmp_path, "confined_ptrace", False)
    answer = json.loads(client.invoke_function("confined_ptrace", "probe").data)
    assert answer["ptrace"] == [-1, 1]  # EPERM


@pytest.mark.skipif(shutil.which("node") is None, reason="no node")
def test_node_function_runs_confined(client: fc2.Client, tmp_path: Path) -> None:
    """Node is started ahead, unprivileged, and its sandbox specialised around it later."""
    client.create_service("confined_node", internetAccess=False)
    code = tmp_path / "node"
    code.mkdir()
    (code / "index.js").write_text(NODE_PROBE)
    client.create_function("confined_node", "probe", "nodejs14", "index.handler", codeDir=str(code))
    answer = json.loads(client.invoke_function("confined_node", "probe").data)
    assert 10000 <= answer["uid"] < 11000
    assert answer["hostname"].startswith("c-")
