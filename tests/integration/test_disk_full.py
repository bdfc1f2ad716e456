"""A full disk under the data dir answers FC's error shape with 507 InsufficientStorage, not 500.

The test mounts a small tmpfs, runs a daemon with its data dir there, fills the rest of it,
and then asks for writes: a code package (the code store's ENOSPC), services and async
invocations (SQLite's SQLITE_FULL).
"""

from __future__ import annotations

import base64
import io
import subprocess
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.daemon import RunningDaemon, start_daemon
from tests.signed_http import api_call, fc_request

pytestmark = pytest.mark.root

SERVICES = "/2016-08-15/services"
API_SERVICES = "/services"


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[RunningDaemon]:
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    daemon: RunningDaemon | None = None
    try:
        daemon = start_daemon(mount / "data")
        yield daemon
    finally:
        if daemon is not None:
            daemon.kill()
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path) -> None:
    """Write zeros into ``directory`` until the file system has no space left."""
    with open(directory / "filler", "wb") as f:
        chunk = b"\0" * (64 * 1024)
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass


def code_zip(size: int) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return 'hi'\n")
        zf.writestr("blob.bin", uuid.uuid4().bytes * (size // 16))
    return base64.b64encode(buffer.getvalue()).decode()


def first_refusal(send: object, attempts: int = 200) -> requests.Response:
    for _ in range(attempts):
        response = send()  # type: ignore[operator]
        if response.status_code >= 300:
            return response  # type: ignore[no-any-return]
    raise AssertionError(f"{attempts} writes fit on a full disk")


def assert_insufficient_storage(response: requests.Response) -> None:
    assert response.status_code == 507, (response.status_code, response.text)
    body = response.json()
    assert body["ErrorCode"] == "InsufficientStorage"
    assert "disk is full" in body["ErrorMessage"]
    assert body["RequestId"] == response.headers["x-fc-request-id"]


def test_writes_on_a_full_disk_get_507(full_disk: RunningDaemon) -> None:
    daemon = full_disk
    created = api_call(daemon, "POST", API_SERVICES, {"serviceName": "disk"})
    assert created.status_code == 200, created.text
    function = {
        "functionName": "fn",
        "runtime": "python3",
        "handler": "index.handler",
        "code": {"zipFile": code_zip(16 * 1024)},
    }
    made = api_call(daemon, "POST", f"{API_SERVICES}/disk/functions", function)
    assert made.status_code == 200, made.text
    fill(daemon.data_dir)

    # A code package that does not fit.
    function = {**function, "functionName": "big", "code": {"zipFile": code_zip(512 * 1024)}}
    assert_insufficient_storage(
        api_call(daemon, "POST", f"{API_SERVICES}/disk/functions", function)
    )
    # Metadata and async invocations: SQLite runs out of pages.
    assert_insufficient_storage(
        first_refusal(
            lambda: api_call(
                daemon, "POST", API_SERVICES, {"serviceName": "s" + uuid.uuid4().hex[:12]}
            )
        )
    )
    assert_insufficient_storage(
        first_refusal(
            lambda: fc_request(
                daemon.endpoint,
                "POST",
                f"{SERVICES}/disk/functions/fn/invocations",
                b"x" * (100 * 1024),
                {"X-Fc-Invocation-Type": "Async"},
            )
        )
    )
    assert "Traceback" not in daemon.logs()
