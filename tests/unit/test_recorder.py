"""The metering and log recorder over a real store: batches, queries, retention, final flush."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from fcd.config import Retention
from fcd.invocations.recorder import Recorder
from fcd.logs import store as log_store
from fcd.metering import store as metering_store
from fcd.metering import usage
from fcd.store import Store


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(request_id: str, at: float, function: str = "f") -> usage.Usage:
    return usage.meter(
        request_id=request_id,
        service="s",
        function=function,
        qualifier="LATEST",
        version_id="LATEST",
        started_at=at,
        duration_ms=120.0,
        memory_mb=256,
        max_memory_mb=20.0,
        cold=request_id == "r1",
        cold_start_ms=3.0 if request_id == "r1" else 0.0,
        status=usage.SUCCESS,
    )


async def test_batches_are_queryable_and_pruned_by_retention(tmp_path: Path) -> None:
    store = Store(tmp_path / "fcd.sqlite3")
    clock = Clock(1_000_000.0)
    recorder = Recorder(store, Retention(logs=10, invocations=100), clock=clock)
    try:
        recorder.log("s", "f", "", b"initializing\n")
        recorder.log("s", "f", "r1", b"FC Invoke Start RequestId: r1\n")
        recorder.log("s", "f", "r1", b"hello")
        recorder.usage(record("r1", clock.now))
        clock.now += 5
        recorder.log("s", "f", "r2", b"second")
        recorder.usage(record("r2", clock.now))
        await recorder.flush()

        lines = store.read(lambda c: log_store.query(c, "s", "f"))
        assert [(x.request_id, x.line) for x in lines] == [
            ("", b"initializing"),
            ("r1", b"FC Invoke Start RequestId: r1"),
            ("r1", b"hello"),
            ("r2", b"second"),
        ]
        only_r1 = store.read(lambda c: log_store.query(c, "s", "f", request_id="r1"))
        assert [x.line for x in only_r1] == [b"FC Invoke Start RequestId: r1", b"hello"]
        newest = store.read(lambda c: log_store.query(c, "s", "f", tail=1))
        assert [x.line for x in newest] == [b"second"]
        recent = store.read(lambda c: log_store.query(c, "s", "f", since=clock.now))
        assert [x.line for x in recent] == [b"second"]

        (row,) = store.read(lambda c: metering_store.report(c, service="s"))
        assert row.total.invocations == 2
        assert row.total.cold_starts == 1
        assert row.total.billed_ms == 400
        assert (
            row.total
            == usage.summarize([record("r1", 0), record("r2", 0)])[("1970-01-01", "s", "f")]
        )
        assert store.read(lambda c: metering_store.by_request(c, "r2")) == record("r2", 1_000_005.0)

        clock.now += 10  # the first three lines are now older than 10 s; r2's line is not
        await recorder.prune()
        left = store.read(lambda c: log_store.query(c, "s", "f"))
        assert [x.line for x in left] == [b"second"]
        assert store.read(lambda c: metering_store.report(c))[0].total.invocations == 2
        clock.now += 100
        await recorder.prune()
        assert store.read(lambda c: metering_store.report(c)) == []
    finally:
        store.close()


async def test_close_writes_what_is_buffered(tmp_path: Path) -> None:
    store = Store(tmp_path / "fcd.sqlite3")
    recorder = Recorder(store, Retention())
    try:
        ready = asyncio.Event()
        task = asyncio.create_task(recorder.run(ready=ready))
        await ready.wait()
        recorder.usage(record("r1", time.time()))
        recorder.log("s", "f", "r1", b"last words")
        recorder.close()
        await task
        assert store.read(lambda c: metering_store.by_request(c, "r1")) is not None
        assert [x.line for x in store.read(lambda c: log_store.query(c, "s", "f"))] == [
            b"last words"
        ]
    finally:
        store.close()
