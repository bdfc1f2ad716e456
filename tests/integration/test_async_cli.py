"""``fcctl invoke`` (sync and --async) and ``fcctl async list|get|stop`` against the daemon."""

from __future__ import annotations

import json
import time
from pathlib import Path

import fc2

from tests.integration.test_async import HANDLER, stateful
from tests.integration.test_cli import as_json, env, fcctl
from tests.integration.test_invoke import write_code

__all__ = ["env"]  # the fixture


def test_fcctl_invoke_and_async_commands(
    client: fc2.Client, env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    service = f"acli_{unique}"
    client.create_service(service)
    code = write_code(tmp_path, HANDLER)
    client.create_function(service, "work", "python3", "index.handler", codeDir=code)
    client.publish_version(service)
    stateful(client, service, "work")

    # sync, event from stdin, log tail on stderr, --qualifier
    done = fcctl(
        env,
        "invoke",
        f"{service}/work",
        "--qualifier",
        "1",
        "--event-file",
        "-",
        "--tail",
        stdin="from-stdin",
    )
    assert done.stdout == "echo:from-stdin"
    assert "ran" in done.stderr
    assert "FC Invoke Summary" in done.stderr

    queued = as_json(env, "invoke", f"{service}/work", "--async", "--event", "sleep:0.1")
    assert isinstance(queued, dict)
    invocation_id = queued["invocationId"]
    assert invocation_id == queued["requestId"]
    deadline = time.monotonic() + 20
    while (got := as_json(env, "async", "get", f"{service}/work", invocation_id))["status"] != (
        "Succeeded"
    ):
        assert time.monotonic() < deadline, got
        time.sleep(0.2)
    assert isinstance(got, dict)
    assert got["returnPayload"] == "slept"
    table = fcctl(env, "async", "list", f"{service}/work", "--status", "Succeeded").stdout
    assert invocation_id in table
    assert "Succeeded" in table
    listed = as_json(env, "async", "list", f"{service}/work", "--payload", "--asc")
    assert isinstance(listed, list)
    assert [i["invocationPayload"] for i in listed] == ["sleep:0.1"]
    refused = fcctl(env, "async", "stop", f"{service}/work", invocation_id, status=1)
    assert "InvalidArgument" in refused.stderr

    text = fcctl(env, "invoke", f"{service}/work", "--async", "--event", "sleep:5").stdout
    second = text.split("invocation id ")[1].split()[0]
    assert "stopped" in fcctl(env, "async", "stop", f"{service}/work", second).stdout
    shown = json.loads(fcctl(env, "async", "get", f"{service}/work", second, "--json").stdout)
    assert shown["status"] == "Stopped"
