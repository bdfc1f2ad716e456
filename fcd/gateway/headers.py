"""The invoke response as FC shapes it (spec §5.2, §5.3, §7.6): pure functions over results.

Kept apart from the ASGI code so the exact header set, the log tail cut and the error bodies are
unit-tested without a server (``tests/unit/test_invoke_headers.py``).
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from fcd.invocations.results import HANDLED, UNHANDLED
from fcd.model import InvokeResult, TraceContext

# X-Fc-Log-Result carries at most the last 4 KB of the request's log (spec §8).
LOG_TAIL_BYTES = 4 * 1024
# What FC sends so browser clients may read the invoke headers (spec §5.2).
EXPOSE_HEADERS = (
    b"Date,x-fc-request-id,x-fc-error-type,x-fc-code-checksum,x-fc-invocation-duration,"
    b"x-fc-max-memory-usage,x-fc-log-result,x-fc-invocation-code-version"
)

Headers = list[tuple[bytes, bytes]]
__all__ = [
    "HANDLED",
    "UNHANDLED",
    "InvokeOptions",
    "invoke_headers",
    "log_result",
    "parse_options",
    "parse_tracing",
]


@dataclass(frozen=True, slots=True)
class InvokeOptions:
    """What the request headers ask of one invocation (spec §5.1)."""

    asynchronous: bool = False
    log_tail: bool = False
    stateful_id: str = ""


def parse_options(headers: dict[str, str]) -> InvokeOptions:
    """Read ``X-Fc-Invocation-Type`` and ``X-Fc-Log-Type`` (names lower-cased, values any case)."""
    invocation_type = headers.get("x-fc-invocation-type", "sync").lower()
    stateful_id = headers.get("x-fc-stateful-async-invocation-id", "")
    return InvokeOptions(
        asynchronous=invocation_type == "async",
        log_tail=headers.get("x-fc-log-type", "").lower() == "tail",
        stateful_id=stateful_id,
    )


OPENTRACING = "x-fc-tracing-opentracing-"
SPAN_CONTEXT = OPENTRACING + "span-context"
BAGGAGE_PREFIX = SPAN_CONTEXT + "-baggage-"
BAGGAGES = OPENTRACING + "span-baggages"
# Headers are bounded by the HTTP server; this bounds what is copied into every frame.
MAX_BAGGAGES = 64


def parse_tracing(headers: dict[str, str]) -> TraceContext | None:
    """The caller's OpenTracing context for ``context.tracing``: the span context and its
    baggage items, one ``…-baggage-<key>`` header each (as the SDKs send them) or all in one
    base64 JSON object (``x-fc-tracing-opentracing-span-baggages``, as FC passes them on).
    None when the request carries no tracing header: the common case, decided by one
    substring search over the joined header names (0.27 µs for an SDK's 11 headers against
    0.9 µs for a startswith per name).
    """
    span_context = headers.get(SPAN_CONTEXT)
    if span_context is None and OPENTRACING not in " ".join(headers):
        return None
    baggages: dict[str, str] = {}
    packed = headers.get(BAGGAGES, "")
    if packed:
        try:
            decoded = json.loads(base64.b64decode(packed, validate=True))
        except (ValueError, binascii.Error):
            decoded = None
        if isinstance(decoded, dict):
            baggages.update((str(k), str(v)) for k, v in decoded.items())
    for name, value in headers.items():
        if name.startswith(BAGGAGE_PREFIX) and len(name) > len(BAGGAGE_PREFIX):
            baggages[name[len(BAGGAGE_PREFIX) :]] = value
    return TraceContext(
        span_context=span_context or "",
        baggages=tuple(list(baggages.items())[:MAX_BAGGAGES]),
    )


def log_result(logs: bytes) -> bytes:
    """Base64 of the last 4 KB of a request's log, cut on a UTF-8 character boundary."""
    tail = logs[-LOG_TAIL_BYTES:]
    if len(logs) > LOG_TAIL_BYTES:
        # Drop continuation bytes (10xxxxxx) of a character whose start was cut off.
        start = 0
        while start < len(tail) and start < 4 and tail[start] & 0xC0 == 0x80:
            start += 1
        tail = tail[start:]
    return base64.b64encode(tail)


def invoke_headers(
    *,
    request_id: str,
    result: InvokeResult,
    version: str,
    instance_id: str,
    code_checksum: str,
    error_type: str | None,
    log: bytes | None,
) -> Headers:
    """Response headers of a sync invoke (spec §5.2): octet-stream, or JSON on function errors."""
    content_type = b"application/json" if error_type else b"application/octet-stream"
    headers: Headers = [
        (b"content-type", content_type),
        (b"x-fc-request-id", request_id.encode()),
        (b"x-fc-invocation-duration", str(max(1, round(result.duration_ms))).encode()),
        (b"x-fc-invocation-service-version", version.encode()),
        (b"x-fc-max-memory-usage", f"{result.max_memory_mb:.2f}".encode()),
        (b"x-fc-instance-id", instance_id.encode()),
        (b"access-control-expose-headers", EXPOSE_HEADERS),
    ]
    if code_checksum:
        headers.append((b"x-fc-code-checksum", code_checksum.encode()))
    if error_type:
        headers.append((b"x-fc-error-type", error_type.encode()))
    if log is not None:
        headers.append((b"x-fc-log-result", log_result(log)))
    return headers
