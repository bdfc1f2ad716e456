"""A synchronous invocation's result is bounded like its payload (``limits.sync_payload``).

A function that returns more gets an error that names the limit (``X-Fc-Error-Type`` and
FC's error JSON with ``ResultTooLargeError``), not a generic crash, and its instance keeps
serving: a result past the frame limit of the runtime protocol (64 MiB) is dropped as it
streams in rather than breaking the instance's channel. The daemon here has a 1 MiB limit so
the test moves little data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from fcd.instances.protocol import MAX_PAYLOAD
from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon
from tests.integration.test_invoke import write_code
from tests.signed_http import fc_request

LIMIT = 1024 * 1024  # the test daemon's limits.sync_payload

SIZED = """
def handler(event, context):
    return b"x" * int(event)
"""


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    base = tmp_path_factory.mktemp("result")
    config = base / "fcd.toml"
    config.write_text(f"[limits]\nsync_payload = {LIMIT}\n")
    running = start_daemon(base / "data", config)
    yield running
    assert running.stop() == 0, running.logs()


def test_a_result_over_the_limit_names_it(
    small: RunningDaemon, unique: str, tmp_path: Path
) -> None:
    client = make_client(small.endpoint)
    service = f"result_{unique}"
    client.create_service(service)
    client.create_function(
        service,
        "sized",
        "python3",
        "index.handler",
        codeDir=write_code(tmp_path, SIZED),
        memorySize=512,
        timeout=60,
    )

    path = f"/2016-08-15/services/{service}/functions/sized/invocations"

    def invoke(size: int) -> requests.Response:
        return fc_request(small.endpoint, "POST", path, str(size).encode())

    exact = invoke(LIMIT)
    assert exact.status_code == 200
    assert "x-fc-error-type" not in exact.headers
    assert len(exact.content) == LIMIT
    instance = exact.headers["x-fc-instance-id"]

    for size in (LIMIT + 1, MAX_PAYLOAD + 1):
        over = invoke(size)
        assert over.headers["x-fc-error-type"] == "UnhandledInvocationError"
        error = over.json()
        assert error["errorType"] == "ResultTooLargeError"
        assert f"{size} bytes" in error["errorMessage"]
        assert str(LIMIT) in error["errorMessage"]
        # Not a crash: the same instance answers the next request.
        again = invoke(10)
        assert again.content == b"x" * 10
        assert again.headers["x-fc-instance-id"] == instance
