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
# What a line costs in the database besides its bytes, for the size cap: its row (id, names,
# request id, time), its two index entries and page slack. Measured: 10-byte lines take ~180
# bytes each in the file, 100-byte lines ~270; 1,000-byte lines leave more slack per page
# (the file holds ~1.25x what this counts).
ROW_OVERHEAD = 160


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


def prune(conn: sqlite3.Connection, before: float) -> tuple[int, int]:
    """Delete lines older than ``before`` (epoch seconds); return ``(lines, bytes)`` deleted,
    bytes as :func:`size` counts them."""
    lines = freed = 0
    deleted = conn.execute(
        "DELETE FROM function_logs WHERE at < ? RETURNING LENGTH(line)", (before,)
    )
    for (length,) in deleted:
        lines += 1
        freed += length + ROW_OVERHEAD
    return lines, freed


def size(conn: sqlite3.Connection) -> int:
    """What the stored lines weigh against ``retention.logs_bytes``: a scan of the whole table
    (``LENGTH`` of a blob does not read the blob), so callers keep a running figure."""
    (total,) = conn.execute(
        "SELECT COALESCE(SUM(LENGTH(line)), 0) + COUNT(*) * ? FROM function_logs",
        (ROW_OVERHEAD,),
    ).fetchone()
    return int(total)


def prune_oldest(conn: sqlite3.Connection, excess: int, max_rows: int) -> tuple[int, int]:
    """Delete the oldest lines until ``excess`` bytes (as :func:`size` counts them) are gone,
    at most ``max_rows`` of them; return ``(lines, bytes)`` deleted."""
    freed = lines = 0
    last = None
    rows = conn.execute("SELECT id, LENGTH(line) FROM function_logs ORDER BY id")
    for row_id, length in rows:
        last = row_id
        freed += length + ROW_OVERHEAD
        lines += 1
        if freed >= excess or lines >= max_rows:
            break
    rows.close()
    if last is not None:
        conn.execute("DELETE FROM function_logs WHERE id <= ?", (last,))
    return lines, freed


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
