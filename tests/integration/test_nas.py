"""nasConfig: an export the operator maps in [nas] exports, bind-mounted read-write at mountDir.

The functions of a service with nasConfig run as its userId/groupId (FC: "all functions of the
service run as userId/groupId"), so the files they create belong to those ids on the host.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import fc2
import pytest
from fc2.fc_exceptions import FcError

from tests.conftest import make_client
from tests.daemon import RunningDaemon, start_daemon

SERVER = "012345-abc.cn-hangzhou.nas.aliyuncs.com"
UID, GID = 10003, 10004

NAS_CODE = """
import json, os

def handler(event, context):
    op, _, text = event.decode().partition(":")
    if op == "write":
        with open("/mnt/nas/x", "w") as f:
            f.write(text)
        return json.dumps({"uid": os.getuid(), "gid": os.getgid()})
    if op == "read":
        with open("/mnt/nas/x") as f:
            return f.read()
    return json.dumps({"exists": os.path.exists("/mnt/nas")})
"""

# A node function of the same service: node runs as the configured ids too.
NODE_CODE = """
const fs = require('fs');
exports.handler = (event, context, callback) => callback(null, JSON.stringify({
  text: fs.readFileSync('/mnt/nas/x', 'utf8'), uid: process.getuid(), gid: process.getgid(),
}));
"""


@pytest.fixture(scope="module")
def share(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("nas") / "share"
    directory.mkdir()
    if os.geteuid() == 0:
        os.chown(directory, UID, GID)  # the operator gives the export to the service's ids
    return directory


@pytest.fixture(scope="module")
def nas_daemon(tmp_path_factory: pytest.TempPathFactory, share: Path) -> Iterator[RunningDaemon]:
    base = tmp_path_factory.mktemp("fcd-nas")
    config = base / "fcd.toml"
    config.write_text(f'[nas]\nexports = {{ "{SERVER}:/share" = "{share}" }}\n')
    running = start_daemon(base / "data", args=("--config", str(config)))
    yield running
    assert running.stop() == 0, running.logs()


@pytest.fixture
def nas_client(nas_daemon: RunningDaemon) -> fc2.Client:
    return make_client(nas_daemon.endpoint)


def nas_config(server_addr: str, user_id: int = UID, group_id: int = GID) -> dict[str, object]:
    return {
        "userId": user_id,
        "groupId": group_id,
        "mountPoints": [{"serverAddr": server_addr, "mountDir": "/mnt/nas"}],
    }


def make_function(client: fc2.Client, service: str, name: str, tmp_path: Path) -> None:
    code = tmp_path / name
    code.mkdir()
    (code / "index.py").write_text(NAS_CODE)
    client.create_function(service, name, "python3", "index.handler", codeDir=str(code))


def invoke(client: fc2.Client, service: str, function: str, payload: str) -> str:
    response = client.invoke_function(service, function, payload=payload)
    assert "x-fc-error-type" not in response.headers, response.data
    return str(response.data.decode())


@pytest.mark.root
def test_two_functions_share_files_owned_by_the_configured_ids(
    nas_client: fc2.Client, share: Path, tmp_path: Path, unique: str
) -> None:
    service = f"nas_{unique}"
    nas_client.create_service(service, nasConfig=nas_config(f"{SERVER}:/share/"))
    make_function(nas_client, service, "a", tmp_path)
    make_function(nas_client, service, "b", tmp_path)

    ids = json.loads(invoke(nas_client, service, "a", f"write:{unique}"))
    assert ids == {"uid": UID, "gid": GID}
    assert invoke(nas_client, service, "b", "read") == unique
    node = tmp_path / "node"
    node.mkdir()
    (node / "index.js").write_text(NODE_CODE)
    nas_client.create_function(service, "n", "nodejs18", "index.handler", codeDir=str(node))
    assert json.loads(invoke(nas_client, service, "n", "")) == {
        "text": unique,
        "uid": UID,
        "gid": GID,
    }
    stat = (share / "x").stat()
    assert (stat.st_uid, stat.st_gid) == (UID, GID)


@pytest.mark.root
def test_a_service_without_nas_config_has_no_mount(
    nas_client: fc2.Client, tmp_path: Path, unique: str
) -> None:
    service = f"nonas_{unique}"
    nas_client.create_service(service)
    make_function(nas_client, service, "c", tmp_path)
    assert json.loads(invoke(nas_client, service, "c", "look")) == {"exists": False}


def test_an_unmapped_address_or_a_host_id_is_refused(nas_client: fc2.Client, unique: str) -> None:
    service = f"nasbad_{unique}"
    with pytest.raises(FcError) as unmapped:
        nas_client.create_service(service, nasConfig=nas_config(f"{SERVER}:/other"))
    assert unmapped.value.status_code == 400
    assert unmapped.value.err_code == "InvalidArgument"
    assert "[nas] exports" in unmapped.value.message
    for user_id in (0, 1000, 65534):
        with pytest.raises(FcError) as host_id:
            nas_client.create_service(service, nasConfig=nas_config(f"{SERVER}:/share", user_id))
        assert host_id.value.status_code == 400
    nas_client.create_service(service)
    with pytest.raises(FcError) as update:
        nas_client.update_service(service, nasConfig=nas_config("10.0.0.1:/nfs"))
    assert update.value.status_code == 400
    assert nas_client.get_service(service).data["nasConfig"]["mountPoints"] == []
