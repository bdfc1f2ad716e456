"""Account-level routes, instance listing, and the routes fcd refuses with a clear FC error
(spec §3 routes 1, 60-65, 67, 68)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import fc2
import pytest
from fc2.fc_exceptions import FcError

from tests.daemon import REGION, RunningDaemon
from tests.integration.test_configs import call, create_function, error_of

# The daemon's default code size limit (config.limits.code_size), FC's CodeSizeLimit.
CODE_SIZE_LIMIT = str(100 * 1024 * 1024)


@pytest.fixture
def function(client: fc2.Client, unique: str, tmp_path: Path) -> Iterator[str]:
    """A service ``acct_<unique>`` with one function ``f``."""
    service = f"acct_{unique}"
    client.create_service(service)
    create_function(client, service, "f", tmp_path / "code")
    yield service
    client.delete_function(service, "f")
    client.delete_service(service)


def test_account_settings(client: fc2.Client) -> None:
    assert client.get_account_settings().data == {
        "availableAZs": [f"{REGION}-a"],
        "defaultRole": "",
    }


def test_account_configs(daemon: RunningDaemon) -> None:
    asked = "config=CodeSizeLimit&config=GPUCodeSizeLimit&config=Concurrency"
    status, body = call(daemon, "GET", f"/accountConfigs?{asked}")
    # Names fcd has no value for (Concurrency) are left out, as the Node SDK test asks for them.
    assert (status, body) == (
        200,
        {"CodeSizeLimit": CODE_SIZE_LIMIT, "GPUCodeSizeLimit": CODE_SIZE_LIMIT},
    )


def test_reserved_capacities_are_none(client: fc2.Client) -> None:
    assert client.list_reserved_capacities(limit=10).data == {"reservedCapacities": []}


def test_list_instances(client: fc2.Client, function: str) -> None:
    assert client.list_instances(function, "LATEST", "f").data == {"instances": []}
    with pytest.raises(FcError) as missing:
        client.list_instances(function, "LATEST", "nope")
    assert error_of(missing)[:2] == (404, "FunctionNotFound")


@pytest.mark.parametrize(
    ("method", "path", "reason"),
    [
        ("GET", "/tempBucketToken", "no OSS"),
        ("GET", "/services/{svc}/tempCodeBucketToken?functionName=f", "no OSS"),
        ("GET", "/services/{svc}/bindings", "no VPC"),
        ("POST", "/services/{svc}/bindings", "no VPC"),
        ("POST", "/services/{svc}/binding", "no VPC"),
        ("DELETE", "/services/{svc}/bindings/vpc-1", "no VPC"),
        ("GET", "/services/{svc}/functions/f/event-sources", "event sources"),
        ("POST", "/services/{svc}/functions/f/event-sources", "event sources"),
        (
            "DELETE",
            "/services/{svc}/functions/f/event-sources/acs:mns:cn-hangzhou:1:/queues/q",
            "event sources",
        ),
        ("GET", "/services/{svc}/functions/f/instances/i-1/exec?command=ls", "commands"),
    ],
)
def test_unsupported_routes_say_why(
    daemon: RunningDaemon, function: str, method: str, path: str, reason: str
) -> None:
    status, body = call(daemon, method, path.format(svc=function), {"vpcId": "vpc-1"})
    assert (status, body["ErrorCode"]) == (400, "PathNotSupported")
    assert "not supported by fcd" in body["ErrorMessage"]
    assert reason in body["ErrorMessage"]
