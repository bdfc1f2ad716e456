"""fcctl as a user runs it: the installed console script, as a process, against the daemon."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, RunningDaemon

ROOT = Path(__file__).resolve().parents[2]
FCCTL = ROOT / ".venv" / "bin" / "fcctl"
DOCS = ROOT / "docs" / "cli.md"
CREDENTIAL_VARIABLES = re.compile(r"^(ALIBABA_CLOUD_|FCD_|FCCTL_|FC_)")


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The test's environment without any credentials, and a config file of its own."""
    env = {k: v for k, v in os.environ.items() if not CREDENTIAL_VARIABLES.match(k)}
    env["FCCTL_CONFIG"] = str(tmp_path / "fcctl" / "config")
    env.update(extra)
    return env


@pytest.fixture
def env(daemon: RunningDaemon, tmp_path: Path) -> dict[str, str]:
    return clean_env(
        tmp_path,
        FCCTL_ENDPOINT=daemon.endpoint,
        ALIBABA_CLOUD_ACCESS_KEY_ID=ACCESS_KEY_ID,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=ACCESS_KEY_SECRET,
    )


def fcctl(env: dict[str, str], *args: str, status: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(FCCTL), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == status, (
        f"fcctl {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done


def as_json(env: dict[str, str], *args: str) -> object:
    return json.loads(fcctl(env, *args, "--json").stdout)


def test_service_lifecycle_table_and_json(env: dict[str, str], unique: str) -> None:
    name = f"cli_{unique}"
    created = as_json(env, "service", "create", name, "--description", "first")
    assert isinstance(created, dict)
    assert created["serviceName"] == name
    assert created["description"] == "first"
    assert created["internetAccess"] is True

    shown = fcctl(env, "service", "get", name).stdout
    lines = shown.splitlines()
    assert re.match(r"^FIELD\s+VALUE$", lines[0])
    assert re.search(rf"^serviceName\s+{name}$", shown, re.M)
    assert re.search(r"^description\s+first$", shown, re.M)
    assert re.search(r"^ETag\s+\S+$", shown, re.M)

    updated = as_json(
        env,
        "service",
        "update",
        name,
        "--internet-access",
        "false",
        "--body",
        '{"role": "acs:ram::1:role/r"}',
    )
    assert isinstance(updated, dict)
    assert updated["internetAccess"] is False
    assert updated["role"] == "acs:ram::1:role/r"
    assert updated["description"] == "first"

    listed = fcctl(env, "service", "list", "--prefix", name).stdout.splitlines()
    assert listed[0].split() == [
        "serviceName",
        "description",
        "internetAccess",
        "role",
        "lastModifiedTime",
    ]
    assert listed[1].split()[:4] == [name, "first", "false", "acs:ram::1:role/r"]
    assert len(listed) == 2

    refused = fcctl(env, "service", "delete", name, "--if-match", "stale", status=1)
    assert "412 PreconditionFailed" in refused.stderr
    assert fcctl(env, "service", "delete", name).stdout == f"deleted service '{name}'\n"
    missing = fcctl(env, "service", "get", name, status=1)
    assert re.search(
        rf"^fcctl: error: 404 ServiceNotFound: .*'{name}'.* \(request id .{{36}}\)$",
        missing.stderr,
    )


def test_list_follows_pages_limit_and_start_key(
    env: dict[str, str], daemon: RunningDaemon, unique: str
) -> None:
    # More than one page of the client's 100-item pages, created fast through the client.
    from fcd.client import Client, Credentials

    prefix = f"pg_{unique}_"
    names = [f"{prefix}{i:03d}" for i in range(105)]
    with Client(Credentials(daemon.endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET)) as client:
        for name in names:
            client.create_service(name)
        listed = as_json(env, "service", "list", "--prefix", prefix)
        assert [s["serviceName"] for s in listed] == names
        few = as_json(
            env, "service", "list", "--prefix", prefix, "--start-key", names[50], "--limit", "3"
        )
        assert [s["serviceName"] for s in few] == names[50:53]
        for name in names:
            client.delete_service(name)


def test_config_file_is_written_then_used(
    daemon: RunningDaemon, tmp_path: Path, unique: str
) -> None:
    env = clean_env(tmp_path)
    unconfigured = fcctl(env, "service", "list", status=2)
    assert "no access key" in unconfigured.stderr
    fcctl(
        env,
        "config",
        "--endpoint",
        daemon.endpoint,
        "--access-key-id",
        ACCESS_KEY_ID,
        "--access-key-secret",
        ACCESS_KEY_SECRET,
        "--account-id",
        ACCOUNT_ID,
    )
    path = Path(env["FCCTL_CONFIG"])
    assert path.stat().st_mode & 0o777 == 0o600
    assert "[default]" in path.read_text()
    shown = as_json(env, "config")
    assert isinstance(shown, dict)
    assert shown["endpoint"] == daemon.endpoint
    assert ACCESS_KEY_SECRET not in json.dumps(shown)

    name = f"cfg_{unique}"
    fcctl(env, "service", "create", name)
    fcctl(
        env,
        "--profile",
        "other",
        "config",
        "--access-key-id",
        ACCESS_KEY_ID,
        "--access-key-secret",
        "wrong-secret",
        "--endpoint",
        daemon.endpoint,
    )
    denied = fcctl(env, "--profile", "other", "service", "get", name, status=1)
    assert "403 SignatureNotMatch" in denied.stderr
    # The environment wins over the file.
    env_key = {**env, "ALIBABA_CLOUD_ACCESS_KEY_ID": "nobody"}
    unknown = fcctl(env_key, "service", "get", name, status=1)
    assert "403 InvalidAccessKeyID: invalid access key ID 'nobody'" in unknown.stderr
    fcctl(env, "service", "delete", name)


def test_unreachable_endpoint_and_bad_usage(tmp_path: Path) -> None:
    env = clean_env(tmp_path, ALIBABA_CLOUD_ACCESS_KEY_ID="a", ALIBABA_CLOUD_ACCESS_KEY_SECRET="b")
    down = fcctl(env, "--endpoint", "http://127.0.0.1:1", "service", "list", status=1)
    assert "cannot reach http://127.0.0.1:1" in down.stderr
    bad = fcctl(env, "function", "get", "no-slash", status=2)
    assert "is not SERVICE[.QUALIFIER]/FUNCTION" in bad.stderr


def _help_commands(*args: str) -> list[str]:
    """The subcommands argparse lists under 'positional arguments' (4-space indent)."""
    text = subprocess.run(
        [str(FCCTL), *args, "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    if "positional arguments:" not in text:
        return []
    section = text.split("positional arguments:", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"^ {4}([a-z][a-z-]*)(?:\s|$)", section, re.M)


def test_docs_list_exactly_the_commands_of_the_help() -> None:
    from_help = set()
    for group in _help_commands():
        actions = _help_commands(group)
        from_help |= {f"{group} {action}" for action in actions} if actions else {group}
    documented = set(
        re.findall(r"^### `fcctl ([a-z][a-z-]*(?: [a-z][a-z-]*)?)\b", DOCS.read_text(), re.M)
    )
    assert documented == from_help
    assert len(from_help) > 20
