"""Timer triggers on a daemon of the test's own: on time, FC's event, across a restart once.

The function's async config is stateful, so every fire is a record the API lists with its
payload (the timer event) and status: what a user sees, without reaching into the store.
"""

from __future__ import annotations

import calendar
import itertools
import json
import time
from pathlib import Path
from typing import Any

from tests.conftest import make_client
from tests.daemon import RunningDaemon
from tests.signed_http import fc_request

HANDLER = """
def handler(event, context):
    return event
"""


def fires(daemon: RunningDaemon, service: str, function: str) -> list[dict[str, Any]]:
    """Every timer event the function received, oldest first (from the stateful records)."""
    path = (
        f"/2016-08-15/services/{service}/functions/{function}/stateful-async-invocations"
        "?includePayload=true&sortOrderByTime=asc&limit=100"
    )
    response = fc_request(daemon.endpoint, "GET", path)
    assert response.status_code == 200, response.text
    records = response.json().get("invocations") or []
    events = []
    for record in records:
        assert record["status"] in ("Enqueued", "Running", "Succeeded"), record
        events.append(json.loads(record["invocationPayload"]))
    return sorted(events, key=lambda e: e["triggerTime"])


def epoch(trigger_time: str) -> int:
    return calendar.timegm(time.strptime(trigger_time, "%Y-%m-%dT%H:%M:%SZ"))


def wait_for(daemon: RunningDaemon, service: str, count: int, timeout: float) -> list[Any]:
    deadline = time.monotonic() + timeout
    found: list[Any] = []
    while time.monotonic() < deadline:
        found = fires(daemon, service, "tick")
        if len(found) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{len(found)} fires after {timeout}s, wanted {count}: {found}")


def test_every_two_seconds_on_time_across_a_restart(
    fresh_daemon: RunningDaemon, tmp_path: Path
) -> None:
    daemon = fresh_daemon
    client = make_client(daemon.endpoint)
    service = "timers"
    client.create_service(service)
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(HANDLER)
    client.create_function(service, "tick", "python3", "index.handler", codeDir=str(code))
    client.put_function_async_invoke_config(service, "LATEST", "tick", {"statefulInvocation": True})
    created = time.time()
    client.create_trigger(
        service,
        "tick",
        "every2s",
        "timer",
        {"cronExpression": "@every 2s", "payload": "hello", "enable": True},
        "",
        "",
    )
    before = wait_for(daemon, service, 3, timeout=12)
    first = before[0]
    assert first["triggerName"] == "every2s"
    assert first["payload"] == "hello"
    assert set(first) == {"triggerTime", "triggerName", "payload"}
    # On time: the first fire is one period after the trigger was created, then every 2 s.
    assert abs(epoch(first["triggerTime"]) - (created + 2)) <= 1.5
    times = [epoch(e["triggerTime"]) for e in before]
    assert all(b - a == 2 for a, b in itertools.pairwise(times))

    # Down for ~5 s: the missed times collapse into one fire at start, then the schedule goes on.
    daemon.stop()
    stopped = time.time()
    time.sleep(5)  # the downtime under test: two to three 2 s periods are missed
    daemon.start()
    restarted = time.time()
    after = wait_for(daemon, service, len(before) + 3, timeout=15)
    trigger_times = [e["triggerTime"] for e in after]
    assert len(trigger_times) == len(set(trigger_times)), f"a time fired twice: {trigger_times}"
    while_down = [t for t in map(epoch, trigger_times) if stopped + 1 < t < restarted - 1]
    assert len(while_down) <= 1, trigger_times
    assert any(t >= restarted - 3 for t in map(epoch, trigger_times))

    # Disabled: no more fires.
    client.update_trigger(
        service,
        "tick",
        "every2s",
        triggerConfig={"cronExpression": "@every 2s", "payload": "hello", "enable": False},
    )
    disabled = time.time()
    # An observation window on purpose, 1.5 periods: a fire due in it would be listed. One the
    # scheduler was already submitting when the update committed was due before it: allowed.
    time.sleep(3)
    late = [
        t for t in (e["triggerTime"] for e in fires(daemon, service, "tick")) if epoch(t) > disabled
    ]
    assert late == [], f"fired after being disabled at {disabled}"
