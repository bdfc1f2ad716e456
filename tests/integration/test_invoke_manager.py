"""The instance manager with real instances (python3, isolation "none"): keep-alive reclaim,
drain on redeploy, the host-wide cap, and shutdown.

These drive :class:`~fcd.instances.manager.InstanceManager` directly, below the HTTP layer, so
that windows of a fraction of a second can be tested; the rules themselves are unit-tested in
``tests/unit/test_pool.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fcd import errors
from fcd.config import Config, Instances
from fcd.instances.instance import Isolation
from fcd.instances.manager import InstanceManager, PoolSpec
from fcd.instances.pool import InstancePool, State
from fcd.model import FunctionContext, InstanceSpec, InvokeRequest
from tests.waiting import wait_until_async

HANDLER = """import time

def handler(event, context):
    time.sleep(float(event or 0))  # the work a request holds its instance for
    return b"ok"
"""


@pytest.fixture
async def isolation(tmp_path: Path) -> AsyncIterator[Isolation]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    isolation = Isolation.from_config(Config(isolation="none", data_dir=str(data_dir)), data_dir)
    ready = asyncio.Event()
    task = asyncio.create_task(isolation.run(ready=ready))
    await ready.wait()
    yield isolation
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await isolation.close()


def pool_spec(
    tmp_path: Path, name: str, *, fingerprint: str = "a", max_instances: int = 5
) -> PoolSpec:
    code = tmp_path / f"code-{name}-{fingerprint}"
    code.mkdir(exist_ok=True)
    (code / "index.py").write_text(HANDLER)
    context = FunctionContext(
        service_name="s",
        function_name=name,
        qualifier="LATEST",
        version_id="",
        handler="index.handler",
        memory_mb=128,
        timeout_s=10,
        initializer="",
        initialization_timeout_s=3,
        region="cn-hangzhou",
        account_id="1",
    )

    async def make_spec(instance_id: str) -> InstanceSpec:
        return InstanceSpec(instance_id, "python3", code, (), {}, context)

    return PoolSpec(("s", name, "LATEST"), fingerprint, 1, max_instances, make_spec)


def request(seconds: float = 0) -> InvokeRequest:
    return InvokeRequest(request_id=f"r-{seconds}", payload=str(seconds).encode(), timeout_s=10)


def manager(isolation: Isolation, **config: Any) -> InstanceManager:
    logs: list[bytes] = []
    return InstanceManager(
        isolation, Instances(**config), lambda _s, _f, _r, line: logs.append(line)
    )


async def running(m: InstanceManager) -> asyncio.Task[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(m.run(ready=ready))
    await ready.wait()
    return task


async def test_idle_instances_are_reclaimed_after_keep_alive(
    isolation: Isolation, tmp_path: Path
) -> None:
    m = manager(isolation, keep_alive=1)
    task = await running(m)
    spec = pool_spec(tmp_path, "f")
    first = await m.invoke(spec, request())
    assert first.cold
    assert first.result.body == b"ok"
    second = await m.invoke(spec, request())
    assert not second.cold
    assert second.instance_id == first.instance_id
    (pool,) = m.pools()
    assert repr(pool) == "<InstancePool fn=s/f@LATEST [busy 0 | idle 1 | starting 0 | queued 0]>"
    await wait_until_async(lambda: pool.size == 0, 10, "the idle instance to be reclaimed")
    assert m.budget.running == 0
    third = await m.invoke(spec, request())
    assert third.cold
    assert third.instance_id != first.instance_id
    await m.close()
    await task


async def test_redeploy_drains_old_instances_without_failing_requests(
    isolation: Isolation, tmp_path: Path
) -> None:
    m = manager(isolation)
    task = await running(m)
    old = pool_spec(tmp_path, "g", fingerprint="old")
    await m.invoke(old, request())
    slow = asyncio.create_task(m.invoke(old, request(0.6)))  # starts a second old instance
    (old_pool,) = m.pools()
    await wait_until_async(lambda: old_pool.in_flight == 1, 10, "the slow request to run")
    new = pool_spec(tmp_path, "g", fingerprint="new")
    fresh = await m.invoke(new, request())
    assert fresh.cold
    finished = await slow
    assert finished.result.body == b"ok"
    assert finished.result.error_type is None
    # the two old instances are gone
    await wait_until_async(lambda: m.budget.running == 1, 10, "the old instances to go")
    assert [p.name for p in m.pools()] == ["s/g@LATEST"]
    await m.close()
    await task


async def test_host_cap_reclaims_an_idle_instance_of_another_function(
    isolation: Isolation, tmp_path: Path
) -> None:
    m = manager(isolation, max_total=1)
    task = await running(m)
    first = await m.invoke(pool_spec(tmp_path, "a"), request())
    other = await m.invoke(pool_spec(tmp_path, "b"), request())
    assert other.cold
    assert m.budget.running == 1
    busy = asyncio.create_task(m.invoke(pool_spec(tmp_path, "b"), request(0.5)))
    (pool_b,) = [p for p in m.pools() if p.name == "s/b@LATEST"]
    await wait_until_async(lambda: pool_b.in_flight == 1, 10, "b's instance to be busy")
    with pytest.raises(errors.ResourceExhausted):
        await m.invoke(pool_spec(tmp_path, "a"), request())
    assert (await busy).result.body == b"ok"
    assert first.instance_id != other.instance_id
    await m.close()
    await task


async def test_close_stops_every_instance(isolation: Isolation, tmp_path: Path) -> None:
    m = manager(isolation)
    task = await running(m)
    spec = pool_spec(tmp_path, "c")
    done = await asyncio.gather(*(m.invoke(spec, request(0.2)) for _ in range(3)))
    assert len({d.instance_id for d in done}) == 3
    instances = list(m._instances.values())
    await m.close()
    await task
    assert not any(instance.alive for instance in instances)
    assert m.budget.running == 0


async def test_adaptive_keep_alive_reclaims_a_regular_function_before_the_fixed_window(
    isolation: Isolation, tmp_path: Path
) -> None:
    # Bins of 0.5 s compress the policy's minutes; idle times of ~0.3 s all fall in the first
    # bin, so there is no pre-warm window, only a keep-alive of 0.55 s. The fixed window (an
    # hour) is what the function would get without the policy.
    config = Instances(keep_alive=3600, keep_alive_policy="adaptive", keep_alive_bin=0.5)
    m = InstanceManager(isolation, config, lambda _s, _f, _r, _line: None)
    task = await running(m)
    spec = pool_spec(tmp_path, "regular")
    for _ in range(12):  # a request every ~0.3 s: the load pattern, not a synchronisation
        await m.invoke(spec, request())
        await asyncio.sleep(0.3)
    (pool,) = m.pools()
    windows = pool.windows()
    assert windows.reason == "histogram", windows
    assert windows.prewarm == 0, windows
    assert windows.keep_for < 5, windows
    await wait_until_async(lambda: pool.size == 0, 30, "the idle instance to be reclaimed")
    assert m.budget.running == 0
    await m.close()
    await task


def prewarmed(pool: InstancePool) -> bool:
    return any(m.prewarmed and m.state is State.READY for m in pool.members.values())


async def test_adaptive_keep_alive_prewarms_an_instance_before_the_expected_invocation(
    isolation: Isolation, tmp_path: Path
) -> None:
    # The manager's clock is the test's: the policy's windows are seconds of that clock, the
    # instances are real. An invocation every 2 s learns a pre-warm of 0.9 s (1 s bins).
    now = [0.0]
    config = Instances(keep_alive=3600, keep_alive_policy="adaptive", keep_alive_bin=1.0)
    m = InstanceManager(isolation, config, lambda _s, _f, _r, _line: None, clock=lambda: now[0])
    task = await running(m)
    spec = pool_spec(tmp_path, "timer")
    for _ in range(12):
        await m.invoke(spec, request())
        now[0] += 2.0
    (pool,) = m.pools()
    windows = pool.windows()
    assert windows.reason == "histogram", windows
    assert 0 < windows.prewarm < 2.0 < windows.keep_for, windows
    end = now[0] = now[0] - 2.0  # the last invocation ended (it took no time on this clock)
    await wait_until_async(lambda: pool.size == 0, 10, "the idle instance to be unloaded at once")
    now[0] = end + windows.prewarm + 0.05
    await wait_until_async(
        lambda: any(
            member.prewarmed and member.state.value == "ready" for member in pool.members.values()
        ),
        10,
        "an instance to be pre-warmed",
    )
    now[0] = end + 1.9
    served = await m.invoke(spec, request())
    assert not served.cold
    now[0] += windows.keep_for + 0.1
    await wait_until_async(lambda: pool.size == 0, 10, "the instance to be unloaded again")
    await m.close()
    await task


async def test_no_free_sandbox_uid_is_a_429_not_a_crash(
    isolation: Isolation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every uid of the range held (instances still being torn down): the isolation refuses
    # with ResourceExhausted; the caller gets it as such (429), the slot is given back, and
    # the next invocation starts normally once a uid is free.
    m = manager(isolation)
    task = await running(m)
    spawn = isolation.spawn

    async def no_uid(*args: object, **kwargs: object) -> object:
        raise errors.ResourceExhausted("all 2 sandbox uids are in use")

    monkeypatch.setattr(isolation, "spawn", no_uid)
    spec = pool_spec(tmp_path, "u")
    with pytest.raises(errors.ResourceExhausted, match="uids are in use"):
        await m.invoke(spec, request())
    (pool,) = m.pools()
    assert pool.size == 0
    assert m.budget.running == 0
    monkeypatch.setattr(isolation, "spawn", spawn)
    assert (await m.invoke(spec, request())).result.body == b"ok"
    assert not task.done()
    await m.close()
    await task
