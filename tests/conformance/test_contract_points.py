"""Point 5: failed starts in the function's logs with real figures in FC's summary line, and
the caller's tracing headers in ``context.tracing`` (python and node)."""

from __future__ import annotations

import json
import re

import fc2
import pytest
import requests

from tests.conformance.conftest import code_dir, log_text, wait_for
from tests.daemon import RunningDaemon

_SUMMARY = re.compile(r"Max Memory Used: ([\d.]+) MB, Init Duration: ([\d.]+) ms")


@pytest.mark.parametrize(
    ("directory", "initializer", "error"),
    [
        ("start_errors/syntax", None, "SyntaxError"),
        ("start_errors/initializer", "index.initializer", "cannot reach the database"),
    ],
)
def test_a_failed_start_is_in_the_logs_with_real_figures(
    client: fc2.Client,
    daemon: RunningDaemon,
    service: str,
    directory: str,
    initializer: str | None,
    error: str,
) -> None:
    name = directory.split("/")[1]
    client.create_function(
        service, name, "python3", "index.handler", initializer=initializer,
        initializationTimeout=10, codeDir=code_dir(directory),
    )  # fmt: skip
    # fc2 raises FcError for a function error (X-Fc-Error-Type on a 200), as it does on FC.
    with pytest.raises(fc2.FcError) as failed:
        client.invoke_function(service, name)
    assert error in failed.value.message
    rid = failed.value.request_id
    text = wait_for(
        lambda: log_text(daemon, service, name, requestId=rid),
        lambda text: "FC Invoke Summary" in text and error in text,
    )
    assert error in text
    summary = _SUMMARY.search(text)
    assert summary is not None, text
    assert float(summary[1]) > 0, "max memory of the failed start"
    assert float(summary[2]) > 0, "init duration of the failed start"


SPAN = "124ed43254b54966:124ed43254b54966:0:1"


@pytest.mark.parametrize(
    ("runtime", "directory", "keys"),
    [
        ("python3", "tracing_python", ("spanContext", "baggages")),
        ("nodejs16", "tracing_nodejs", ("openTracingSpanContext", "openTracingSpanBaggages")),
    ],
)
def test_tracing_headers_reach_the_context(
    client: fc2.Client, unique: str, runtime: str, directory: str, keys: tuple[str, str]
) -> None:
    """As the Node SDK's test "invokeFunction with injected span context" does."""
    service = f"trace_{unique}"
    tracing = {"type": "Jaeger", "params": {"endpoint": "http://jaeger.example:14268"}}
    client.create_service(service, tracingConfig=tracing)
    client.create_function(service, "echo", runtime, "index.handler", codeDir=code_dir(directory))
    headers = {
        "x-fc-tracing-opentracing-span-context": SPAN,
        "x-fc-tracing-opentracing-span-context-baggage-key": "val",
    }
    out = json.loads(client.invoke_function(service, "echo", "event", headers=headers).data)
    assert SPAN in out[keys[0]]
    assert out[keys[1]] == {"key": "val"}
    assert "http://jaeger.example:14268" in json.dumps(out)


def test_tracing_headers_of_an_http_trigger_request_reach_the_context(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    client.create_function(
        service, "web", "python3", "index.handler", codeDir=code_dir("tracing_wsgi")
    )
    client.create_trigger(
        service, "web", "http", "http", {"authType": "anonymous", "methods": ["GET"]}, "", ""
    )
    headers = {
        "x-fc-tracing-opentracing-span-context": SPAN,
        "x-fc-tracing-opentracing-span-context-baggage-key": "val",
    }
    url = f"{daemon.endpoint}/2016-08-15/proxy/{service}/web/"
    out = requests.get(url, headers=headers, timeout=30).json()
    assert out == {"spanContext": SPAN, "baggages": {"key": "val"}}
