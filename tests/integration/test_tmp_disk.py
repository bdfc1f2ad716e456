"""/tmp is a disk of diskSize MB, not memory (docs/runtimes.md, fcd/isolation/scratch.py).

Deployed with the official SDK to a real daemon, in real sandboxes (root)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import fc2
import pytest

from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon
from tests.signed_http import api_call

pytestmark = pytest.mark.root

WRITER = """
import errno, json, os

def handler(event, context):
    args = json.loads(event)
    written = 0
    try:
        with open(args["path"], "wb") as f:
            chunk = b"x" * (1 << 20)
            while written < args["mb"] << 20:
                f.write(chunk)
                written += len(chunk)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        return json.dumps({"errno": e.errno, "written": written})
    st = os.statvfs("/tmp")
    return json.dumps({"written": written, "size": st.f_blocks * st.f_frsize})
"""


def backing_devices(data_dir: Path) -> list[str]:
    """Loop devices whose backing file is (or was) one of this daemon's /tmp images."""
    scratch = str(data_dir / "scratch")
    found = []
    for device in Path("/sys/block").glob("loop*"):
        try:
            backing = (device / "loop" / "backing_file").read_text()
        except OSError:
            continue
        if backing.startswith(scratch):
            found.append(device.name)
    return found


def wait_until_gone(data_dir: Path, within: float = 15) -> list[str]:
    deadline = time.monotonic() + within
    left = backing_devices(data_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = backing_devices(data_dir)
    return left


def invoke(client: fc2.Client, name: str, **args: object) -> dict[str, int]:
    result = client.invoke_function("disk", name, payload=json.dumps(args).encode())
    assert result.headers.get("X-Fc-Error-Type") is None, result.data
    return json.loads(result.data)  # type: ignore[no-any-return]


def deploy(
    daemon: RunningDaemon, client: fc2.Client, name: str, code: Path, disk_mb: int = 512
) -> None:
    """memorySize 128; diskSize (which the Python SDK cannot send) set with UpdateFunction."""
    code.mkdir()
    (code / "index.py").write_text(WRITER)
    client.create_function(
        "disk", name, "python3", "index.handler", codeDir=str(code), timeout=60, memorySize=128
    )
    reply = api_call(daemon, "PUT", f"/services/disk/functions/{name}", {"diskSize": disk_mb})
    assert reply.status_code == 200, reply.text
    assert reply.json()["diskSize"] == disk_mb


def test_tmp_writes_do_not_count_against_memory(tmp_path: Path) -> None:
    """20 MB per call, kept, for 15 calls at memorySize 128: 300 MB on /tmp, no OOM."""
    data = tmp_path / "data"
    daemon = start_daemon(data)
    try:
        client = make_client(daemon.endpoint)
        client.create_service("disk")
        deploy(daemon, client, "writer", tmp_path / "code")
        for call in range(15):
            reply = invoke(client, "writer", path=f"/tmp/file-{call}", mb=20)
            assert reply["written"] == 20 << 20, (call, reply)
            assert "errno" not in reply
        assert backing_devices(data) != []  # the instance's disk, while it lives
    finally:
        daemon.stop()
    assert wait_until_gone(data) == [], "a /tmp disk outlived its instance"


def test_past_disk_size_the_function_gets_enospc(tmp_path: Path) -> None:
    """Filling /tmp ends in ENOSPC within the function, at diskSize; the host's disk pays at
    most that, and a daemon killed outright leaves no disk behind."""
    data = tmp_path / "data"
    daemon = start_daemon(data)
    try:
        client = make_client(daemon.endpoint)
        client.create_service("disk")
        deploy(daemon, client, "filler", tmp_path / "code", disk_mb=512)
        reply = invoke(client, "filler", path="/tmp/big", mb=1024)
        assert reply["errno"] == 28, reply  # ENOSPC
        assert 400 << 20 <= reply["written"] <= 512 << 20, reply
        devices = backing_devices(data)  # this instance's, and the pre-made sandboxes'
        assert devices != []
        for device in devices:
            sectors = int(Path(f"/sys/block/{device}/size").read_text())
            assert sectors * 512 == 512 << 20  # the host's file is sized by diskSize, no more
        # The function deletes what it wrote: its disk still works, and the host gets its
        # blocks back (discard).
        assert invoke(client, "filler", path="/tmp/big", mb=8)["written"] == 8 << 20
    finally:
        daemon.kill()
    assert wait_until_gone(data) == [], "a /tmp disk outlived its daemon"
    assert not [p for p in (data / "scratch").glob("disk-*")], "an image file was left"
