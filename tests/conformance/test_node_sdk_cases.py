"""Point 8: the node half of the corpus through the official Node SDK (``@alicloud/fc2``):
``node/conformance.test.js`` deploys the ``node_*`` functions with createService/createFunction
(code as the base64 zip of each directory) and checks them over HTTP.

This module is the build step a user runs before deploying: it zips each directory, and for the
express custom runtime first puts express and its dependencies into the package's
``node_modules`` (copied from tests/node/node_modules, as ``npm install`` would lay them out).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.conformance.conftest import FUNCTIONS
from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, REGION, RunningDaemon

HERE = Path(__file__).parent
NODE_MODULES = HERE.parent / "node" / "node_modules"
NODE_FUNCTIONS = (
    "node_callback", "node_async", "node_esm", "node_http", "node_lifecycle", "node_express"
)  # fmt: skip

pytestmark = [pytest.mark.node, pytest.mark.root]


def _dependencies(package: str) -> set[str]:
    """``package`` and everything it depends on, from the flat node_modules npm installed."""
    seen: set[str] = set()
    todo = [package]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        manifest = json.loads((NODE_MODULES / name / "package.json").read_text())
        todo.extend(manifest.get("dependencies", {}))
    return seen


def _npm_install(directory: Path) -> None:
    """What ``npm install`` leaves in ``directory``: its dependencies under node_modules."""
    manifest = json.loads((directory / "package.json").read_text())
    for name in sorted(set().union(*map(_dependencies, manifest["dependencies"]))):
        shutil.copytree(NODE_MODULES / name, directory / "node_modules" / name, symlinks=False)


def _zip(directory: Path, target: Path) -> None:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            archive.write(path, path.relative_to(directory).as_posix())


def test_node_functions_through_the_node_sdk(daemon: RunningDaemon, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "@alicloud" / "fc2").is_dir():
        pytest.skip("needs node and @alicloud/fc2: run scripts/install-test-deps")
    zips = tmp_path / "zips"
    zips.mkdir()
    for name in NODE_FUNCTIONS:
        build = tmp_path / "build" / name
        shutil.copytree(FUNCTIONS / name, build)
        if (build / "package.json").is_file():
            _npm_install(build)
        _zip(build, zips / f"{name}.zip")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "ENDPOINT": daemon.endpoint,
        "ACCOUNT_ID": ACCOUNT_ID,
        "ACCESS_KEY_ID": ACCESS_KEY_ID,
        "ACCESS_KEY_SECRET": ACCESS_KEY_SECRET,
        "REGION": REGION,
        "CORPUS_ZIPS": str(zips),
    }
    done = subprocess.run(
        [node, "--test", "--test-reporter=tap", str(HERE / "node" / "conformance.test.js")],
        cwd=HERE / "node",
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"node --test failed:\n{report}\n--- daemon log ---\n{daemon.logs()[-5000:]}"
    )
    passed = re.search(r"^# pass (\d+)$", report, re.M)
    assert passed, report
    assert int(passed.group(1)) == len(NODE_FUNCTIONS), report
