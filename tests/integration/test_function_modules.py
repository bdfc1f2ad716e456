"""What a function can import: its code, its layers, the standard library and FC's preinstalled
packages, in that order, and nothing of the host's (docs/runtimes.md). Deployed with the
official SDK to a real daemon, in real sandboxes (root)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fc2
import pytest

from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon

pytestmark = pytest.mark.root

REPORT = """
import json, os, subprocess, sys

def handler(event, context):
    names = json.loads(event)
    found = {}
    for name in names:
        try:
            module = __import__(name)
            found[name] = [module.__file__, getattr(module, "__version__", "")]
        except ImportError as e:
            found[name] = [type(e).__name__, str(e)]
    # A python3 the function starts itself sees none of the host's packages either.
    child = subprocess.run(
        [sys.executable, "-c", "import yaml"], capture_output=True, text=True
    )
    return json.dumps({"found": found, "path": sys.path, "child": child.stderr})
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDaemon]:
    running = start_daemon(tmp_path_factory.mktemp("modules") / "data")
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(daemon: RunningDaemon) -> fc2.Client:
    made = make_client(daemon.endpoint)
    made.create_service("modules")
    return made


def deploy(client: fc2.Client, name: str, code: Path, runtime: str = "python3") -> None:
    client.create_function("modules", name, runtime, "index.handler", codeDir=str(code))


def report(client: fc2.Client, name: str, *modules: str) -> dict[str, object]:
    result = client.invoke_function("modules", name, payload=json.dumps(modules).encode())
    return json.loads(result.data)  # type: ignore[no-any-return]


def test_fc_preinstalled_packages_import_without_bundling(
    client: fc2.Client, tmp_path: Path
) -> None:
    (tmp_path / "index.py").write_text(REPORT)
    deploy(client, "preinstalled", tmp_path)
    seen = report(client, "preinstalled", "oss2", "fc2", "tablestore", "requests")
    found = seen["found"]
    assert isinstance(found, dict)
    for name in ("oss2", "fc2", "tablestore", "requests"):
        assert found[name][0].startswith("/var/fc/runtime/python/site/"), found[name]
    path = seen["path"]
    assert isinstance(path, list)
    assert path[0] == "/code"
    assert path.index("/opt/python") < path.index("/usr/lib/python3.11")
    assert path[-1] == "/var/fc/runtime/python/site"
    assert not [p for p in path if "dist-packages" in p or p.startswith("/usr/local")]


def test_host_only_packages_are_not_importable(client: fc2.Client, tmp_path: Path) -> None:
    """PyYAML is Debian's (python3-yaml) on this host: a function must not see it."""
    assert Path("/usr/lib/python3/dist-packages/yaml").is_dir(), "the host has no python3-yaml"
    (tmp_path / "index.py").write_text(REPORT)
    deploy(client, "host-only", tmp_path)
    seen = report(client, "host-only", "yaml", "matplotlib")
    found = seen["found"]
    assert isinstance(found, dict)
    assert found["yaml"][0] == "ModuleNotFoundError"
    assert found["matplotlib"][0] == "ModuleNotFoundError"
    assert "ModuleNotFoundError" in str(seen["child"])


def test_a_vendored_package_wins_over_the_preinstalled_one(
    client: fc2.Client, tmp_path: Path
) -> None:
    """requests installed into the code package from the index, at another version than the
    preinstalled 2.28.1: the function gets its own."""
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps"]
    subprocess.run(
        [*pip, "--target", str(tmp_path), "requests==2.31.0"],
        check=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    (tmp_path / "index.py").write_text(REPORT)
    deploy(client, "vendored", tmp_path)
    found = report(client, "vendored", "requests")["found"]
    assert isinstance(found, dict)
    assert found["requests"] == ["/code/requests/__init__.py", "2.31.0"]


ESM_HANDLER = """
import getRawBody from 'raw-body';
export const handler = async (event, context) => JSON.stringify({
  rawBody: typeof getRawBody,
  url: import.meta.resolve('raw-body'),
});
"""


@pytest.mark.parametrize("layout", ["mjs", "type-module"])
def test_an_esm_handler_imports_a_preinstalled_node_module(
    client: fc2.Client, tmp_path: Path, layout: str
) -> None:
    if layout == "mjs":
        (tmp_path / "index.mjs").write_text(ESM_HANDLER)
    else:
        (tmp_path / "index.js").write_text(ESM_HANDLER)
        (tmp_path / "package.json").write_text('{"type": "module"}')
    deploy(client, f"esm-{layout}", tmp_path, runtime="nodejs20")
    result = client.invoke_function("modules", f"esm-{layout}", payload=b"{}")
    assert result.headers.get("X-Fc-Error-Type") is None, result.data
    seen = json.loads(result.data)
    assert seen["rawBody"] == "function"
    assert seen["url"].startswith("file:///"), seen
    assert "/raw-body/" in seen["url"]
