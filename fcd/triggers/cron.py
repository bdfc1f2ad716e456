"""Timer schedule arithmetic: when a schedule fires next, and which fire a gap missed.

Pure functions over epoch seconds and :class:`fcd.wire.triggers.Schedule` (``@every`` periods
and 6-field, seconds-first cron expressions with an optional ``CRON_TZ`` zone), so the restart
rules are unit-tested without a clock (``tests/unit/test_cron.py``).

``@every`` fires on a grid anchored at the last handled time: ``last + k * period``. Cron
fires on its calendar in its zone (UTC unless ``CRON_TZ=`` says otherwise).
"""

from __future__ import annotations

import math
import zoneinfo
from datetime import UTC, datetime

from croniter import croniter

from fcd.wire.triggers import Schedule


def _cron(schedule: Schedule, at: float) -> croniter:
    assert schedule.cron is not None
    zone = UTC if schedule.timezone == "UTC" else zoneinfo.ZoneInfo(schedule.timezone)
    return croniter(schedule.cron, datetime.fromtimestamp(at, zone), second_at_beginning=True)


def next_fire(schedule: Schedule, after: float) -> float:
    """The first scheduled time strictly after ``after`` (``after`` being the last handled)."""
    if schedule.every_seconds is not None:
        return after + schedule.every_seconds
    return float(_cron(schedule, after).get_next(float))


def latest_due(schedule: Schedule, last: float, now: float) -> float | None:
    """The most recent scheduled time in ``(last, now]``, or None when nothing fell due.

    Only the latest is returned: fires missed while the daemon was down collapse into one
    (FC's timers do not replay a backlog either).
    """
    first = next_fire(schedule, last)
    if first > now:
        return None
    if schedule.every_seconds is not None:
        steps = math.floor((now - last) / schedule.every_seconds)
        return last + steps * schedule.every_seconds
    previous = float(_cron(schedule, now).get_prev(float))
    # croniter's get_prev is strictly before ``now``; ``now`` itself may be a scheduled time.
    exact = next_fire(schedule, previous)
    return exact if exact <= now else max(previous, first)


def trigger_time(due: float) -> str:
    """``2006-01-02T15:04:05Z``: the ``triggerTime`` of FC's timer event."""
    return datetime.fromtimestamp(due, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
