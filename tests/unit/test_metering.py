"""Metering arithmetic: 100 ms rounding up, GB-seconds on configured memory, per-day totals."""

from __future__ import annotations

import calendar

import pytest

from fcd.metering import usage


@pytest.mark.parametrize(
    ("duration_ms", "billed"),
    [
        (0.0, 100),
        (0.2, 100),
        (99.999, 100),
        (100.0, 100),
        (100.0004, 100),  # below a microsecond: measurement noise, not a new unit
        (100.001, 200),
        (300.00000000000006, 300),
        (1234.5, 1300),
        (60_000.0, 60_000),
    ],
)
def test_billed_duration_rounds_up_to_100_ms(duration_ms: float, billed: int) -> None:
    assert usage.billed_duration_ms(duration_ms) == billed


def test_gb_seconds_use_configured_memory() -> None:
    assert usage.gb_seconds(100, 128) == pytest.approx(0.0125)
    assert usage.gb_seconds(1000, 1024) == pytest.approx(1.0)
    assert usage.gb_seconds(1300, 512) == pytest.approx(0.65)


def test_meter_builds_the_billed_record() -> None:
    started = calendar.timegm((2026, 11, 23, 23, 59, 59))
    record = usage.meter(
        request_id="r1",
        service="s",
        function="f",
        qualifier="prod",
        version_id="3",
        started_at=started,
        duration_ms=250.4,
        memory_mb=256,
        max_memory_mb=31.456,
        cold=True,
        cold_start_ms=4.2,
        status=usage.SUCCESS,
    )
    assert record.billed_ms == 300
    assert record.gb_seconds == pytest.approx(0.3 * 0.25)
    assert record.max_memory_mb == 31.46
    assert record.day == "2026-11-23"
    with pytest.raises(ValueError, match="unknown invocation status"):
        _record(1, "a", 10, status="weird")


def _record(
    day: int, function: str, ms: float, status: str = usage.SUCCESS, cold: bool = False
) -> usage.Usage:
    return usage.meter(
        request_id=f"r-{day}-{function}-{ms}",
        service="s",
        function=function,
        qualifier="LATEST",
        version_id="LATEST",
        started_at=calendar.timegm((2026, 11, day, 12, 0, 0)),
        duration_ms=ms,
        memory_mb=128,
        max_memory_mb=ms / 10,
        cold=cold,
        cold_start_ms=0.0,
        status=status,
    )


def test_summarize_groups_by_day_service_function() -> None:
    totals = usage.summarize(
        [
            _record(1, "a", 50, cold=True),
            _record(1, "a", 150, status=usage.UNHANDLED),
            _record(1, "b", 10),
            _record(2, "a", 1000),
        ]
    )
    first = totals[("2026-11-01", "s", "a")]
    assert first.invocations == 2
    assert first.cold_starts == 1
    assert first.errors == 1
    assert first.billed_ms == 300
    assert first.gb_seconds == pytest.approx(0.3 * 0.125)
    assert first.max_memory_mb == 15.0
    assert totals[("2026-11-01", "s", "b")].billed_ms == 100
    assert totals[("2026-11-02", "s", "a")].billed_ms == 1000
    assert len(totals) == 3


def test_totals_add_up() -> None:
    a = usage.UsageTotal().add(_record(1, "a", 50, cold=True))
    b = usage.UsageTotal().add(_record(1, "b", 250, status=usage.TIMEOUT))
    both = a.plus(b)
    assert both.invocations == 2
    assert both.cold_starts == 1
    assert both.errors == 1
    assert both.billed_ms == 400
    assert both.max_memory_mb == 25.0
