"""The sandbox uid range: exhaustion is a refusal (429), never an exception that ends a loop.

The crash this covers: 1,000 uids for up to 2,000 instances; at ~910 sandboxes the pool
refill died on ``IndexError`` and took the daemon down (the range is now config, checked
against ``instances.max_total`` at start: tests/unit/test_sandbox_limits.py).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fcd import errors
from fcd.config import Config
from fcd.isolation import cgroup
from fcd.isolation.sandbox import Isolation, SandboxSpec
from tests.sandbox.conftest import eventually, leftovers, sandbox_groups, write_code

pytestmark = pytest.mark.root

UIDS = range(29000, 29002)  # two uids


def two_uid_isolation(tmp_path: Path, pool_size: int) -> Isolation:
    config = Config()
    backend = cgroup.detect()
    assert backend is not None
    return Isolation(
        "namespaces",
        tmp_path / "data",
        config.runtimes.python,
        config.runtimes.node,
        backend,
        pool_size=pool_size,
        uids=UIDS,
    )


async def test_the_uid_range_exhausted_refuses_and_recovers(tmp_path: Path) -> None:
    isolation = two_uid_isolation(tmp_path, pool_size=0)
    spec = SandboxSpec("c-uids", 128, write_code(tmp_path / "code", {"index.py": ""}))
    try:
        first = await isolation.spawn(spec, "python", [], {})
        second = await isolation.spawn(spec, "python", [], {})
        assert {first.uid, second.uid} == set(UIDS)
        with pytest.raises(errors.ResourceExhausted, match="uids are in use") as refused:
            await isolation.spawn(spec, "python", [], {})
        assert refused.value.status == 429
        assert len({g.name for g in sandbox_groups(isolation)}) == 2  # the refused made none
        await first.destroy()
        third = await isolation.spawn(spec, "python", [], {})
        assert third.uid == first.uid
        await second.destroy()
        await third.destroy()
        assert isolation.uids_free == 2
    finally:
        await isolation.close()
    assert leftovers(isolation) == []


async def test_the_pool_refill_waits_for_uids_instead_of_dying(tmp_path: Path) -> None:
    isolation = two_uid_isolation(tmp_path, pool_size=4)
    ready = asyncio.Event()
    refill = asyncio.create_task(isolation.run(ready=ready))
    try:
        await ready.wait()
        assert await eventually(lambda: isolation.pooled == 2, within=30)
        assert isolation.uids_free == 0
        await asyncio.sleep(1.5)  # past one retry of the refill: it must still be running
        assert not refill.done()
        assert isolation.pooled == 2
    finally:
        await isolation.close()
        refill.cancel()
        await asyncio.gather(refill, return_exceptions=True)
    assert refill.cancelled() or refill.exception() is None
    assert isolation.uids_free == 2
    assert leftovers(isolation) == []
