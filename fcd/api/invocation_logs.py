"""fcd's own routes for function logs and metering (outside the FC spec, signed like the rest).

* ``GET /2016-08-15/services/{svc}/functions/{fn}/logs?requestId=&since=&tail=`` — the newest
  ``tail`` lines (default 100) a function printed, oldest first, optionally of one request and
  from a time on (``since``: epoch seconds).
* ``GET /2016-08-15/usage?service=&function=&day=`` — metering totals per function and UTC day,
  and their sum; ``requestId=`` gives one invocation's row instead.

Both read what the invocation recorder wrote; rows reach the store within a fraction of a second
of the invocation (``fcd.invocations.recorder.FLUSH_INTERVAL``).
"""

from __future__ import annotations

import sqlite3

from quart import Blueprint, Response

from fcd import errors
from fcd.api.context import ctx
from fcd.api.http import json_response, query_int, query_str
from fcd.logs import store as log_store
from fcd.metering import store as metering_store
from fcd.metering.usage import Usage, UsageTotal
from fcd.wire import timestamp
from fcd.wire.invocation_logs import InvocationUsage, LogEntry, LogList, UsageReport, UsageRow

routes = Blueprint("invocation_logs", __name__, url_prefix="/2016-08-15")


@routes.get("/services/<service>/functions/<function>/logs")
async def get_logs(service: str, function: str) -> Response:
    """A function's log lines.

    Raises:
        errors.InvalidArgument: ``since`` or ``tail`` is not a number, or ``tail`` < 1.
    """
    request_id = query_str("requestId")
    since = _query_float("since")
    tail = query_int("tail", log_store.DEFAULT_LINES) or log_store.DEFAULT_LINES
    if tail < 1:
        raise errors.InvalidArgument("query parameter 'tail' must be at least 1")

    def read(conn: sqlite3.Connection) -> list[log_store.LogLine]:
        return log_store.query(
            conn, service, function, request_id=request_id, since=since, tail=tail
        )

    lines = ctx().store.read(read)
    entries = [
        LogEntry(x.request_id, timestamp(x.at), x.line.decode("utf-8", "replace")) for x in lines
    ]
    return json_response(LogList(entries))


@routes.get("/usage")
async def get_usage() -> Response:
    """Metering totals per function and day, or one invocation's row (``requestId``)."""
    store = ctx().store
    request_id = query_str("requestId")
    if request_id:
        found = store.read(lambda conn: metering_store.by_request(conn, request_id))
        return json_response(UsageReport(invocation=_invocation(found) if found else None))
    service, function, day = query_str("service"), query_str("function"), query_str("day")
    rows = store.read(
        lambda conn: metering_store.report(conn, service=service, function=function, day=day)
    )
    total = UsageTotal()
    for row in rows:
        total = total.plus(row.total)
    return json_response(
        UsageReport(
            usage=[_row(r.day, r.service, r.function, r.total) for r in rows],
            total=_row(day, service, function, total),
        )
    )


def _query_float(name: str) -> float | None:
    raw = query_str(name)
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise errors.InvalidArgument(f"query parameter '{name}' must be a number") from None


def _row(day: str, service: str, function: str, total: UsageTotal) -> UsageRow:
    return UsageRow(
        day=day,
        service_name=service,
        function_name=function,
        invocations=total.invocations,
        cold_starts=total.cold_starts,
        errors=total.errors,
        duration_ms=round(total.duration_ms, 3),
        billed_duration_ms=total.billed_ms,
        gb_seconds=round(total.gb_seconds, 6),
        max_memory_used_mb=total.max_memory_mb,
    )


def _invocation(u: Usage) -> InvocationUsage:
    return InvocationUsage(
        request_id=u.request_id,
        service_name=u.service,
        function_name=u.function,
        qualifier=u.qualifier,
        version_id=u.version_id,
        started_time=timestamp(u.started_at),
        duration_ms=u.duration_ms,
        billed_duration_ms=u.billed_ms,
        memory_size=u.memory_mb,
        gb_seconds=u.gb_seconds,
        max_memory_used_mb=u.max_memory_mb,
        cold_start=u.cold,
        cold_start_ms=u.cold_start_ms,
        status=u.status,
    )
