"""Point 2: every FC runtime name either runs (legacy python3.x / nodejsN on the host's
interpreters, the real version named in the function's log) or is refused at CreateFunction
and UpdateFunction; custom runtimes find ``python`` on PATH as on FC's image."""

from __future__ import annotations

import fc2
import pytest

from tests.conformance.conftest import code_dir, log_text, wait_for
from tests.daemon import RunningDaemon
from tests.signed_http import api_call


@pytest.mark.parametrize(
    ("runtime", "directory", "handler", "language"),
    [
        ("python3.6", "legacy_python", "index.handler", "Python"),
        ("nodejs4.4", "legacy_nodejs", "index.handler", "Node.js"),
        ("nodejs6", "legacy_nodejs", "index.handler", "Node.js"),
        ("nodejs8", "legacy_nodejs", "index.handler", "Node.js"),
    ],
)
def test_a_legacy_runtime_name_runs_and_logs_its_real_interpreter(
    client: fc2.Client,
    daemon: RunningDaemon,
    service: str,
    runtime: str,
    directory: str,
    handler: str,
    language: str,
) -> None:
    name = runtime.replace(".", "_")
    client.create_function(service, name, runtime, handler, codeDir=code_dir(directory))
    reply = client.invoke_function(service, name, payload=b"")
    assert reply.data.decode().startswith(f"{name} on ")
    text = wait_for(lambda: log_text(daemon, service, name), lambda text: "FC runtime" in text)
    assert f"FC runtime {runtime} runs on {language} " in text


@pytest.mark.parametrize(
    "runtime",
    ["python2.7", "java8", "java11", "go1", "php7.2", "dotnetcore3.1", "custom-container"],
)
def test_a_runtime_fcd_cannot_run_is_refused_when_written(
    client: fc2.Client, service: str, runtime: str
) -> None:
    # custom-container needs an image (fc2 checks it before sending).
    image = {"image": "registry.example/app:1"} if runtime == "custom-container" else None
    with pytest.raises(fc2.FcError) as refused:
        client.create_function(
            service,
            "nope",
            runtime,
            "index.handler",
            codeDir=code_dir("legacy_python"),
            customContainerConfig=image,
        )
    assert refused.value.status_code == 400
    assert refused.value.err_code == "InvalidArgument"
    assert "python3" in refused.value.message
    assert "nodejs" in refused.value.message
    client.create_function(
        service, "ok", "python3", "index.handler", codeDir=code_dir("legacy_python")
    )
    with pytest.raises(fc2.FcError) as refused:
        client.update_function(service, "ok", runtime=runtime)
    assert refused.value.err_code == "InvalidArgument"


@pytest.mark.root
def test_a_custom_runtime_starts_with_python_as_on_fcs_image(
    client: fc2.Client, daemon: RunningDaemon, service: str
) -> None:
    client.create_function(
        service, "custom", "custom.debian10", "index.handler", codeDir=code_dir("custom_python")
    )
    # fc2 has no customRuntimeConfig parameter: the field as the Node SDK sends it.
    config = {"customRuntimeConfig": {"command": ["python", "app.py"]}}
    response = api_call(daemon, "PUT", f"/services/{service}/functions/custom", config)
    assert response.status_code == 200, response.text
    reply = client.invoke_function(service, "custom", payload=b"event")
    assert reply.data.decode().startswith("python 3.")
    assert reply.data.decode().endswith(" got event")
