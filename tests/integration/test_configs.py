"""Provision, on-demand and async invoke configs through the official Python SDK (aliyun-fc2),
and raw signed requests for what the SDK cannot send (spec §3 routes 36-50, §4.7-4.8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fc2
import pytest
from fc2.fc_exceptions import FcError

from tests.daemon import ACCOUNT_ID, REGION, RunningDaemon
from tests.signed_http import fc_request

HANDLER = "def handler(event, context):\n    return event\n"


def create_function(client: fc2.Client, service: str, function: str, code_dir: Path) -> None:
    """A python3 function; the code dir is written once per test."""
    code_dir.mkdir(exist_ok=True)
    (code_dir / "index.py").write_text(HANDLER)
    client.create_function(
        service, function, runtime="python3", handler="index.handler", codeDir=str(code_dir)
    )


def delete_service_tree(client: fc2.Client, service: str) -> None:
    """Aliases, versions, functions, then the service (what FC requires before the delete)."""
    for alias in client.list_aliases(service, limit=100).data["aliases"]:
        client.delete_alias(service, alias["aliasName"])
    for version in client.list_versions(service, limit=100).data["versions"]:
        client.delete_version(service, version["versionId"])
    for function in client.list_functions(service, limit=100).data["functions"]:
        client.delete_function(service, function["functionName"])
    client.delete_service(service)


def error_of(raised: pytest.ExceptionInfo[FcError]) -> tuple[int, str, str]:
    """(status, ErrorCode, ErrorMessage) of an SDK error."""
    body = json.loads(raised.value.message)
    return raised.value.status_code, body["ErrorCode"], body["ErrorMessage"]


def call(
    daemon: RunningDaemon, method: str, path: str, body: Any = None
) -> tuple[int, dict[str, Any]]:
    """A raw signed call; returns the status and the JSON body ({} when empty)."""
    data = json.dumps(body).encode() if body is not None else b""
    response = fc_request(daemon.endpoint, method, "/2016-08-15" + path, data)
    return response.status_code, (response.json() if response.content else {})


@pytest.fixture
def service(client: fc2.Client, unique: str, tmp_path: Path) -> Iterator[str]:
    """A service with functions ``f1`` and ``f2``, version 1 and alias ``test`` on it."""
    name = f"cfg_{unique}"
    client.create_service(name)
    create_function(client, name, "f1", tmp_path / "code")
    create_function(client, name, "f2", tmp_path / "code")
    version = client.publish_version(name, "v1").data["versionId"]
    client.create_alias(name, "test", version, "test alias")
    yield name
    delete_service_tree(client, name)


# provision configs ------------------------------------------------------------------------------
def test_provision_put_get_list_and_remove(client: fc2.Client, service: str) -> None:
    put = client.put_provision_config(service, "test", "f1", 10).data
    assert put["target"] == 10
    assert put["resource"] == f"{ACCOUNT_ID}#{service}#test#f1"
    assert put["current"] == 0  # stored, not yet enforced: fcd keeps no provisioned instances
    client.put_provision_config(service, "test", "f2", 5)

    got = client.get_provision_config(service, "test", "f1").data
    assert (got["target"], got["current"]) == (10, 0)
    assert got["resource"] == f"{ACCOUNT_ID}#{service}#test#f1"

    listed = client.list_provision_configs(service, "test").data
    assert [c["target"] for c in listed["provisionConfigs"]] == [10, 5]
    assert "nextToken" not in listed
    first = client.list_provision_configs(service, "test", limit=1).data
    assert len(first["provisionConfigs"]) == 1
    assert "nextToken" in first
    rest = client.list_provision_configs(
        service, "test", limit=1, nextToken=first["nextToken"]
    ).data
    assert rest["provisionConfigs"][0]["resource"].endswith("#f2")
    assert "nextToken" not in rest

    client.put_provision_config(service, "test", "f1", 0)
    client.put_provision_config(service, "test", "f2", 0)
    assert client.list_provision_configs(service, None).data == {"provisionConfigs": []}
    assert client.get_provision_config(service, "test", "f1").data["target"] == 0


def test_provision_lists_keep_and_clear(daemon: RunningDaemon, service: str) -> None:
    """``null`` keeps scheduledActions/targetTrackingPolicies, ``[]`` clears them (Java SDK)."""
    path = f"/services/{service}.LATEST/functions/f1/provision-config"
    actions = [
        {
            "name": "a1",
            "startTime": "2020-10-10T10:10:10Z",
            "endTime": "2030-10-10T10:10:10Z",
            "target": 5,
            "scheduleExpression": "at(2020-10-20T10:10:10Z)",
        },
        {"name": "a2", "target": 7, "scheduleExpression": "cron(0 */30 * * * *)"},
    ]
    policies = [
        {
            "name": "p1",
            "startTime": "2020-10-10T10:10:10Z",
            "endTime": "2030-10-10T10:10:10Z",
            "metricType": "ProvisionedConcurrencyUtilization",
            "metricTarget": 0.6000000238418579,
            "minCapacity": 5,
            "maxCapacity": 200,
        }
    ]
    status, put = call(
        daemon,
        "PUT",
        path,
        {"target": 3, "scheduledActions": actions, "TargetTrackingPolicies": policies},
    )
    assert status == 200
    assert [a["target"] for a in put["scheduledActions"]] == [5, 7]
    assert put["targetTrackingPolicies"][0]["metricTarget"] == 0.6000000238418579
    assert put["alwaysAllocateCPU"] is True

    status, kept = call(daemon, "PUT", path, {"target": 4, "scheduledActions": None})
    assert (status, kept["target"], len(kept["scheduledActions"])) == (200, 4, 2)
    assert kept["targetTrackingPolicies"] == put["targetTrackingPolicies"]

    status, cleared = call(
        daemon, "PUT", path, {"target": 0, "scheduledActions": [], "targetTrackingPolicies": []}
    )
    assert (status, cleared["scheduledActions"], cleared["targetTrackingPolicies"]) == (200, [], [])
    status, listed = call(daemon, "GET", f"/provision-configs?serviceName={service}")
    assert listed == {"provisionConfigs": []}


@pytest.mark.parametrize(
    ("actions", "message"),
    [
        (
            [
                {"name": "action1", "target": 5, "scheduleExpression": "at(2020-10-20T10:10:10Z)"},
                {"name": "action1", "target": 5, "scheduleExpression": "cron(0 */30 * * * *)"},
            ],
            "Duplicate action name 'action1' in ScheduledActions is not allowed",
        ),
        (
            [
                {
                    "name": "a1",
                    "startTime": "2020-10-10T10:10:10",
                    "target": 5,
                    "scheduleExpression": "at(2020-10-20T10:10:10Z)",
                }
            ],
            "The StartTime is not in UTC time format (example: '2020-10-10T10:10:10Z', "
            "actual: '2020-10-10T10:10:10')",
        ),
        (
            [{"name": "a1", "target": 5, "scheduleExpression": "cron(0s */30 * * * *)"}],
            "The ScheduleExpression should be atTime or cron expression (example: "
            "['at(2020-10-10T10:10:10Z)', 'cron(0 */30 * * * *)'], "
            "actual: 'cron(0s */30 * * * *)')",
        ),
        (
            [
                {"name": f"action_{i}", "target": 5, "scheduleExpression": "cron(0 */30 * * * *)"}
                for i in range(110)
            ],
            "ScheduledActions contains too many values (max: 100, actual: 110)",
        ),
    ],
)
def test_provision_scheduled_action_messages(
    daemon: RunningDaemon, service: str, actions: list[dict[str, Any]], message: str
) -> None:
    """The exact messages of the Java SDK's scheduledActionValidate1-4."""
    status, body = call(
        daemon,
        "PUT",
        f"/services/{service}.test/functions/f1/provision-config",
        {"target": 3, "scheduledActions": actions},
    )
    assert (status, body["ErrorCode"], body["ErrorMessage"]) == (400, "InvalidArgument", message)


def test_provision_errors(client: fc2.Client, daemon: RunningDaemon, service: str) -> None:
    with pytest.raises(FcError) as too_many:
        client.put_provision_config(service, "test", "f1", 10001)
    assert error_of(too_many)[:2] == (400, "InvalidArgument")
    with pytest.raises(FcError) as version:
        client.put_provision_config(service, "1", "f1", 1)
    status, code, message = error_of(version)
    assert (status, code) == (400, "InvalidArgument")
    assert "alias or LATEST" in message
    with pytest.raises(FcError) as no_function:
        client.put_provision_config(service, "test", "nope", 1)
    assert error_of(no_function)[:2] == (404, "FunctionNotFound")
    with pytest.raises(FcError) as no_alias:
        client.get_provision_config(service, "nope", "f1")
    assert error_of(no_alias)[:2] == (404, "AliasNotFound")
    status, body = call(daemon, "GET", "/provision-configs?qualifier=test")
    assert (status, body["ErrorCode"]) == (400, "InvalidArgument")
    assert "serviceName" in body["ErrorMessage"]


# on-demand configs ------------------------------------------------------------------------------
def test_on_demand_put_get_list_delete(client: fc2.Client, service: str) -> None:
    prefix = f"services/{service}."
    empty = client.list_on_demand_config(prefix=prefix).data
    assert empty.get("configs") is None
    assert empty.get("nextToken") is None

    client.put_on_demand_config(service, "test", "f1", 1)
    got = client.get_on_demand_config(service, "test", "f1").data
    assert got == {"resource": f"services/{service}.test/functions/f1", "maximumInstanceCount": 1}
    listed = client.list_on_demand_config(prefix=prefix).data
    assert len(listed["configs"]) == 1
    assert listed.get("nextToken") is None

    client.put_on_demand_config(service, "test", "f2", 2)
    first = client.list_on_demand_config(limit=1, prefix=prefix).data
    assert len(first["configs"]) == 1
    assert first.get("nextToken") is not None
    second = client.list_on_demand_config(prefix=prefix, nextToken=first["nextToken"]).data
    assert second["configs"] == [
        {"resource": f"services/{service}.test/functions/f2", "maximumInstanceCount": 2}
    ]
    assert second.get("nextToken") is None
    from_f2 = client.list_on_demand_config(startKey=f"{prefix}test/functions/f2").data
    assert from_f2["configs"][0]["resource"].endswith("/f2")

    client.delete_on_demand_config(service, "test", "f2")
    after = client.list_on_demand_config(limit=2, prefix=prefix).data
    assert len(after["configs"]) == 1
    assert after.get("nextToken") is None
    with pytest.raises(FcError) as gone:
        client.get_on_demand_config(service, "test", "f2")
    assert error_of(gone)[:2] == (404, "OnDemandConfigNotFound")
    client.delete_on_demand_config(service, "test", "f1")
    assert client.list_on_demand_config(prefix=prefix).data == {}


def test_on_demand_errors(client: fc2.Client, service: str) -> None:
    etag = client.put_on_demand_config(service, "test", "f1", 3).headers["etag"]
    with pytest.raises(FcError) as stale:
        client.put_on_demand_config(service, "test", "f1", 4, headers={"if-match": "stale"})
    assert error_of(stale)[:2] == (412, "PreconditionFailed")
    client.put_on_demand_config(service, "test", "f1", 4, headers={"if-match": etag})
    assert client.get_on_demand_config(service, "test", "f1").data["maximumInstanceCount"] == 4
    with pytest.raises(FcError) as negative:
        client.put_on_demand_config(service, "test", "f1", -1)
    assert error_of(negative)[:2] == (400, "InvalidArgument")
    with pytest.raises(FcError) as no_function:
        client.put_on_demand_config(service, "test", "nope", 1)
    assert error_of(no_function)[:2] == (404, "FunctionNotFound")
    with pytest.raises(FcError) as never_put:
        client.delete_on_demand_config(service, "test", "f2")
    assert error_of(never_put)[:2] == (404, "OnDemandConfigNotFound")
    client.delete_on_demand_config(service, "test", "f1")


# async invoke configs ---------------------------------------------------------------------------
def test_async_config_as_the_python_sdk_test_sends_it(client: fc2.Client, service: str) -> None:
    destination = f"acs:fc:{REGION}:{ACCOUNT_ID}:services/{service}.test/functions/f1_new"
    sent = {
        "DestinationConfig": {
            "OnSuccess": {"Destination": destination},
            "OnFailure": {"Destination": destination},
        },
        "MaxAsyncEventAgeInSeconds": 100,
        "MaxAsyncRetryAttempts": 1,
    }
    put = client.put_function_async_invoke_config(service, "test", "f1", sent).data
    got = client.get_function_async_invoke_config(service, "test", "f1").data
    for config in (put, got):
        assert (config["service"], config["function"], config["qualifier"]) == (
            service,
            "f1",
            "test",
        )
        assert config["createdTime"]
        assert config["lastModifiedTime"]
        assert config["destinationConfig"]["onSuccess"]["destination"] == destination
        assert config["destinationConfig"]["onFailure"]["destination"] == destination
        assert config["maxAsyncEventAgeInSeconds"] == 100
        assert config["maxAsyncRetryAttempts"] == 1
        assert config["statefulInvocation"] is False

    listed = client.list_function_async_invoke_configs(service, "f1").data
    assert len(listed["configs"]) == 1
    assert listed["nextToken"] == ""

    client.delete_function_async_invoke_config(service, "test", "f1")
    with pytest.raises(FcError) as gone:
        client.get_function_async_invoke_config(service, "test", "f1")
    assert error_of(gone) == (
        404,
        "AsyncConfigNotExists",
        f"AsyncConfig for {service}:f1 does not exist.",
    )
    assert client.list_function_async_invoke_configs(service, "f1").data == {
        "configs": None,
        "nextToken": "",
    }


def test_async_config_defaults_partial_updates_and_pages(
    daemon: RunningDaemon, client: fc2.Client, service: str
) -> None:
    path = f"/services/{service}/functions/f2/async-invoke-config"
    status, created = call(daemon, "PUT", path, {"maxAsyncRetryAttempts": 2})
    assert (status, created["qualifier"]) == (200, "LATEST")
    assert created["maxAsyncEventAgeInSeconds"] is None  # unset stays null (Java SDK test)
    status, updated = call(
        daemon, "PUT", path, {"maxAsyncEventAgeInSeconds": 60, "statefulInvocation": True}
    )
    assert (updated["maxAsyncRetryAttempts"], updated["maxAsyncEventAgeInSeconds"]) == (2, 60)
    assert updated["createdTime"] == created["createdTime"]
    status, got = call(
        daemon, "GET", f"/services/{service}.LATEST/functions/f2/async-invoke-config"
    )
    assert got == updated

    hook = {"destinationConfig": {"onFailure": {"destination": "http://203.0.113.7:1/hook"}}}
    status, with_url = call(
        daemon, "PUT", f"/services/{service}.test/functions/f2/async-invoke-config", hook
    )
    assert (status, with_url["destinationConfig"]) == (200, hook["destinationConfig"])

    first = client.list_function_async_invoke_configs(service, "f2", limit=1).data
    assert [c["qualifier"] for c in first["configs"]] == ["LATEST"]
    assert first["nextToken"] == "test"
    rest = client.list_function_async_invoke_configs(service, "f2", nextToken="test").data
    assert ([c["qualifier"] for c in rest["configs"]], rest["nextToken"]) == (["test"], "")

    status, stateful = call(daemon, "GET", "/stateful-async-invocation-functions?limit=100")
    assert {"serviceName": service, "functionName": "f2", "qualifier": "LATEST"} in stateful["data"]
    for qualifier in ("LATEST", "test"):
        client.delete_function_async_invoke_config(service, qualifier, "f2")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"maxAsyncRetryAttempts": 9}, "maxAsyncRetryAttempts"),
        ({"maxAsyncEventAgeInSeconds": 0}, "maxAsyncEventAgeInSeconds"),
        ({"destinationConfig": {"onSuccess": {"destination": "f1"}}}, "destination 'f1'"),
        (
            {
                "destinationConfig": {
                    "onSuccess": {"destination": "acs:fc:cn-beijing:1:services/s/functions/f"}
                }
            },
            "not in this fcd",
        ),
        ({"maxAsyncRetryAttempts": "many"}, "maxAsyncRetryAttempts"),
    ],
)
def test_async_config_rejects_bad_values(
    daemon: RunningDaemon, service: str, body: dict[str, Any], needle: str
) -> None:
    status, error = call(
        daemon, "PUT", f"/services/{service}/functions/f1/async-invoke-config", body
    )
    assert (status, error["ErrorCode"]) == (400, "InvalidArgument")
    assert needle in error["ErrorMessage"]


def test_async_config_of_missing_things(client: fc2.Client, service: str) -> None:
    with pytest.raises(FcError) as no_function:
        client.put_function_async_invoke_config(service, "test", "nope", {})
    assert error_of(no_function)[:2] == (404, "FunctionNotFound")
    with pytest.raises(FcError) as no_version:
        client.get_function_async_invoke_config(service, "7", "f1")
    assert error_of(no_version)[:2] == (404, "VersionNotFound")
    with pytest.raises(FcError) as no_config:
        client.delete_function_async_invoke_config(service, "test", "f1")
    assert error_of(no_config)[:2] == (404, "AsyncConfigNotExists")


# stateful async invocations ---------------------------------------------------------------------
def test_stateful_invocations_report_nothing_recorded(daemon: RunningDaemon, service: str) -> None:
    base = f"/services/{service}/functions/f1/stateful-async-invocations"
    assert call(daemon, "GET", base) == (200, {})
    for method in ("GET", "PUT"):
        status, body = call(daemon, method, f"{base}/inv-1")
        assert (status, body["ErrorCode"]) == (404, "StatefulAsyncInvocationNotFound")
        assert "inv-1" in body["ErrorMessage"]
    status, body = call(
        daemon, "GET", f"/services/{service}/functions/nope/stateful-async-invocations"
    )
    assert (status, body["ErrorCode"]) == (404, "FunctionNotFound")
