"""fcctl deploy's pure parts: both file formats into the plan model, and the planner."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import yaml

from fcd.cli.deploy import command, funcraft, sdevs
from fcd.cli.deploy.model import (
    DeployFileError,
    FunctionSpec,
    Hook,
    ServiceSpec,
    Spec,
    TriggerSpec,
)
from fcd.cli.deploy.planner import State, covers, plan

FILES = Path(__file__).resolve().parents[1] / "deploy_files"
ENV = {"DEPLOY_SERVICE": "svc", "GREETING": "hi"}


def sdevs_spec() -> Spec:
    doc = yaml.safe_load((FILES / "sdevs" / "s.yaml").read_text())
    return sdevs.parse(doc, FILES / "sdevs", ENV)


def test_sdevs_file_into_the_model() -> None:
    spec = sdevs_spec()
    assert [s.name for s in spec.services] == ["svc"]
    service = spec.services[0]
    assert service.fields == {"description": "hello world from s.yaml", "internetAccess": False}
    hello, worker = service.functions
    assert hello.fields["environmentVariables"] == {"GREETING": "hi", "REGION": "cn-hangzhou"}
    assert hello.fields["memorySize"] == 128
    assert hello.code == FILES / "sdevs" / "code"
    assert [(t.name, t.type) for t in hello.triggers] == [("http", "http"), ("tick", "timer")]
    assert hello.triggers[1].config == {
        "cronExpression": "@every 60m",
        "enable": True,
        "payload": "tick",
    }
    assert worker.name == "worker"
    assert worker.fields["environmentVariables"]["GREETING"] == "from the worker"
    assert [(h.phase, h.command, h.cwd) for h in spec.hooks] == [
        ("pre-deploy", "echo built > build.txt", FILES / "sdevs" / "code")
    ]
    text = "\n".join(spec.warnings)
    assert "'logConfig' left out: fcd keeps function logs itself" in text
    assert "'logs' skipped: fcd fires http, timer and oss triggers only" in text
    assert "domainName 'auto' skipped" in text


def test_sdevs_variables_env_forms_and_errors() -> None:
    doc = {
        "edition": "1.0.0",
        "vars": {"n": "${env(A)}-x"},
        "services": {
            "one": {
                "component": "fc",
                "props": {"service": {"name": "${vars.n}"}, "function": {"name": "${env.B}"}},
            }
        },
    }
    spec = sdevs.parse(doc, FILES, {"A": "a", "B": "b"})
    assert spec.services[0].name == "a-x"
    assert spec.services[0].functions[0].name == "b"
    with pytest.raises(DeployFileError, match="environment variable B is not set"):
        sdevs.parse(doc, FILES, {"A": "a"})
    doc["vars"] = {"n": "${vars.n}"}
    with pytest.raises(DeployFileError, match="cycle"):
        sdevs.parse(doc, FILES, {"B": "b"})


def test_funcraft_file_into_the_model() -> None:
    doc = yaml.safe_load((FILES / "funcraft" / "template.yml").read_text())
    spec = funcraft.parse(doc, FILES / "funcraft")
    (service,) = spec.services
    assert service.name == "fun-demo"
    assert service.fields == {"description": "funcraft demo", "internetAccess": False}
    (hello,) = service.functions
    assert hello.fields == {
        "handler": "index.handler",
        "runtime": "python3.10",
        "description": "funcraft hello",
        "memorySize": 256,
        "timeout": 15,
        "instanceConcurrency": 2,
        "environmentVariables": {"GREETING": "hello from funcraft"},
    }
    assert hello.code == FILES / "funcraft" / "src"
    http, timer, oss = hello.triggers
    assert http.config == {"authType": "anonymous", "methods": ["GET", "POST"]}
    assert timer.config == {
        "cronExpression": "0 0 8 * * *",
        "enable": True,
        "payload": "awesome-fc",
    }
    assert oss.source_arn == "acs:oss:::uploads"
    assert oss.config == {
        "events": ["oss:ObjectCreated:*"],
        "filter": {"key": {"prefix": "source/", "suffix": ".png"}},
    }
    (domain,) = spec.domains
    assert domain.name == "api.fun-demo.example.com"
    assert domain.fields == {
        "protocol": "HTTP",
        "routeConfig": {
            "routes": [{"path": "/hello/*", "serviceName": "fun-demo", "functionName": "hello"}]
        },
    }
    text = "\n".join(spec.warnings)
    assert "'Policies' left out: fcd creates no RAM roles" in text
    assert "mns-test skipped" in text
    with pytest.raises(DeployFileError, match="Transform"):
        funcraft.parse({**doc, "Transform": "Aliyun::Serverless-2099"}, FILES)


def small_spec(env: dict[str, str], triggers: tuple[TriggerSpec, ...]) -> Spec:
    function = FunctionSpec(
        "f", {"runtime": "python3.10", "environmentVariables": env}, Path("/code"), triggers
    )
    return Spec((ServiceSpec("s", {"description": "d"}, (function,)),))


TIMER = TriggerSpec("t", "timer", {"cronExpression": "@every 1m", "enable": True})


def test_plan_creates_then_nothing_then_exactly_the_change() -> None:
    spec = small_spec({"A": "1"}, (TIMER,))
    empty = State({}, {}, {}, {})
    created = plan(spec, empty, {("s", "f"): "42"})
    assert [(c.kind, c.action) for c in created] == [
        ("service", "create"),
        ("function", "create"),
        ("trigger", "create"),
    ]
    assert created[2].body["triggerType"] == "timer"
    # What the daemon answers holds more (defaults); the plan compares what the file names.
    state = State(
        {"s": {"serviceName": "s", "description": "d", "internetAccess": True}},
        {
            ("s", "f"): {
                "runtime": "python3.10",
                "environmentVariables": {"A": "1"},
                "timeout": 3,
                "codeChecksum": "42",
            }
        },
        {
            ("s", "f"): {
                "t": {
                    "triggerType": "timer",
                    "triggerConfig": {
                        "cronExpression": "@every 1m",
                        "enable": True,
                        "payload": None,
                    },
                }
            }
        },
        {},
    )
    assert {c.action for c in plan(spec, state, {("s", "f"): "42"})} == {"unchanged"}
    changed = plan(small_spec({"A": "2"}, (TIMER,)), state, {("s", "f"): "42"})
    assert [(c.kind, c.action, c.changed) for c in changed if c.action != "unchanged"] == [
        ("function", "update", ("environmentVariables",))
    ]
    recoded = plan(spec, state, {("s", "f"): "43"})
    assert [(c.action, c.changed, c.code) for c in recoded if c.kind == "function"] == [
        ("update", ("code",), True)
    ]
    # A variable removed is a change: the environment is compared whole.
    fewer = plan(small_spec({}, (TIMER,)), state, {("s", "f"): "42"})
    assert any(c.action == "update" and c.kind == "function" for c in fewer)


def test_plan_deletes_only_triggers_of_declared_functions() -> None:
    spec = small_spec({}, ())
    state = State(
        {"s": {"description": "d"}, "other": {}},
        {
            ("s", "f"): {"runtime": "python3.10", "environmentVariables": {}, "codeChecksum": "1"},
            ("other", "g"): {},
        },
        {("s", "f"): {"old": {"triggerType": "http"}}, ("other", "g"): {"keep": {}}},
        {},
    )
    deleted = [c for c in plan(spec, state, {("s", "f"): "1"}) if c.action == "delete"]
    assert [(c.service, c.function, c.name) for c in deleted] == [("s", "f", "old")]
    # A trigger whose type changes is replaced.
    http = TriggerSpec("old", "timer", {"cronExpression": "@every 1m"})
    replaced = plan(small_spec({}, (http,)), state, {("s", "f"): "1"})
    assert [(c.kind, c.action) for c in replaced if c.kind == "trigger"] == [
        ("trigger", "delete"),
        ("trigger", "create"),
    ]


def test_covers() -> None:
    assert covers({"a": 1, "b": 2}, {"a": 1})
    assert not covers({"a": 1}, {"a": 2})
    assert covers([{"x": 1, "y": None}], [{"x": 1}])
    assert not covers({"A": "1", "B": "2"}, {"A": "1"}, "environmentVariables")
    assert covers(None, {}, "environmentVariables")


def test_a_failing_hook_stops_the_deploy(tmp_path: Path) -> None:
    spec = Spec((), hooks=(Hook("pre-deploy", "exit 3", tmp_path),))
    with pytest.raises(DeployFileError, match="exited with status 3; nothing was deployed"):
        command.run_hooks(spec, "pre-deploy")
    command.run_hooks(spec, "post-deploy")  # another phase: not run


def test_funcraft_certificate_files_are_read(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("CERT")
    (tmp_path / "key.pem").write_text("KEY")
    doc = {
        "Transform": funcraft.TRANSFORM,
        "Resources": {
            "a.example.com": {
                "Type": funcraft.DOMAIN,
                "Properties": {
                    "Protocol": "HTTP,HTTPS",
                    "CertConfig": {
                        "CertName": "c",
                        "Certificate": "./cert.pem",
                        "PrivateKey": "./key.pem",
                    },
                },
            }
        },
    }
    (domain,) = funcraft.parse(doc, tmp_path).domains
    assert domain.fields["certConfig"] == {
        "certName": "c",
        "certificate": "CERT",
        "privateKey": "KEY",
    }


def test_a_single_file_code_uri_is_packaged_reproducibly(tmp_path: Path) -> None:
    (tmp_path / "hello.js").write_text("exports.handler = () => 1;\n")
    first = command.package(tmp_path / "hello.js")
    assert first == command.package(tmp_path / "hello.js")
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert archive.namelist() == ["hello.js"]


def test_the_file_is_read_safely_and_bounded(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    hostile = tmp_path / "s.yaml"
    hostile.write_text(f"edition: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(DeployFileError, match="not valid YAML"):
        command.load(hostile, {})
    assert not marker.exists()
    huge = tmp_path / "template.yml"
    huge.write_text("#" * (command.MAX_FILE_BYTES + 1))
    with pytest.raises(DeployFileError, match="is over 1024 KiB"):
        command.load(huge, {})
    (tmp_path / "other.yml").write_text("a: 1\n")
    with pytest.raises(DeployFileError, match="neither a Serverless Devs"):
        command.load(tmp_path / "other.yml", {})
