"""Fixtures that start real instances (isolation "none", and "namespaces" as root).

Every test ends by checking that nothing is left behind: no cgroup, no process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from fcd.config import Config
from fcd.instances.instance import Instance, Isolation
from fcd.isolation import cgroup
from fcd.model import FunctionContext, InstanceSpec, InvokeRequest, InvokeResult

ISOLATIONS = [
    "none",
    pytest.param("namespaces", marks=pytest.mark.root),
]


def write_code(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        path.chmod(0o755 if name == "bootstrap" else 0o644)
    return root


def context(**overrides: Any) -> FunctionContext:
    fields: dict[str, Any] = {
        "service_name": "svc",
        "function_name": "fn",
        "qualifier": "LATEST",
        "version_id": "",
        "handler": "index.handler",
        "memory_mb": 128,
        "timeout_s": 5,
        "initializer": "",
        "initialization_timeout_s": 3,
        "region": "cn-hangzhou",
        "account_id": "1234567890",
        "access_key_id": "STS.key",
        "access_key_secret": "secret",
        "security_token": "token",
    }
    fields.update(overrides)
    return FunctionContext(**fields)


def assert_expected_hierarchy(backend: cgroup.Backend | None) -> None:
    """With FCD_EXPECT_CGROUP=v1 or v2 (the cgroup v2 VM sets it), sandboxes must use that."""
    expected = os.environ.get("FCD_EXPECT_CGROUP", "")
    if expected:
        assert backend is not None, "no cgroup backend"
        assert f"v{backend.version}" == expected, f"expected cgroup {expected}, got {backend!r}"


@dataclass
class Starter:
    isolation: Isolation
    base: Path
    started: list[Instance] = field(default_factory=list)
    lines: list[tuple[str, bytes]] = field(default_factory=list)

    async def __call__(
        self, files: dict[str, str], runtime: str = "python3", **kw: Any
    ) -> Instance:
        code = write_code(self.base / uuid.uuid4().hex[:8], files)
        ctx_fields = {k: kw.pop(k) for k in list(kw) if k in FunctionContext.__dataclass_fields__}
        spec = InstanceSpec(
            instance_id="c-" + uuid.uuid4().hex[:16],
            runtime=runtime,
            code_dir=code,
            layer_dirs=kw.pop("layer_dirs", ()),
            environment=kw.pop("environment", {"USER_VAR": "1"}),
            context=context(**ctx_fields),
            internet_access=kw.pop("internet_access", False),
            **kw,
        )
        instance = await Instance.start(spec, self.isolation, self._log)
        self.started.append(instance)
        return instance

    def _log(self, request_id: str, line: bytes) -> None:
        self.lines.append((request_id, line))


async def invoke(instance: Instance, payload: bytes = b"", limit: float = 5) -> InvokeResult:
    return await instance.invoke(InvokeRequest(str(uuid.uuid4()), payload, limit))


@contextlib.asynccontextmanager
async def starter(
    mode: str, tmp_path: Path, config: Config | None = None
) -> AsyncIterator[Starter]:
    config = msgspec.structs.replace(config or Config(), isolation=mode)
    isolation = Isolation.from_config(config, tmp_path / "data")
    if mode == "namespaces":
        assert_expected_hierarchy(isolation.backend)
    starter = Starter(isolation, tmp_path / "code")
    try:
        yield starter
    finally:
        pids = [i.sandbox.pid for i in starter.started]
        for instance in starter.started:
            await instance.stop()
        await isolation.close()
    alive = [pid for pid in pids if Path(f"/proc/{pid}").exists()]  # noqa: ASYNC240
    assert alive == [], "a process outlived its instance"
    assert leftovers(isolation) == [], "cgroups left behind"
    assert isolation.uids_free == len(isolation.uids), "uids not returned"


def sandbox_groups(isolation: Isolation) -> list[Path]:
    """The sandbox cgroups of ``isolation`` that exist now (every hierarchy)."""
    backend = isolation.backend
    if backend is None:
        return []
    parents = [p for p in backend.parents() if p.exists()]
    return sorted(g for parent in parents for g in parent.iterdir() if g.is_dir())


def leftovers(isolation: Isolation) -> list[str]:
    """What a closed ``isolation`` left in the cgroup trees: its parent groups (which close
    removes, and cannot while a sandbox group is still in them) and those sandbox groups."""
    backend = isolation.backend
    if backend is None:
        return []
    left = [str(p) for p in backend.parents() if p.exists()]
    return left + [str(g) for g in sandbox_groups(isolation)]


@pytest.fixture(params=ISOLATIONS)
async def start(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Starter]:
    """Starts instances under each isolation mode in turn."""
    async with starter(request.param, tmp_path) as s:
        yield s


@pytest.fixture
async def sandboxed(tmp_path: Path) -> AsyncIterator[Starter]:
    """Starts instances in real sandboxes (tests using it are marked root)."""
    async with starter("namespaces", tmp_path) as s:
        yield s


Start = Callable[..., Any]


def alive(pids: list[int]) -> list[int]:
    return [pid for pid in pids if Path(f"/proc/{pid}").exists()]


async def eventually(condition: Callable[[], bool], within: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``within`` seconds have passed; whether it held."""
    deadline = time.monotonic() + within
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
