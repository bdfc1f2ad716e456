"""The python3 runtime's FC contract (spec §5.2, §5.3, §7.4), with and without sandboxes."""

from __future__ import annotations

import json

import pytest

from fcd.instances.instance import StartFailure
from fcd.model import InvokeRequest
from tests.sandbox.conftest import Starter, invoke

COUNTER = {
    "index.py": """
        counter = 0

        def initializer(context):
            global counter
            counter = 1

        def handler(event, context):
            global counter
            counter += 1
            return counter
    """
}


async def test_initializer_runs_once_and_the_instance_is_reused(start: Starter) -> None:
    instance = await start(COUNTER, initializer="index.initializer")
    assert (await invoke(instance)).body == b"2"
    assert (await invoke(instance)).body == b"3"
    assert instance.cold_start.initializer_ms > 0


async def test_return_values_are_marshalled_like_fc(start: Starter) -> None:
    instance = await start(
        {
            "index.py": """
                import json
                def handler(event, context):
                    kind = event.decode()
                    return {"str": "hello world", "int": 2, "bytes": b"\\x00raw",
                            "dict": {"a": 1}, "none": None, "echo": event}[kind]
            """
        }
    )
    for event, body in [
        (b"str", b"hello world"),
        (b"int", b"2"),
        (b"bytes", b"\x00raw"),
        (b"dict", b'{"a": 1}'),
        (b"none", b""),
        (b"echo", b"echo"),
    ]:
        result = await invoke(instance, event)
        assert (result.body, result.error_type) == (body, None)


async def test_context_has_every_field(start: Starter) -> None:
    instance = await start(
        {
            "index.py": """
                import json, os
                def handler(event, context):
                    c = context
                    return json.dumps({
                        "request_id": c.request_id,
                        "credentials": vars(c.credentials),
                        "function": vars(c.function),
                        "service": vars(c.service),
                        "region": c.region, "account_id": c.account_id,
                        "logger": c.logger.name,
                        "env": {k: v for k, v in os.environ.items()},
                        "event_type": type(event).__name__,
                    })
            """
        },
        qualifier="prod",
        version_id="3",
    )
    request = InvokeRequest("req-1", b"{}", 5)
    result = await instance.invoke(request)
    data = json.loads(result.body)
    assert data["request_id"] == "req-1"
    assert data["event_type"] == "bytes"
    assert data["credentials"] == {
        "access_key_id": "STS.key",
        "access_key_secret": "secret",
        "security_token": "token",
    }
    assert data["function"] == {
        "name": "fn",
        "handler": "index.handler",
        "memory": 128,
        "timeout": 5,
        "initializer": "",
        "initialization_timeout": 3,
    }
    assert data["service"] == {
        "name": "svc",
        "log_project": "",
        "log_store": "",
        "qualifier": "prod",
        "version_id": "3",
    }
    assert (data["region"], data["account_id"], data["logger"]) == (
        "cn-hangzhou",
        "1234567890",
        "root",
    )
    env = data["env"]
    assert env["FC_FUNCTION_NAME"] == "fn"
    assert env["FC_QUALIFIER"] == "prod"
    assert env["FC_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["ALIBABA_CLOUD_ACCESS_KEY_ID"] == "STS.key"
    assert env["FC_INSTANCE_ID"] == instance.id
    assert env["USER_VAR"] == "1"
    assert "PYTHONDONTWRITEBYTECODE" not in env  # a clean environment, not the daemon's


async def test_dotted_module_handler(start: Starter) -> None:
    instance = await start(
        {"pkg/__init__.py": "", "pkg/mod.py": "def h(event, context):\n    return 'deep'\n"},
        handler="pkg.mod.h",
    )
    assert (await invoke(instance)).body == b"deep"


async def test_unhandled_error_json_and_log_lines(start: Starter) -> None:
    instance = await start(
        {
            "index.py": """
                import logging
                def handler(event, context):
                    print("printed")
                    logging.getLogger().info("hello world")
                    raise Exception('something is wrong')
            """
        }
    )
    result = await instance.invoke(InvokeRequest("rid-7", b"", 5))
    assert result.error_type == "UnhandledInvocationError"
    assert not result.instance_fatal
    error = json.loads(result.body)
    assert error["errorMessage"] == "something is wrong"
    assert error["errorType"] == "Exception"
    assert error["stackTrace"][-1][2:] == ["in handler", "raise Exception('something is wrong')"]
    lines = result.logs.decode().splitlines()
    assert lines[0] == "FC Invoke Start RequestId: rid-7"
    assert lines[1] == "printed"
    assert lines[2].endswith(" rid-7 [INFO] hello world")
    assert lines[2][:4].isdigit()
    assert lines[2][23] == "Z"
    assert lines[-1] == "FC Invoke End RequestId: rid-7, Error: Unhandled function error"
    assert ("rid-7", b"printed\n") in start.lines


async def test_exit_fails_the_request_and_ends_the_instance(start: Starter) -> None:
    instance = await start(
        {"index.py": "import os\ndef handler(event, context):\n    os._exit(3)\n"}
    )
    result = await invoke(instance)
    assert result.error_type == "UnhandledInvocationError"
    assert json.loads(result.body)["errorMessage"].startswith(
        "Process exited unexpectedly before completing request (duration: "
    )
    assert (result.instance_fatal, result.fatal_reason) == (True, "exited")
    assert not instance.alive


async def test_timeout_ends_the_request_and_the_instance(start: Starter) -> None:
    instance = await start(
        # sleeps past the timeout under test
        {"index.py": "import time\ndef handler(event, context):\n    time.sleep(30)\n"}
    )
    result = await invoke(instance, limit=0.5)
    assert json.loads(result.body)["errorMessage"].startswith(
        "Function timed out after 0.5 seconds"
    )
    assert (result.instance_fatal, result.fatal_reason) == (True, "timeout")
    assert 400 < result.duration_ms < 3000
    assert not instance.alive


async def test_import_error_is_a_start_failure_with_the_error_json(start: Starter) -> None:
    with pytest.raises(StartFailure) as failure:
        await start({"index.py": "import no_such_module\n"})
    assert failure.value.code == "InitializationError"
    assert json.loads(failure.value.body)["errorType"] == "ModuleNotFoundError"


async def test_failing_initializer_is_a_start_failure(start: Starter) -> None:
    files = {
        "index.py": "def init(context):\n    raise ValueError('no')\ndef handler(e, c):\n    pass\n"
    }
    with pytest.raises(StartFailure) as failure:
        await start(files, initializer="index.init")
    assert failure.value.code == "InitializationError"
    assert json.loads(failure.value.body)["errorMessage"] == "no"


async def test_concurrent_requests_keep_their_logs_apart(start: Starter) -> None:
    import asyncio

    instance = await start(
        {
            "index.py": """
                import time
                def handler(event, context):
                    for i in range(3):
                        print(event.decode(), i)
                        time.sleep(0.01)  # lets the concurrent requests' lines interleave
                    return event
            """
        },
        concurrency=4,
    )
    results = await asyncio.gather(*(invoke(instance, f"r{i}".encode()) for i in range(4)))
    for i, result in enumerate(results):
        body = [ln for ln in result.logs.decode().splitlines() if not ln.startswith("FC ")]
        assert body == [f"r{i} 0", f"r{i} 1", f"r{i} 2"]


async def test_pre_stop_hook_runs_on_stop(start: Starter) -> None:
    instance = await start(
        {
            "index.py": """
                def handler(event, context):
                    return "ok"
                def pre_stop(context):
                    print("stopping", context.request_id != "")
            """
        },
        pre_stop_handler="index.pre_stop",
    )
    await invoke(instance)
    await instance.stop()
    assert any(line == b"stopping True\n" for _, line in start.lines)
