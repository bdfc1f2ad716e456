"""Metering arithmetic: what one invocation costs, as FC 2.0 bills it. Pure, no I/O.

FC bills every invocation by its duration rounded *up* to the next 100 ms, times the memory the
function was configured with (not the memory it used), in GB-seconds. The peak memory actually
used is recorded beside it because operators size functions by it. Keeping this arithmetic in
one pure function lets the unit tests pin every rounding edge, and lets the store just sum the
per-row figures when a report groups them by function, service and day.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

# FC 2.0's billing granularity.
BILLING_UNIT_MS = 100
MB_PER_GB = 1024
MS_PER_SECOND = 1000

# Invocation outcomes as stored in the metering rows.
SUCCESS = "success"
HANDLED = "handled_error"
UNHANDLED = "unhandled_error"
TIMEOUT = "timeout"
OOM = "oom"
CRASHED = "crashed"
STATUSES = (SUCCESS, HANDLED, UNHANDLED, TIMEOUT, OOM, CRASHED)


def billed_duration_ms(duration_ms: float) -> int:
    """``ceil(duration / 100 ms) * 100 ms``; every invocation bills at least one unit.

    The duration is first rounded to the microsecond: a measured ``300.00000000000006`` ms
    (float subtraction noise) is 300 ms and must bill 300, not 400.
    """
    exact = round(max(duration_ms, 0.0), 3)
    units = max(1, math.ceil(exact / BILLING_UNIT_MS))
    return units * BILLING_UNIT_MS


def gb_seconds(billed_ms: int, memory_mb: int) -> float:
    """Billed seconds times configured memory in GB (128 MB for 100 ms = 0.0125 GB-s)."""
    return (billed_ms / MS_PER_SECOND) * (memory_mb / MB_PER_GB)


def day_of(epoch: float) -> str:
    """The UTC day an invocation is reported under, ``YYYY-MM-DD``."""
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


@dataclass(frozen=True, slots=True)
class Usage:
    """One invocation's metering record: what the store keeps and the reports sum."""

    request_id: str
    service: str
    function: str
    qualifier: str
    version_id: str
    started_at: float  # epoch seconds
    duration_ms: float
    billed_ms: int
    memory_mb: int
    gb_seconds: float
    max_memory_mb: float
    cold: bool
    cold_start_ms: float
    status: str

    @property
    def day(self) -> str:
        return day_of(self.started_at)


def meter(
    *,
    request_id: str,
    service: str,
    function: str,
    qualifier: str,
    version_id: str,
    started_at: float,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: float,
    cold: bool,
    cold_start_ms: float,
    status: str,
) -> Usage:
    """Build the metering record of one invocation, billed figures included.

    Raises:
        ValueError: ``status`` is not one of :data:`STATUSES` (a bug in the caller).
    """
    if status not in STATUSES:
        raise ValueError(f"unknown invocation status {status!r}")
    billed = billed_duration_ms(duration_ms)
    return Usage(
        request_id=request_id,
        service=service,
        function=function,
        qualifier=qualifier,
        version_id=version_id,
        started_at=started_at,
        duration_ms=round(duration_ms, 3),
        billed_ms=billed,
        memory_mb=memory_mb,
        gb_seconds=gb_seconds(billed, memory_mb),
        max_memory_mb=round(max_memory_mb, 2),
        cold=cold,
        cold_start_ms=round(cold_start_ms, 3),
        status=status,
    )


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """Sums over a set of invocations (one function on one day, or any grouping)."""

    invocations: int = 0
    cold_starts: int = 0
    errors: int = 0
    duration_ms: float = 0.0
    billed_ms: int = 0
    gb_seconds: float = 0.0
    max_memory_mb: float = 0.0

    def add(self, usage: Usage) -> UsageTotal:
        """This total with one more invocation counted."""
        return UsageTotal(
            invocations=self.invocations + 1,
            cold_starts=self.cold_starts + (1 if usage.cold else 0),
            errors=self.errors + (0 if usage.status == SUCCESS else 1),
            duration_ms=self.duration_ms + usage.duration_ms,
            billed_ms=self.billed_ms + usage.billed_ms,
            gb_seconds=self.gb_seconds + usage.gb_seconds,
            max_memory_mb=max(self.max_memory_mb, usage.max_memory_mb),
        )

    def plus(self, other: UsageTotal) -> UsageTotal:
        """The total of two totals (a service's day from its functions' days, and so on)."""
        return UsageTotal(
            invocations=self.invocations + other.invocations,
            cold_starts=self.cold_starts + other.cold_starts,
            errors=self.errors + other.errors,
            duration_ms=self.duration_ms + other.duration_ms,
            billed_ms=self.billed_ms + other.billed_ms,
            gb_seconds=self.gb_seconds + other.gb_seconds,
            max_memory_mb=max(self.max_memory_mb, other.max_memory_mb),
        )


def summarize(records: list[Usage]) -> dict[tuple[str, str, str], UsageTotal]:
    """Totals per ``(day, service, function)``, the grouping every usage report starts from."""
    totals: dict[tuple[str, str, str], UsageTotal] = {}
    for usage in records:
        key = (usage.day, usage.service, usage.function)
        totals[key] = totals.get(key, UsageTotal()).add(usage)
    return totals
