"""The supervisor of background loops: restart with capped back-off, only cancellation ends it."""

from __future__ import annotations

import asyncio
import logging

import pytest

from fcd.supervise import FIRST_DELAY_S, HEALTHY_AFTER_S, MAX_DELAY_S, Supervisor, next_delay


def test_back_off_doubles_up_to_the_cap_and_resets_after_a_healthy_run() -> None:
    delays = [0.0]
    for _ in range(12):
        delays.append(next_delay(delays[-1], ran_for=0.01))
    assert delays[1] == FIRST_DELAY_S
    assert delays[2] == 2 * FIRST_DELAY_S
    assert max(delays) == MAX_DELAY_S
    assert delays[-1] == MAX_DELAY_S
    assert next_delay(MAX_DELAY_S, ran_for=HEALTHY_AFTER_S) == FIRST_DELAY_S


async def test_a_failing_loop_is_logged_counted_and_run_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pauses: list[float] = []
    runs = 0

    async def no_wait(seconds: float) -> None:
        pauses.append(seconds)

    async def loop() -> None:
        nonlocal runs
        runs += 1
        if runs <= 3:
            raise RuntimeError(f"planted failure {runs}")

    supervisor = Supervisor(sleep=no_wait)
    with caplog.at_level(logging.ERROR, logger="fcd.supervise"):
        await supervisor.run("refill", loop)
    assert runs == 4  # three failures, then the run that returned
    assert supervisor.failures["refill"] == 3
    assert pauses == [FIRST_DELAY_S, 2 * FIRST_DELAY_S, 4 * FIRST_DELAY_S]
    failures = [r for r in caplog.records if "refill failed" in r.getMessage()]
    assert len(failures) == 3
    assert failures[0].exc_info is not None
    assert "planted failure 1" in str(failures[0].exc_info[1])
    assert "refill=3" in repr(supervisor)


async def test_cancellation_ends_the_loop() -> None:
    started = asyncio.Event()

    async def loop() -> None:
        started.set()
        await asyncio.Event().wait()

    supervisor = Supervisor()
    task = asyncio.create_task(supervisor.run("reaper", loop))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert supervisor.failures["reaper"] == 0


async def test_cancellation_during_the_back_off_ends_it_too() -> None:
    failed = asyncio.Event()

    async def loop() -> None:
        failed.set()
        raise RuntimeError("planted")

    supervisor = Supervisor()
    task = asyncio.create_task(supervisor.run("timers", loop))
    await failed.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert supervisor.failures["timers"] == 1
