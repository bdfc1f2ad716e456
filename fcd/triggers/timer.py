"""Timer triggers: fire FC's timer event on schedule, through the durable async queue.

Every enabled ``timer`` trigger (spec §4.3) fires ``{"triggerTime", "triggerName", "payload"}``
as an async invocation of its function's qualifier, so the async config's retries apply. The
triggers are read from the store at start and again after every notifying write (a trigger
created, updated, disabled or deleted takes effect at once).

Restarts (the ``timer_state`` table keeps, per trigger id, the last scheduled time handled):

* a new or re-enabled trigger is *armed* at the current time: it fires at its next scheduled
  time, never for the past;
* a scheduled time is fired once: its request id is derived from the trigger id and the time,
  and the queue refuses a second row with the same id, so a crash between the submit and the
  state write does not fire it twice;
* times that fell due while the daemon was down collapse into the latest one, which fires once
  on start if it is within the function's ``maxAsyncEventAgeInSeconds`` (default 86400), and is
  recorded as ``skipped`` otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from fcd import errors
from fcd.invocations.queue import AsyncQueue, AsyncRequest, InvocationExists, QueueFull
from fcd.store import Store, docs
from fcd.triggers import cron
from fcd.wire.triggers import TIMER, Schedule, config_value, parse_schedule

log = logging.getLogger(__name__)

TRIGGER = "trigger"  # the document kind fcd.api.lookup stores triggers under
# Longest sleep between looks at the schedule (a trigger change wakes the loop at once).
MAX_SLEEP_S = 60.0
_NAMESPACE = uuid.UUID("5f0b8a34-3c1d-4a61-9c55-8f1de3a0c7b1")

ARMED, FIRED, SKIPPED, FAILED, DISABLED = "armed", "fired", "skipped", "failed", "disabled"


class _Stored(msgspec.Struct, rename="camel"):
    trigger_name: str
    trigger_id: str
    trigger_type: str
    trigger_config: Any = None
    qualifier: str = "LATEST"


_stored = msgspec.json.Decoder(_Stored)


@dataclass(frozen=True)
class Timer:
    """One timer trigger as the scheduler needs it."""

    trigger_id: str
    service: str
    function: str
    name: str
    qualifier: str
    schedule: Schedule
    payload: str
    enabled: bool


def timers_from(rows: list[tuple[str, docs.Doc]]) -> list[Timer]:
    """Every timer trigger among stored trigger documents (scope ``svc/fn``)."""
    found: list[Timer] = []
    for scope, doc in rows:
        stored = _stored.decode(doc.body)
        config = stored.trigger_config
        if stored.trigger_type != TIMER or not isinstance(config, dict):
            continue
        service, _, function = scope.partition("/")
        try:
            schedule = parse_schedule(str(config_value(config, "cronExpression")))
        except errors.InvalidArgument:
            log.warning("timer trigger %s/%s has an invalid schedule", scope, stored.trigger_name)
            continue
        found.append(
            Timer(
                trigger_id=stored.trigger_id,
                service=service,
                function=function,
                name=stored.trigger_name,
                qualifier=stored.qualifier or "LATEST",
                schedule=schedule,
                payload=str(config_value(config, "payload") or ""),
                enabled=config_value(config, "enable") is not False,
            )
        )
    return found


def event(timer: Timer, due: float) -> bytes:
    """FC's timer event for the scheduled time ``due``."""
    body = {
        "triggerTime": cron.trigger_time(due),
        "triggerName": timer.name,
        "payload": timer.payload,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def request_id(timer: Timer, due: float) -> str:
    """The same id for the same trigger and time, so a repeated fire is refused by the queue."""
    return str(uuid.uuid5(_NAMESPACE, f"{timer.trigger_id}@{due:.3f}"))


@dataclass(frozen=True)
class State:
    last_due: float
    status: str


@dataclass(frozen=True)
class Step:
    """What to do with one timer now: ``action`` at ``at`` (see :func:`decide`)."""

    action: str  # "disable" | "arm" | "fire" | "skip" | "wait"
    at: float
    wake: float  # when to look at this timer again


def decide(timer: Timer, state: State | None, now: float, max_age_s: float) -> Step:
    """The restart rules of the module docstring, as a pure decision.

    A disabled timer is recorded once as such; a new or re-enabled one is armed at ``now``;
    otherwise the latest scheduled time in ``(last, now]`` fires, or is skipped when older than
    ``max_age_s``; with nothing due the timer waits for its next time.
    """
    if not timer.enabled:
        if state is None or state.status != DISABLED:
            return Step("disable", now, now + MAX_SLEEP_S)
        return Step("wait", now, now + MAX_SLEEP_S)
    if state is None or state.status == DISABLED:
        return Step("arm", now, cron.next_fire(timer.schedule, now))
    due = cron.latest_due(timer.schedule, state.last_due, now)
    if due is None:
        return Step("wait", state.last_due, cron.next_fire(timer.schedule, state.last_due))
    action = "skip" if now - due > max_age_s else "fire"
    return Step(action, due, cron.next_fire(timer.schedule, due))


@dataclass
class Timers:
    """The scheduler: a daemon component (``run(ready=...)``)."""

    store: Store
    queue: AsyncQueue
    clock: Callable[[], float] = time.time
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __repr__(self) -> str:
        return "<Timers>"

    def invalidate(self) -> None:
        """A resource changed (``Store.on_write``): re-read the triggers."""
        self._changed.set()

    async def run(self, *, ready: asyncio.Event) -> None:
        ready.set()
        while True:
            self._changed.clear()
            timers = self.store.read(lambda conn: timers_from(docs.all_of_kind(conn, TRIGGER)))
            states = self.store.read(_states)
            wake = await self._tick(timers, states)
            delay = min(MAX_SLEEP_S, max(0.0, wake - self.clock()))
            try:
                async with asyncio.timeout(delay):
                    await self._changed.wait()
            except TimeoutError:
                pass

    async def _tick(self, timers: list[Timer], states: dict[str, State]) -> float:
        """Fire what is due, record it; return when the next timer falls due."""
        now = self.clock()
        wake = now + MAX_SLEEP_S
        for timer in timers:
            policy = self.queue.policy(timer.service, timer.qualifier, timer.function)
            step = decide(timer, states.get(timer.trigger_id), now, policy.max_age_s)
            wake = min(wake, step.wake)
            if step.action == "disable":
                await self._record(timer, now, DISABLED)
            elif step.action == "arm":
                await self._record(timer, now, ARMED)
            elif step.action == "skip":
                log.warning(
                    "timer %s/%s/%s: the fire due at %s is older than %ds: skipped",
                    timer.service,
                    timer.function,
                    timer.name,
                    cron.trigger_time(step.at),
                    policy.max_age_s,
                )
                await self._record(timer, step.at, SKIPPED)
            elif step.action == "fire":
                await self._fire(timer, step.at)
        return wake

    async def _fire(self, timer: Timer, due: float) -> None:
        request = AsyncRequest(
            service=timer.service,
            qualifier=timer.qualifier,
            function=timer.function,
            payload=event(timer, due),
            request_id=request_id(timer, due),
            source=f"timer:{timer.name}",
        )
        status = FIRED
        try:
            await self.queue.submit(request)
        except InvocationExists:
            pass  # submitted before a crash that came before the state write
        except QueueFull as e:  # the function's backlog is full: this firing is skipped
            log.warning("timer %s/%s/%s skipped: %s", timer.service, timer.function, timer.name, e)
            status = SKIPPED
        except errors.FcError as e:
            log.warning(
                "timer %s/%s/%s not fired: %s", timer.service, timer.function, timer.name, e
            )
            status = FAILED
        await self._record(timer, due, status)

    async def _record(self, timer: Timer, due: float, status: str) -> None:
        now = self.clock()

        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO timer_state(trigger_id, service, function, trigger, last_due, status,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(trigger_id) DO UPDATE SET"
                " last_due=excluded.last_due, status=excluded.status,"
                " updated_at=excluded.updated_at",
                (timer.trigger_id, timer.service, timer.function, timer.name, due, status, now),
            )

        await self.store.write(tx, notify=False)


def _states(conn: sqlite3.Connection) -> dict[str, State]:
    rows = conn.execute("SELECT trigger_id, last_due, status FROM timer_state").fetchall()
    return {row[0]: State(row[1], row[2]) for row in rows}
