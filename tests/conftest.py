"""Shared fixtures: a real daemon process and the official Python SDK pointed at it."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import fc2
import pytest

from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, RunningDaemon, start_daemon


@pytest.fixture(scope="session")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    """One daemon for the whole session; tests use unique resource names to stay apart."""
    running = start_daemon(tmp_path_factory.mktemp("fcd") / "data")
    yield running
    code = running.stop()
    assert code == 0, f"fcd exited with {code} on SIGTERM:\n{running.logs()}"


@pytest.fixture
def fresh_daemon(tmp_path: Path) -> Iterator[RunningDaemon]:
    """A daemon of the test's own, for restart and crash tests."""
    running = start_daemon(tmp_path / "data")
    yield running
    running.kill()


def make_client(endpoint: str) -> fc2.Client:
    return fc2.Client(
        endpoint=endpoint, accessKeyID=ACCESS_KEY_ID, accessKeySecret=ACCESS_KEY_SECRET
    )


@pytest.fixture
def client(daemon: RunningDaemon) -> fc2.Client:
    return make_client(daemon.endpoint)


@pytest.fixture
def unique() -> str:
    """A short unique suffix for resource names."""
    return uuid.uuid4().hex[:10]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``root`` tests need real namespaces and cgroups: skipped with a reason when not root,
    unless FCD_REQUIRE_ROOT=1 (as .ci/run sets), where running them is mandatory."""
    if os.geteuid() == 0 or os.environ.get("FCD_REQUIRE_ROOT") == "1":
        return
    skip = pytest.mark.skip(reason="needs root for namespaces and cgroups")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)
