"""Function log lines in the store: written in batches, read by function, request and time.

A function's output is data for its owner, not the daemon's own log: every line the runtime
prints is kept with the request id it belongs to (``""`` for lines outside a request, such as an
initializer's or a background thread's), the function and the time it arrived. These are
transaction functions (``def tx(conn)``) for the store's writer thread and plain reads for its
read connection; the batching lives in :mod:`fcd.invocations.recorder`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

# `fcctl logs` without --tail shows this many lines; the API never returns more than MAX_LINES.
DEFAULT_LINES = 100
MAX_LINES = 10_000


@dataclass(frozen=True, slots=True)
class LogLine:
    service: str
    function: str
    request_id: str
    at: float  # epoch seconds
    line: bytes  # without the trailing newline


# (service, function, request id, at, line): how the recorder buffers lines, cheaply.
Row = tuple[str, str, str, float, bytes]


def insert(conn: sqlite3.Connection, rows: list[Row]) -> None:
    conn.executemany(
        "INSERT INTO function_logs(service, function, request_id, at, line) VALUES (?,?,?,?,?)",
        rows,
    )


def prune(conn: sqlite3.Connection, before: float) -> int:
    """Delete lines older than ``before`` (epoch seconds); return how many."""
    return conn.execute("DELETE FROM function_logs WHERE at < ?", (before,)).rowcount


def query(
    conn: sqlite3.Connection,
    service: str,
    function: str,
    *,
    request_id: str = "",
    since: float | None = None,
    tail: int = DEFAULT_LINES,
) -> list[LogLine]:
    """The newest ``tail`` lines of a function (oldest first), optionally of one request or
    from a time on."""
    where = "service = ? AND function = ?"
    args: list[object] = [service, function]
    if request_id:
        where += " AND request_id = ?"
        args.append(request_id)
    if since is not None:
        where += " AND at >= ?"
        args.append(since)
    args.append(max(1, min(tail, MAX_LINES)))
    rows = conn.execute(
        f"SELECT request_id, at, line FROM function_logs WHERE {where} ORDER BY id DESC LIMIT ?",
        args,
    ).fetchall()
    return [LogLine(service, function, r[0], r[1], bytes(r[2])) for r in reversed(rows)]
