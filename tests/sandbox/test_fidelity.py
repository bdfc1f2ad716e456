"""Instance-level FC fidelity: legacy runtime names, commands FC's images provide, start
failures in the logs with what they used, and the caller's tracing context."""

from __future__ import annotations

import base64
import json
import random
import uuid

import pytest

from fcd.instances.instance import StartFailure
from fcd.model import InvokeRequest, TraceContext
from tests.sandbox.conftest import Starter, invoke

ECHO_PY = {"index.py": "def handler(event, context):\n    return 'ok'\n"}
ECHO_JS = {"index.js": "exports.handler = (event, context, callback) => callback(null, 'ok');\n"}


def _text(starter: Starter) -> str:
    return b"".join(line for _, line in starter.lines).decode()


@pytest.mark.parametrize(
    ("runtime", "files", "language"),
    [("python3.6", ECHO_PY, "Python"), ("nodejs8", ECHO_JS, "Node.js")],
)
async def test_a_legacy_name_runs_and_its_log_names_the_real_interpreter(
    start: Starter, runtime: str, files: dict[str, str], language: str
) -> None:
    instance = await start(files, runtime=runtime)
    assert (await invoke(instance)).body == b"ok"
    assert f"FC runtime {runtime} runs on {language} " in _text(start)


async def test_a_name_of_the_real_version_logs_nothing_more(start: Starter) -> None:
    instance = await start(ECHO_PY, runtime="python3")
    assert (await invoke(instance)).body == b"ok"
    assert "FC runtime" not in _text(start)


@pytest.mark.root
@pytest.mark.parametrize("command", ["python", "python3", "node", "sh"])
async def test_a_custom_runtime_finds_the_commands_of_fc_images(
    sandboxed: Starter, command: str
) -> None:
    """FC's custom-runtime image has ``python``; Debian has only ``python3``: the sandbox links
    it in its own root (the host gets no ``python``)."""
    port = random.randint(20000, 40000)
    servers = {
        "python": ["python", "app.py"],
        "python3": ["python3", "app.py"],
        "node": ["node", "app.js"],
        "sh": ["sh", "-c", "exec python app.py"],
    }
    files = {
        "app.py": f"""
            from http.server import BaseHTTPRequestHandler, HTTPServer
            class H(BaseHTTPRequestHandler):
                def do_POST(self):
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"py")
            HTTPServer(("127.0.0.1", {port}), H).serve_forever()
        """,
        "app.js": f"""
            require('http').createServer((q, s) => s.end('js')).listen({port}, '127.0.0.1');
        """,
    }
    instance = await sandboxed(
        files, runtime="custom", ca_port=port, custom_command=tuple(servers[command])
    )
    assert (await invoke(instance)).body == (b"js" if command == "node" else b"py")


@pytest.mark.parametrize(
    ("files", "kw"),
    [
        ({"index.py": "def handler(event, context)\n    return 1\n"}, {}),  # syntax error
        ({"index.py": "x = 1\n"}, {}),  # no such handler
        (
            {
                "index.py": "def init(context):\n    raise ValueError('no db')\n"
                + ECHO_PY["index.py"]
            },
            {"initializer": "index.init"},
        ),
    ],
    ids=["syntax", "missing-handler", "initializer"],
)
async def test_a_failed_start_is_logged_with_its_memory_and_duration(
    start: Starter, files: dict[str, str], kw: dict[str, str]
) -> None:
    with pytest.raises(StartFailure) as failure:
        await start(files, **kw)
    assert failure.value.body  # the error JSON the caller sees
    assert failure.value.body in b"".join(line for _, line in start.lines)
    assert failure.value.body in failure.value.logs
    assert failure.value.max_memory_mb > 0
    assert failure.value.init_ms > 0


TRACING_PY = {
    "index.py": """
        import json
        def handler(event, context):
            t = context.tracing
            return json.dumps([t.span_context, t.span_baggages, t.jaeger_endpoint])
    """
}
TRACING_JS = {
    "index.js": """
        exports.handler = (event, context, callback) => {
          const t = context.tracing;
          callback(null, JSON.stringify(
            [t.openTracingSpanContext, t.openTracingSpanBaggages, t.jaegerEndpoint]));
        };
    """
}


@pytest.mark.parametrize(("runtime", "files"), [("python3", TRACING_PY), ("nodejs20", TRACING_JS)])
async def test_the_callers_tracing_context_reaches_the_handler(
    start: Starter, runtime: str, files: dict[str, str]
) -> None:
    instance = await start(files, runtime=runtime)
    trace = TraceContext("124ed43254b54966:124ed43254b54966:0:1", (("key", "val"),), "http://j")
    request = InvokeRequest(str(uuid.uuid4()), b"", 5, tracing=trace)
    result = await instance.invoke(request)
    assert json.loads(result.body) == [
        "124ed43254b54966:124ed43254b54966:0:1",
        {"key": "val"},
        "http://j",
    ]
    empty = await invoke(instance)
    assert json.loads(empty.body) == ["", {}, ""]


async def test_a_custom_runtime_gets_the_tracing_headers(start: Starter) -> None:
    port = random.randint(20000, 40000)
    files = {
        "server.py": f"""
            import json
            from http.server import BaseHTTPRequestHandler, HTTPServer
            class H(BaseHTTPRequestHandler):
                def do_POST(self):
                    seen = {{k.lower(): v for k, v in self.headers.items()
                            if k.lower().startswith("x-fc-tracing-")}}
                    body = json.dumps(seen).encode()
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
            HTTPServer(("127.0.0.1", {port}), H).serve_forever()
        """,
    }
    instance = await start(
        files,
        runtime="custom",
        ca_port=port,
        custom_command=("/usr/bin/python3", "/code/server.py"),
    )
    trace = TraceContext("a:b:0:1", (("key", "val"),), "http://j")
    result = await instance.invoke(InvokeRequest(str(uuid.uuid4()), b"", 5, tracing=trace))
    seen = json.loads(result.body)
    assert seen["x-fc-tracing-opentracing-span-context"] == "a:b:0:1"
    baggages = base64.b64decode(seen["x-fc-tracing-opentracing-span-baggages"])
    assert json.loads(baggages) == {"key": "val"}
    assert seen["x-fc-tracing-jaeger-endpoint"] == "http://j"
