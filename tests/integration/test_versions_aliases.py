"""Versions and aliases through the official Python SDK, mirroring what its own tests assert
(PYT:version_test.py, NODET alias/versions tests), plus raw HTTP for every error case."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fc2
import pytest
from fc2.fc_exceptions import FcError

from tests.daemon import RunningDaemon
from tests.fc_errors import assert_fc_error
from tests.signed_http import api_call


@pytest.fixture
def service(client: fc2.Client, unique: str) -> Iterator[str]:
    """A service, emptied and deleted afterwards (aliases, then versions, as PYT's tearDown)."""
    name = f"ver_{unique}"
    client.create_service(name, description="这是测试service")
    yield name
    for function in _all(client.list_functions, name, "functions"):
        client.delete_function(name, function["functionName"])
    for alias in _all(client.list_aliases, name, "aliases"):
        client.delete_alias(name, alias["aliasName"])
    for version in _all(client.list_versions, name, "versions"):
        client.delete_version(name, version["versionId"])
    client.delete_service(name)


def _all(list_call: Any, service: str, key: str) -> list[dict[str, Any]]:
    data = list_call(service).data
    found = list(data[key])
    while data.get("nextToken"):
        data = list_call(service, nextToken=data["nextToken"]).data
        found += data[key]
    return found


# Versions ---------------------------------------------------------------------------------------
def test_version_lifecycle(client: fc2.Client, service: str) -> None:
    """PYT test_version: ids never reused, unchanged publish fails, listing pages by 2."""
    data = client.publish_version(service, "test service v1").data
    assert data["versionId"] == "1"
    assert data["description"] == "test service v1"
    assert data["createdTime"]
    assert data["lastModifiedTime"]

    with pytest.raises(FcError) as unchanged:
        client.publish_version(service, "test service v2")
    assert (unchanged.value.status_code, unchanged.value.err_code) == (400, "InvalidArgument")
    with pytest.raises(FcError) as not_empty:
        client.delete_service(service)
    assert (not_empty.value.status_code, not_empty.value.err_code) == (409, "ServiceNotEmpty")

    client.delete_version(service, "1")
    assert client.list_versions(service, limit=2).data["versions"] == []

    for i in range(6):
        description = f"service description{i}"
        assert client.update_service(service, description).data["description"] == description
        data = client.publish_version(service, f"test service v{i + 2}").data
        assert data["versionId"] == str(i + 2)
        assert data["description"] == f"test service v{i + 2}"

    first = client.list_versions(service, limit=2).data
    assert first["direction"] == "BACKWARD"
    assert [v["versionId"] for v in first["versions"]] == ["7", "6"]
    for version in first["versions"]:
        assert set(version) == {"versionId", "description", "createdTime", "lastModifiedTime"}
    token, seen, calls = first["nextToken"], [v["versionId"] for v in first["versions"]], 1
    while token:
        data = client.list_versions(service, limit=2, nextToken=token).data
        seen += [v["versionId"] for v in data["versions"]]
        token, calls = data.get("nextToken"), calls + 1
    assert seen == ["7", "6", "5", "4", "3", "2"]
    assert calls == 3
    last = client.list_versions(service).data
    assert "nextToken" not in last


def test_list_versions_direction_and_start_key(client: fc2.Client, service: str) -> None:
    for i in range(3):
        client.update_service(service, f"d{i}")
        client.publish_version(service)
    forward = client.list_versions(service, direction="FORWARD").data
    assert forward["direction"] == "FORWARD"
    assert [v["versionId"] for v in forward["versions"]] == ["1", "2", "3"]
    assert [v["versionId"] for v in forward["versions"]] == ["1", "2", "3"]
    backward = client.list_versions(service, startKey="2").data
    assert [v["versionId"] for v in backward["versions"]] == ["2", "1"]
    forward_from = client.list_versions(service, startKey="2", direction="FORWARD").data
    assert [v["versionId"] for v in forward_from["versions"]] == ["2", "3"]
    assert forward_from["versions"][0]["description"] == ""


def test_version_ids_are_never_reused(client: fc2.Client, service: str) -> None:
    """NODET versions test: publish → "1", delete "1", publish → "2"."""
    client.publish_version(service)
    client.delete_version(service, "1")
    assert client.publish_version(service, "test version").data["versionId"] == "2"
    assert [v["versionId"] for v in client.list_versions(service).data["versions"]] == ["2"]


def test_publish_if_match(client: fc2.Client, service: str) -> None:
    etag = client.get_service(service).headers["etag"]
    with pytest.raises(FcError) as stale:
        client.publish_version(service, "v", headers={"if-match": "invalid etag"})
    assert (stale.value.status_code, stale.value.err_code) == (412, "PreconditionFailed")
    assert client.publish_version(service, "v", headers={"if-match": etag}).data["versionId"]


def test_changed_means_content_not_timestamps_or_tags(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    client.publish_version(service)
    # Same description again: lastModifiedTime moves, the content does not.
    client.update_service(service, "这是测试service")
    api_call(daemon, "POST", "/tag", {"resourceArn": f"services/{service}", "tags": {"k": "v"}})
    response = api_call(daemon, "POST", f"/services/{service}/versions", {})
    body = assert_fc_error(response, 400, "InvalidArgument")
    assert "nothing has changed since version 1" in body["ErrorMessage"]
    client.update_service(service, internetAccess=False)
    assert client.publish_version(service).data["versionId"] == "2"


def test_get_service_through_versions_and_aliases(client: fc2.Client, service: str) -> None:
    """PYT test_get_service: a qualifier answers the version's description, LATEST moves on."""
    v1 = client.publish_version(service, "test service v1 desc").data["versionId"]
    assert client.get_service(service, qualifier=v1).data["description"] == "test service v1 desc"
    client.update_service(service, "update test service v2 desc")
    v2 = client.publish_version(service, "test service v2 desc").data["versionId"]

    assert client.get_service(service, qualifier=v2).data["description"] == "test service v2 desc"
    latest = client.get_service(service).data
    assert latest["description"] == "update test service v2 desc"
    assert client.get_service(service, qualifier="LATEST").data == latest

    client.create_alias(service, "test", v1, "test alias", {"1": 0.9})
    via_alias = client.get_service(service, qualifier="test").data
    assert via_alias == client.get_service(service, qualifier=v1).data
    assert via_alias["serviceName"] == service


def test_version_errors(client: fc2.Client, daemon: RunningDaemon, service: str) -> None:
    assert_fc_error(
        api_call(daemon, "DELETE", f"/services/{service}/versions/1"), 404, "VersionNotFound"
    )
    assert_fc_error(
        api_call(daemon, "DELETE", f"/services/{service}/versions/abc"), 404, "VersionNotFound"
    )
    assert_fc_error(
        api_call(daemon, "GET", f"/services/{service}/versions?direction=SIDEWAYS"),
        400,
        "InvalidArgument",
    )
    assert_fc_error(
        api_call(daemon, "GET", f"/services/{service}/versions?startKey=x"), 400, "InvalidArgument"
    )
    assert_fc_error(api_call(daemon, "GET", "/services/nope_x/versions"), 404, "ServiceNotFound")
    assert_fc_error(
        api_call(daemon, "POST", "/services/nope_x/versions", {}), 404, "ServiceNotFound"
    )
    assert_fc_error(api_call(daemon, "GET", f"/services/{service}.9"), 404, "VersionNotFound")
    assert_fc_error(api_call(daemon, "GET", f"/services/{service}.nope"), 404, "AliasNotFound")
    # Go sends {"Description": …} (no json tag); null is "not given".
    published = api_call(daemon, "POST", f"/services/{service}/versions", {"Description": "go"})
    assert published.status_code == 200
    assert published.json()["description"] == "go"
    assert published.headers["ETag"]
    deleted = api_call(daemon, "DELETE", f"/services/{service}/versions/1")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "json" not in deleted.headers.get("Content-Type", "")


# Aliases ----------------------------------------------------------------------------------------
def test_alias_lifecycle(client: fc2.Client, service: str) -> None:
    """PYT test_alias: weights on the main version are accepted and echoed; list pages by 2."""
    v1 = client.publish_version(service, "test service v1").data["versionId"]
    created = client.create_alias(service, "test", v1, "test alias", {"1": 0.9})
    assert created.headers["etag"]
    for data in (created.data, client.get_alias(service, "test").data):
        assert data["aliasName"] == "test"
        assert data["versionId"] == v1
        assert data["description"] == "test alias"
        assert data["additionalVersionWeight"] == {"1": 0.9}
        assert data["createdTime"]
        assert data["lastModifiedTime"]

    updated = client.update_alias(service, "test", v1, "test alias_update", {"1": 0.8}).data
    assert updated["description"] == "test alias_update"
    assert updated["additionalVersionWeight"] == {"1": 0.8}
    assert updated["createdTime"] == created.data["createdTime"]

    client.delete_alias(service, "test")
    with pytest.raises(FcError) as gone:
        client.get_alias(service, "test")
    assert (gone.value.status_code, gone.value.err_code) == (404, "AliasNotFound")

    for i in range(6):
        client.update_service(service, f"service description{i}")
        client.publish_version(service, f"test service v{i + 2}")
        client.create_alias(service, f"test{i + 2}", v1, f"test alias{i + 2}", {"1": 0.9})
    first = client.list_aliases(service, limit=2).data
    assert [a["aliasName"] for a in first["aliases"]] == ["test2", "test3"]
    token, count = first["nextToken"], 2
    while token:
        data = client.list_aliases(service, nextToken=token).data
        token, count = data.get("nextToken"), count + len(data["aliases"])
    assert count == 6
    assert [
        a["aliasName"] for a in client.list_aliases(service, prefix="test7").data["aliases"]
    ] == ["test7"]
    assert len(client.list_aliases(service, startKey="test5").data["aliases"]) == 3


def test_alias_partial_update(client: fc2.Client, daemon: RunningDaemon, service: str) -> None:
    """NODET alias test: versionId omitted keeps it; description "" clears; weights replace."""
    client.publish_version(service, "test version 1")
    client.update_service(service, "changed")
    client.publish_version(service, "test version 2")
    client.create_alias(service, "new-version", "1", "test alias")

    path = f"/services/{service}/aliases/new-version"
    data = api_call(
        daemon, "PUT", path, {"additionalVersionWeight": {"2": 0.3}, "description": ""}
    ).json()
    assert (data["versionId"], data["description"]) == ("1", "")
    assert data["additionalVersionWeight"] == {"2": 0.3}
    data = client.update_alias(service, "new-version", "1", additionalVersionWeight={"2": 0.5}).data
    assert (data["versionId"], data["description"]) == ("1", "")
    assert data["additionalVersionWeight"] == {"2": 0.5}
    listed = client.list_aliases(service).data["aliases"]
    assert [(a["versionId"], a["additionalVersionWeight"]) for a in listed] == [("1", {"2": 0.5})]
    data = api_call(daemon, "PUT", path, {"VersionId": "2", "AdditionalVersionWeight": {}}).json()
    assert (data["versionId"], data["additionalVersionWeight"]) == ("2", {})
    # null is "not given": nothing changes.
    same = api_call(daemon, "PUT", path, {"versionId": None, "description": None}).json()
    assert (same["versionId"], same["description"]) == ("2", "")


def test_alias_if_match_and_etag(client: fc2.Client, daemon: RunningDaemon, service: str) -> None:
    client.publish_version(service)
    etag = client.create_alias(service, "a", "1").headers["etag"]
    assert client.get_alias(service, "a").headers["etag"] == etag
    path = f"/services/{service}/aliases/a"
    assert_fc_error(
        api_call(daemon, "PUT", path, {"description": "x"}, **{"If-Match": "stale"}),
        412,
        "PreconditionFailed",
    )
    updated = api_call(daemon, "PUT", path, {"description": "x"}, **{"If-Match": etag})
    assert updated.status_code == 200
    new_etag = updated.headers["ETag"]
    assert new_etag != etag
    assert_fc_error(
        api_call(daemon, "DELETE", path, **{"If-Match": etag}), 412, "PreconditionFailed"
    )
    deleted = api_call(daemon, "DELETE", path, **{"If-Match": new_etag})
    assert (deleted.status_code, deleted.content) == (204, b"")


def test_alias_errors(client: fc2.Client, daemon: RunningDaemon, service: str) -> None:
    client.publish_version(service)
    aliases = f"/services/{service}/aliases"
    cases: list[tuple[Any, int, str]] = [
        ({"aliasName": "LATEST", "versionId": "1"}, 400, "InvalidArgument"),
        ({"aliasName": "1abc", "versionId": "1"}, 400, "InvalidArgument"),
        ({"versionId": "1"}, 400, "InvalidArgument"),
        ({"aliasName": "a"}, 400, "InvalidArgument"),
        ({"aliasName": "a", "versionId": "x"}, 400, "InvalidArgument"),
        ({"aliasName": "a", "versionId": "9"}, 404, "VersionNotFound"),
        (
            {"aliasName": "a", "versionId": "1", "additionalVersionWeight": {"1": 1.5}},
            400,
            "InvalidArgument",
        ),
        (
            {"aliasName": "a", "versionId": "1", "additionalVersionWeight": {"1": -0.1}},
            400,
            "InvalidArgument",
        ),
        (
            {"aliasName": "a", "versionId": "1", "additionalVersionWeight": {"9": 0.5}},
            404,
            "VersionNotFound",
        ),
        (
            {"aliasName": "a", "versionId": "1", "additionalVersionWeight": {"x": 0.5}},
            400,
            "InvalidArgument",
        ),
        (
            {"aliasName": "a", "versionId": "1", "additionalVersionWeight": {"1": "lots"}},
            400,
            "InvalidArgument",
        ),
        ([1, 2], 400, "InvalidArgument"),
    ]
    for payload, status, code in cases:
        assert_fc_error(api_call(daemon, "POST", aliases, payload), status, code)
    client.update_service(service, "second")
    client.publish_version(service)
    over = {"aliasName": "a", "versionId": "1", "additionalVersionWeight": {"1": 0.6, "2": 0.6}}
    body = assert_fc_error(api_call(daemon, "POST", aliases, over), 400, "InvalidArgument")
    assert "additionalVersionWeight" in body["ErrorMessage"]

    # A bare number for versionId is accepted, case-insensitive keys too.
    created = api_call(daemon, "POST", aliases, {"AliasName": "a", "VersionId": 1})
    assert created.status_code == 200, created.text
    assert created.json()["versionId"] == "1"
    assert created.json()["additionalVersionWeight"] == {}
    assert_fc_error(
        api_call(daemon, "POST", aliases, {"aliasName": "a", "versionId": "2"}),
        409,
        "AliasAlreadyExists",
    )
    assert_fc_error(api_call(daemon, "GET", f"{aliases}/nope"), 404, "AliasNotFound")
    assert_fc_error(api_call(daemon, "PUT", f"{aliases}/nope", {}), 404, "AliasNotFound")
    assert_fc_error(api_call(daemon, "DELETE", f"{aliases}/nope"), 404, "AliasNotFound")
    assert_fc_error(
        api_call(daemon, "PUT", f"{aliases}/a", {"versionId": "7"}), 404, "VersionNotFound"
    )
    assert_fc_error(api_call(daemon, "GET", "/services/nope_x/aliases"), 404, "ServiceNotFound")
    assert_fc_error(
        api_call(daemon, "POST", "/services/nope_x/aliases", {"aliasName": "a", "versionId": "1"}),
        404,
        "ServiceNotFound",
    )


def test_a_version_aliases_point_at_is_deleted_as_on_fc(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    """FC deletes it (the official SDKs' clean-up deletes versions before aliases, see
    docs/api-compat.md); the aliases stay and answer VersionNotFound until updated."""
    client.publish_version(service)
    client.update_service(service, "second")
    client.publish_version(service)
    client.create_alias(service, "main", "1")
    client.create_alias(service, "canary", "1", additionalVersionWeight={"2": 0.1})
    client.delete_version(service, "1")
    client.delete_version(service, "2")
    assert client.list_aliases(service).data["aliases"]
    response = api_call(daemon, "GET", f"/services/{service}.main")
    assert_fc_error(response, 404, "VersionNotFound")
    with pytest.raises(FcError) as not_empty:
        client.delete_service(service)
    assert not_empty.value.err_code == "ServiceNotEmpty"


def test_a_recreated_service_numbers_its_versions_from_1(client: fc2.Client, service: str) -> None:
    client.publish_version(service)
    client.update_service(service, "second")
    assert client.publish_version(service).data["versionId"] == "2"
    client.delete_version(service, "1")
    client.delete_version(service, "2")
    client.delete_service(service)
    client.create_service(service)
    assert client.publish_version(service).data["versionId"] == "1"


def test_get_service_through_a_version_answers_its_description(
    client: fc2.Client, service: str
) -> None:
    client.update_service(service, "the service")
    v1 = client.publish_version(service, "v1 desc").data["versionId"]
    client.create_alias(service, "live", v1)
    assert client.get_service(service, qualifier=v1).data["description"] == "v1 desc"
    assert client.get_service(service, qualifier="live").data["description"] == "v1 desc"
    assert client.get_service(service).data["description"] == "the service"


# Functions through versions ---------------------------------------------------------------------
def _code(tmp_path: Path, name: str, text: str) -> str:
    directory = tmp_path / name
    directory.mkdir()
    (directory / "main.py").write_text(f"def my_handler(event, context):\n    return {text!r}\n")
    return str(directory)


def test_get_function_through_versions(client: fc2.Client, service: str, tmp_path: Path) -> None:
    """PYT test_get_function: config and code checksum frozen per version and alias."""
    fn = "test_function"
    created = client.create_function(
        service,
        fn,
        "python3",
        "main.my_handler",
        codeDir=_code(tmp_path, "v1", "hello world"),
        description="这是测试function",
        environmentVariables={"testKey": "testValue"},
    ).data
    checksum = created["codeChecksum"]
    v1 = client.publish_version(service, "v1").data["versionId"]
    client.create_alias(service, "test", v1, "test alias", {"1": 0.9})

    updated = client.update_function(
        service,
        fn,
        codeDir=_code(tmp_path, "v2", "new hello world"),
        description="update function desc",
        environmentVariables={"newTestKey": "newTestValue"},
    ).data
    checksum2 = updated["codeChecksum"]
    assert checksum2 != checksum
    v2 = client.publish_version(service, "v2").data["versionId"]
    client.create_alias(service, "prod", v2, "prod alias", {"1": 0.8})

    for qualifier, description, digest, env in (
        (v1, "这是测试function", checksum, {"testKey": "testValue"}),
        ("test", "这是测试function", checksum, {"testKey": "testValue"}),
        (None, "update function desc", checksum2, {"newTestKey": "newTestValue"}),
        (v2, "update function desc", checksum2, {"newTestKey": "newTestValue"}),
        ("prod", "update function desc", checksum2, {"newTestKey": "newTestValue"}),
    ):
        got = client.get_function(service, fn, qualifier=qualifier).data
        assert (got["functionName"], got["handler"]) == (fn, "main.my_handler")
        assert got["description"] == description
        assert got["codeChecksum"] == digest
        assert got["environmentVariables"] == env
        code = client.get_function_code(service, fn, qualifier=qualifier).data
        assert code["checksum"] == digest
        assert code["url"]
    client.delete_function(service, fn)
    assert client.get_function(service, fn, qualifier=v1).data["functionName"] == fn


def test_list_functions_through_versions(client: fc2.Client, service: str, tmp_path: Path) -> None:
    """PYT test_list_functions: a version lists the functions that existed when published."""
    code = _code(tmp_path, "code", "hello")
    for name in ("test_list_abc", "test_list_abd", "test_list_ade"):
        client.create_function(service, name, "python3", "main.my_handler", codeDir=code)
    v1 = client.publish_version(service, "v1").data["versionId"]
    client.create_alias(service, "test", v1, "test alias", {"1": 0.9})
    for name in ("test_list_bcd", "test_list_bde", "test_list_zzz"):
        client.create_function(service, name, "python3", "main.my_handler", codeDir=code)
    v2 = client.publish_version(service, "v2").data["versionId"]
    client.create_alias(service, "prod", v2, "prod alias", {"1": 0.8})

    assert len(client.list_functions(service).data["functions"]) == 6
    r1 = client.list_functions(service, qualifier="test").data
    assert r1 == client.list_functions(service, qualifier=v1).data
    assert len(r1["functions"]) == 3
    r3 = client.list_functions(service, qualifier="prod").data
    assert r3 == client.list_functions(service, qualifier=v2).data
    assert len(r3["functions"]) == 6
    for f in client.list_functions(service).data["functions"]:
        client.delete_function(service, f["functionName"])
