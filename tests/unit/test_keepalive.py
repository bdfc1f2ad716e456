"""The adaptive keep-alive policy (fcd/instances/keepalive.py) and the pool applying it."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fcd.instances.keepalive import IdleHistogram, Params, Windows
from fcd.instances.pool import Assigned, HostBudget, InstancePool

FIXED = 600.0
PARAMS = Params()  # one-minute bins over four hours

idle_times = st.floats(min_value=0, max_value=6 * 3600, allow_nan=False)


def fed(times: list[float], params: Params = PARAMS) -> IdleHistogram:
    histogram = IdleHistogram(FIXED, params)
    for t in times:
        histogram.record(t)
    return histogram


@given(st.lists(idle_times, max_size=200))
def test_windows_stay_within_the_histogram_range_with_margin(times: list[float]) -> None:
    w = fed(times).windows()
    assert w.prewarm >= 0
    assert w.keep_alive >= 0
    if w.reason == "histogram":
        assert w.prewarm <= PARAMS.range
        assert 0 < w.keep_for <= PARAMS.range * (1 + PARAMS.margin)
    else:
        assert (w.prewarm, w.keep_alive) == (0.0, FIXED)


@given(st.lists(idle_times, max_size=PARAMS.min_samples - 1))
def test_few_samples_give_the_fixed_window(times: list[float]) -> None:
    w = fed(times).windows()
    assert w == Windows(0.0, FIXED, "few-samples", len(times), w.cv, w.out_of_bounds)


@given(st.lists(st.floats(min_value=PARAMS.range, max_value=1e9), min_size=10, max_size=50))
def test_idle_times_beyond_the_range_give_the_fixed_window(times: list[float]) -> None:
    w = fed(times).windows()
    assert w.reason == "out-of-bounds"
    assert w.keep_for == FIXED


@given(st.lists(idle_times, min_size=PARAMS.min_samples, max_size=200))
def test_every_in_range_idle_time_but_the_tail_falls_inside_the_windows(
    times: list[float],
) -> None:
    w = fed(times).windows()
    if w.reason != "histogram":
        return
    in_range = sorted(t for t in times if t < PARAMS.range)
    covered = [t for t in in_range if w.prewarm <= t <= w.keep_for]
    # head (5 %) before pre-warm and tail (1 %) after keep-alive may fall outside, no more.
    assert len(covered) >= len(in_range) * (1 - PARAMS.head - (1 - PARAMS.tail)) - 1


@given(st.lists(idle_times, max_size=100), st.lists(idle_times, max_size=100))
def test_cached_windows_equal_a_fresh_computation(a: list[float], b: list[float]) -> None:
    histogram = fed(a)
    histogram.windows()  # cached, then invalidated by the next records
    for t in b:
        histogram.record(t)
    assert histogram.windows() == fed(a + b).windows()


def test_a_regular_short_pattern_gets_a_short_window() -> None:
    w = fed([125.0] * 20).windows()  # every ~2 minutes
    assert w.reason == "histogram"
    assert w.prewarm == pytest.approx(120 * 0.9)
    assert w.keep_for == pytest.approx(180 * 1.1)
    assert w.keep_for < FIXED


def test_idle_times_spread_over_the_range_are_not_representative() -> None:
    w = fed([60.0 * i + 1 for i in range(240)]).windows()  # one per bin: cv 0
    assert w.reason == "not-representative"
    assert w.cv == pytest.approx(0.0)
    assert w.keep_for == FIXED


def test_coefficient_of_variation_of_the_bin_counts() -> None:
    # 10 samples in 1 of 240 bins: std/mean = sqrt(240 - 1)
    assert fed([30.0] * 10).windows().cv == pytest.approx(math.sqrt(239))


@pytest.mark.parametrize("bad", [-1.0, math.nan])
def test_a_clock_step_is_not_an_idle_time(bad: float) -> None:
    histogram = fed([bad])
    assert histogram.samples == 0


def test_infinite_idle_time_is_out_of_bounds() -> None:
    histogram = fed([math.inf])
    assert histogram.out_of_bounds == 1


@pytest.mark.parametrize(
    "kwargs",
    [{"bin_width": 0.0}, {"bin_width": math.inf}, {"bins": 0}, {"head": 0.5, "tail": 0.4}],
)
def test_bad_params_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"must|need"):
        Params(**kwargs)  # type: ignore[arg-type]


# the pool -----------------------------------------------------------------------------------
def pool(idle: IdleHistogram | None) -> InstancePool:
    return InstancePool(
        name="s/f@1",
        concurrency=1,
        max_instances=5,
        keep_alive=FIXED,
        budget=HostBudget(10),
        idle=idle,
    )


def test_pool_records_function_idle_time_from_last_release_to_next_arrival() -> None:
    p = pool(IdleHistogram(FIXED, Params(bin_width=1.0)))
    assert p.arrive(0.0) is None  # nothing finished yet
    first = p.acquire()
    p.started(first.instance_id, 0.0)  # type: ignore[union-attr]
    p.release(first.instance_id, 1.0)  # type: ignore[union-attr]
    assert p.arrive(3.5) == pytest.approx(2.5)
    assert p.idle is not None
    assert p.idle.counts[2] == 1
    assert p.arrive(4.0) is None  # one idle period, one sample


def regular(p: InstancePool, gap: float, count: int = 12) -> float:
    """``count`` invocations of 0.1 s, ``gap`` s apart; returns the end of the last one."""
    now = end = 0.0
    for _ in range(count):
        p.arrive(now)
        assigned = p.acquire()
        assert isinstance(assigned, Assigned)
        p.started(assigned.instance_id, now)
        end = now + 0.1
        p.release(assigned.instance_id, end)
        assert p.reap(end) == [] or p.windows().prewarm > 0
        now += gap
    return end


def test_pool_reclaims_after_the_learnt_window_not_the_fixed_one() -> None:
    p = pool(IdleHistogram(FIXED, Params(bin_width=1.0)))
    end = regular(p, 0.5)  # idle 0.4 s: bin 0, no pre-warm
    w = p.windows()
    assert (w.reason, w.prewarm) == ("histogram", 0.0)
    assert w.keep_for == pytest.approx(1.1)
    assert p.reap(end + w.keep_for - 0.01) == []
    assert len(p.reap(end + w.keep_for + 0.001)) == 1
    assert p.prewarm(end + w.keep_for + 0.001) is None  # no pre-warm window


def test_pool_unloads_at_once_and_prewarms_before_the_expected_invocation() -> None:
    p = pool(IdleHistogram(FIXED, Params(bin_width=1.0)))
    end = regular(p, 2.0)  # idle 1.9 s: bin 1
    w = p.windows()
    assert w.prewarm == pytest.approx(0.9)
    assert w.keep_for == pytest.approx(2.2)
    assert p.size == 0  # each instance was unloaded as soon as it was idle
    assert p.prewarm(end + 0.8) is None  # too early
    instance_id = p.prewarm(end + 0.91)
    assert instance_id is not None
    assert p.budget.running == 1
    assert p.prewarm(end + 1.0) is None  # once per idle period
    p.started(instance_id, end + 1.0)
    assert p.reap(end + 2.1) == []  # kept for the expected invocation...
    assert p.reap(end + 2.21) == [instance_id]  # ...until the end of the keep-alive window
    assert p.prewarm(end + 2.3) is None
    assert p.budget.running == 0


def test_a_prewarmed_instance_serves_the_next_invocation_warm() -> None:
    p = pool(IdleHistogram(FIXED, Params(bin_width=1.0)))
    end = regular(p, 2.0)
    instance_id = p.prewarm(end + 1.0)
    assert instance_id is not None
    p.started(instance_id, end + 1.0)
    assert p.arrive(end + 1.9) == pytest.approx(1.9)
    assert p.acquire() == Assigned(instance_id)
    assert p.release(instance_id, end + 2.0) == []
    assert p.reap(end + 2.0) == [instance_id]  # an ordinary instance again: unloaded when idle


@pytest.mark.parametrize("blocked", ["draining", "host-full", "max-zero", "not-empty"])
def test_prewarm_respects_the_caps(blocked: str) -> None:
    p = pool(IdleHistogram(FIXED, Params(bin_width=1.0)))
    end = regular(p, 2.0)
    if blocked == "draining":
        p.drain()
    elif blocked == "host-full":
        p.budget.running = p.budget.max_total
    elif blocked == "max-zero":
        p.max_instances = 0
    else:
        assert isinstance(p.acquire(), Assigned)
    assert p.prewarm(end + 1.0) is None


def test_pool_without_a_policy_keeps_the_fixed_window() -> None:
    p = pool(None)
    assigned = p.acquire()
    p.started(assigned.instance_id, 0.0)  # type: ignore[union-attr]
    p.release(assigned.instance_id, 1.0)  # type: ignore[union-attr]
    assert p.arrive(2.0) is None
    assert p.windows() == Windows(0.0, FIXED, "fixed")
    assert p.reap(FIXED) == []
    assert len(p.reap(1.0 + FIXED)) == 1
