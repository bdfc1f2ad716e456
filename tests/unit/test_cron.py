"""Timer schedule arithmetic (fcd.triggers.cron) and the timer event (fcd.triggers.timer)."""

from __future__ import annotations

import calendar
import json
import time

from fcd.store.docs import Doc
from fcd.triggers import cron
from fcd.triggers.timer import State, Step, Timer, decide, event, request_id, timers_from
from fcd.wire.triggers import parse_schedule


def at(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%S")))


def test_every_is_a_grid_from_the_last_fire() -> None:
    every = parse_schedule("@every 1h30m")
    start = at("2024-01-01T00:00:00")
    assert cron.next_fire(every, start) == start + 5400
    assert cron.latest_due(every, start, start + 5399) is None
    assert cron.latest_due(every, start, start + 5400) == start + 5400
    # Down for 10 hours: one fire, at the latest grid point.
    assert cron.latest_due(every, start, start + 36000) == start + 5400 * 6
    two = parse_schedule("@every 2s")
    assert cron.latest_due(two, 100.0, 105.5) == 104.0


def test_cron_seconds_first_utc_and_zones() -> None:
    daily = parse_schedule("0 30 4 * * *")
    start = at("2024-03-01T05:00:00")
    assert cron.next_fire(daily, start) == at("2024-03-02T04:30:00")
    assert cron.latest_due(daily, start, at("2024-03-02T04:29:59")) is None
    assert cron.latest_due(daily, start, at("2024-03-02T04:30:00")) == at("2024-03-02T04:30:00")
    # Three days down: only the latest missed time.
    assert cron.latest_due(daily, start, at("2024-03-05T00:00:00")) == at("2024-03-04T04:30:00")
    wrapped = parse_schedule("cron(*/15 * * * * *)")
    assert cron.next_fire(wrapped, at("2024-01-01T00:00:01")) == at("2024-01-01T00:00:15")
    shanghai = parse_schedule("CRON_TZ=Asia/Shanghai 0 0 8 * * *")
    # 08:00 in Shanghai is 00:00 UTC.
    assert cron.next_fire(shanghai, at("2024-01-01T12:00:00")) == at("2024-01-02T00:00:00")


def test_trigger_time_and_event() -> None:
    assert cron.trigger_time(at("2006-01-02T15:04:05") + 0.7) == "2006-01-02T15:04:05Z"
    config = {"cronExpression": "@every 1m", "payload": "p", "enable": True}
    body = {
        "triggerName": "t",
        "triggerId": "id-1",
        "triggerType": "timer",
        "triggerConfig": config,
        "qualifier": "prod",
    }
    other = {**body, "triggerType": "http", "triggerConfig": {}}
    timers = timers_from(
        [
            ("svc/fn", Doc("t", json.dumps(body).encode(), "e")),
            ("svc/fn", Doc("h", json.dumps(other).encode(), "e")),
        ]
    )
    assert len(timers) == 1
    timer = timers[0]
    assert (timer.service, timer.function, timer.qualifier, timer.enabled) == (
        "svc",
        "fn",
        "prod",
        True,
    )
    assert json.loads(event(timer, at("2006-01-02T15:04:05"))) == {
        "triggerTime": "2006-01-02T15:04:05Z",
        "triggerName": "t",
        "payload": "p",
    }
    # The same time of the same trigger is the same request: the queue refuses a second one.
    assert request_id(timer, 10.0) == request_id(timer, 10.0) != request_id(timer, 12.0)
    disabled = {**body, "triggerConfig": {**config, "enable": False}}
    assert not timers_from([("svc/fn", Doc("t", json.dumps(disabled).encode(), "e"))])[0].enabled


def test_restart_decisions() -> None:
    every2 = parse_schedule("@every 2s")
    timer = Timer("id", "s", "f", "t", "LATEST", every2, "", True)
    off = Timer("id", "s", "f", "t", "LATEST", every2, "", False)
    # New: armed now, first fire one period later.
    assert decide(timer, None, 100.0, 86400) == Step("arm", 100.0, 102.0)
    # Running: the due time fires; nothing due waits.
    assert decide(timer, State(100.0, "armed"), 101.0, 86400) == Step("wait", 100.0, 102.0)
    assert decide(timer, State(100.0, "armed"), 102.3, 86400) == Step("fire", 102.0, 104.0)
    # Down from 102 to 150: one fire for the latest time, within the max age...
    assert decide(timer, State(102.0, "fired"), 150.5, 86400) == Step("fire", 150.0, 152.0)
    # ... or skipped when older than it.
    assert decide(timer, State(102.0, "fired"), 150.5, 0.1) == Step("skip", 150.0, 152.0)
    daily = Timer("id", "s", "f", "t", "LATEST", parse_schedule("0 0 4 * * *"), "", True)
    last = at("2024-01-01T04:00:00")
    late = at("2024-01-03T05:00:00")
    assert decide(daily, State(last, "fired"), late, 3599) == Step(
        "skip", at("2024-01-03T04:00:00"), at("2024-01-04T04:00:00")
    )
    assert decide(daily, State(last, "fired"), late, 3600).action == "fire"
    # Disabled: recorded once; re-enabled: armed afresh, the disabled time never fires.
    assert decide(off, State(100.0, "fired"), 200.0, 86400).action == "disable"
    assert decide(off, State(200.0, "disabled"), 300.0, 86400).action == "wait"
    assert decide(timer, State(200.0, "disabled"), 300.0, 86400) == Step("arm", 300.0, 302.0)
