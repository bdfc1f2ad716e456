"""fcctl as a user runs it: the installed console script, as a process, against the daemon."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, RunningDaemon

ROOT = Path(__file__).resolve().parents[2]
# fcctl as ``python -m fcd.cli`` from the checkout, so the code under test is this tree's.
FCCTL = [str(ROOT / ".venv" / "bin" / "python"), "-m", "fcd.cli"]
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


def fcctl(
    env: dict[str, str], *args: str, status: int = 0, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run fcctl (``stdin`` as its standard input) and check its exit status."""
    done = subprocess.run(
        [*FCCTL, *args],
        env=env,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == status, (
        f"fcctl {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done


def as_json(env: dict[str, str], *args: str) -> Any:
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
    # --json also works before the command.
    assert json.loads(fcctl(env, "--json", "service", "get", name).stdout) == updated

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
        rf"^fcctl: error: 404 ServiceNotFound: .*'{name}'.* \(request id .{{36}}\); see the"
        r" services with 'fcctl service list'$",
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
        [*FCCTL, *args, "--help"],
        cwd=ROOT,
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


HANDLER_PY = """\
def handler(event, context):
    print('got', event.decode())
    return 'hello ' + event.decode()


def fail(event, context):
    raise ValueError('bad event')
"""


def service_with_code(env: dict[str, str], tmp_path: Path, service: str) -> Path:
    """Create ``service`` and return a code directory with a Python handler."""
    fcctl(env, "service", "create", service)
    code = tmp_path / "code"
    code.mkdir()
    (code / "index.py").write_text(HANDLER_PY)
    return code


def test_function_deploy_directory_then_zip(
    env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    service = f"cli_fn_{unique}"
    code = service_with_code(env, tmp_path, service)
    (code / "lib").mkdir()
    (code / "lib" / "util.py").write_text("X = 1\n")

    deploy = ["function", "deploy", f"{service}/hello"]
    settings = ["--runtime", "python3.10", "--handler", "index.handler", "--memory-size", "256"]
    created = as_json(env, *deploy, str(code), *settings, "--env", "A=1", "--env", "B=2")
    assert isinstance(created, dict)
    assert created["runtime"] == "python3.10"
    assert created["environmentVariables"] == {"A": "1", "B": "2"}
    assert created["memorySize"] == 256
    first_checksum = created["codeChecksum"]

    # Same tree, same bytes: deploying again changes no checksum, and keeps the settings.
    again = as_json(env, *deploy, str(code))
    assert isinstance(again, dict)
    assert again["codeChecksum"] == first_checksum
    assert again["memorySize"] == 256

    archive = tmp_path / "code.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("index.py", HANDLER_PY + "# v2\n")
    updated = as_json(env, *deploy, str(archive), "--timeout", "30")
    assert isinstance(updated, dict)
    assert updated["codeChecksum"] != first_checksum
    assert updated["timeout"] == 30
    assert updated["handler"] == "index.handler"

    code_info = as_json(env, "function", "code", f"{service}/hello")
    assert isinstance(code_info, dict)
    assert code_info["checksum"] == updated["codeChecksum"]

    listed = fcctl(env, "function", "list", service).stdout.splitlines()
    assert listed[0].split()[:3] == ["functionName", "runtime", "handler"]
    assert listed[1].split()[:3] == ["hello", "python3.10", "index.handler"]

    not_zip = tmp_path / "notes.txt"
    not_zip.write_text("hi")
    bad = fcctl(env, *deploy, str(not_zip), status=2)
    assert "neither a directory nor a ZIP" in bad.stderr
    missing_runtime = fcctl(env, "function", "deploy", f"{service}/other", str(code), status=1)
    assert "400 InvalidArgument" in missing_runtime.stderr

    fcctl(env, "function", "delete", f"{service}/hello")
    fcctl(env, "service", "delete", service)


def test_function_create_update_get_delete(
    env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    service = f"cli_fc_{unique}"
    code = service_with_code(env, tmp_path, service)
    ref = f"{service}/fn"
    create = ["function", "create", ref, "--runtime", "python3.10", "--handler", "index.handler"]
    created = as_json(env, *create, "--code", str(code), "--description", "one")
    assert isinstance(created, dict)
    assert created["description"] == "one"
    dup = fcctl(env, *create, "--code", str(code), status=1)
    assert "409 FunctionAlreadyExists" in dup.stderr
    bad = fcctl(env, "function", "update", ref, "--runtime", "cobol", status=1)
    assert "400 InvalidArgument" in bad.stderr

    updated = as_json(
        env, "function", "update", ref, "--description", "two", "--instance-concurrency", "5"
    )
    assert isinstance(updated, dict)
    assert (updated["description"], updated["instanceConcurrency"]) == ("two", 5)
    got = as_json(env, "function", "get", f"{service}.LATEST/fn")
    assert isinstance(got, dict)
    assert got["description"] == "two"
    stale = fcctl(env, "function", "delete", ref, "--if-match", "nope", status=1)
    assert "412 PreconditionFailed" in stale.stderr
    qualified = fcctl(env, "function", "update", f"{service}.1/fn", status=2)
    assert "only reads go through a qualifier" in qualified.stderr
    fcctl(env, "function", "delete", ref)
    gone = fcctl(env, "function", "get", ref, status=1)
    assert "404 FunctionNotFound" in gone.stderr
    fcctl(env, "service", "delete", service)


def test_triggers_versions_aliases(env: dict[str, str], tmp_path: Path, unique: str) -> None:
    service = f"cli_tva_{unique}"
    code = service_with_code(env, tmp_path, service)
    python = ["--runtime", "python3.10", "--handler", "index.handler"]
    fcctl(env, "function", "deploy", f"{service}/fn", str(code), *python)

    config = {"authType": "anonymous", "methods": ["GET", "POST"]}
    trigger = as_json(
        env,
        "trigger",
        "create",
        f"{service}/fn",
        "web",
        "--type",
        "http",
        "--config",
        json.dumps(config),
        "--description",
        "d",
    )
    assert isinstance(trigger, dict)
    assert trigger["triggerConfig"] == config
    config_file = tmp_path / "timer.json"
    config_file.write_text(
        json.dumps({"cronExpression": "@every 5m", "enable": False, "payload": "p"})
    )
    fcctl(
        env,
        "trigger",
        "create",
        f"{service}/fn",
        "tick",
        "--type",
        "timer",
        "--config",
        f"@{config_file}",
    )
    rows = fcctl(env, "trigger", "list", f"{service}/fn").stdout.splitlines()[1:]
    assert [(r.split()[0], r.split()[1]) for r in rows] == [("tick", "timer"), ("web", "http")]
    changed = as_json(env, "trigger", "update", f"{service}/fn", "web", "--description", "e")
    assert isinstance(changed, dict)
    assert (changed["description"], changed["triggerConfig"]) == ("e", config)
    assert as_json(env, "trigger", "get", f"{service}/fn", "tick")["triggerType"] == "timer"
    busy = fcctl(env, "function", "delete", f"{service}/fn", status=1)
    assert "409 FunctionNotEmpty" in busy.stderr

    v1 = as_json(env, "version", "publish", service, "--description", "first")
    assert isinstance(v1, dict)
    assert v1["versionId"] == "1"
    unchanged = fcctl(env, "version", "publish", service, status=1)
    assert "400" in unchanged.stderr
    fcctl(env, "function", "update", f"{service}/fn", "--description", "v2")
    assert as_json(env, "version", "publish", service)["versionId"] == "2"
    newest_first = [v["versionId"] for v in as_json(env, "version", "list", service)]
    assert newest_first == ["2", "1"]
    oldest_first = as_json(env, "version", "list", service, "--direction", "FORWARD")
    assert [v["versionId"] for v in oldest_first] == ["1", "2"]

    alias = as_json(
        env,
        "alias",
        "create",
        service,
        "prod",
        "--version-id",
        "1",
        "--weight",
        "2=0.25",
        "--description",
        "live",
    )
    assert isinstance(alias, dict)
    assert alias["additionalVersionWeight"] == {"2": 0.25}
    kept = as_json(env, "alias", "update", service, "prod", "--description", "")
    assert isinstance(kept, dict)
    assert (kept["versionId"], kept["description"]) == ("1", "")
    bad_weight = fcctl(env, "alias", "update", service, "prod", "--weight", "2=1.5", status=2)
    assert "not between 0 and 1" in bad_weight.stderr
    rows = fcctl(env, "alias", "list", service).stdout.splitlines()
    assert rows[1].split()[:3] == ["prod", "1", '{"2":0.25}']
    fn_v1 = as_json(env, "function", "get", f"{service}.prod/fn")
    assert isinstance(fn_v1, dict)
    assert fn_v1["description"] != "v2"

    fcctl(env, "alias", "delete", service, "prod")
    for version in ("1", "2"):
        fcctl(env, "version", "delete", service, version)
    for name in ("web", "tick"):
        fcctl(env, "trigger", "delete", f"{service}/fn", name)
    fcctl(env, "function", "delete", f"{service}/fn")
    fcctl(env, "service", "delete", service)


def test_function_invoke(env: dict[str, str], tmp_path: Path, unique: str) -> None:
    service = f"cli_inv_{unique}"
    code = service_with_code(env, tmp_path, service)
    python = ["--runtime", "python3.10", "--handler", "index.handler"]
    fcctl(env, "function", "deploy", f"{service}/fn", str(code), *python)
    fcctl(
        env,
        "function",
        "create",
        f"{service}/bad",
        *python[:2],
        "--handler",
        "index.fail",
        "--code",
        str(code),
    )

    done = fcctl(env, "function", "invoke", f"{service}/fn", "--event", "world", "--log")
    assert done.stdout == "hello world"
    assert "got world" in done.stderr
    event = tmp_path / "event.bin"
    event.write_bytes(b"file")
    assert (
        fcctl(env, "function", "invoke", f"{service}.LATEST/fn", "--event-file", str(event)).stdout
        == "hello file"
    )
    piped = fcctl(env, "function", "invoke", f"{service}/fn", "--event-file", "-", stdin="pipe")
    assert piped.stdout == "hello pipe"
    described = as_json(env, "function", "invoke", f"{service}/fn", "--event", "j")
    assert isinstance(described, dict)
    assert described["body"] == "hello j"
    assert len(described["requestId"]) == 36
    assert described["errorType"] is None

    queued = fcctl(env, "function", "invoke", f"{service}/fn", "--event", "later", "--async")
    assert re.fullmatch(r"queued, request id .{36}\n", queued.stdout)

    failed = fcctl(env, "function", "invoke", f"{service}/bad", status=1)
    assert json.loads(failed.stdout)["errorMessage"] == "bad event"
    assert "the function failed: UnhandledInvocationError" in failed.stderr
    missing = fcctl(env, "function", "invoke", f"{service}/nope", status=1)
    assert "404 FunctionNotFound" in missing.stderr

    for name in ("fn", "bad"):
        fcctl(env, "function", "delete", f"{service}/{name}")
    fcctl(env, "service", "delete", service)


def test_bucket_mb_cp_ls_rm(env: dict[str, str], unique: str, tmp_path: Path) -> None:
    """fcctl bucket round trip through the bucket store's S3 API."""
    bucket = f"cli-{unique}"
    fcctl(env, "bucket", "mb", bucket)
    source = tmp_path / "report 1.csv"
    source.write_bytes(b"a,b\n" * 1000)
    uploaded = as_json(env, "bucket", "cp", str(source), f"s3://{bucket}/in/")
    assert uploaded == {
        "bucket": bucket,
        "key": "in/report 1.csv",
        "etag": hashlib.md5(source.read_bytes()).hexdigest(),
    }
    fcctl(env, "bucket", "cp", str(source), f"s3://{bucket}/top.csv")
    shallow = fcctl(env, "bucket", "ls", f"s3://{bucket}").stdout
    assert re.search(r"^in/\s+DIR", shallow, re.M)
    assert re.search(r"^top\.csv\s+4000\s", shallow, re.M)
    deep = as_json(env, "bucket", "ls", f"s3://{bucket}/in/", "--recursive")
    assert isinstance(deep, list)
    assert [item["key"] for item in deep] == ["in/report 1.csv"]
    buckets = as_json(env, "bucket", "ls")
    assert isinstance(buckets, list)
    assert bucket in [b["name"] for b in buckets]
    back = tmp_path / "back.csv"
    fcctl(env, "bucket", "cp", f"s3://{bucket}/in/report 1.csv", str(back))
    assert back.read_bytes() == source.read_bytes()
    fcctl(env, "bucket", "rm", f"s3://{bucket}/in/report 1.csv")
    missing = fcctl(env, "bucket", "cp", f"s3://{bucket}/in/report 1.csv", "-", status=1)
    assert "NoSuchKey" in missing.stderr
    fcctl(env, "bucket", "cp", "a", "b", status=2)
