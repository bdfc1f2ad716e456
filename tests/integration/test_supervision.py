"""A background loop that fails does not take the daemon down (DESIGN §8: every background
task is supervised).

The daemon runs as a real process with one planted fault (``tests/faulty_daemon.py``): the
loop raises once from inside; the daemon keeps serving invocations of every function, the
traceback is in its log, and the loop runs again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon
from tests.faulty_daemon import PLANTED, RAN_AGAIN

HANDLER = "def handler(event, context):\n    return 'ok ' + context.function.name\n"


def _wait_for(condition: Callable[[], bool], within: float = 30.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.parametrize(
    "loop",
    [
        pytest.param("refill", marks=pytest.mark.root),  # the pre-made pool exists in sandboxes
        "reaper",
    ],
)
def test_a_failing_background_loop_is_restarted_and_the_daemon_serves_on(
    tmp_path: Path, loop: str
) -> None:
    running: RunningDaemon = start_daemon(
        tmp_path / "data", argv=[sys.executable, "-m", "tests.faulty_daemon", loop]
    )
    try:
        client = make_client(running.endpoint)
        client.create_service("sup")
        code = tmp_path / "code"
        code.mkdir()
        (code / "index.py").write_text(HANDLER)
        for name in ("one", "two"):
            client.create_function("sup", name, "python3", "index.handler", codeDir=str(code))
        assert client.invoke_function("sup", "one").data == b"ok one"
        assert _wait_for(lambda: PLANTED in running.logs()), running.logs()
        logs = running.logs()
        assert "Traceback" in logs
        assert f"background loop {'isolation' if loop == 'refill' else 'instances'} failed" in logs
        assert _wait_for(lambda: RAN_AGAIN in running.logs()), running.logs()
        # Still serving: the function that ran, another one, and the management API.
        assert client.invoke_function("sup", "one").data == b"ok one"
        assert client.invoke_function("sup", "two").data == b"ok two"
        assert client.get_function("sup", "two").data["functionName"] == "two"
        assert running.process is not None
        assert running.process.poll() is None
    finally:
        status = running.stop()
    assert status == 0, running.logs()
