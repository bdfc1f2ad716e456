"""The async queue's bounds as transactions: exact counts kept by the schema's triggers, the
depth refusal, and the byte cap that prunes finished history before it refuses."""

from __future__ import annotations

import sqlite3

import pytest

from fcd.config import Async
from fcd.invocations.queue import AsyncRequest, QueueFull, _admit, _insert
from fcd.store.schema import migrate


@pytest.fixture
def conn() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db)
    return db


def request(n: int, function: str = "f", size: int = 10) -> AsyncRequest:
    return AsyncRequest(
        "s", "LATEST", function, b"x" * size, request_id=f"r{n}", invocation_id=f"i{n}"
    )


def depth(conn: sqlite3.Connection, function: str = "f") -> int:
    row = conn.execute("SELECT queued FROM async_depth WHERE function = ?", (function,)).fetchone()
    return int(row[0]) if row else 0


def stored(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT bytes FROM async_usage").fetchone()[0])


def accept(conn: sqlite3.Connection, bounds: Async, n: int, **kw: object) -> None:
    r = request(n, **kw)  # type: ignore[arg-type]
    _admit(conn, r, bounds)
    _insert(conn, r, False, 1.0)


def test_depth_counts_unfinished_rows_and_refuses_beyond_the_bound(
    conn: sqlite3.Connection,
) -> None:
    bounds = Async(max_queued_per_function=3)
    for n in range(3):
        accept(conn, bounds, n)
    accept(conn, bounds, 99, function="other")  # another function has its own count
    with pytest.raises(QueueFull, match="max_queued_per_function"):
        accept(conn, bounds, 3)
    conn.execute("UPDATE async_invocations SET status = 'Running' WHERE request_id = 'r0'")
    assert depth(conn) == 3  # running is still unfinished
    conn.execute(
        "UPDATE async_invocations SET status = 'Succeeded', ended_at = 2 WHERE request_id = 'r0'"
    )
    assert depth(conn) == 2
    accept(conn, bounds, 4)
    conn.execute("DELETE FROM async_invocations WHERE request_id = 'r1'")  # a stop + prune
    assert depth(conn) == 2


def test_byte_cap_prunes_the_oldest_finished_rows_then_refuses(conn: sqlite3.Connection) -> None:
    bounds = Async(max_stored_bytes=250)
    for n in range(2):
        accept(conn, bounds, n, size=100)
    conn.execute(
        "UPDATE async_invocations SET status = 'Succeeded', ended_at = 2, return_payload = ?"
        " WHERE request_id = 'r0'",
        (b"y" * 20,),
    )
    assert stored(conn) == 220
    accept(conn, bounds, 2, size=100)  # r0 (finished) is pruned to make room
    assert [r[0] for r in conn.execute("SELECT request_id FROM async_invocations")] == ["r1", "r2"]
    assert stored(conn) == 200
    with pytest.raises(QueueFull, match="max_stored_bytes"):
        accept(conn, bounds, 3, size=100)  # only unfinished rows are left
    assert stored(conn) == 200
