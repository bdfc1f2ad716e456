"""Nothing outlives the daemon or a failed start.

A SIGKILLed owner takes its zygote and sandboxes along; a sandbox start that fails at any step
releases every piece it had made (cgroup, uid, descriptors, process); a function that cannot
load or initialise gets FC's error and leaves nothing either.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import pytest

from fcd import errors
from fcd.config import Config
from fcd.instances.instance import Isolation, StartFailure
from fcd.isolation import sandbox as sandbox_module
from fcd.isolation.sandbox import SandboxSpec, Watched
from tests.sandbox.conftest import (
    alive,
    eventually,
    leftovers,
    sandbox_groups,
    starter,
    write_code,
)
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


# -- a sandbox start that fails at any step leaves nothing behind ----------------------------


def _fail_on_call(original: Callable[..., Any], n: int, error: BaseException) -> Callable[..., Any]:
    """``original``, except that its ``n``-th call raises ``error``."""
    calls = 0

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == n:
            raise error
        return original(*args, **kwargs)

    return wrapper


def _async_fail_on_call(
    original: Callable[..., Awaitable[Any]], n: int, error: BaseException
) -> Callable[..., Awaitable[Any]]:
    calls = 0

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == n:
            raise error
        return await original(*args, **kwargs)

    return wrapper


def _failing_group_limits(isolation: Isolation, n: int) -> Callable[[str], Any]:
    """``backend.create`` whose groups' ``set_limits`` fails on its ``n``-th call overall."""
    assert isolation.backend is not None
    create = isolation.backend.create
    calls = 0

    def made(name: str) -> Any:
        group = create(name)
        set_limits = group.set_limits

        def limits(value: Any) -> None:
            nonlocal calls
            calls += 1
            if calls == n:
                raise PermissionError("planted: cannot write the limits")
            set_limits(value)

        group.set_limits = limits  # type: ignore[assignment]
        return group

    return made


FAULT = OSError(errno.EMFILE, "planted fault")

# Each step of a sandbox start (``Isolation._prepare`` then ``spawn``), failing in turn:
# (step, runtime, internet, how to plant the fault).
STEPS: list[tuple[str, str, bool, Callable[[pytest.MonkeyPatch, Isolation], None]]] = [
    (
        "uid",
        "python",
        False,
        lambda mp, iso: mp.setattr(
            iso, "_take_uid", _fail_on_call(iso._take_uid, 1, errors.ResourceExhausted("planted"))
        ),
    ),
    (
        "cgroup",
        "python",
        False,
        lambda mp, iso: mp.setattr(
            iso.backend,
            "create",
            _fail_on_call(iso.backend.create, 1, FAULT),  # type: ignore[union-attr]
        ),
    ),
    (
        "prepared-limits",
        "python",
        False,
        lambda mp, iso: mp.setattr(iso.backend, "create", _failing_group_limits(iso, 1)),
    ),
    (
        "control-socketpair",
        "python",
        False,
        lambda mp, iso: mp.setattr(
            socket, "socketpair", _fail_on_call(socket.socketpair, 1, FAULT)
        ),
    ),
    (
        "stdout-pipe",
        "python",
        False,
        lambda mp, iso: mp.setattr(os, "pipe", _fail_on_call(os.pipe, 1, FAULT)),
    ),
    (
        "stderr-pipe",
        "python",
        False,
        lambda mp, iso: mp.setattr(os, "pipe", _fail_on_call(os.pipe, 2, FAULT)),
    ),
    (
        "setup-socketpair",
        "exec",
        False,
        lambda mp, iso: mp.setattr(
            socket, "socketpair", _fail_on_call(socket.socketpair, 2, FAULT)
        ),
    ),
    (
        "fork",
        "python",
        False,
        lambda mp, iso: mp.setattr(
            iso.zygote, "fork", _async_fail_on_call(iso.zygote.fork, 1, FAULT)
        ),
    ),
    (
        "watch",
        "python",
        False,
        lambda mp, iso: mp.setattr(sandbox_module, "Watched", _fail_on_call(Watched, 1, FAULT)),
    ),
    (
        "prepared-frame",
        "exec",
        False,
        lambda mp, iso: mp.setattr(
            iso, "_await_prepared", _async_fail_on_call(iso._await_prepared, 1, FAULT)
        ),
    ),
    (
        "uplink",
        "python",
        True,
        lambda mp, iso: mp.setattr(
            iso.uplink, "attach", _async_fail_on_call(iso.uplink.attach, 1, FAULT)
        ),
    ),
    (
        "specialise-limits",
        "python",
        False,
        lambda mp, iso: mp.setattr(iso.backend, "create", _failing_group_limits(iso, 2)),
    ),
    (
        "specialise-frame",
        "exec",
        False,
        lambda mp, iso: mp.setattr(
            type(asyncio.get_running_loop()),
            "sock_sendall",
            _async_fail_on_call(asyncio.get_running_loop().sock_sendall, 1, FAULT),
        ),
    ),
]


def _open_fds() -> list[str]:
    return sorted(os.listdir("/proc/self/fd"))


@pytest.mark.root
@pytest.mark.parametrize(("step", "runtime", "internet", "plant"), STEPS, ids=[s[0] for s in STEPS])
async def test_a_failed_sandbox_start_leaves_nothing_behind(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    runtime: Literal["python", "exec"],
    internet: bool,
    plant: Callable[[pytest.MonkeyPatch, Isolation], None],
) -> None:
    isolation = Isolation.from_config(Config(), tmp_path / "data")
    code = write_code(tmp_path / "code", {"index.py": "def handler(e, c):\n    return 'x'\n"})
    spec = SandboxSpec("c-fault", 128, code, internet=internet)
    argv = [isolation.node, "/var/fc/runtime/nodejs/bootstrap.js"] if runtime == "exec" else []
    try:
        # One start first: the zygote (and for node the runtime's pool kind) exist before the
        # count of descriptors, so only what the failed start makes is compared.
        warm = await isolation.spawn(spec, runtime, argv, {})
        await warm.destroy()
        forked: list[int] = []
        fork = isolation.zygote.fork

        async def recording_fork(description: Any, fds: list[int]) -> int:
            pid = await fork(description, fds)
            forked.append(pid)
            return pid

        monkeypatch.setattr(isolation.zygote, "fork", recording_fork)
        fds_before = _open_fds()
        plant(monkeypatch, isolation)
        with pytest.raises((OSError, errors.ResourceExhausted)) as failure:
            await isolation.spawn(spec, runtime, argv, {})
        monkeypatch.undo()
        assert "planted" in str(failure.value), f"the fault at {step} was not reached"
        assert sandbox_groups(isolation) == [], f"cgroups left after a failure at {step}"
        assert isolation.uids_free == len(isolation.uids), f"uid kept after a failure at {step}"
        assert _open_fds() == fds_before, f"descriptors left open after a failure at {step}"
        assert await eventually(lambda: alive(forked) == []), f"process left at {step}"
    finally:
        await isolation.close()
    assert leftovers(isolation) == []


# -- a function that cannot start: FC's error, and nothing left behind -----------------------

PY_HANDLER = "def handler(event, context):\n    return 'ok'\n"
NODE_HANDLER = "exports.handler = (event, context, callback) => callback(null, 'ok');\n"
BROKEN: dict[str, dict[str, tuple[dict[str, str], dict[str, str]]]] = {
    "python3": {
        "syntax-error": ({"index.py": "def handler(event, context)\n    return 1\n"}, {}),
        "missing-handler": ({"index.py": "def other(event, context):\n    return 1\n"}, {}),
        "failing-initializer": (
            {"index.py": PY_HANDLER + "def init(context):\n    raise ValueError('no db')\n"},
            {"initializer": "index.init"},
        ),
    },
    "nodejs16": {
        "syntax-error": ({"index.js": "exports.handler = (event, context, cb => {\n"}, {}),
        "missing-handler": ({"index.js": "exports.other = (e, c, cb) => cb(null, 1);\n"}, {}),
        "failing-initializer": (
            {"index.js": NODE_HANDLER + "exports.init = (c, cb) => cb(new Error('no db'));\n"},
            {"initializer": "index.init"},
        ),
    },
}
CASES = [(runtime, case) for runtime, cases in BROKEN.items() for case in cases]


@pytest.mark.parametrize("mode", ["none", pytest.param("namespaces", marks=pytest.mark.root)])
@pytest.mark.parametrize(("runtime", "case"), CASES, ids=[f"{r}-{c}" for r, c in CASES])
async def test_a_function_that_cannot_start_gets_fc_error_and_leaves_nothing(
    tmp_path: Path, mode: str, runtime: str, case: str
) -> None:
    files, context_fields = BROKEN[runtime][case]
    good = {"index.py": PY_HANDLER} if runtime == "python3" else {"index.js": NODE_HANDLER}
    async with starter(mode, tmp_path) as start:
        # A good start and stop first: the zygote and the event loop's own descriptors exist
        # before the count, so only what the failed start made is compared.
        await (await start(good, runtime)).stop()
        start.started.clear()
        fds_before = _open_fds()
        zygote_children = _children(start.isolation)
        with pytest.raises(StartFailure) as failure:
            await start(files, runtime, **context_fields)
        # FC answers a function that cannot load or initialise like a function error: an
        # UnhandledInvocationError whose body is {"errorMessage", "errorType", ...}.
        assert failure.value.code == "InitializationError"
        body = json.loads(failure.value.body)
        assert body["errorMessage"]
        assert body["errorType"]
        assert sandbox_groups(start.isolation) == [], "the failed instance's cgroup is left"
        assert start.isolation.uids_free == len(start.isolation.uids), "its uid is kept"
        gone = await eventually(lambda: _children(start.isolation) == zygote_children)
        assert gone, "its process is left"
        assert _open_fds() == fds_before, "descriptors left open"


def _children(isolation: Isolation) -> set[int]:
    """The live children of the zygote (every sandbox init) or, without one, of this process."""
    process = isolation.zygote._process
    pid = process.pid if process is not None and process.returncode is None else os.getpid()
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(p) for p in text.split()}
