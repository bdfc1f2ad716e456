"""The conformance corpus's fixtures: functions from ``functions/`` deployed on the session
daemon through the official SDK (``fc2``), and the calls the SDK has no method for (layers,
``customRuntimeConfig``, function logs) as signed HTTP in the shapes the Node SDK sends."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import fc2
import pytest

from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, RunningDaemon
from tests.signed_http import api_call

FUNCTIONS = Path(__file__).parent / "functions"
ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def code_dir(name: str) -> str:
    """A function's directory in the corpus, as ``codeDir`` for the SDK."""
    path = FUNCTIONS / name
    assert path.is_dir(), f"no function {name} in {FUNCTIONS}"
    return str(path)


def built(name: str, into: Path, *requirements: str) -> str:
    """A function's directory as a user's build leaves it: copied, with ``requirements``
    ``pip install -t``-ed beside the code (what FC's docs tell users to do before zipping)."""
    target = into / name.replace("/", "_")
    shutil.copytree(code_dir(name), target)
    if requirements:
        pip = [sys.executable, "-m", "pip", "install", "-q", "--no-compile", "-t", str(target)]
        done = subprocess.run(
            [*pip, *requirements], capture_output=True, text=True, timeout=300, check=False
        )
        assert done.returncode == 0, f"pip install {requirements}: {done.stdout}\n{done.stderr}"
    return str(target)


@pytest.fixture
def service(client: fc2.Client, unique: str) -> str:
    name = f"conf_{unique}"
    client.create_service(name, description="conformance")
    return name


def wait_for(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 30) -> T:
    """Poll ``read`` until ``done`` holds; the last value otherwise (the assert shows it)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.1)
        value = read()
    return value


def function_logs(daemon: RunningDaemon, service: str, function: str, **query: str) -> list[Any]:
    """GetFunctionLogs (fcd's route 101, what ``fcctl logs`` reads)."""
    suffix = "".join(f"&{k}={v}" for k, v in query.items()).replace("&", "?", 1)
    response = api_call(daemon, "GET", f"/services/{service}/functions/{function}/logs{suffix}")
    assert response.status_code == 200, response.text
    logs: list[Any] = response.json()["logs"]
    return logs


def log_text(daemon: RunningDaemon, service: str, function: str, **query: str) -> str:
    return "\n".join(line["message"] for line in function_logs(daemon, service, function, **query))


def fcctl(daemon: RunningDaemon, tmp_path: Path, *args: str) -> str:
    """Run this checkout's fcctl as the operator would; its output (exit status 0 asserted).

    Run as ``python -c`` from the checkout so the fcd package is this one, whatever the venv's
    ``fcctl`` script was installed from.
    """
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "FCCTL_CONFIG": str(tmp_path / "fcctl-config"),
        "FCCTL_ENDPOINT": daemon.endpoint,
        "ALIBABA_CLOUD_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
    }
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from fcd.cli import main; sys.exit(main())", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"fcctl {' '.join(args)}: {done.stdout}\n{done.stderr}"
    return done.stdout
