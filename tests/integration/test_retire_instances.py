"""A deleted or reconfigured function's sandboxes go at once, not at keep-alive.

The function starts a helper process inside its sandbox whose command line carries a marker
unique to the test; the helper lives until the sandbox's cgroup is killed, so "no process with
the marker" on the host means the sandbox was torn down. Keep-alive is the default 15 minutes:
without retiring, the helpers would outlive every deadline here.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import fc2
import pytest

from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon
from tests.integration.test_invoke import write_code

pytestmark = pytest.mark.root

CODE = """
import os, sys, time

def handler(event, context):
    text = event.decode()
    marker = text.split(" ")[1]
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(600)", marker])
    if text.startswith("hold "):
        time.sleep(3)
        return "held"
    with open("/proc/net/dev") as f:
        links = sorted(line.split(":")[0].strip() for line in f.readlines()[2:])
    return ",".join(links)
"""
GONE_WITHIN = 20.0


def marked(marker: str) -> list[int]:
    """Host pids whose command line carries ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker.encode() in (proc / "cmdline").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except OSError:
            continue
    return found


def wait_until(probe: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    running = start_daemon(tmp_path / "data")
    yield running
    running.kill()


@pytest.fixture
def client(daemon: RunningDaemon) -> fc2.Client:
    return make_client(daemon.endpoint)


def create(client: fc2.Client, tmp_path: Path, internet: bool = True) -> str:
    service = "retire_" + uuid.uuid4().hex[:8]
    client.create_service(service, internetAccess=internet)
    code = write_code(tmp_path, CODE, name=service)
    client.create_function(service, "fn", "python3", "index.handler", codeDir=code, timeout=20)
    return service


def test_delete_function_lets_the_call_in_flight_finish_then_tears_down(
    client: fc2.Client, tmp_path: Path
) -> None:
    service = create(client, tmp_path)
    marker = "fcd-mark-" + uuid.uuid4().hex
    answer: dict[str, Any] = {}

    def hold() -> None:
        answer["r"] = client.invoke_function(service, "fn", payload=f"hold {marker}")

    holder = threading.Thread(target=hold)
    holder.start()
    wait_until(lambda: marked(marker), 30, "the call to be in flight")
    client.delete_function(service, "fn")
    holder.join(30)
    assert answer["r"].data == b"held"  # the call started before the delete completed
    wait_until(lambda: not marked(marker), GONE_WITHIN, "the sandbox to be torn down")


def test_update_function_retires_the_old_instances_without_another_call(
    client: fc2.Client, tmp_path: Path
) -> None:
    service = create(client, tmp_path)
    marker = "fcd-mark-" + uuid.uuid4().hex
    client.invoke_function(service, "fn", payload=f"run {marker}")
    assert marked(marker)
    client.update_function(service, "fn", memorySize=256)
    wait_until(lambda: not marked(marker), GONE_WITHIN, "the old sandbox to be torn down")


def test_internet_access_off_retires_and_the_next_call_has_no_network(
    client: fc2.Client, tmp_path: Path
) -> None:
    service = create(client, tmp_path, internet=True)
    marker = "fcd-mark-" + uuid.uuid4().hex
    first = client.invoke_function(service, "fn", payload=f"run {marker}")
    assert first.data.decode() != "lo", first.data  # a veth besides loopback
    client.update_service(service, internetAccess=False)
    wait_until(lambda: not marked(marker), GONE_WITHIN, "the networked sandbox to go")
    second = client.invoke_function(service, "fn", payload=f"run {marker}-2")
    assert second.data.decode() == "lo"
    assert second.headers["x-fc-instance-id"] != first.headers["x-fc-instance-id"]
