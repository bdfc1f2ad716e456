"""fcctl's operations commands and the defects a newcomer's trial hit, each reproduced first."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.integration.test_cli import FCCTL, ROOT, clean_env, env, fcctl, service_with_code
from tests.waiting import wait_until

__all__ = ["env"]  # the fixture, imported for its use here


def test_usage_of_an_empty_result_is_a_table_not_a_crash(env: dict[str, str], unique: str) -> None:
    shown = fcctl(env, "usage", "--service", f"nothing_{unique}").stdout.splitlines()
    assert shown[0].split()[:2] == ["day", "serviceName"]
    assert shown[-1].split()[:2] == ["TOTAL", "0"]
    assert json.loads(fcctl(env, "usage", "--service", f"nothing_{unique}", "--json").stdout)


def test_logs_of_a_missing_function_or_qualifier_is_fc_404(
    env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    service = f"cli_logs_{unique}"
    missing = fcctl(env, "logs", f"{service}/nothing", status=1)
    assert re.search(r"^fcctl: error: 404 ServiceNotFound: ", missing.stderr, re.M)
    code = service_with_code(env, tmp_path, service)
    fcctl(
        env,
        "function",
        "deploy",
        f"{service}/fn",
        str(code),
        "--runtime",
        "python3.10",
        "--handler",
        "index.handler",
    )
    missing_fn = fcctl(env, "logs", f"{service}/nothing", status=1)
    assert "404 FunctionNotFound" in missing_fn.stderr
    bad_alias = fcctl(env, "logs", f"{service}.nosuch/fn", status=1)
    assert "404 AliasNotFound" in bad_alias.stderr
    fcctl(env, "logs", f"{service}.LATEST/fn")  # a qualifier that exists reads the logs


def test_logs_tail_zero_json_log_once_and_follow(
    env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    service = f"cli_tail_{unique}"
    code = service_with_code(env, tmp_path, service)
    ref = f"{service}/fn"
    fcctl(
        env,
        "function",
        "deploy",
        ref,
        str(code),
        "--runtime",
        "python3.10",
        "--handler",
        "index.handler",
    )
    invoked = fcctl(env, "invoke", ref, "--event", "one", "--tail", "--json")
    data = json.loads(invoked.stdout)
    assert "got one" in data["log"]
    assert "got one" not in invoked.stderr  # --json carries the log; it is not printed twice
    wait_until(lambda: "got one" in fcctl(env, "logs", ref).stdout)
    assert fcctl(env, "logs", ref, "--tail", "0").stdout == ""
    assert fcctl(env, "logs", ref, "--tail", "0", "--json").stdout.strip() == "[]"
    assert "got one" not in fcctl(env, "logs", ref, "--level", "ERROR").stdout

    with subprocess.Popen(
        [*FCCTL, "logs", ref, "--follow", "--since", "0"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as follower:
        seen: list[str] = []
        reader = threading.Thread(target=lambda: seen.extend(follower.stdout or []), daemon=True)
        reader.start()
        try:
            wait_until(lambda: any("got one" in line for line in seen), timeout=30)
            fcctl(env, "invoke", ref, "--event", "two")
            wait_until(lambda: any("got two" in line for line in seen), timeout=30)
        finally:
            follower.terminate()
            follower.wait(timeout=10)
            reader.join(timeout=10)
    assert sum("got one" in line for line in seen) == 1  # each line once


def test_config_help_describes_every_option(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    shown = subprocess.run(
        [*FCCTL, "config", "--help"],
        env={**env, "COLUMNS": "200"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in (
        "--endpoint",
        "--access-key-id",
        "--access-key-secret",
        "--account-id",
        "--security-token",
        "--json",
    ):
        # The help follows the option, on its line or (long options) the next one.
        assert re.search(rf"^  {option}( VALUE)?\s+[a-z]", shown, re.M), f"{option}: no help"


def test_unknown_profile_is_named_with_the_known_ones(tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    fcctl(env, "config", "--access-key-id", "a", "--access-key-secret", "b")
    fcctl(env, "--profile", "staging", "config", "--access-key-id", "c", "--access-key-secret", "d")
    wrong = fcctl(env, "--profile", "prod", "service", "list", status=2)
    assert "profile 'prod' does not exist" in wrong.stderr
    assert "known profiles: default, staging" in wrong.stderr
    assert "no access key" not in wrong.stderr


def test_code_over_the_code_size_limit_is_refused_before_upload(tmp_path: Path) -> None:
    env = clean_env(
        tmp_path,
        ALIBABA_CLOUD_ACCESS_KEY_ID="a",
        ALIBABA_CLOUD_ACCESS_KEY_SECRET="b",
        FCCTL_ENDPOINT="http://127.0.0.1:1",
    )
    big = tmp_path / "big.zip"
    with big.open("wb") as f:
        f.truncate(110 * 1024 * 1024)  # sparse: the size is what is checked, before any read
    refused = fcctl(env, "function", "deploy", "s/f", str(big), status=2)
    assert "100 MiB" in refused.stderr
    assert "CodeSizeLimit" in refused.stderr
    assert "cannot reach" not in refused.stderr  # refused before any request


def test_versions_of_both_commands() -> None:
    from fcd import __version__

    for command in ([*FCCTL], [sys.executable, "-m", "fcd"]):
        done = subprocess.run(
            [*command, "--version"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            env=dict(os.environ),
        )
        assert done.stdout.strip().endswith(__version__)


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts(shell: str, tmp_path: Path) -> None:
    script = fcctl(clean_env(tmp_path), "completion", shell).stdout
    assert "fcctl" in script
    assert "deploy" in script
    if shell == "bash":
        checked = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True)
        assert checked.returncode == 0, checked.stderr


def test_errors_are_one_line_with_what_to_do(env: dict[str, str], unique: str) -> None:
    missing = fcctl(env, "function", "get", f"nothing_{unique}/f", status=1)
    lines = missing.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "404 ServiceNotFound" in lines[0]
    assert "fcctl service list" in lines[0]
    assert "Traceback" not in missing.stderr
