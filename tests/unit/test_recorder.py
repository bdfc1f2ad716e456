"""The metering and log recorder over a real store: batches, queries, retention, final flush."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from fcd.config import Retention
from fcd.invocations import recorder as recorder_module
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

        await recorder.prune()  # the first prune measures what the lines weigh
        clock.now += 10  # the first three lines are now older than 10 s; r2's line is not
        await recorder.prune()
        left = store.read(lambda c: log_store.query(c, "s", "f"))
        assert [x.line for x in left] == [b"second"]
        # The running figure the size cap is checked against followed the deletion.
        assert recorder._log_bytes == store.read(log_store.size) == 6 + log_store.ROW_OVERHEAD
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


async def test_the_size_cap_prunes_the_oldest_lines_first(tmp_path: Path) -> None:
    store = Store(tmp_path / "fcd.sqlite3")
    line_cost = 100 + log_store.ROW_OVERHEAD
    recorder = Recorder(store, Retention(logs_bytes=20 * line_cost), clock=Clock(1_000_000.0))
    try:
        for i in range(10):
            recorder.log("s", "f", "old", b"%03d" % i + b"o" * 97)
        await recorder.flush()
        await recorder.prune()  # measures what is stored: under the cap, nothing goes
        assert store.read(log_store.size) == 10 * line_cost
        for i in range(15):
            recorder.log("s", "f", "new", b"%03d" % i + b"n" * 97)
        await recorder.flush()  # 25 lines: over the cap, down to 90 % of it (18 lines)
        left = store.read(lambda c: log_store.query(c, "s", "f"))
        assert len(left) == 18
        assert [x.request_id for x in left] == ["old"] * 3 + ["new"] * 15
        assert left[0].line.startswith(b"007")
        assert store.read(log_store.size) == 18 * line_cost
    finally:
        store.close()


async def test_a_full_buffer_drops_lines_with_a_marker_per_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recorder_module, "MAX_BUFFERED_BYTES", 1000)
    store = Store(tmp_path / "fcd.sqlite3")
    recorder = Recorder(store, Retention())
    try:
        for _ in range(15):
            recorder.log("s", "f", "r1", b"x" * 99 + b"\n")  # 10 fit
        recorder.log("s", "f", "r2", b"y" * 500)
        await recorder.flush()
        r1 = [x.line for x in store.read(lambda c: log_store.query(c, "s", "f", request_id="r1"))]
        assert r1[:10] == [b"x" * 99] * 10
        assert r1[10:] == [
            b"fcd: dropped 5 log lines (495 bytes): the daemon's log store could not keep up"
        ]
        r2 = [x.line for x in store.read(lambda c: log_store.query(c, "s", "f", request_id="r2"))]
        assert r2 == [
            b"fcd: dropped 1 log lines (500 bytes): the daemon's log store could not keep up"
        ]
        recorder.log("s", "f", "r3", b"fine")  # the buffer is empty again
        await recorder.flush()
        assert len(store.read(lambda c: log_store.query(c, "s", "f"))) == 13
    finally:
        store.close()
