"""Anonymous async requests cannot fill the database: a queue depth per function and a byte cap.

A daemon of the test's own runs with ``[async] max_queued_per_function = 5`` and
``max_stored_bytes = 350000``; the function behind an anonymous HTTP trigger blocks (one
instance, a minute's sleep), so nothing it is sent finishes.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import fc2
import pytest
import requests

from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon
from tests.integration.test_http_trigger import http_trigger, proxy, write_code
from tests.integration.test_invoke import raw_invoke

DEPTH = 5
CAP = 350_000
BLOCKS = """
import time

def handler(environ, start_response):
    time.sleep(60)
    start_response("200 OK", [])
    return [b"late"]
"""
ASYNC = {"X-Fc-Invocation-Type": "Async"}


@pytest.fixture
def bounded(tmp_path: Path) -> Iterator[tuple[RunningDaemon, fc2.Client]]:
    daemon = start_daemon(
        tmp_path / "data",
        config=f"[async]\nmax_queued_per_function = {DEPTH}\nmax_stored_bytes = {CAP}\n",
    )
    try:
        client = make_client(daemon.endpoint)
        client.create_service("bounds")
        code = write_code(tmp_path, {"index.py": BLOCKS})
        for function in ("small", "big"):
            client.create_function(
                "bounds", function, "python3", "index.handler", codeDir=code, timeout=60
            )
            client.put_on_demand_config("bounds", "LATEST", function, 1)
            http_trigger(client, "bounds", function)
        yield daemon, client
    finally:
        daemon.kill()


def stored_bytes(daemon: RunningDaemon) -> int:
    with sqlite3.connect(f"file:{daemon.data_dir / 'fcd.sqlite3'}?mode=ro", uri=True) as conn:
        (total,) = conn.execute(
            "SELECT coalesce(sum(length(payload) + coalesce(length(return_payload), 0)), 0)"
            " FROM async_invocations"
        ).fetchone()
    return int(total)


def files_size(daemon: RunningDaemon) -> int:
    return sum(p.stat().st_size for p in daemon.data_dir.glob("fcd.sqlite3*"))


def test_anonymous_async_requests_beyond_the_depth_get_429(
    bounded: tuple[RunningDaemon, fc2.Client],
) -> None:
    daemon, _ = bounded
    url = daemon.endpoint + proxy("bounds", "small", "/x")
    statuses = []
    for n in range(DEPTH + 7):
        r = requests.post(url, data=b"%d" % n, headers=ASYNC, timeout=30)
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.json()["ErrorCode"] == "ResourceExhausted", r.text
            assert "max_queued_per_function" in r.json()["ErrorMessage"]
    assert statuses == [202] * DEPTH + [429] * 7, statuses
    # The invoke API shares the bound.
    refused = raw_invoke(daemon, "bounds", "small", b"api", **ASYNC)
    assert refused.status_code == 429, refused.text
    assert refused.json()["ErrorCode"] == "ResourceExhausted"


def test_the_database_does_not_grow_past_the_byte_cap(
    bounded: tuple[RunningDaemon, fc2.Client],
) -> None:
    daemon, _ = bounded
    before = files_size(daemon)
    url = daemon.endpoint + proxy("bounds", "big", "/x")
    body = b"x" * (100 * 1024)
    statuses = [
        requests.post(url, data=body, headers=ASYNC, timeout=30).status_code for _ in range(40)
    ]
    accepted = statuses.count(202)
    assert 1 <= accepted < DEPTH, statuses  # the byte cap bites before the depth
    assert set(statuses) == {202, 429}, statuses
    assert stored_bytes(daemon) <= CAP
    # The files hold the rows plus SQLite's own pages and WAL: bounded, not 40 x 100 KiB.
    assert files_size(daemon) - before < CAP + 2 * 1024 * 1024


def test_a_timer_firing_on_a_full_queue_is_skipped_and_logged(
    bounded: tuple[RunningDaemon, fc2.Client],
) -> None:
    daemon, client = bounded
    url = daemon.endpoint + proxy("bounds", "small", "/x")
    for n in range(DEPTH):
        assert requests.post(url, data=b"%d" % n, headers=ASYNC, timeout=30).status_code == 202
    client.create_trigger(
        "bounds", "small", "tick", "timer", {"cronExpression": "@every 1s", "enable": True}, "", ""
    )
    deadline = time.monotonic() + 20
    while "timer bounds/small/tick skipped" not in daemon.logs():
        assert time.monotonic() < deadline, daemon.logs()[-2000:]
        time.sleep(0.2)
    assert "max_queued_per_function" in daemon.logs()
    with sqlite3.connect(f"file:{daemon.data_dir / 'fcd.sqlite3'}?mode=ro", uri=True) as conn:
        sources = [r[0] for r in conn.execute("SELECT source FROM async_invocations")]
        states = [r[0] for r in conn.execute("SELECT status FROM timer_state")]
    assert len(sources) == DEPTH
    assert not any(s.startswith("timer:") for s in sources)
    assert "skipped" in states
