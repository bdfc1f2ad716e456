"""fcctl deploy against a real daemon: an s.yaml and a template.yml deployed, invoked, planned
again (no change), then changed in one place (exactly one update)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.integration.test_cli import env, fcctl

__all__ = ["env"]

FILES = Path(__file__).resolve().parents[1] / "deploy_files"


def plan_of(env: dict[str, str], directory: Path, *args: str) -> list[dict[str, str]]:
    done = fcctl(env, "deploy", "-t", str(directory / args[0]), *args[1:], "--json")
    listing = json.loads(done.stdout)
    assert isinstance(listing, list)
    return listing


def not_unchanged(listing: list[dict[str, str]]) -> list[tuple[str, str, str, str]]:
    return [
        (x["action"], x["kind"], x["name"], x["fields"])
        for x in listing
        if x["action"] != "unchanged"
    ]


def test_deploy_sdevs_file(env: dict[str, str], tmp_path: Path, unique: str) -> None:
    work = tmp_path / "app"
    shutil.copytree(FILES / "sdevs", work)
    service = f"sdevs_{unique}"
    env = {**env, "DEPLOY_SERVICE": service, "GREETING": "hello"}

    planned = plan_of(env, work, "s.yaml", "--plan")
    assert {(x["action"], x["kind"]) for x in planned} == {
        ("create", "service"),
        ("create", "function"),
        ("create", "trigger"),
    }
    assert not (work / "code" / "build.txt").exists()  # --plan runs no hook

    done = fcctl(env, "deploy", "-t", str(work / "s.yaml"))
    assert "pre-deploy: running in" in done.stderr
    assert "echo built > build.txt" in done.stderr
    assert (work / "code" / "build.txt").read_text() == "built\n"
    assert "warning: services.hello.props.triggers[2] 'logs' skipped" in done.stderr
    assert "'logConfig' left out" in done.stderr
    assert f"create  function  {service}/hello" in done.stdout

    invoked = fcctl(env, "invoke", f"{service}/hello", "--event", "world")
    assert invoked.stdout == "hello: world"
    worker = fcctl(env, "invoke", f"{service}/worker", "--event", "job")
    assert worker.stdout == "from the worker: job"
    triggers = json.loads(fcctl(env, "trigger", "list", f"{service}/hello", "--json").stdout)
    assert sorted(t["triggerName"] for t in triggers) == ["http", "tick"]

    assert not_unchanged(plan_of(env, work, "s.yaml", "--plan")) == []
    assert not_unchanged(plan_of(env, work, "s.yaml")) == []  # a second deploy changes nothing

    text = (work / "s.yaml").read_text().replace("timeout: 10", "timeout: 20")
    (work / "s.yaml").write_text(text)
    assert not_unchanged(plan_of(env, work, "s.yaml", "--plan")) == [
        ("update", "function", f"{service}/hello", "timeout")
    ]
    plan_of(env, work, "s.yaml")
    got = json.loads(fcctl(env, "function", "get", f"{service}/hello", "--json").stdout)
    assert got["timeout"] == 20

    # A trigger taken out of the file is deleted; nothing else is.
    (work / "s.yaml").write_text(text.replace("        - name: tick\n", "        - name: tock\n"))
    assert sorted(not_unchanged(plan_of(env, work, "s.yaml", "--plan"))) == [
        ("create", "trigger", f"{service}/hello/tock", ""),
        ("delete", "trigger", f"{service}/hello/tick", ""),
    ]


def test_deploy_funcraft_template(env: dict[str, str], tmp_path: Path, unique: str) -> None:
    work = tmp_path / "fun"
    shutil.copytree(FILES / "funcraft", work)
    service = f"fun-{unique}"
    template = work / "template.yml"
    template.write_text(template.read_text().replace("fun-demo", service))

    done = fcctl(env, "deploy", "-t", str(template))
    assert "mns-test skipped" in done.stderr
    assert f"create  domain    api.{service}.example.com" in done.stdout
    got = json.loads(fcctl(env, "function", "get", f"{service}/hello", "--json").stdout)
    assert got["memorySize"] == 256
    assert got["instanceConcurrency"] == 2
    invoked = fcctl(env, "invoke", f"{service}/hello", "--event", "x")
    assert invoked.stdout == "hello from funcraft: x"

    assert not_unchanged(plan_of(env, work, "template.yml", "--plan")) == []
    (work / "src" / "index.py").write_text(
        (work / "src" / "index.py").read_text().replace("{event.decode()}", "{event.decode()}!")
    )
    assert not_unchanged(plan_of(env, work, "template.yml", "--plan")) == [
        ("update", "function", f"{service}/hello", "code")
    ]
    plan_of(env, work, "template.yml")
    assert fcctl(env, "invoke", f"{service}/hello", "--event", "x").stdout == (
        "hello from funcraft: x!"
    )
