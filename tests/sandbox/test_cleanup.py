"""Nothing outlives the daemon: a SIGKILLed owner takes its zygote and sandboxes along."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.waiting import wait_until

OWNER = """
import asyncio, sys, uuid
from pathlib import Path
from fcd.config import Config
from fcd.instances.instance import Instance, Isolation
from tests.sandbox.conftest import context, write_code
from fcd.model import InstanceSpec

async def main():
    base = Path(sys.argv[2])
    isolation = Isolation.from_config(Config(isolation=sys.argv[1]), base / "data")
    code = write_code(base / "code", {"index.py": "def handler(e, c):\\n    return 'x'\\n"})
    spec = InstanceSpec("c-" + uuid.uuid4().hex[:12], "python3", code, (), {}, context())
    instance = await Instance.start(spec, isolation, lambda *a: None)
    print(instance.sandbox.pid, isolation.zygote._process.pid, flush=True)
    await asyncio.Event().wait()  # until the test SIGKILLs this owner

asyncio.run(main())
"""


@pytest.mark.parametrize("mode", ["none", pytest.param("namespaces", marks=pytest.mark.root)])
def test_killed_owner_leaves_no_process(mode: str, tmp_path: Path) -> None:
    owner = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(OWNER), mode, str(tmp_path)],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).parents[2],
    )
    assert owner.stdout is not None
    pids = [int(p) for p in owner.stdout.readline().split()]
    owner.stdout.close()
    assert len(pids) == 2
    assert all(Path(f"/proc/{p}").exists() for p in pids)
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    wait_until(
        lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 5, "its processes to end"
    )
