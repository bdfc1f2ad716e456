"""Triggers through the official Python SDK, mirroring PYT:trigger_test.py (oss, http, log), plus
timer schedules and raw HTTP for every error case."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fc2
import pytest
from fc2.fc_exceptions import FcError

from tests.daemon import ACCOUNT_ID, REGION, RunningDaemon
from tests.fc_errors import assert_fc_error
from tests.signed_http import api_call

ROLE = f"acs:ram::{ACCOUNT_ID}:role/fc-test"
OSS_ARN = f"acs:oss:{REGION}:{ACCOUNT_ID}:code-bucket"
OSS_CONFIG = {
    "events": ["oss:ObjectCreated:*"],
    "filter": {"key": {"prefix": "pre", "suffix": "suf"}},
}


@pytest.fixture(scope="module")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Code as a directory: the SDK's ``codeZipFile`` path leaves the zip file open."""
    path = Path(tmp_path_factory.mktemp("code"))
    (path / "index.py").write_text("def handler(event, context):\n    return 'hello world'\n")
    return str(path)


@pytest.fixture
def function(client: fc2.Client, unique: str, code_dir: str) -> Iterator[tuple[str, str]]:
    """A service with one function; triggers, versions and aliases are cleared afterwards."""
    service, name = f"trg_{unique}", "fn"
    client.create_service(service)
    client.create_function(service, name, "python3", "index.handler", codeDir=code_dir)
    yield service, name
    for trigger in client.list_triggers(service, name, limit=100).data["triggers"]:
        client.delete_trigger(service, name, trigger["triggerName"])
    for alias in client.list_aliases(service).data["aliases"]:
        client.delete_alias(service, alias["aliasName"])
    for version in client.list_versions(service).data["versions"]:
        client.delete_version(service, version["versionId"])
    client.delete_function(service, name)
    client.delete_service(service)


def check_trigger(
    resp: dict[str, Any],
    name: str,
    description: str,
    trigger_type: str,
    config: dict[str, Any],
    source_arn: str | None,
    role: str,
) -> None:
    """PYT check_trigger_response, plus fcd's ids and the default qualifier."""
    assert resp["triggerName"] == name
    assert resp["description"] == description
    assert resp["triggerType"] == trigger_type
    assert resp["sourceArn"] == source_arn
    assert resp["invocationRole"] == role
    assert resp["triggerConfig"] == config
    assert resp["createdTime"]
    assert resp["lastModifiedTime"]
    assert len(resp["triggerId"]) == 36
    assert resp["qualifier"] == "LATEST"


def test_oss_trigger(client: fc2.Client, function: tuple[str, str]) -> None:
    service, fn = function
    created = client.create_trigger(
        service, fn, "t_oss", "oss", OSS_CONFIG, OSS_ARN, ROLE, description="create oss trigger"
    )
    assert created.headers["etag"]
    check_trigger(created.data, "t_oss", "create oss trigger", "oss", OSS_CONFIG, OSS_ARN, ROLE)
    assert created.data["urlInternet"] is None

    with pytest.raises(FcError) as no_service:
        client.create_trigger(service + "invalid", fn, "t_oss", "oss", OSS_CONFIG, OSS_ARN, ROLE)
    assert (no_service.value.status_code, no_service.value.err_code) == (404, "ServiceNotFound")
    with pytest.raises(FcError) as duplicate:
        client.create_trigger(service, fn, "t_oss", "oss", OSS_CONFIG, OSS_ARN, ROLE)
    assert (duplicate.value.status_code, duplicate.value.err_code) == (409, "TriggerAlreadyExists")

    got = client.get_trigger(service, fn, "t_oss")
    assert got.data == created.data
    assert got.headers["etag"] == created.headers["etag"]
    with pytest.raises(FcError) as no_function:
        client.get_trigger(service, fn + "invalid", "t_oss")
    assert (no_function.value.status_code, no_function.value.err_code) == (
        404,
        "FunctionNotFound",
    )

    new_config = {
        "events": ["oss:ObjectCreated:*"],
        "filter": {"key": {"prefix": "preupdate", "suffix": "sufupdate"}},
    }
    updated = client.update_trigger(
        service,
        fn,
        "t_oss",
        triggerConfig=new_config,
        invocationRole=ROLE,
        description="update oss trigger",
    ).data
    check_trigger(updated, "t_oss", "update oss trigger", "oss", new_config, OSS_ARN, ROLE)
    assert updated["triggerId"] == created.data["triggerId"]
    assert updated["createdTime"] == created.data["createdTime"]
    with pytest.raises(FcError) as missing:
        client.update_trigger(service + "invalid", fn, "t_oss", triggerConfig=new_config)
    assert missing.value.status_code == 404

    for i in range(1, 5):
        config = {
            "events": ["oss:ObjectCreated:*"],
            "filter": {"key": {"prefix": f"p{i}", "suffix": f"s{i}"}},
        }
        client.create_trigger(service, fn, f"t_oss{i}", "oss", config, OSS_ARN, ROLE)
    assert len(client.list_triggers(service, fn).data["triggers"]) == 5
    page = client.list_triggers(service, fn, limit=2).data
    calls = 1
    while page.get("nextToken"):
        page = client.list_triggers(service, fn, limit=2, nextToken=page["nextToken"]).data
        calls += 1
    assert calls == 3
    assert "nextToken" not in page
    prefixed = client.list_triggers(service, fn, prefix="t_oss", startKey="t_oss3").data
    assert [t["triggerName"] for t in prefixed["triggers"]] == ["t_oss3", "t_oss4"]

    with pytest.raises(FcError) as busy:
        client.delete_function(service, fn)
    assert (busy.value.status_code, busy.value.err_code) == (409, "FunctionNotEmpty")
    for i in range(1, 5):
        client.delete_trigger(service, fn, f"t_oss{i}")
    client.delete_trigger(service, fn, "t_oss")
    with pytest.raises(FcError) as gone:
        client.delete_trigger(service, fn, "t_oss")
    assert (gone.value.status_code, gone.value.err_code) == (404, "TriggerNotFound")


def test_http_trigger(client: fc2.Client, daemon: RunningDaemon, function: tuple[str, str]) -> None:
    service, fn = function
    config = {"authType": "anonymous", "methods": ["GET", "POST", "PUT"]}
    created = client.create_trigger(
        service, fn, "t_http", "http", config, "dummy_arn", "", description="create http trigger"
    ).data
    # sourceArn is ignored for HTTP triggers; invocationRole "" comes back as "".
    check_trigger(created, "t_http", "create http trigger", "http", config, None, "")
    url = f"{daemon.endpoint}/2016-08-15/proxy/{service}.LATEST/{fn}/"
    assert created["urlInternet"] == url
    assert client.get_trigger(service, fn, "t_http").data == created

    with pytest.raises(FcError) as no_service:
        client.create_trigger(service + "invalid", fn, "t_http", "http", config, "dummy_arn", "")
    assert no_service.value.status_code == 404

    new_config = {"authType": "function", "methods": ["GET", "POST"]}
    updated = client.update_trigger(
        service,
        fn,
        "t_http",
        triggerConfig=new_config,
        invocationRole="",
        description="update http trigger",
    ).data
    assert updated["triggerConfig"]["authType"] == "function"
    check_trigger(updated, "t_http", "update http trigger", "http", new_config, None, "")
    assert len(client.list_triggers(service, fn).data["triggers"]) == 1

    # One HTTP trigger per function and qualifier.
    second = api_call(
        daemon,
        "POST",
        f"/services/{service}/functions/{fn}/triggers",
        {"triggerName": "t_http2", "triggerType": "http", "triggerConfig": config},
    )
    assert_fc_error(second, 400, "LimitExceededError")
    version = client.publish_version(service).data["versionId"]
    on_version = client.create_trigger(
        service, fn, "t_http2", "http", config, None, "", qualifier=version
    ).data
    assert on_version["qualifier"] == version
    assert on_version["urlInternet"] == f"{daemon.endpoint}/2016-08-15/proxy/{service}.1/{fn}/"
    clash = api_call(
        daemon,
        "PUT",
        f"/services/{service}/functions/{fn}/triggers/t_http2",
        {"qualifier": "LATEST"},
    )
    assert_fc_error(clash, 400, "LimitExceededError")

    client.delete_trigger(service, fn, "t_http")
    with pytest.raises(FcError) as gone:
        client.delete_trigger(service, fn, "t_http")
    assert gone.value.status_code == 404


@pytest.mark.parametrize(
    "trigger_type", ["log", "tablestore", "cdn_events", "mns_topic", "eventbridge", "rds"]
)
def test_triggers_fcd_cannot_fire_are_refused(
    client: fc2.Client, function: tuple[str, str], trigger_type: str
) -> None:
    """Their events come from cloud services one host does not have: stored, they would never
    fire, so CreateTrigger refuses them and says what fcd fires instead."""
    service, fn = function
    arn = f"acs:log:{REGION}:{ACCOUNT_ID}:project/proj"
    config = {"sourceConfig": {"logstore": "store_source"}, "enable": False}
    with pytest.raises(FcError) as refused:
        client.create_trigger(service, fn, "t_cloud", trigger_type, config, arn, ROLE)
    assert refused.value.status_code == 400
    assert "http, timer and oss" in str(refused.value)
    assert client.list_triggers(service, fn).data["triggers"] == []


def test_trigger_config_is_echoed_exactly(daemon: RunningDaemon, function: tuple[str, str]) -> None:
    """Keys keep their case and order, nested nulls stay, nothing is added (spec §4.3)."""
    service, fn = function
    config = {
        "Methods": ["GET"],
        "AuthType": "anonymous",
        "authConfig": None,
        "extra": {"Nested": [1, 2.5, None, {"K": "v"}]},
    }
    response = api_call(
        daemon,
        "POST",
        f"/services/{service}/functions/{fn}/triggers",
        {"TriggerName": "t", "TriggerType": "http", "TriggerConfig": config, "Qualifier": None},
    )
    assert response.status_code == 200, response.text
    assert response.text.index('"Methods"') < response.text.index('"AuthType"')
    assert response.json()["triggerConfig"] == config
    got = api_call(daemon, "GET", f"/services/{service}/functions/{fn}/triggers/t")
    assert got.json()["triggerConfig"] == config
    assert got.headers["ETag"] == response.headers["ETag"]


@pytest.mark.parametrize(
    "expression",
    [
        "@every 5m",
        "@every 1h30m",
        "@every 10s",
        "0 0 4 * * *",
        "0 */5 * * * ?",
        "cron(0 0 4 * * MON-FRI)",
        "CRON_TZ=Asia/Shanghai 0 0 4 * * *",
    ],
)
def test_timer_trigger_schedules(
    client: fc2.Client, function: tuple[str, str], expression: str
) -> None:
    service, fn = function
    config = {"cronExpression": expression, "payload": "awesome-fc", "enable": True}
    created = client.create_trigger(service, fn, "t_timer", "timer", config, None, "").data
    assert created["triggerConfig"] == config
    assert created["sourceArn"] is None


def test_trigger_if_match(
    client: fc2.Client, daemon: RunningDaemon, function: tuple[str, str]
) -> None:
    service, fn = function
    etag = client.create_trigger(service, fn, "t", "oss", OSS_CONFIG, OSS_ARN, ROLE).headers["etag"]
    path = f"/services/{service}/functions/{fn}/triggers/t"
    stale = api_call(daemon, "PUT", path, {"description": "x"}, **{"If-Match": "stale"})
    assert_fc_error(stale, 412, "PreconditionFailed")
    updated = api_call(daemon, "PUT", path, {"description": "x"}, **{"If-Match": etag})
    assert updated.status_code == 200
    assert updated.headers["ETag"] != etag
    with pytest.raises(FcError) as stale_delete:
        client.delete_trigger(service, fn, "t", headers={"if-match": etag})
    assert stale_delete.value.status_code == 412
    deleted = api_call(daemon, "DELETE", path, **{"If-Match": updated.headers["ETag"]})
    assert (deleted.status_code, deleted.content) == (204, b"")


def test_trigger_qualifiers(client: fc2.Client, function: tuple[str, str]) -> None:
    """Qualifiers must exist; aliases are kept by name, version ids in canonical form."""
    service, fn = function
    client.publish_version(service)
    client.create_alias(service, "prod", "1")
    on_alias = client.create_trigger(
        service, fn, "t1", "oss", OSS_CONFIG, OSS_ARN, ROLE, qualifier="prod"
    ).data
    assert on_alias["qualifier"] == "prod"
    on_version = client.update_trigger(service, fn, "t1", qualifier="01").data
    assert on_version["qualifier"] == "1"
    assert client.get_trigger(service, fn, "t1").data["qualifier"] == "1"


def _trigger(**fields: Any) -> dict[str, Any]:
    return {"triggerName": "t", "triggerType": "oss", "triggerConfig": OSS_CONFIG} | fields


def _http(**config: Any) -> dict[str, Any]:
    return _trigger(triggerType="http", triggerConfig=config)


def _timer(**config: Any) -> dict[str, Any]:
    return _trigger(triggerType="timer", triggerConfig=config)


def _oss(**config: Any) -> dict[str, Any]:
    return _trigger(triggerConfig={"events": ["oss:ObjectCreated:*"]} | config)


# Each body is refused with 400 InvalidArgument, and the message names the field.
INVALID_TRIGGERS = [
    (_trigger(triggerType="ftp"), "triggerType"),
    (_trigger(triggerType=None), "triggerType"),
    (_trigger(triggerName="1bad"), "triggerName"),
    (_trigger(triggerName=None), "triggerName"),
    (_trigger(triggerConfig=None), "triggerConfig"),
    (_trigger(triggerConfig="{}"), "triggerConfig"),
    (_trigger(triggerConfig={"events": []}), "triggerConfig.events"),
    (_trigger(triggerConfig={"events": ["ObjectCreated"]}), "triggerConfig.events"),
    (_oss(filter={"key": []}), "triggerConfig.filter.key"),
    (_oss(filter={"key": {"prefix": 3}}), "triggerConfig.filter.key.prefix"),
    (_http(methods=["GET"]), "triggerConfig.authType"),
    (_http(authType="Anonymous", methods=["GET"]), "triggerConfig.authType"),
    (_http(authType="function", methods=[]), "triggerConfig.methods"),
    (_http(authType="function", methods=["GET", "CONNECT"]), "CONNECT"),
    (_timer(payload="x"), "triggerConfig.cronExpression"),
    (_timer(cronExpression="0 0 4 * *"), "triggerConfig.cronExpression"),
    (_timer(cronExpression="61 0 4 * * *"), "triggerConfig.cronExpression"),
    (_timer(cronExpression="@every 5 minutes"), "triggerConfig.cronExpression"),
    (_timer(cronExpression="@every 0m"), "greater than zero"),
    (_timer(cronExpression="CRON_TZ=Mars/Base 0 0 4 * * *"), "time zone"),
    (_timer(cronExpression="@every 1m", enable="yes"), "triggerConfig.enable"),
]


@pytest.mark.parametrize(("payload", "words"), INVALID_TRIGGERS)
def test_trigger_validation(
    daemon: RunningDaemon, function: tuple[str, str], payload: dict[str, Any], words: str
) -> None:
    service, fn = function
    response = api_call(daemon, "POST", f"/services/{service}/functions/{fn}/triggers", payload)
    body = assert_fc_error(response, 400, "InvalidArgument")
    assert words in body["ErrorMessage"]


def test_trigger_qualifier_must_exist(daemon: RunningDaemon, function: tuple[str, str]) -> None:
    service, fn = function
    path = f"/services/{service}/functions/{fn}/triggers"
    assert_fc_error(api_call(daemon, "POST", path, _trigger(qualifier="7")), 404, "VersionNotFound")
    assert_fc_error(
        api_call(daemon, "POST", path, _trigger(qualifier="nope")), 404, "AliasNotFound"
    )


def test_update_validates_against_the_stored_type(
    daemon: RunningDaemon, function: tuple[str, str]
) -> None:
    service, fn = function
    base = f"/services/{service}/functions/{fn}/triggers"
    config = {"authType": "anonymous", "methods": ["GET"]}
    created = api_call(
        daemon, "POST", base, {"triggerName": "h", "triggerType": "http", "triggerConfig": config}
    )
    assert created.status_code == 200
    # The type cannot change; an oss config does not make a valid http one.
    bad = api_call(daemon, "PUT", f"{base}/h", {"triggerType": "oss", "triggerConfig": OSS_CONFIG})
    body = assert_fc_error(bad, 400, "InvalidArgument")
    assert "triggerConfig.authType" in body["ErrorMessage"]
    assert_fc_error(api_call(daemon, "PUT", f"{base}/nope", {}), 404, "TriggerNotFound")
    assert_fc_error(api_call(daemon, "GET", f"{base}/nope"), 404, "TriggerNotFound")
    assert_fc_error(
        api_call(daemon, "GET", f"/services/{service}/functions/nofn/triggers"),
        404,
        "FunctionNotFound",
    )
    assert_fc_error(
        api_call(daemon, "POST", f"/services/{service}/functions/nofn/triggers", _trigger()),
        404,
        "FunctionNotFound",
    )
