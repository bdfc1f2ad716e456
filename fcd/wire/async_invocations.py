"""Stateful async invocation records (spec §5.4, routes 47-49; Go SDK StatefulAsyncInvocation)."""

from __future__ import annotations

import msgspec


class InvocationEvent(msgspec.Struct, rename="camel"):
    event_id: int
    status: str
    timestamp: int  # epoch ms
    event_detail: str = ""


class StatefulInvocation(msgspec.Struct, rename="camel", omit_defaults=True):
    """One async invocation: status, times (epoch ms), retries, result and its events.

    Fields without a default are always sent (zero values included); ``omit_defaults`` drops
    only the optional ones."""

    function_name: str
    service_name: str
    qualifier: str
    invocation_id: str
    status: str
    started_time: int
    end_time: int  # 0 until it ends
    destination_status: str
    invocation_error_message: str
    request_id: str
    already_retried_times: int
    instance_id: str
    # absent unless known (or, for the payload, asked for)
    invocation_payload: str | None = None
    duration_ms: int | None = None
    return_payload: str | None = None
    events: list[InvocationEvent] | None = None


class StatefulInvocationPage(msgspec.Struct, rename="camel", omit_defaults=True):
    """``invocations`` absent when nothing matches (the Java SDK's test asserts ``null``)."""

    invocations: list[StatefulInvocation] | None = None
    next_token: str | None = None
