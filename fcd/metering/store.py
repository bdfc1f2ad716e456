"""Metering rows in the store: one per invocation, summed per function, service and day.

Each row already carries its billed figures (:func:`fcd.metering.usage.meter` computed them), so
a report is a plain ``GROUP BY`` sum and never re-derives the arithmetic.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from fcd.metering.usage import SUCCESS, Usage, UsageTotal


def insert(conn: sqlite3.Connection, records: list[Usage]) -> None:
    conn.executemany(
        "INSERT INTO invocations(request_id, service, function, qualifier, version_id, "
        "started_at, day, duration_ms, billed_ms, memory_mb, gb_seconds, max_memory_mb, cold, "
        "cold_start_ms, status) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [
            (
                u.request_id,
                u.service,
                u.function,
                u.qualifier,
                u.version_id,
                u.started_at,
                u.day,
                u.duration_ms,
                u.billed_ms,
                u.memory_mb,
                u.gb_seconds,
                u.max_memory_mb,
                int(u.cold),
                u.cold_start_ms,
                u.status,
            )
            for u in records
        ],
    )


def prune(conn: sqlite3.Connection, before: float) -> int:
    """Delete rows of invocations started before ``before`` (epoch seconds)."""
    return conn.execute("DELETE FROM invocations WHERE started_at < ?", (before,)).rowcount


@dataclass(frozen=True, slots=True)
class ReportRow:
    day: str
    service: str
    function: str
    total: UsageTotal


def report(
    conn: sqlite3.Connection, *, service: str = "", function: str = "", day: str = ""
) -> list[ReportRow]:
    """Totals per (day, service, function), filtered by any of the three; by day, then name."""
    where, args = "1=1", []
    for column, value in (("service", service), ("function", function), ("day", day)):
        if value:
            where += f" AND {column} = ?"
            args.append(value)
    rows = conn.execute(
        "SELECT day, service, function, count(*), sum(cold), "
        f"sum(status != '{SUCCESS}'), sum(duration_ms), sum(billed_ms), sum(gb_seconds), "
        f"max(max_memory_mb) FROM invocations WHERE {where} "
        "GROUP BY day, service, function ORDER BY day, service, function",
        args,
    ).fetchall()
    return [ReportRow(r[0], r[1], r[2], UsageTotal(*r[3:])) for r in rows]


def by_request(conn: sqlite3.Connection, request_id: str) -> Usage | None:
    """One invocation's row (tests and `fcctl usage --request-id` compare it to the headers)."""
    row = conn.execute(
        "SELECT request_id, service, function, qualifier, version_id, started_at, duration_ms, "
        "billed_ms, memory_mb, gb_seconds, max_memory_mb, cold, cold_start_ms, status "
        "FROM invocations WHERE request_id = ?",
        (request_id,),
    ).fetchone()
    if row is None:
        return None
    values = list(row)
    values[11] = bool(values[11])  # the `cold` column
    return Usage(*values)
