"""Pure parts of the runtime layer: runtime names, the instance environment, cgroup ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcd.instances import runtimes
from fcd.isolation.cgroup import Limits
from fcd.model import FunctionContext, InstanceSpec


def spec(environment: dict[str, str]) -> InstanceSpec:
    context = FunctionContext(
        service_name="s",
        function_name="f",
        qualifier="",
        version_id="2",
        handler="index.handler",
        memory_mb=256,
        timeout_s=30,
        initializer="index.init",
        initialization_timeout_s=5,
        region="cn-shanghai",
        account_id="42",
        access_key_id="AK",
        access_key_secret="SK",
        security_token="TOKEN",
    )
    return InstanceSpec("c-1", "nodejs18", Path("/x"), (), environment, context, ca_port=8080)


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("python3", "python"),
        ("python3.10", "python"),
        ("nodejs14", "nodejs"),
        ("nodejs20", "nodejs"),
        ("custom", "custom"),
        ("custom.debian10", "custom"),
        ("java8", None),
        ("go1", None),
    ],
)
def test_runtime_names(name: str, kind: str | None) -> None:
    assert runtimes.kind_of(name) == kind


def test_environment_is_explicit_and_fc_keys_win() -> None:
    env = runtimes.environment(
        spec({"FC_REGION": "evil", "MY_KEY": "v"}),
        "nodejs",
        code_path="/code",
        runtime_path="/var/fc/runtime",
    )
    assert env["FC_REGION"] == "cn-shanghai"
    assert env["MY_KEY"] == "v"
    assert env["FC_QUALIFIER"] == "LATEST"
    assert env["FC_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["FC_CUSTOM_LISTEN_PORT"] == "8080"
    assert env["ALIBABA_CLOUD_SECURITY_TOKEN"] == "TOKEN"
    assert env["FC_FUNC_CODE_PATH"] == "/code/"
    assert env["NODE_PATH"].startswith("/var/fc/runtime/nodejs/node_modules:")
    assert "PYTHONDONTWRITEBYTECODE" not in env


def test_cpu_share_is_proportional_to_memory() -> None:
    assert Limits(1024).cpu_shares == 1024
    assert Limits(128).cpu_shares == 128
    assert Limits(1024).cpu_weight == 100
    assert Limits(128).cpu_weight == 12
    assert Limits(1).cpu_shares == 2  # the kernel's minimum
    assert Limits(512).memory_bytes == 512 << 20
