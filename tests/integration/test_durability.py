"""Crash safety: SIGKILL in the middle of a burst of writes loses nothing that was acknowledged and
shows nothing half-written; SIGTERM drains and exits 0.

The burst creates services and functions (each function with its own code package, so a create
writes a zip, an unpacked tree and a row) and updates one service over and over."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.daemon import RunningDaemon, start_daemon
from tests.signed_http import fc_request

pytestmark = pytest.mark.slow

SERVICES = "/2016-08-15/services"
FUNCTIONS = SERVICES + "/fns/functions"
WRITERS = 6
# Kill once this many creates are acknowledged, or after KILL_AFTER seconds, whichever is first.
ACKED_BEFORE_KILL = 150
KILL_AFTER = 15.0
MAX_ATTEMPTS = 5000  # hard bound on the burst, whatever happens


@dataclass
class Burst:
    """What the clients saw: acknowledged creates, and those with no answer (in flight)."""

    # Keyed by the resource's path: services and functions alike.
    acked: dict[str, dict[str, object]] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)
    zips: dict[str, bytes] = field(default_factory=dict)
    unanswered: set[str] = field(default_factory=set)
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)
    # The counter service's description after each acknowledged update, in order.
    counter_acked: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    attempts: int = 0

    def next_name(self, writer: int) -> str | None:
        with self.lock:
            if self.stop.is_set() or self.attempts >= MAX_ATTEMPTS:
                return None
            self.attempts += 1
            return f"burst_{writer}_{self.attempts:05d}"


def _zip_for(name: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        info = zipfile.ZipInfo("index.py", date_time=(2020, 1, 1, 0, 0, 0))  # same bytes each time
        z.writestr(info, f"NAME = {name!r}\ndef handler(event, context):\n    return NAME\n")
    return out.getvalue()


def _create_request(name: str, n: int) -> tuple[str, str, bytes]:
    """(collection path, resource path, body): services and functions in turn."""
    if n % 2:
        body: dict[str, object] = {"serviceName": name, "description": f"d-{name}"}
        return SERVICES, f"{SERVICES}/{name}", json.dumps(body).encode()
    code = base64.b64encode(_zip_for(name)).decode()
    body = {
        "functionName": name,
        "description": f"d-{name}",
        "runtime": "python3.10",
        "handler": "index.handler",
        "code": {"zipFile": code},
    }
    return FUNCTIONS, f"{FUNCTIONS}/{name}", json.dumps(body).encode()


def _create_loop(endpoint: str, burst: Burst, writer: int) -> None:
    while (name := burst.next_name(writer)) is not None:
        collection, path, body = _create_request(name, burst.attempts)
        try:
            response = fc_request(endpoint, "POST", collection, body)
        except requests.RequestException:
            with burst.lock:
                burst.unanswered.add(path)
            return  # the daemon is gone
        with burst.lock:
            if response.status_code == 200:
                burst.acked[path] = response.json()
                burst.etags[path] = response.headers["ETag"]
                if collection == FUNCTIONS:
                    burst.zips[path] = _zip_for(name)
            else:
                burst.refused[path] = (response.status_code, response.text)


def _update_loop(endpoint: str, burst: Burst) -> None:
    """Sequential updates of one service: the last acknowledged value must survive."""
    for n in range(1, MAX_ATTEMPTS):
        if burst.stop.is_set():
            return
        body = json.dumps({"description": str(n)}).encode()
        try:
            response = fc_request(endpoint, "PUT", SERVICES + "/counter", body)
        except requests.RequestException:
            return
        if response.status_code != 200:
            return
        burst.counter_acked.append(n)


def _run_burst(running: RunningDaemon, kill: bool) -> Burst:
    for name in ("counter", "fns"):
        body = json.dumps({"serviceName": name}).encode()
        assert fc_request(running.endpoint, "POST", SERVICES, body).ok
    burst = Burst()
    with ThreadPoolExecutor(WRITERS + 1) as pool:
        futures = [pool.submit(_create_loop, running.endpoint, burst, w) for w in range(WRITERS)]
        futures.append(pool.submit(_update_loop, running.endpoint, burst))
        deadline = time.monotonic() + KILL_AFTER
        while len(burst.acked) < ACKED_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        assert running.process is not None
        if kill:
            running.kill()
            burst.stop.set()
            code = running.process.returncode
        else:
            code = running.stop()
            burst.stop.set()
        for future in futures:
            future.result(timeout=60)
    assert code == (-9 if kill else 0), running.logs()
    return burst


def _list_all(endpoint: str, collection: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    token = ""
    for _ in range(MAX_ATTEMPTS):
        path = collection + "?limit=100" + (f"&nextToken={token}" if token else "")
        data = fc_request(endpoint, "GET", path).json()
        out += data["services" if collection == SERVICES else "functions"]
        token = data.get("nextToken") or ""
        if not token:
            return out
    raise AssertionError("pagination did not end")


@pytest.fixture
def burst_daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    running = start_daemon(tmp_path / "data")
    yield running
    running.kill()


def _check_after_restart(running: RunningDaemon, burst: Burst) -> None:
    # Every acknowledged create is there, byte for byte as it was acknowledged.
    for path, created in burst.acked.items():
        got = fc_request(running.endpoint, "GET", path)
        assert got.status_code == 200, (path, got.text)
        assert got.json() == created
        assert got.headers["ETag"] == burst.etags[path]
    # ... and each function's code is the package that was uploaded.
    for path, uploaded in burst.zips.items():
        code = fc_request(running.endpoint, "GET", path + "/code").json()
        assert code["checksum"] == burst.acked[path]["codeChecksum"]
        package = requests.get(code["url"], timeout=30)
        assert package.status_code == 200
        assert package.content == uploaded

    # Nothing else is visible but writes that were in flight, and each of those is whole.
    for collection, name_key in ((SERVICES, "serviceName"), (FUNCTIONS, "functionName")):
        listed = _list_all(running.endpoint, collection)
        paths = {f"{collection}/{item[name_key]}" for item in listed}
        acked = {p for p in burst.acked if p.rsplit("/", 1)[0] == collection}
        assert acked <= paths
        extra = paths - acked - {f"{SERVICES}/counter", f"{SERVICES}/fns"}
        assert extra <= burst.unanswered, extra - burst.unanswered
        keys = {k for p in acked for k in burst.acked[p]}
        for item in listed:
            if item[name_key] in ("counter", "fns"):
                continue
            assert set(item) == keys, set(item) ^ keys
            assert item["description"] == f"d-{item[name_key]}"

    # The last acknowledged update survived (the one in flight may or may not have).
    counter = fc_request(running.endpoint, "GET", SERVICES + "/counter").json()
    last = burst.counter_acked[-1] if burst.counter_acked else 0
    assert int(counter["description"] or 0) in (last, last + 1)

    # The file itself is sound.
    conn = sqlite3.connect(f"file:{running.data_dir / 'fcd.sqlite3'}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def test_sigkill_mid_burst_keeps_every_acknowledged_create(burst_daemon: RunningDaemon) -> None:
    burst = _run_burst(burst_daemon, kill=True)
    assert len(burst.acked) >= 50, "the burst was too slow to test anything"
    assert burst.zips, "no function was created"
    assert not burst.refused, burst.refused
    burst_daemon.start()
    _check_after_restart(burst_daemon, burst)


def test_sigterm_mid_burst_drains_and_exits_zero(burst_daemon: RunningDaemon) -> None:
    burst = _run_burst(burst_daemon, kill=False)
    assert not burst.refused, burst.refused
    assert "stopped" in burst_daemon.logs()
    burst_daemon.start()
    _check_after_restart(burst_daemon, burst)
