"""Layers over raw signed requests, in the shapes the Node SDK (@alicloud/fc2) sends: the Python
SDK has no layer methods. Functions use them by either ARN form."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import fc2
import pytest
import requests

from fcd.store.code import crc64
from tests.daemon import ACCOUNT_ID, REGION, RunningDaemon
from tests.fc_errors import assert_fc_error
from tests.integration.test_functions import HELLO, make_zip, zip_b64
from tests.signed_http import API, api_call, fc_request


def publish(daemon: RunningDaemon, name: str, files: dict[str, str], **extra: Any) -> Any:
    payload = {
        "code": {"zipFile": zip_b64(files)},
        "description": extra.pop("description", "a layer"),
        "compatibleRuntime": extra.pop("compatibleRuntime", ["python3", "python3.9"]),
        **extra,
    }
    response = api_call(daemon, "POST", f"/layers/{name}/versions", payload)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def layer(daemon: RunningDaemon, unique: str) -> Iterator[str]:
    """A layer name; every version left at the end is deleted."""
    name = f"layer_{unique}"
    yield name
    response = api_call(daemon, "GET", f"/layers/{name}/versions?limit=100")
    for version in response.json().get("layers", []) if response.ok else []:
        api_call(daemon, "DELETE", f"/layers/{name}/versions/{version['version']}")


def test_publish_get_and_download(daemon: RunningDaemon, layer: str) -> None:
    files = {"python/util.py": "X = 1\n"}
    published = publish(daemon, layer, files, description="first")
    data = make_zip(files)
    assert published["layerName"] == layer
    assert published["version"] == 1
    assert published["description"] == "first"
    assert published["compatibleRuntime"] == ["python3", "python3.9"]
    assert published["codeSize"] == len(data)
    assert published["codeChecksum"] == str(crc64(data))
    assert published["acl"] == 0
    assert published["createTime"]
    assert published["arnV2"] == f"acs:fc:{REGION}:{ACCOUNT_ID}:layers/{layer}/versions/1"
    hash_, name, version = published["arn"].split("#")
    assert (len(hash_), name, version) == (32, layer, "1")
    assert "codeSha256" not in published
    assert published["code"]["repositoryType"] == "OSS"
    assert requests.get(published["code"]["location"], timeout=10).content == data

    got = api_call(daemon, "GET", f"/layers/{layer}/versions/1")
    assert got.status_code == 200
    assert got.headers["ETag"]
    expected = {k: v for k, v in published.items() if k != "code"}
    assert {k: v for k, v in got.json().items() if k != "code"} == expected
    for arn in (published["arnV2"], published["arn"]):
        # The Node SDK sends the ARN through encodeURIComponent.
        by_arn = api_call(daemon, "GET", "/layerarn/" + quote(arn, safe=""))
        assert by_arn.status_code == 200, by_arn.text
        assert by_arn.json()["version"] == 1


def test_versions_are_never_reused_and_lists_follow(daemon: RunningDaemon, layer: str) -> None:
    for i in range(3):
        assert publish(daemon, layer, {f"f{i}.txt": str(i)})["version"] == i + 1

    page = api_call(daemon, "GET", f"/layers/{layer}/versions?startVersion=1&limit=2").json()
    assert [v["version"] for v in page["layers"]] == [1, 2]
    assert page["nextVersion"] == 3
    page = api_call(daemon, "GET", f"/layers/{layer}/versions?startVersion=3&limit=2").json()
    assert [v["version"] for v in page["layers"]] == [3]
    assert "nextVersion" not in page

    deleted = api_call(daemon, "DELETE", f"/layers/{layer}/versions/3")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_fc_error(api_call(daemon, "GET", f"/layers/{layer}/versions/3"), 404, "LayerNotFound")
    assert_fc_error(api_call(daemon, "DELETE", f"/layers/{layer}/versions/3"), 404, "LayerNotFound")
    listed = api_call(daemon, "GET", f"/layers?prefix={layer}").json()["layers"]
    assert [(lay["layerName"], lay["version"]) for lay in listed] == [(layer, 2)]

    assert publish(daemon, layer, {"f.txt": "again"})["version"] == 4
    listed = api_call(daemon, "GET", f"/layers?prefix={layer}").json()["layers"]
    assert [lay["version"] for lay in listed] == [4]


def test_list_layers_pages_by_name(daemon: RunningDaemon, unique: str) -> None:
    names = [f"pg_{unique}_{suffix}" for suffix in ("a", "b", "c")]
    for name in names:
        publish(daemon, name, {"x": name})
    first = api_call(daemon, "GET", f"/layers?prefix=pg_{unique}_&limit=2").json()
    assert [lay["layerName"] for lay in first["layers"]] == names[:2]
    rest = api_call(
        daemon, "GET", f"/layers?prefix=pg_{unique}_&limit=2&nextToken={first['nextToken']}"
    ).json()
    assert [lay["layerName"] for lay in rest["layers"]] == names[2:]
    assert "nextToken" not in rest
    start = api_call(daemon, "GET", f"/layers?prefix=pg_{unique}_&startKey={names[1]}").json()
    assert [lay["layerName"] for lay in start["layers"]] == names[1:]
    assert api_call(daemon, "GET", "/layers?official=true").json() == {"layers": []}
    for name in names:
        assert api_call(daemon, "DELETE", f"/layers/{name}/versions/1").status_code == 204
    assert api_call(daemon, "GET", f"/layers?prefix=pg_{unique}_").json() == {"layers": []}


def test_acl(daemon: RunningDaemon, layer: str) -> None:
    publish(daemon, layer, {"a": "1"})
    public = api_call(daemon, "GET", f"/layers?public=true&prefix={layer}").json()["layers"]
    assert public == []
    response = fc_request(daemon.endpoint, "PUT", f"{API}/layers/{layer}/acl?public=true")
    assert response.status_code == 200
    assert api_call(daemon, "GET", f"/layers/{layer}/versions/1").json()["acl"] == 1
    public = api_call(daemon, "GET", f"/layers?public=true&prefix={layer}").json()["layers"]
    assert [lay["layerName"] for lay in public] == [layer]
    assert publish(daemon, layer, {"a": "2"})["acl"] == 1  # new versions inherit the ACL
    bad = fc_request(daemon.endpoint, "PUT", f"{API}/layers/{layer}/acl?public=maybe")
    assert "public" in assert_fc_error(bad, 400, "InvalidArgument")["ErrorMessage"]
    missing = fc_request(daemon.endpoint, "PUT", f"{API}/layers/no_such_layer_x/acl?public=true")
    assert_fc_error(missing, 404, "LayerNotFound")


@pytest.mark.parametrize(
    ("name", "payload", "field"),
    [
        (
            "1bad",
            {"code": {"zipFile": zip_b64({"a": "1"})}, "compatibleRuntime": ["python3"]},
            "layerName",
        ),
        ("ok", {"compatibleRuntime": ["python3"]}, "code"),
        ("ok", {"code": {"zipFile": zip_b64({"a": "1"})}}, "compatibleRuntime"),
        (
            "ok",
            {"code": {"zipFile": zip_b64({"a": "1"})}, "compatibleRuntime": ["cobol"]},
            "compatibleRuntime",
        ),
        (
            "ok",
            {"code": {"zipFile": zip_b64({"../a": "1"})}, "compatibleRuntime": ["python3"]},
            "outside",
        ),
        (
            "ok",
            {
                "code": {"ossBucketName": "b", "ossObjectName": "o"},
                "compatibleRuntime": ["python3"],
            },
            "OSS",
        ),
    ],
)
def test_invalid_publish(daemon: RunningDaemon, name: str, payload: Any, field: str) -> None:
    response = api_call(daemon, "POST", f"/layers/{name}/versions", payload)
    assert field in assert_fc_error(response, 400, "InvalidArgument")["ErrorMessage"]


def test_missing_layers(daemon: RunningDaemon) -> None:
    assert_fc_error(api_call(daemon, "GET", "/layers/none_here/versions/1"), 404, "LayerNotFound")
    assert_fc_error(api_call(daemon, "GET", "/layers/none_here/versions"), 404, "LayerNotFound")
    assert_fc_error(api_call(daemon, "GET", "/layers/none_here/versions/x"), 400, "InvalidArgument")
    other = quote(f"acs:fc:{REGION}:999:layers/none_here/versions/1", safe="")
    assert_fc_error(api_call(daemon, "GET", f"/layerarn/{other}"), 404, "LayerNotFound")


def test_functions_use_layers_by_either_arn(
    daemon: RunningDaemon, client: fc2.Client, layer: str, unique: str, tmp_path: Any
) -> None:
    first = publish(daemon, layer, {"python/a.py": "A = 1\n"})
    second = publish(daemon, layer, {"python/b.py": "B = 1\n"})
    service = f"lyr_{unique}"
    client.create_service(service)
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "main.py").write_text(HELLO)
    payload = {
        "functionName": "f",
        "runtime": "python3",
        "handler": "main.handler",
        "code": {"zipFile": zip_b64({"main.py": HELLO})},
        "layers": [second["arnV2"], first["arn"]],
    }
    created = api_call(daemon, "POST", f"/services/{service}/functions", payload)
    assert created.status_code == 200, created.text
    assert created.json()["layers"] == [second["arnV2"], first["arn"]]
    assert created.json()["layersArnV2"] == [second["arnV2"], first["arnV2"]]

    # A deleted layer version keeps working for the functions that use it, as on FC.
    api_call(daemon, "DELETE", f"/layers/{layer}/versions/2")
    assert client.get_function(service, "f").data["layersArnV2"][0] == second["arnV2"]
    bad = api_call(daemon, "PUT", f"/services/{service}/functions/f", {"layers": [second["arnV2"]]})
    assert "layers" in assert_fc_error(bad, 400, "InvalidArgument")["ErrorMessage"]
    kept = client.update_function(service, "f", codeDir=str(code_dir)).data
    assert kept["layers"] == [second["arnV2"], first["arn"]]
    emptied = api_call(daemon, "PUT", f"/services/{service}/functions/f", {"layers": []})
    assert emptied.json()["layers"] == []
    client.delete_function(service, "f")
    client.delete_service(service)
