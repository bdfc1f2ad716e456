"""``kill -9`` with 1,000 accepted async invocations pending loses none.

Each invocation's handler prints ``ran <payload>``; those lines land in the daemon's
``function_logs`` table, which is read from the SQLite file after the last daemon stops. Every
payload that got a 202 must appear there at least once (duplicates are allowed: the one running
at the kill may run twice).
"""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_client
from tests.daemon import RunningDaemon
from tests.integration.test_invoke import raw_invoke, write_code

HANDLER = """
import os, time

def handler(event, context):
    print("ran", event.decode())
    time.sleep(float(os.environ.get("SLOW", "0")))  # slow at first: the queue is full at the kill
    return "ok"
"""
COUNT = 1000


def rows(daemon: RunningDaemon, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{daemon.data_dir / 'fcd.sqlite3'}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


@pytest.mark.slow
def test_kill_9_with_1000_pending_loses_none(fresh_daemon: RunningDaemon, tmp_path: Path) -> None:
    client = make_client(fresh_daemon.endpoint)
    client.create_service("dur")
    client.create_function(
        "dur",
        "tick",
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, HANDLER),
        environmentVariables={"SLOW": "0.5"},
    )
    client.put_on_demand_config("dur", "LATEST", "tick", 1)  # a trickle: most stay queued

    def accept(i: int) -> str | None:
        response = raw_invoke(
            fresh_daemon, "dur", "tick", f"event-{i}".encode(), **{"X-Fc-Invocation-Type": "Async"}
        )
        return f"event-{i}" if response.status_code == 202 else None

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        accepted = {p for p in pool.map(accept, range(COUNT)) if p is not None}
    assert len(accepted) == COUNT
    fresh_daemon.kill()
    accept_seconds = time.monotonic() - started

    pending = rows(
        fresh_daemon,
        "SELECT count(*) FROM async_invocations WHERE status IN ('Enqueued', 'Running')",
    )[0][0]
    assert isinstance(pending, int)
    assert pending >= COUNT - 50, f"only {pending} pending at the kill: the test proves little"

    fresh_daemon.start()
    client.update_function("dur", "tick", environmentVariables={"SLOW": "0"})
    client.put_on_demand_config("dur", "LATEST", "tick", 4)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        left = rows(
            fresh_daemon, "SELECT count(*) FROM async_invocations WHERE status != 'Succeeded'"
        )[0][0]
        if left == 0:
            break
        time.sleep(0.5)
    assert left == 0, f"{left} async invocations did not succeed after the restart"
    assert fresh_daemon.stop() == 0

    lines = rows(fresh_daemon, "SELECT line FROM function_logs WHERE function = 'tick'")
    ran = [bytes(line).decode().split("ran ", 1)[-1].strip() for (line,) in lines]
    ran_set = {r for r in ran if r.startswith("event-")}
    assert accepted <= ran_set, f"lost: {sorted(accepted - ran_set)[:10]}"
    print(f"accepted {COUNT} in {accept_seconds:.1f}s; {pending} pending at kill -9")
