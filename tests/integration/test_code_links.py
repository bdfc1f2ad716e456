"""Code packages with symlinks run as FC unpacks them: links resolve inside the sandbox only.

Build output often links to system files (``bin/node -> /usr/bin/node``); FC keeps such links.
fcd keeps them too, and the test shows why that is safe: inside the sandbox an absolute link or
one that climbs out of /code lands in the sandbox's own root, never in the host's data dir.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import fc2
import pytest

from tests.daemon import RunningDaemon

HANDLER = """
import json, os, subprocess

def handler(event, context):
    python = subprocess.run(["/code/bin/py", "-c", "print(6 * 7)"], capture_output=True)
    return json.dumps({
        "python": python.stdout.decode().strip(),
        "data_dir_seen": os.path.exists("/code/data"),
        "up_is_root": sorted(os.listdir("/code/up")) == sorted(os.listdir("/")),
    })
"""


@pytest.mark.root
def test_links_in_a_code_package_resolve_inside_the_sandbox(
    client: fc2.Client, daemon: RunningDaemon, tmp_path: Path, unique: str
) -> None:
    code = tmp_path / "code"
    (code / "bin").mkdir(parents=True)
    (code / "index.py").write_text(HANDLER)
    os.symlink("/usr/bin/python3", code / "bin" / "py")  # absolute, as build output writes it
    os.symlink(str(daemon.data_dir), code / "data")  # the host's secrets, were it followed
    os.symlink("../../..", code / "up")  # climbs out of /code: the sandbox's root

    service = f"links-{unique}"
    client.create_service(service)
    # fc2 zips the directory with its links kept (fc2.util.zip_dir), as a user's deploy does.
    client.create_function(service, "fn", "python3", "index.handler", codeDir=str(code))
    result = json.loads(client.invoke_function(service, "fn", payload=b"").data)

    assert result == {"python": "42", "data_dir_seen": False, "up_is_root": True}
    # The daemon kept the links as written and never followed them on the host.
    unpacked = list((daemon.data_dir / "unpacked").glob("*/data"))
    assert [os.readlink(p) for p in unpacked] == [str(daemon.data_dir)]
