"""Write-time checks of settings one host cannot honour (fcd.wire), and the NAS rules."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from fcd import errors
from fcd.api.async_configs import check_destination
from fcd.isolation.sandbox import UIDS
from fcd.wire import decode
from fcd.wire.functions import (
    CustomDns,
    CustomHealthCheckConfig,
    FunctionInput,
    StoredFunction,
    check_cpu,
    check_dns,
    check_function,
    check_input,
    health_check,
    resolv_conf,
)
from fcd.wire.services import (
    NAS_ID_MIN,
    ServiceInput,
    check_service,
    export_key,
    nas_run_as,
    resolve_export,
)
from fcd.wire.triggers import validate_config

EXPORTS = {"srv.nas.example:/share": "/srv/nas/share"}


def service_check(body: dict[str, Any], *, mounts_possible: bool = True) -> None:
    change = decode(msgspec.json.encode(body), ServiceInput)
    check_service(change, exports=EXPORTS, mounts_possible=mounts_possible)


def nas(addr: str = "srv.nas.example:/share", mount_dir: str = "/mnt/nas", **ids: int) -> Any:
    return {"nasConfig": {**ids, "mountPoints": [{"serverAddr": addr, "mountDir": mount_dir}]}}


def test_the_nas_id_floor_is_the_sandbox_uid_floor() -> None:
    assert UIDS.start == NAS_ID_MIN


@pytest.mark.parametrize(
    "body",
    [
        nas(),
        nas("srv.nas.example:/share/", "/data/x", userId=10003),
        nas(userId=-1, groupId=20000),
        {"nasConfig": {"userId": -1, "groupId": -1, "mountPoints": []}},
        {"vpcConfig": {"vpcId": "", "vSwitchIds": [], "securityGroupId": ""}},
        {"tracingConfig": {}},
        {"ossMountConfig": {"mountPoints": []}},
        {"logConfig": {"project": "p", "logstore": "s"}},
    ],
)
def test_accepted(body: dict[str, Any]) -> None:
    service_check(body)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (nas("srv.nas.example:/other"), "[nas] exports"),
        (nas("srv.nas.example:/share/sub"), "[nas] exports"),
        (nas(userId=0), "userId 0"),
        (nas(userId=1000), "userId 1000"),
        (nas(groupId=65534), "groupId 65534"),
        (nas(mount_dir="/etc/x"), "mountDir"),
        (nas(mount_dir="/mnt"), "mountDir"),
        (nas(mount_dir="/mnt/../etc"), "mountDir"),
        (
            {
                "nasConfig": {
                    "mountPoints": [
                        {"serverAddr": "srv.nas.example:/share", "mountDir": "/mnt/a"},
                        {"serverAddr": "srv.nas.example:/share", "mountDir": "/mnt/a/b"},
                    ]
                }
            },
            "nested",
        ),
        ({"vpcConfig": {"vpcId": "vpc-1", "vSwitchIds": ["vsw-1"]}}, "internetAccess"),
        ({"tracingConfig": {"type": "Zipkin", "params": {"endpoint": "e"}}}, "Jaeger only"),
        (
            {"ossMountConfig": {"mountPoints": [{"bucketName": "b", "mountDir": "/mnt/b"}]}},
            "S3 API",
        ),
    ],
)
def test_refused(body: dict[str, Any], says: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=says.replace("[", r"\[").replace("]", r"\]")):
        service_check(body)


def test_nas_needs_sandboxes() -> None:
    with pytest.raises(errors.InvalidArgument, match="isolation"):
        service_check(nas(), mounts_possible=False)


def test_export_addresses_and_ids() -> None:
    assert export_key("srv:/share/") == export_key("srv:/share") == "srv:/share"
    assert export_key("srv:") == export_key("srv:/") == "srv:/"
    assert resolve_export("srv.nas.example:/share/", EXPORTS) == "/srv/nas/share"
    assert resolve_export("srv.nas.example:/", EXPORTS) is None
    assert nas_run_as(-1, -1) is None
    assert nas_run_as(10003, -1) == (10003, 10003)
    assert nas_run_as(-1, 10004) == (-1, 10004)


@pytest.mark.parametrize(
    "arn",
    [
        "acs:mns:cn-hangzhou:123:/queues/q/messages",
        "acs:mns:cn-hangzhou:123:/topics/t/messages",
        "acs:eventbridge:cn-hangzhou:123:eventbus/default",
    ],
)
def test_destinations_to_services_fcd_lacks_are_refused(arn: str) -> None:
    with pytest.raises(errors.InvalidArgument, match=r"no (MNS|EventBridge)"):
        check_destination(arn, "cn-hangzhou", "123")
    check_destination("acs:fc:cn-hangzhou:123:services/s/functions/f", "cn-hangzhou", "123")
    check_destination("https://example.com/hook", "cn-hangzhou", "123")


@pytest.mark.parametrize(
    "body",
    [
        {"customContainerConfig": {"image": "registry.example/app:1"}},
        {"instanceType": "fc.gpu.tesla.1"},
        {"gpuMemorySize": 8192},
        {"customDNS": {"nameServers": ["dns.example"]}},
        {"customDNS": {"searches": ["a.example\nnameserver 1.2.3.4"]}},
        {"customDNS": {"dnsOptions": [{"name": "ndots", "value": "2\nnameserver 1.2.3.4"}]}},
        {"customDNS": {"nameServers": ["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"]}},
        {"customHealthCheckConfig": {"httpGetUrl": "ready"}},
        {"customHealthCheckConfig": {"httpGetUrl": "/ready", "timeoutSeconds": 5}},
    ],
)
def test_function_settings_one_host_cannot_honour_are_refused(body: dict[str, Any]) -> None:
    with pytest.raises(
        errors.InvalidArgument, match=r"not supported|customDNS|customHealthCheckConfig"
    ):
        check_input(decode(msgspec.json.encode(body), FunctionInput))


@pytest.mark.parametrize(
    "body",
    [
        {"instanceType": "c1"},
        {"customDNS": {}},
        {"customHealthCheckConfig": {}},
        {"customContainerConfig": {}},
        {"gpuMemorySize": 0},
    ],
)
def test_empty_function_settings_are_accepted(body: dict[str, Any]) -> None:
    check_input(decode(msgspec.json.encode(body), FunctionInput))


def test_soft_concurrency_may_not_exceed_instance_concurrency() -> None:
    function = StoredFunction(
        function_id="id",
        function_name="f",
        runtime="python3",
        handler="index.handler",
        created_time="t",
        last_modified_time="t",
        code_sha256="x",
        instance_concurrency=2,
        instance_soft_concurrency=3,
    )
    with pytest.raises(errors.InvalidArgument, match="instanceSoftConcurrency"):
        check_function(function)
    check_function(msgspec.structs.replace(function, instance_soft_concurrency=2))


def test_custom_dns_becomes_resolv_conf() -> None:
    dns = decode(
        msgspec.json.encode(
            {
                "nameServers": ["10.0.0.2", "2001:db8::53"],
                "searches": ["svc.example", "example"],
                "dnsOptions": [{"name": "ndots", "value": "2"}, {"name": "rotate"}],
            }
        ),
        CustomDns,
    )
    check_dns(dns)
    assert resolv_conf(dns) == (
        "nameserver 10.0.0.2\nnameserver 2001:db8::53\nsearch svc.example example\n"
        "options ndots:2 rotate\n"
    )
    assert resolv_conf(CustomDns()) is None
    assert resolv_conf(None) is None


@pytest.mark.parametrize(
    ("cpu", "memory_mb", "ok"),
    [
        (1.0, 1024, True),
        (0.25, 1024, True),
        (0.05, 128, True),
        (2.0, 1024, False),  # 0.5 GB per vCPU
        (0.1, 1024, False),  # 10 GB per vCPU
        (0.33, 1024, False),  # off the 0.05 grid
    ],
)
def test_cpu_follows_fcs_memory_ratio(cpu: float, memory_mb: int, ok: bool) -> None:
    if ok:
        check_cpu(cpu, memory_mb)
    else:
        with pytest.raises(errors.InvalidArgument, match="cpu"):
            check_cpu(cpu, memory_mb)


def test_health_checks_have_fcs_defaults_and_need_a_custom_runtime() -> None:
    probe = CustomHealthCheckConfig(http_get_url="/ready", period_seconds=1)
    assert health_check(probe) == ("/ready", 0, 1, 1, 3, 1)
    assert health_check(CustomHealthCheckConfig()) is None
    function = StoredFunction(
        function_id="id",
        function_name="f",
        runtime="python3",
        handler="index.handler",
        created_time="t",
        last_modified_time="t",
        code_sha256="x",
        custom_health_check_config=probe,
    )
    with pytest.raises(errors.InvalidArgument, match="custom runtimes only"):
        check_function(function)
    check_function(msgspec.structs.replace(function, runtime="custom", handler="h"))


def test_disable_url_internet_is_refused() -> None:
    config = {"authType": "anonymous", "methods": ["GET"], "disableURLInternet": True}
    with pytest.raises(errors.InvalidArgument, match="disableURLInternet"):
        validate_config("http", config)
    validate_config("http", {**config, "disableURLInternet": False})
