"""Shapes of fcd's own log and usage routes (not in the FC spec; see docs/api-compat.md)."""

from __future__ import annotations

import msgspec


class LogEntry(msgspec.Struct, rename="camel"):
    request_id: str
    time: str  # FC body time format, UTC with milliseconds
    message: str


class LogList(msgspec.Struct, rename="camel"):
    logs: list[LogEntry]


class UsageRow(msgspec.Struct, rename="camel"):
    """Totals of one function on one UTC day (or, in ``total``, of every row listed)."""

    day: str
    service_name: str
    function_name: str
    invocations: int
    cold_starts: int
    errors: int
    duration_ms: float
    billed_duration_ms: int
    gb_seconds: float
    max_memory_used_mb: float


class InvocationUsage(msgspec.Struct, rename="camel"):
    """One invocation's metering row."""

    request_id: str
    service_name: str
    function_name: str
    qualifier: str
    version_id: str
    started_time: str
    duration_ms: float
    billed_duration_ms: int
    memory_size: int
    gb_seconds: float
    max_memory_used_mb: float
    cold_start: bool
    cold_start_ms: float
    status: str


class UsageReport(msgspec.Struct, rename="camel", omit_defaults=True):
    usage: list[UsageRow] = msgspec.field(default_factory=list)
    total: UsageRow | None = None
    invocation: InvocationUsage | None = None
