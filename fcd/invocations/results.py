"""How an invocation ended, in FC's words (spec §5.3, §7.6): pure functions over results.

Shared by the invoker (metering status, the summary line in the log) and the gateway (error
bodies); unit-tested in ``tests/unit/test_invoke_headers.py``.
"""

from __future__ import annotations

import json

from fcd.metering import usage
from fcd.model import InvokeResult

HANDLED = "HandledInvocationError"
UNHANDLED = "UnhandledInvocationError"


def status_of(result: InvokeResult) -> str:
    """The metering status of a result: what kind of success or failure it was."""
    if result.instance_fatal:
        if result.fatal_reason == "timeout":
            return usage.TIMEOUT
        if result.fatal_reason == "oom":
            return usage.OOM
        return usage.CRASHED
    if result.error_type == HANDLED:
        return usage.HANDLED
    if result.error_type is not None:
        return usage.UNHANDLED
    return usage.SUCCESS


def fatal_body(result: InvokeResult, *, timeout_s: float, memory_mb: int) -> bytes:
    """The error JSON when the instance itself failed: timed out, ran out of memory or died.

    These are FC's own messages (spec §5.3), not the runtime's; the instance is recycled after.
    """
    used = f"{result.max_memory_mb:.2f}"
    if result.fatal_reason == "timeout":
        message = f"Function timed out after {timeout_s:g} seconds (maxMemoryUsage: {used}MB)"
        error_type = "FunctionTimeoutError"
    elif result.fatal_reason == "oom":
        message = (
            f"Function ran out of memory: it used {used}MB of its {memory_mb}MB memorySize "
            "and was killed (out of memory)"
        )
        error_type = "OutOfMemoryError"
    else:
        message = (
            "Process exited unexpectedly before completing request "
            f"(duration: {result.duration_ms:.0f}ms, maxMemoryUsage: {used}MB)"
        )
        error_type = "ProcessExitedError"
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


def summary_line(
    *,
    request_id: str,
    duration_ms: float,
    billed_ms: int,
    memory_mb: int,
    max_memory_mb: float,
    cold_start_ms: float | None,
    isolated: bool,
) -> bytes:
    """The line FC appends to every invocation's log (spec §7.6), with cold start and isolation.

    ``Init Duration`` appears only on a cold start; ``Isolation: none`` on every invoke of a
    daemon running without sandboxes, as the design requires (DESIGN §3). ``billed_ms`` is the
    metering record's (:func:`fcd.metering.usage.meter`), so the line and the bill agree.
    """
    line = (
        f"FC Invoke Summary RequestId: {request_id} Duration: {duration_ms:.2f} ms, "
        f"Billed Duration: {billed_ms} ms, Memory Size: {memory_mb} MB, "
        f"Max Memory Used: {max_memory_mb:.2f} MB"
    )
    if cold_start_ms is not None:
        line += f", Init Duration: {cold_start_ms:.2f} ms"
    if not isolated:
        line += ", Isolation: none (not sandboxed)"
    return line.encode() + b"\n"
