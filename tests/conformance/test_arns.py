"""Point 3: ARNs as FC writes them. Async destinations in the short form
``acs:fc:::services/S[.Q]/functions/F`` (as FC's templates write them), and official layers
``acs:fc:<region>:official:layers/<Name>/versions/<n>`` the operator publishes with fcctl."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import fc2
import pytest

from tests.conformance.conftest import FUNCTIONS, code_dir, fcctl, log_text, wait_for
from tests.daemon import REGION, RunningDaemon
from tests.signed_http import api_call


@pytest.mark.parametrize("qualifier", ["", ".LATEST"])
def test_a_short_function_arn_destination_is_delivered(
    client: fc2.Client, daemon: RunningDaemon, service: str, qualifier: str
) -> None:
    directory = code_dir("async_short_arn")
    client.create_function(service, "source", "python3", "index.fail", codeDir=directory)
    client.create_function(service, "sink", "python3", "index.sink", codeDir=directory)
    config = {
        "maxAsyncRetryAttempts": 0,
        "destinationConfig": {
            "onFailure": {"destination": f"acs:fc:::services/{service}{qualifier}/functions/sink"}
        },
    }
    client.put_function_async_invoke_config(service, "LATEST", "source", config)
    stored = client.get_function_async_invoke_config(service, "LATEST", "source").data
    assert stored["destinationConfig"]["onFailure"]["destination"].startswith("acs:fc:::")
    client.invoke_function(
        service, "source", payload=b"order-7", headers={"x-fc-invocation-type": "Async"}
    )
    text = wait_for(
        lambda: log_text(daemon, service, "sink"), lambda text: "destination got" in text
    )
    assert f"destination got order-7 from acs:fc:{REGION}:" in text


def test_a_short_arn_of_another_account_is_refused(client: fc2.Client, service: str) -> None:
    client.create_function(
        service, "source", "python3", "index.fail", codeDir=code_dir("async_short_arn")
    )
    config = {
        "destinationConfig": {
            "onFailure": {"destination": f"acs:fc::999:services/{service}/functions/sink"}
        }
    }
    with pytest.raises(fc2.FcError) as refused:
        client.put_function_async_invoke_config(service, "LATEST", "source", config)
    assert refused.value.err_code == "InvalidArgument"


def test_an_official_layer_the_operator_published_is_used_by_its_arn(
    client: fc2.Client, daemon: RunningDaemon, service: str, unique: str, tmp_path: Path
) -> None:
    layer = f"Official{unique}"
    arn = f"acs:fc:{REGION}:official:layers/{layer}/versions/1"
    client.create_function(
        service, "uses", "python3", "index.handler", codeDir=code_dir("official_layer/function")
    )
    # Not published yet: the error says how to provide it.
    missing = api_call(daemon, "PUT", f"/services/{service}/functions/uses", {"layers": [arn]})
    assert missing.status_code == 400
    assert "fcctl layer publish --official" in missing.json()["ErrorMessage"]

    layer_dir = str(FUNCTIONS / "official_layer" / "layer")
    published = fcctl(
        daemon, tmp_path, "--json", "layer", "publish", layer, "--code", layer_dir,
        "--official", "--compatible-runtime", "python3", "python3.9",
    )  # fmt: skip
    assert arn in published
    assert layer in fcctl(daemon, tmp_path, "layer", "list", "--official")

    # The function names it as FC's templates do (fc2 has no layers parameter: the field as
    # the Node SDK sends it).
    updated = api_call(daemon, "PUT", f"/services/{service}/functions/uses", {"layers": [arn]})
    assert updated.status_code == 200, updated.text
    assert updated.json()["layers"] == [arn]
    assert client.invoke_function(service, "uses").data == b"hello from the official layer"
    by_arn = api_call(daemon, "GET", f"/layerarn/{quote(arn, safe='')}")
    assert by_arn.json()["layerName"] == layer
    assert api_call(daemon, "DELETE", f"/layers/{layer}/versions/1?official=true").ok
