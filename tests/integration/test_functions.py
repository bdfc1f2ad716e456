"""Functions and their code through the official Python SDK, and raw signed requests for errors."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fc2
import pytest
import requests
from fc2.fc_exceptions import FcError

from fcd.store.code import crc64
from tests.daemon import RunningDaemon
from tests.fc_errors import assert_fc_error
from tests.signed_http import fc_request

HELLO = "def handler(event, context):\n    return 'hello world'\n"


def make_zip(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return buf.getvalue()


def zip_b64(files: dict[str, str]) -> str:
    return base64.b64encode(make_zip(files)).decode()


def post_json(daemon: RunningDaemon, path: str, payload: dict[str, Any], **headers: str) -> Any:
    return fc_request(daemon.endpoint, "POST", path, json.dumps(payload).encode(), headers=headers)


@pytest.fixture
def service(client: fc2.Client, unique: str) -> Iterator[str]:
    """A service that is emptied and deleted after the test."""
    name = f"fns_{unique}"
    client.create_service(name)
    yield name
    token = None
    while True:
        page = client.list_functions(name, limit=100, nextToken=token).data
        for function in page["functions"]:
            client.delete_function(name, function["functionName"])
        token = page.get("nextToken")
        if not token:
            break
    client.delete_service(name)


@pytest.fixture
def hello_zip(tmp_path: Path) -> Path:
    path = tmp_path / "hello.zip"
    path.write_bytes(make_zip({"main.py": HELLO}))
    return path


@pytest.fixture
def hello_dir(tmp_path: Path) -> str:
    path = tmp_path / "hello"
    path.mkdir()
    (path / "main.py").write_text(HELLO)
    return str(path)


def sdk_message(error: FcError) -> str:
    """The SDK keeps the whole error body, JSON-encoded, as the exception's message."""
    return str(json.loads(error.message)["ErrorMessage"])


# fc2's codeZipFile path opens the zip and never closes it: the ResourceWarning is the SDK's.
sdk_leaks_the_zip = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@sdk_leaks_the_zip[0]
@sdk_leaks_the_zip[1]
def test_create_get_update_delete(
    client: fc2.Client, service: str, hello_zip: Path, tmp_path: Path
) -> None:
    created = client.create_function(
        service,
        "hello",
        "python3",
        "main.handler",
        codeZipFile=str(hello_zip),
        description="first",
        environmentVariables={"a": "1", "b": "2"},
        initializer="main.init",
    )
    data = created.data
    assert created.headers["etag"]
    for key in ("codeChecksum", "codeSize", "createdTime", "lastModifiedTime", "functionId"):
        assert data[key], key
    assert data["instanceType"] == "e1"
    assert data["memorySize"] == 256  # the SDK's own default
    assert data["timeout"] == 60
    assert data["initializationTimeout"] == 30
    assert data["caPort"] == 9000
    assert data["instanceConcurrency"] == 1
    assert data["codeSize"] == hello_zip.stat().st_size
    assert data["codeChecksum"] == str(crc64(hello_zip.read_bytes()))
    assert "codeSha256" not in data
    assert "layerCode" not in data

    got = client.get_function(service, "hello")
    assert got.data == data
    assert got.headers["etag"] == created.headers["etag"]

    code = client.get_function_code(service, "hello").data
    assert code["checksum"] == data["codeChecksum"]
    assert requests.get(code["url"], timeout=10).content == hello_zip.read_bytes()

    updated = client.update_function(service, "hello", environmentVariables={"c": "3"})
    assert updated.data["environmentVariables"] == {"c": "3"}
    assert updated.data["description"] == "first"
    assert updated.data["createdTime"] == data["createdTime"]
    kept = client.update_function(service, "hello", timeout=10).data
    assert kept["environmentVariables"] == {"c": "3"}
    assert kept["timeout"] == 10

    code_dir = tmp_path / "v2"
    code_dir.mkdir()
    (code_dir / "main.py").write_text(HELLO.replace("hello", "bye"))
    recoded = client.update_function(service, "hello", codeDir=str(code_dir))
    assert recoded.data["codeChecksum"] != data["codeChecksum"]
    code = client.get_function_code(service, "hello").data
    assert code["checksum"] == recoded.data["codeChecksum"]
    with zipfile.ZipFile(io.BytesIO(requests.get(code["url"], timeout=10).content)) as zf:
        assert "bye" in zf.read("main.py").decode()

    with pytest.raises(FcError) as bad:
        client.update_function(service, "hello", timeout=5, headers={"if-match": "nope"})
    assert bad.value.status_code == 412
    with pytest.raises(FcError) as bad:
        client.delete_function(service, "hello", headers={"if-match": "invalid etag"})
    assert bad.value.status_code == 412
    client.delete_function(service, "hello", headers={"if-match": recoded.headers["etag"]})
    with pytest.raises(FcError) as gone:
        client.get_function(service, "hello")
    assert gone.value.status_code == 404
    assert gone.value.err_code == "FunctionNotFound"
    assert sdk_message(gone.value) == f"function 'hello' does not exist in service '{service}'"


def test_server_defaults_when_fields_are_absent(daemon: RunningDaemon, service: str) -> None:
    response = post_json(
        daemon,
        f"/2016-08-15/services/{service}/functions",
        {
            "FunctionName": "bare",  # keys are matched case-insensitively
            "runtime": "nodejs14",
            "handler": "index.handler",
            "code": {"zipFile": zip_b64({"index.js": "exports.handler = () => 1"})},
            "description": None,
        },
    )
    assert response.status_code == 200, response.text
    data = response.json()
    assert response.headers["ETag"]
    assert data["memorySize"] == 128
    assert data["timeout"] == 60
    assert data["initializationTimeout"] == 3
    assert data["instanceConcurrency"] == 1
    assert data["caPort"] == 9000
    assert data["instanceType"] == "e1"
    assert data["description"] == ""
    assert data["environmentVariables"] == {}
    assert data["layers"] == []


def test_invalid_runtime_through_the_sdk(client: fc2.Client, service: str, hello_dir: str) -> None:
    with pytest.raises(FcError) as bad:
        client.create_function(service, "rt", 10, "main.handler", codeDir=hello_dir)
    assert bad.value.status_code == 400
    assert bad.value.err_code == "InvalidArgument"
    assert sdk_message(bad.value) == "Runtime is set to an invalid value"


VALID = {"functionName": "v", "runtime": "python3.9", "handler": "main.handler"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"memorySize": 100}, "memorySize"),
        ({"memorySize": 200}, "memorySize"),
        ({"memorySize": 32832}, "memorySize"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": 86401}, "timeout"),
        ({"timeout": "soon"}, "timeout"),
        ({"initializationTimeout": 301}, "initializationTimeout"),
        ({"instanceConcurrency": 0}, "instanceConcurrency"),
        ({"instanceConcurrency": 201}, "instanceConcurrency"),
        ({"caPort": 70000}, "caPort"),
        ({"instanceType": "x9"}, "instanceType"),
        ({"handler": "main"}, "handler"),
        ({"handler": ""}, "handler"),
        ({"initializer": "nodot"}, "initializer"),
        ({"functionName": "1bad"}, "functionName"),
        ({"functionName": "x" * 65}, "functionName"),
        ({"environmentVariables": {"FC_FUNC_CODE_PATH": "/x"}}, "environmentVariables"),
        ({"environmentVariables": {"1a": "x"}}, "environmentVariables"),
        ({"environmentVariables": {"big": "x" * 5000}}, "environmentVariables"),
        ({"layers": [f"l{i}" for i in range(6)]}, "layers"),
        ({"layers": ["acs:fc:cn-hangzhou:1:layers/nope/versions/1"]}, "layers"),
        ({"code": None}, "code"),
        ({"code": {"zipFile": "@@not base64@@"}}, "base64"),
        ({"code": {"zipFile": "aGVsbG8="}}, "zip"),
        ({"code": {"ossBucketName": "b", "ossObjectName": "o"}}, "OSS"),
        ({"code": {"zipFile": "aGVsbG8=", "ossBucketName": "b"}}, "zipFile"),
        ({"code": {"zipFile": zip_b64({"../escape.py": ""})}}, "outside"),
        ({"code": {"zipFile": zip_b64({"/etc/passwd": ""})}}, "absolute"),
    ],
)
def test_invalid_create_bodies(
    daemon: RunningDaemon, service: str, change: dict[str, Any], field: str
) -> None:
    payload = {**VALID, "code": {"zipFile": zip_b64({"main.py": HELLO})}, **change}
    response = post_json(daemon, f"/2016-08-15/services/{service}/functions", payload)
    assert field in assert_fc_error(response, 400, "InvalidArgument")["ErrorMessage"]


def test_code_checksum_header(daemon: RunningDaemon, service: str) -> None:
    data = make_zip({"main.py": HELLO})
    payload = {**VALID, "code": {"zipFile": zip_b64({"main.py": HELLO})}}
    path = f"/2016-08-15/services/{service}/functions"
    wrong = post_json(daemon, path, payload, **{"X-Fc-Code-Checksum": "12345"})
    assert "X-Fc-Code-Checksum" in assert_fc_error(wrong, 400, "InvalidArgument")["ErrorMessage"]
    right = post_json(daemon, path, payload, **{"X-Fc-Code-Checksum": str(crc64(data))})
    assert right.status_code == 200, right.text
    assert right.json()["codeChecksum"] == str(crc64(data))


def test_update_validates_the_merged_function(
    client: fc2.Client, service: str, hello_dir: str
) -> None:
    client.create_function(service, "merge", "custom", "anything goes", codeDir=hello_dir)
    with pytest.raises(FcError) as bad:
        client.update_function(service, "merge", runtime="python3")  # handler has no dot
    assert bad.value.status_code == 400
    assert "handler" in sdk_message(bad.value)
    changed = client.update_function(service, "merge", runtime="python3", handler="main.handler")
    assert changed.data["runtime"] == "python3"


def test_missing_service_and_function(daemon: RunningDaemon, client: fc2.Client) -> None:
    with pytest.raises(FcError) as bad:
        client.get_function("no_such_service_x", "f")
    assert bad.value.err_code == "ServiceNotFound"
    response = fc_request(daemon.endpoint, "DELETE", "/2016-08-15/services/no_such_svc/functions/f")
    assert_fc_error(response, 404, "ServiceNotFound")


def test_duplicate_function(client: fc2.Client, service: str, hello_dir: str) -> None:
    client.create_function(service, "twice", "python3", "main.handler", codeDir=hello_dir)
    with pytest.raises(FcError) as dup:
        client.create_function(service, "twice", "python3", "main.handler", codeDir=hello_dir)
    assert dup.value.status_code == 409
    assert dup.value.err_code == "FunctionAlreadyExists"


def test_list_functions_pages_past_100(client: fc2.Client, service: str, hello_dir: str) -> None:
    names = [f"f{i:03d}" for i in range(105)]
    for name in names:
        client.create_function(service, name, "python3", "main.handler", codeDir=hello_dir)

    first = client.list_functions(service, limit=100).data
    assert [f["functionName"] for f in first["functions"]] == names[:100]
    assert first["nextToken"] == "f100"
    rest = client.list_functions(service, limit=100, nextToken=first["nextToken"]).data
    assert [f["functionName"] for f in rest["functions"]] == names[100:]
    assert "nextToken" not in rest

    assert len(client.list_functions(service).data["functions"]) == 20  # the default limit
    page = client.list_functions(service, prefix="f10", startKey="f102").data
    assert [f["functionName"] for f in page["functions"]] == ["f102", "f103", "f104"]


def test_code_url_is_signed(client: fc2.Client, service: str, hello_dir: str) -> None:
    client.create_function(service, "signed", "python3", "main.handler", codeDir=hello_dir)
    url = client.get_function_code(service, "signed").data["url"]
    assert requests.get(url, timeout=10).status_code == 200
    tampered = url.replace("Expires=", "Expires=9")
    response = requests.get(tampered, timeout=10)
    assert_fc_error(response, 403, "AccessDenied")
    other = url.replace("/code/", "/code/0").replace(".zip", "0.zip", 1)
    assert_fc_error(requests.get(other, timeout=10), 403, "AccessDenied")
    assert_fc_error(requests.get(url.split("?")[0], timeout=10), 403, "AccessDenied")


def test_qualified_reads_see_the_published_code(
    client: fc2.Client, service: str, hello_dir: str, tmp_path: Path
) -> None:
    v1 = client.create_function(service, "q", "python3", "main.handler", codeDir=hello_dir)
    client.publish_version(service)
    new_dir = tmp_path / "new"
    new_dir.mkdir()
    (new_dir / "main.py").write_text(HELLO.replace("hello", "v2"))
    latest = client.update_function(service, "q", codeDir=str(new_dir)).data
    assert latest["codeChecksum"] != v1.data["codeChecksum"]

    frozen = client.get_function(service, "q", qualifier="1").data
    assert frozen["codeChecksum"] == v1.data["codeChecksum"]
    code = client.get_function_code(service, "q", qualifier="1").data
    assert code["checksum"] == v1.data["codeChecksum"]
    downloaded = requests.get(code["url"], timeout=10).content
    assert str(crc64(downloaded)) == v1.data["codeChecksum"]
    with zipfile.ZipFile(io.BytesIO(downloaded)) as zf:
        assert zf.read("main.py").decode() == HELLO
    listed = client.list_functions(service, qualifier="1").data["functions"]
    assert [f["codeChecksum"] for f in listed] == [v1.data["codeChecksum"]]
    with pytest.raises(FcError) as missing:
        client.get_function(service, "nope", qualifier="1")
    assert missing.value.err_code == "FunctionNotFound"

    for function in client.list_functions(service).data["functions"]:
        client.delete_function(service, function["functionName"])
    client.delete_version(service, "1")


def test_function_with_triggers_cannot_be_deleted(
    client: fc2.Client, service: str, hello_dir: str
) -> None:
    client.create_function(service, "trig", "python3", "main.handler", codeDir=hello_dir)
    client.create_trigger(
        service, "trig", "t", "timer", {"cronExpression": "@every 1h", "enable": False}, "", ""
    )
    with pytest.raises(FcError) as busy:
        client.delete_function(service, "trig")
    assert busy.value.status_code == 409
    assert busy.value.err_code == "FunctionNotEmpty"
    client.delete_trigger(service, "trig", "t")
    client.delete_function(service, "trig")
