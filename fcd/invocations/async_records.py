"""Reading and stopping async invocation records (the rows of :mod:`fcd.invocations.queue`).

The API's stateful-invocation routes call these inside ``store.read``/``store.write``; the
rendering to FC's record (times in epoch ms, events numbered from 1) is here too, so the API
module never sees the table.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from fcd import errors
from fcd.invocations.queue import ENQUEUED, FINISHED, RUNNING, STOPPED, event_json
from fcd.wire.async_invocations import InvocationEvent, StatefulInvocation

_COLUMNS = (
    "seq, request_id, invocation_id, service, qualifier, function, payload, status, attempts,"
    " enqueued_at, ended_at, duration_ms, instance_id, error_message, return_payload,"
    " destination_status, events"
)
SORT_ORDERS = ("asc", "desc")


@dataclass(frozen=True)
class ListQuery:
    """Route 48's filters, already checked."""

    qualifier: str = ""  # "" = every qualifier
    status: str = ""
    started_begin_ms: int | None = None
    started_end_ms: int | None = None
    prefix: str = ""
    descending: bool = True
    include_payload: bool = False
    limit: int = 20
    next_token: str = ""


def _ms(seconds: float | None) -> int:
    return int(seconds * 1000) if seconds else 0


def render(row: sqlite3.Row, *, payload: bool, events: bool = True) -> StatefulInvocation:
    """One row as FC's StatefulAsyncInvocation."""
    returned = row["return_payload"]
    return StatefulInvocation(
        function_name=row["function"],
        service_name=row["service"],
        qualifier=row["qualifier"],
        invocation_id=row["invocation_id"],
        status=row["status"],
        started_time=_ms(row["enqueued_at"]),
        end_time=_ms(row["ended_at"]),
        destination_status=row["destination_status"],
        invocation_error_message=row["error_message"],
        invocation_payload=bytes(row["payload"]).decode(errors="replace") if payload else None,
        request_id=row["request_id"],
        already_retried_times=row["attempts"],
        duration_ms=None if row["duration_ms"] is None else round(row["duration_ms"]),
        instance_id=row["instance_id"],
        return_payload=None if returned is None else bytes(returned).decode(errors="replace"),
        events=[
            InvocationEvent(i, e["status"], e["timestamp"], e.get("eventDetail", ""))
            for i, e in enumerate(json.loads(row["events"]), start=1)
        ]
        if events
        else None,
    )


def _not_found(service: str, function: str, invocation_id: str) -> errors.FcError:
    return errors.AsyncInvocationNotFound(
        f"stateful async invocation '{invocation_id}' of function '{function}' in service "
        f"'{service}' does not exist"
    )


def get(
    conn: sqlite3.Connection, service: str, qualifier: str, function: str, invocation_id: str
) -> StatefulInvocation:
    """Raises: errors.AsyncInvocationNotFound"""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM async_invocations"
        " WHERE service = ? AND function = ? AND invocation_id = ?",
        (service, function, invocation_id),
    ).fetchone()
    if row is None or (qualifier and row["qualifier"] != qualifier):
        raise _not_found(service, function, invocation_id)
    return render(row, payload=True)


def page(
    conn: sqlite3.Connection, service: str, function: str, query: ListQuery
) -> tuple[list[StatefulInvocation], str]:
    """Stateful records of a function, newest first unless ``asc``; ``(records, nextToken)``."""
    where = ["service = ?", "function = ?", "stateful = 1"]
    args: list[object] = [service, function]
    if query.qualifier:
        where.append("qualifier = ?")
        args.append(query.qualifier)
    if query.status:
        where.append("status = ?")
        args.append(query.status)
    if query.started_begin_ms is not None:
        where.append("enqueued_at >= ?")
        args.append(query.started_begin_ms / 1000)
    if query.started_end_ms is not None:
        where.append("enqueued_at <= ?")
        args.append(query.started_end_ms / 1000)
    if query.prefix:
        where.append("substr(invocation_id, 1, ?) = ?")
        args += [len(query.prefix), query.prefix]
    if query.next_token:
        where.append("seq <= ?" if query.descending else "seq >= ?")
        args.append(int(query.next_token))
    order = "DESC" if query.descending else "ASC"
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM async_invocations WHERE {' AND '.join(where)}"
        f" ORDER BY seq {order} LIMIT ?",
        (*args, query.limit + 1),
    ).fetchall()
    token = str(rows[query.limit]["seq"]) if len(rows) > query.limit else ""
    return [render(r, payload=query.include_payload) for r in rows[: query.limit]], token


def stop(
    conn: sqlite3.Connection,
    service: str,
    qualifier: str,
    function: str,
    invocation_id: str,
    now: float,
) -> None:
    """Enqueued/Running → Stopped (a running attempt finishes, but its result is not recorded
    and no retry or destination follows).

    Raises:
        errors.AsyncInvocationNotFound; errors.AsyncInvocationStopped (already stopped);
        errors.InvalidArgument (already finished otherwise)
    """
    record = get(conn, service, qualifier, function, invocation_id)
    if record.status == STOPPED:
        raise errors.AsyncInvocationStopped(
            f"The async invocation for {service}:{function}:{invocation_id} has been stopped"
        )
    if record.status in FINISHED:
        raise errors.InvalidArgument(
            f"the async invocation {invocation_id} has already finished ({record.status}): "
            "only Enqueued or Running invocations can be stopped"
        )
    conn.execute(
        "UPDATE async_invocations SET status = ?, ended_at = ?,"
        " events = json_insert(events, '$[#]', json(?))"
        " WHERE service = ? AND function = ? AND invocation_id = ? AND status IN (?, ?)",
        (
            STOPPED,
            now,
            event_json(STOPPED, now, "stopped by StopStatefulAsyncInvocation"),
            service,
            function,
            invocation_id,
            ENQUEUED,
            RUNNING,
        ),
    )
