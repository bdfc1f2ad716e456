"""The pure instance-assignment rules: which instance serves, when to start, stop or say 429."""

from __future__ import annotations

import itertools

import pytest

from fcd.instances.pool import Assigned, HostBudget, InstancePool, Rejected


def make_pool(
    concurrency: int = 1,
    max_instances: int = 3,
    keep_alive: float = 10.0,
    budget: HostBudget | None = None,
    name: str = "svc/f@3",
) -> InstancePool:
    ids = (f"c-{i}" for i in itertools.count())
    return InstancePool(
        name=name,
        concurrency=concurrency,
        max_instances=max_instances,
        keep_alive=keep_alive,
        budget=budget or HostBudget(100),
        new_id=lambda: next(ids),
    )


def test_scale_from_zero_then_reuse_warm_instance() -> None:
    pool = make_pool()
    first = pool.acquire()
    assert first == Assigned("c-0", start=True)
    assert first.cold
    assert repr(pool) == "<InstancePool fn=svc/f@3 [busy 0 | idle 0 | starting 1 | queued 1]>"
    pool.started("c-0", now=1.0)
    assert repr(pool) == "<InstancePool fn=svc/f@3 [busy 1 | idle 0 | starting 0 | queued 0]>"
    assert pool.release("c-0", now=2.0) == []
    assert repr(pool) == "<InstancePool fn=svc/f@3 [busy 0 | idle 1 | starting 0 | queued 0]>"
    again = pool.acquire()
    assert again == Assigned("c-0")
    assert not again.cold


def test_concurrency_fills_slots_before_scaling_out() -> None:
    pool = make_pool(concurrency=2, max_instances=2)
    assert pool.acquire() == Assigned("c-0", start=True)
    # The second request joins the starting instance's free slot and waits for it.
    assert pool.acquire() == Assigned("c-0", wait=True)
    assert pool.acquire() == Assigned("c-1", start=True)
    pool.started("c-0", 0.0)
    pool.started("c-1", 0.0)
    assert pool.acquire() == Assigned("c-1")
    rejected = pool.acquire()
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "function"
    assert "maximum of 2 instances" in rejected.message
    assert repr(pool) == "<InstancePool fn=svc/f@3 [busy 2 | idle 0 | starting 0 | queued 0]>"


def test_packs_onto_the_busiest_ready_instance() -> None:
    pool = make_pool(concurrency=3, max_instances=3)
    for _ in range(4):
        pool.acquire()  # c-0 takes 3, c-1 takes 1
    pool.started("c-0", 0.0)
    pool.started("c-1", 0.0)
    pool.release("c-0", 1.0)  # c-0: 2 in flight, c-1: 1
    assert pool.acquire() == Assigned("c-0")


def test_prefers_a_ready_instance_over_waiting_for_a_start() -> None:
    pool = make_pool(concurrency=2)
    pool.acquire()
    pool.started("c-0", 0.0)
    pool.acquire()  # c-0 full
    assert pool.acquire() == Assigned("c-1", start=True)  # c-1 starting with 1 free slot
    pool.release("c-0", 1.0)  # a slot on ready c-0 frees up
    assert pool.acquire() == Assigned("c-0")


def test_host_budget_is_shared_between_pools() -> None:
    budget = HostBudget(2)
    a, b = make_pool(budget=budget, name="s/a@LATEST"), make_pool(budget=budget, name="s/b@1")
    assert isinstance(a.acquire(), Assigned)
    assert isinstance(b.acquire(), Assigned)
    rejected = b.acquire()
    assert isinstance(rejected, Rejected)
    assert rejected.reason == "host"
    assert repr(budget) == "<HostBudget 2/2>"
    a.started("c-0", 0.0)
    a.release("c-0", 1.0)
    # An idle instance of another pool can be given up to make room.
    assert a.evict_idle() == "c-0"
    assert budget.running == 1
    assert b.acquire() == Assigned("c-1", start=True)


def test_keep_alive_reclaims_only_idle_instances_past_the_window() -> None:
    pool = make_pool(concurrency=1, keep_alive=10.0)
    pool.acquire()
    pool.acquire()
    pool.started("c-0", 0.0)
    pool.started("c-1", 0.0)
    pool.release("c-0", now=5.0)
    assert pool.reap(now=14.9) == []
    assert pool.reap(now=15.0) == ["c-0"]
    assert pool.reap(now=100.0) == []  # c-1 is busy: never reclaimed mid-request
    assert pool.size == 1
    assert pool.budget.running == 1


def test_fatal_release_removes_the_instance_and_the_next_request_starts_another() -> None:
    pool = make_pool(concurrency=2)
    pool.acquire()
    pool.acquire()
    pool.started("c-0", 0.0)
    assert pool.release("c-0", 1.0, fatal=True) == ["c-0"]
    # The other in-flight request on the dead instance ends later: nothing more to stop.
    assert pool.release("c-0", 1.1, fatal=True) == []
    assert pool.acquire() == Assigned("c-1", start=True)
    assert pool.budget.running == 1


def test_start_failure_reports_how_many_waited() -> None:
    pool = make_pool(concurrency=3)
    pool.acquire()
    pool.acquire()
    assert pool.start_failed("c-0") == 2
    assert pool.size == 0
    assert pool.budget.running == 0


def test_drain_stops_idle_now_and_busy_after_their_last_request() -> None:
    pool = make_pool(concurrency=2)
    pool.acquire()
    pool.acquire()
    pool.acquire()  # c-0: 2, c-1: 1
    pool.started("c-0", 0.0)
    pool.started("c-1", 0.0)
    pool.release("c-1", 1.0)  # c-1 idle
    assert pool.drain() == ["c-1"]
    assert isinstance(pool.acquire(), Rejected)
    assert repr(pool).endswith("draining>")
    assert pool.release("c-0", 2.0) == []  # one request still runs on c-0
    assert not pool.drained
    assert pool.release("c-0", 3.0) == ["c-0"]
    assert pool.drained
    assert pool.budget.running == 0


@pytest.mark.parametrize("concurrency", [0, 101])
def test_concurrency_bounds(concurrency: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.100"):
        make_pool(concurrency=concurrency)


def test_soft_concurrency_scales_out_first_then_fills_hard_slots() -> None:
    """instanceSoftConcurrency: a new instance once each holds `soft` requests; at the
    instance cap, requests still take slots up to instanceConcurrency."""
    pool = make_pool(concurrency=4, max_instances=2)
    pool.soft_concurrency = 2
    assert pool.acquire() == Assigned("c-0", start=True)
    pool.started("c-0", now=1.0)
    assert pool.acquire() == Assigned("c-0")
    assert pool.acquire() == Assigned("c-1", start=True)  # c-0 reached the soft limit
    pool.started("c-1", now=1.0)
    assert pool.acquire() == Assigned("c-1")
    # Both at the soft limit and no room for a third: the hard slots are used.
    assert {pool.acquire().instance_id for _ in range(4)} == {"c-0", "c-1"}  # type: ignore[union-attr]
    assert isinstance(pool.acquire(), Rejected)


def test_soft_concurrency_equal_to_hard_changes_nothing() -> None:
    pool = make_pool(concurrency=2, max_instances=2)
    pool.soft_concurrency = 2
    assert pool.acquire() == Assigned("c-0", start=True)
    assert pool.acquire() == Assigned("c-0", wait=True)
    assert pool.acquire() == Assigned("c-1", start=True)
