"""The cgroup backend the host has, driven directly: limits hold, kills reach, groups go.

Run on whichever hierarchy the machine has; scripts/test-cgroup-v2 runs them on a v2-only
kernel with FCD_EXPECT_CGROUP=v2, where the first test proves the v2 backend was the one used.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from fcd.isolation import cgroup
from tests.sandbox.conftest import assert_expected_hierarchy

pytestmark = pytest.mark.root


@pytest.fixture
def group() -> Iterator[cgroup.Cgroup]:
    backend = cgroup.detect()
    assert backend is not None
    made = backend.create(f"sbx-{os.getpid()}-test-{uuid.uuid4().hex[:8]}")
    yield made
    made.kill_all()
    assert made.remove()


def join(group: cgroup.Cgroup, code: str) -> subprocess.Popen[bytes]:
    """A Python process that joins ``group`` before it runs ``code``."""
    joins = "".join(f"open({str(p)!r}, 'w').write(str(os.getpid()));" for p in group.procs_files())
    return subprocess.Popen(
        [sys.executable, "-c", f"import os;{joins}\n{code}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_the_expected_hierarchy_is_used() -> None:
    backend = cgroup.detect()
    assert backend is not None
    assert_expected_hierarchy(backend)
    assert f"v{backend.version}" == os.environ.get("FCD_EXPECT_CGROUP", f"v{backend.version}")


def test_memory_limit_kills_and_is_counted(group: cgroup.Cgroup) -> None:
    group.set_limits(cgroup.Limits(memory_mb=32))
    with join(group, "b = bytearray(256 << 20)\nprint('survived', flush=True)") as hog:
        out, _ = hog.communicate(timeout=60)
    assert hog.returncode == -9, out
    assert group.oom_kills() >= 1
    assert int(group.peak_memory_file().read_text().split()[0]) > 0


def test_pids_cap_stops_forks(group: cgroup.Cgroup) -> None:
    group.set_limits(cgroup.Limits(memory_mb=64, pids_max=8))
    code = (
        "import time\n"
        "n = 0\n"
        "try:\n"
        "    for _ in range(32):\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(60)\n"
        "            os._exit(0)\n"
        "        n += 1\n"
        "except OSError:\n"
        "    pass\n"
        "print(n, flush=True)\n"
        "time.sleep(60)\n"
    )
    with join(group, code) as forker:
        assert forker.stdout is not None
        forked = int(forker.stdout.readline())
        assert forked < 8
        pids = group.pids()
        assert forker.pid in pids
        assert len(pids) == forked + 1
        group.kill_all()
        wait_for(lambda: group.pids() == [])
        forker.wait(timeout=10)
    assert forker.returncode == -9
