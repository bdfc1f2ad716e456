"""The invoke response shape (spec §5.2-5.3, §7.6): headers, log tail, FC's own error bodies."""

from __future__ import annotations

import base64
import json

from fcd.gateway import headers
from fcd.invocations import results
from fcd.metering import usage
from fcd.model import InvokeResult


def result(**kw: object) -> InvokeResult:
    base: dict[str, object] = {
        "body": b"ok",
        "error_type": None,
        "duration_ms": 3.4,
        "max_memory_mb": 12.345,
        "logs": b"",
    }
    base.update(kw)
    return InvokeResult(**base)  # type: ignore[arg-type]


def test_options_are_case_insensitive_in_values() -> None:
    assert headers.parse_options({}) == headers.InvokeOptions()
    opts = headers.parse_options({"x-fc-invocation-type": "ASYNC", "x-fc-log-type": "tail"})
    assert opts.asynchronous
    assert opts.log_tail


def test_success_headers() -> None:
    got = dict(
        headers.invoke_headers(
            request_id="rid",
            result=result(),
            version="3",
            instance_id="c-1",
            code_checksum="123",
            error_type=None,
            log=None,
        )
    )
    assert got[b"content-type"] == b"application/octet-stream"
    assert got[b"x-fc-request-id"] == b"rid"
    assert got[b"x-fc-invocation-service-version"] == b"3"
    assert got[b"x-fc-invocation-duration"] == b"3"
    assert got[b"x-fc-max-memory-usage"] == b"12.35"
    assert got[b"x-fc-code-checksum"] == b"123"
    assert b"x-fc-error-type" not in got
    assert b"x-fc-log-result" not in got


def test_error_headers_are_json_typed_and_carry_the_log() -> None:
    got = dict(
        headers.invoke_headers(
            request_id="rid",
            result=result(duration_ms=0.1),
            version="LATEST",
            instance_id="c-1",
            code_checksum="",
            error_type=headers.UNHANDLED,
            log=b"line\n",
        )
    )
    assert got[b"content-type"] == b"application/json"
    assert got[b"x-fc-error-type"] == b"UnhandledInvocationError"
    assert got[b"x-fc-invocation-duration"] == b"1"
    assert base64.b64decode(got[b"x-fc-log-result"]) == b"line\n"


def test_log_tail_keeps_the_last_4_kb_on_a_character_boundary() -> None:
    short = b"FC Invoke Start\nhello\n"
    assert base64.b64decode(headers.log_result(short)) == short
    long = "é".encode() * 3000  # 6000 bytes of two-byte characters
    tail = base64.b64decode(headers.log_result(b"x" + long))
    assert len(tail) <= headers.LOG_TAIL_BYTES
    assert tail.decode() == "é" * (len(tail) // 2)
    assert base64.b64decode(headers.log_result(b"a" * 5000)) == b"a" * 4096


def test_status_of_each_kind_of_result() -> None:
    assert results.status_of(result()) == usage.SUCCESS
    assert results.status_of(result(error_type=headers.HANDLED)) == usage.HANDLED
    assert results.status_of(result(error_type=headers.UNHANDLED)) == usage.UNHANDLED
    fatal = {"error_type": headers.UNHANDLED, "instance_fatal": True}
    assert results.status_of(result(**fatal, fatal_reason="timeout")) == usage.TIMEOUT
    assert results.status_of(result(**fatal, fatal_reason="oom")) == usage.OOM
    assert results.status_of(result(**fatal, fatal_reason="exited")) == usage.CRASHED


def test_fatal_bodies_name_what_happened() -> None:
    timed_out = result(instance_fatal=True, fatal_reason="timeout", max_memory_mb=9.5)
    body = json.loads(results.fatal_body(timed_out, timeout_s=3, memory_mb=128))
    assert body["errorMessage"] == "Function timed out after 3 seconds (maxMemoryUsage: 9.50MB)"
    oom = result(instance_fatal=True, fatal_reason="oom", max_memory_mb=128)
    body = json.loads(results.fatal_body(oom, timeout_s=3, memory_mb=128))
    assert "out of memory" in body["errorMessage"]
    assert body["errorType"] == "OutOfMemoryError"
    died = result(instance_fatal=True, fatal_reason="exited", duration_ms=6.2)
    body = json.loads(results.fatal_body(died, timeout_s=3, memory_mb=128))
    assert body["errorMessage"].startswith("Process exited unexpectedly before completing request")


def test_summary_line_marks_cold_starts_and_missing_isolation() -> None:
    warm = results.summary_line(
        request_id="r",
        duration_ms=3.17,
        billed_ms=100,
        memory_mb=512,
        max_memory_mb=54.58,
        cold_start_ms=None,
        isolated=True,
    )
    assert warm == (
        b"FC Invoke Summary RequestId: r Duration: 3.17 ms, Billed Duration: 100 ms, "
        b"Memory Size: 512 MB, Max Memory Used: 54.58 MB\n"
    )
    cold = results.summary_line(
        request_id="r",
        duration_ms=101,
        billed_ms=200,
        memory_mb=128,
        max_memory_mb=1,
        cold_start_ms=4.5,
        isolated=False,
    )
    assert b"Billed Duration: 200 ms" in cold
    assert b"Init Duration: 4.50 ms" in cold
    assert b"Isolation: none" in cold


def test_tracing_headers_become_the_functions_trace_context() -> None:
    import base64
    import json

    from fcd.gateway.headers import parse_tracing
    from fcd.model import TraceContext

    assert parse_tracing({"x-fc-log-type": "Tail"}) is None
    packed = base64.b64encode(json.dumps({"a": "1", "b": "2"}).encode()).decode()
    trace = parse_tracing(
        {
            "x-fc-tracing-opentracing-span-context": "124ed43254b54966:124ed43254b54966:0:1",
            "x-fc-tracing-opentracing-span-context-baggage-key": "val",
            "x-fc-tracing-opentracing-span-baggages": packed,
        }
    )
    assert trace == TraceContext(
        "124ed43254b54966:124ed43254b54966:0:1", (("a", "1"), ("b", "2"), ("key", "val"))
    )
    broken = parse_tracing({"x-fc-tracing-opentracing-span-baggages": "%%%not base64"})
    assert broken == TraceContext()
    many = {f"x-fc-tracing-opentracing-span-context-baggage-k{i}": "v" for i in range(500)}
    bounded = parse_tracing(many)
    assert bounded is not None
    assert len(bounded.baggages) == 64
