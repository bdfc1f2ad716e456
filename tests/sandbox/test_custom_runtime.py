"""The custom runtime: the user's HTTP server driven with FC's requests (spec §7.5)."""

from __future__ import annotations

import json
import random

import pytest

from fcd.instances.instance import StartFailure
from tests.sandbox.conftest import Starter, invoke
from tests.waiting import wait_until_async

SERVER = {
    "bootstrap": """\
        #!/usr/bin/python3
        import json, os, sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        state = {"initialized": 0}

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def reply(self, status, body, headers=()):
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                rid = self.headers["x-fc-request-id"]
                print(f"FC Invoke Start RequestId: {rid}", flush=True)
                if self.path == "/initialize":
                    state["initialized"] += 1
                    return self.reply(200, b"")
                if body == b"fail":
                    failure = b"Error: it failed;\\nStack: here"
                    return self.reply(404, failure, [("x-fc-status", "404")])
                fc = {k: v for k, v in self.headers.items() if k.lower().startswith("x-fc-")}
                out = {"event": body.decode(), "headers": fc, "init": state["initialized"],
                       "port": os.environ.get("FC_CUSTOM_LISTEN_PORT")}
                self.reply(200, json.dumps(out).encode())

            def do_GET(self):
                if self.path == "/pre-stop":
                    print("pre-stop called", flush=True)
                self.reply(200, b"")

            def log_message(self, *args):
                pass

        port = int(os.environ["FC_CUSTOM_LISTEN_PORT"])
        ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
    """
}


def port() -> int:
    return random.randint(10000, 30000)  # below the ephemeral range


async def test_invoke_initialize_and_headers(start: Starter) -> None:
    instance = await start(
        SERVER, runtime="custom", ca_port=port(), initializer="true", qualifier="prod"
    )
    result = await invoke(instance, b"hello")
    assert result.error_type is None, result.body
    data = json.loads(result.body)
    assert data["event"] == "hello"
    assert data["init"] == 1
    headers = {k.lower(): v for k, v in data["headers"].items()}
    for name in (
        "x-fc-request-id",
        "x-fc-access-key-id",
        "x-fc-access-key-secret",
        "x-fc-security-token",
        "x-fc-function-handler",
        "x-fc-function-memory",
        "x-fc-function-initializer",
        "x-fc-initialization-timeout",
        "x-fc-instance-lifecycle-pre-stop-handler",
        "x-fc-instance-lifecycle-pre-freeze-handler",
        "x-fc-region",
        "x-fc-account-id",
        "x-fc-qualifier",
        "x-fc-version-id",
        "x-fc-function-name",
        "x-fc-service-name",
        "x-fc-service-logproject",
        "x-fc-service-logstore",
        "x-fc-control-path",
        "x-fc-function-timeout",
        "x-fc-retry-count",
    ):
        assert name in headers, name
    assert headers["x-fc-control-path"] == "/invoke"
    assert headers["x-fc-qualifier"] == "prod"
    assert headers["x-fc-access-key-id"] == "STS.key"
    assert b"FC Invoke Start RequestId:" in result.logs


async def test_x_fc_status_404_is_unhandled_with_the_body_passed_through(start: Starter) -> None:
    instance = await start(SERVER, runtime="custom", ca_port=port())
    result = await invoke(instance, b"fail")
    assert result.error_type == "UnhandledInvocationError"
    assert result.body == b"Error: it failed;\nStack: here"
    assert not result.instance_fatal


async def test_pre_stop_is_a_get(start: Starter) -> None:
    instance = await start(SERVER, runtime="custom", ca_port=port(), pre_stop_handler="x")
    await instance.stop()
    assert any(b"pre-stop called" in line for _, line in start.lines)


async def test_start_failures_name_the_cause(start: Starter) -> None:
    with pytest.raises(StartFailure) as failure:
        await start({"index.py": ""}, runtime="custom", ca_port=port())
    assert failure.value.code == "CAFileNotFound"
    with pytest.raises(StartFailure) as failure:
        await start({"bootstrap": "#!/bin/sh\nexit 3\n"}, runtime="custom", ca_port=port())
    assert failure.value.code == "CAExited"
    files = {"bootstrap": "#!/bin/sh\n", "run.sh": "#!/bin/sh\n"}
    with pytest.raises(StartFailure) as failure:
        await start(files, runtime="custom", ca_port=port(), custom_command=("/code/run.sh",))
    assert failure.value.code == "CAFilePermission"


# A server whose GET /ready answers 503 once a request asked it to ("sick"), or always
# when it was started with READY_FAILS set.
_SICK_STATE = 'state = {"initialized": 0, "sick": bool(os.environ.get("READY_FAILS"))}'
_SICK_POST = (
    'if body == b"sick":\n'
    '                    state["sick"] = True\n'
    '                if body == b"fail":'
)
_SICK_GET = (
    'if self.path == "/ready" and state["sick"]:\n'
    '                    return self.reply(503, b"")\n'
    '                if self.path == "/pre-stop":'
)


def _health_server() -> dict[str, str]:
    text = SERVER["bootstrap"]
    text = text.replace('state = {"initialized": 0}', _SICK_STATE)
    text = text.replace('if body == b"fail":', _SICK_POST)
    text = text.replace('if self.path == "/pre-stop":', _SICK_GET)
    return {"bootstrap": text}


HEALTH_SERVER = _health_server()


async def test_health_check_gates_the_start(start: Starter) -> None:
    """customHealthCheckConfig: GET httpGetUrl must succeed before the first request."""
    with pytest.raises(StartFailure) as failure:
        await start(
            HEALTH_SERVER,
            runtime="custom",
            ca_port=port(),
            environment={"READY_FAILS": "1"},
            health=("/ready", 0, 1, 1, 2, 1),
        )
    assert "health check GET /ready" in str(failure.value)


async def test_failed_health_checks_end_a_running_instance(start: Starter) -> None:
    """failureThreshold failed probes in a row end the instance (FC replaces it)."""
    instance = await start(
        HEALTH_SERVER, runtime="custom", ca_port=port(), health=("/ready", 0, 1, 1, 1, 1)
    )
    assert (await invoke(instance, b"hello")).error_type is None
    await invoke(instance, b"sick")
    await wait_until_async(lambda: not instance._alive, timeout=20, message="still alive")
