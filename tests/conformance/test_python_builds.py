"""Point 6: Python functions as users build them: a Flask app object as an HTTP function's
handler, gunicorn in a custom runtime (both pip-installed into the code directory at build
time, as FC's docs tell users to), and a layer the function imports from ``/opt/python``."""

from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import fc2
import pytest
import requests

from tests.conformance.conftest import FUNCTIONS, built, code_dir
from tests.daemon import RunningDaemon
from tests.signed_http import api_call


@pytest.mark.root
def test_a_flask_app_object_is_the_handler_of_an_http_function(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    # FC's Flask examples: handler "index.app", the Flask object itself as the WSGI app.
    directory = built("flask_app", tmp_path, "flask")
    client.create_function(service, "web", "python3.10", "index.app", codeDir=directory)
    config = {"authType": "anonymous", "methods": ["GET", "POST"]}
    client.create_trigger(service, "web", "web-http", "http", config, "", "")
    base = f"{daemon.endpoint}/2016-08-15/proxy/{service}/web"
    home = requests.get(f"{base}/", timeout=60)
    assert home.status_code == 200, home.text
    assert home.text == "hello from flask"
    posted = requests.post(f"{base}/users/ada?q=1", data=b"hi", timeout=60)
    assert posted.status_code == 200, posted.text
    assert posted.headers["content-type"] == "application/json"
    assert posted.json() == {"name": "ada", "body": "hi", "query": "1"}
    assert requests.get(f"{base}/nowhere", timeout=60).status_code == 404


@pytest.mark.root
def test_gunicorn_serves_a_custom_runtime(
    client: fc2.Client, daemon: RunningDaemon, service: str, tmp_path: Path
) -> None:
    directory = built("gunicorn_app", tmp_path, "gunicorn")
    client.create_function(service, "gun", "custom.debian10", "index.handler", codeDir=directory)
    # fc2 has no customRuntimeConfig parameter: the field as the Node SDK sends it.
    command = ["python", "-m", "gunicorn", "--bind", "0.0.0.0:9000", "--workers", "1", "app:app"]
    config = {"customRuntimeConfig": {"command": command}}
    response = api_call(daemon, "PUT", f"/services/{service}/functions/gun", config)
    assert response.status_code == 200, response.text
    reply = client.invoke_function(service, "gun", payload=b"event")
    assert reply.data.decode().startswith("gunicorn ")
    assert reply.data.decode().endswith(" got event")


def _zip(directory: Path) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(directory.rglob("*")):
            archive.write(path, path.relative_to(directory).as_posix())
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.root
def test_a_function_imports_its_layer_from_opt_python(
    client: fc2.Client, daemon: RunningDaemon, service: str, unique: str
) -> None:
    layer = f"shout{unique}"
    # fc2 has no PublishLayerVersion: the call as the Node SDK's publishLayerVersion sends it.
    body = {
        "code": {"zipFile": _zip(FUNCTIONS / "layer_user" / "layer")},
        "compatibleRuntime": ["python3.9", "python3.10"],
        "description": "text helpers",
    }
    published = api_call(daemon, "POST", f"/layers/{layer}/versions", body)
    assert published.status_code == 200, published.text
    arn = published.json()["arnV2"]  # the ARN FC's consoles and templates write
    assert arn.endswith(f":layers/{layer}/versions/1")
    client.create_function(
        service, "uses", "python3.10", "index.handler", codeDir=code_dir("layer_user/function")
    )
    # fc2 has no layers parameter: the field as the Node SDK sends it.
    updated = api_call(daemon, "PUT", f"/services/{service}/functions/uses", {"layers": [arn]})
    assert updated.status_code == 200, updated.text
    reply = client.invoke_function(service, "uses", payload=b"hello")
    assert reply.data.decode() == "HELLO! from /opt/python/shout.py"
