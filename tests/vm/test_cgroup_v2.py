"""The sandbox tests on a cgroup-v2-only kernel, in a VM (scripts/test-cgroup-v2).

This machine has cgroup v1, so the v2 backend is only exercised there. The VM is emulated
(TCG): ~12 s to boot, ~2 min for ``tests/sandbox -m root``; figures in docs/decisions.md.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "scripts" / "test-cgroup-v2"
# The script stops its VM after FCD_VM_TIMEOUT (780 s); this bounds the rest (install, boot).
TIMEOUT_S = 840


@pytest.mark.root
@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT_S + 30)
@pytest.mark.skipif("FCD_EXPECT_CGROUP" in os.environ, reason="already inside the VM")
def test_sandbox_tests_pass_on_cgroup_v2_only() -> None:
    with subprocess.Popen(
        [str(SCRIPT)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    ) as run:
        try:
            out, _ = run.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)  # the script, timeout and qemu
            out, _ = run.communicate()
    output = out.decode(errors="replace")
    assert run.returncode == 0, output
    # The v2 backend was the one used: this test passes in the VM only with FCD_EXPECT_CGROUP=v2.
    assert "PASSED tests/sandbox/test_cgroup.py::test_the_expected_hierarchy_is_used" in output, (
        output
    )
    # Only the unified hierarchy was mounted: no v1 hierarchy to fall back on.
    mounts = [line for line in output.splitlines() if line.startswith("fcd-vm: cgroup mounts:")]
    assert mounts == ["fcd-vm: cgroup mounts: cgroup2 /sys/fs/cgroup cgroup2;"], output
