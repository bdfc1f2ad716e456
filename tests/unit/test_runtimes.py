"""Pure parts of the runtime layer: runtime names, the instance environment, cgroup ratios."""

from __future__ import annotations

from pathlib import Path

import pytest

from fcd.instances import runtimes
from fcd.isolation.cgroup import Limits
from fcd.model import FunctionContext, InstanceSpec
from fcd.wire.functions import RUNTIMES


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
        ("custom.debian12", "custom"),
        ("nodejs4.4", "nodejs"),
        ("nodejs6", "nodejs"),
        ("nodejs8", "nodejs"),
        ("python3.6", "python"),
        ("java8", None),
        ("go1", None),
    ],
)
def test_runtime_names(name: str, kind: str | None) -> None:
    assert runtimes.kind_of(name) == kind


def test_every_fc_runtime_name_runs_or_is_refused_at_write_time() -> None:
    """No name is accepted at create only to fail at every invoke (the 412 of old)."""
    for name in RUNTIMES:
        if runtimes.kind_of(name) is None:
            why = runtimes.refusal(name)
            assert why is not None, name
            assert "python3" in why
            assert "nodejs20" in why
            assert "custom" in why
        else:
            assert runtimes.refusal(name) is None, name


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("python2.7", "python3"),
        ("java11", "custom runtime"),
        ("go1", "custom runtime"),
        ("custom-container", "custom runtime"),
        ("php7.2", ""),
        ("dotnetcore3.1", ""),
    ],
)
def test_refusals_name_what_to_use_instead(name: str, hint: str) -> None:
    why = runtimes.refusal(name)
    assert why is not None
    assert why.startswith(f"runtime {name} is not supported by this fcd host")
    assert hint in why


@pytest.mark.parametrize(
    ("name", "real", "note"),
    [
        ("python3.6", "3.11.2", "FC runtime python3.6 runs on Python 3.11.2"),
        ("python3.12", "3.11.2", "FC runtime python3.12 runs on Python 3.11.2"),
        ("python3.11", "3.11.2", None),
        ("python3", "3.11.2", None),
        ("nodejs8", "20.20.2", "FC runtime nodejs8 runs on Node.js 20.20.2"),
        ("nodejs4.4", "20.20.2", "FC runtime nodejs4.4 runs on Node.js 20.20.2"),
        ("nodejs20", "20.20.2", None),
        ("nodejs", "20.20.2", None),
        ("custom", "3.11.2", None),
        ("nodejs8", "", None),
    ],
)
def test_the_real_interpreter_is_named_when_the_name_differs(
    name: str, real: str, note: str | None
) -> None:
    line = runtimes.version_note(name, real)
    if note is None:
        assert line is None
    else:
        assert line is not None
        assert line.startswith(note)
        assert line.endswith("\n")


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
