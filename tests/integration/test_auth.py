"""Request signatures on the wire (spec §2, §2.7): raw HTTP for each refusal, and the admin key
the daemon generates when none is configured."""

from __future__ import annotations

import email.utils
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fc2
import pytest
import requests
from fc2.fc_exceptions import FcError

from tests.daemon import ACCESS_KEY_ID, RunningDaemon, daemon_env, free_port
from tests.fc_errors import assert_fc_error
from tests.signed_http import fc_request, sign_headers

SERVICES = "/2016-08-15/services"


def _assert_fc_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """:func:`tests.fc_errors.assert_fc_error`, and the body's ``RequestId`` is the header's."""
    body = assert_fc_error(response, status, code)
    assert body["RequestId"] == response.headers["X-Fc-Request-Id"]
    return body


def test_signed_request_is_served(daemon: RunningDaemon) -> None:
    response = fc_request(daemon.endpoint, "GET", SERVICES + "?limit=1")
    assert response.status_code == 200
    assert len(response.headers["X-Fc-Request-Id"]) == 36


def test_health_needs_no_signature(daemon: RunningDaemon) -> None:
    response = requests.get(daemon.endpoint + "/healthz", timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize("path", [SERVICES, SERVICES + "/x/functions", "/2016-08-15/nowhere"])
def test_unsigned_request_is_access_denied(daemon: RunningDaemon, path: str) -> None:
    date = email.utils.formatdate(usegmt=True)
    response = requests.get(daemon.endpoint + path, headers={"Date": date}, timeout=10)
    body = _assert_fc_error(response, 403, "AccessDenied")
    assert "Authorization" in body["ErrorMessage"]


def test_malformed_authorization_is_access_denied(daemon: RunningDaemon) -> None:
    headers = sign_headers("GET", SERVICES)
    headers["Authorization"] = "Basic dXNlcjpwYXNz"
    response = requests.get(daemon.endpoint + SERVICES, headers=headers, timeout=10)
    _assert_fc_error(response, 403, "AccessDenied")


def test_forged_signature_is_signature_not_match(daemon: RunningDaemon) -> None:
    headers = sign_headers("GET", SERVICES)
    # Signed for GET, sent as POST: the signature no longer matches the request.
    response = requests.post(daemon.endpoint + SERVICES, headers=headers, data=b"{}", timeout=10)
    body = _assert_fc_error(response, 403, "SignatureNotMatch")
    assert body["ErrorMessage"].startswith(
        "The request signature we calculated does not match the signature you provided."
    )


def test_wrong_secret_is_signature_not_match(daemon: RunningDaemon) -> None:
    response = fc_request(daemon.endpoint, "GET", SERVICES, secret="not-the-secret")
    _assert_fc_error(response, 403, "SignatureNotMatch")


def test_unknown_key_is_invalid_access_key_id(daemon: RunningDaemon) -> None:
    response = fc_request(daemon.endpoint, "GET", SERVICES, key_id="invalidAccessKeyID")
    body = _assert_fc_error(response, 403, "InvalidAccessKeyID")
    assert body["ErrorMessage"] == "invalid access key ID 'invalidAccessKeyID'"


@pytest.mark.parametrize("skew", [-16 * 60, 16 * 60])
def test_date_off_by_more_than_fifteen_minutes_is_refused(daemon: RunningDaemon, skew: int) -> None:
    date = email.utils.formatdate(time.time() + skew, usegmt=True)
    response = fc_request(daemon.endpoint, "GET", SERVICES, date=date)
    _assert_fc_error(response, 403, "AccessDenied")


def test_missing_date_is_a_400(daemon: RunningDaemon) -> None:
    headers = sign_headers("GET", SERVICES, date="")
    headers.pop("Date")
    response = requests.get(daemon.endpoint + SERVICES, headers=headers, timeout=10)
    _assert_fc_error(response, 400, "MissingRequiredHeader")


def test_official_sdk_sees_the_exact_errors(daemon: RunningDaemon) -> None:
    bad_key = fc2.Client(
        endpoint=daemon.endpoint, accessKeyID="invalidAccessKeyID", accessKeySecret="x"
    )
    with pytest.raises(FcError) as e:
        bad_key.list_services()
    assert e.value.status_code == 403
    assert e.value.err_code == "InvalidAccessKeyID"
    message = json.loads(e.value.message)["ErrorMessage"]
    assert message == "invalid access key ID 'invalidAccessKeyID'"

    bad_secret = fc2.Client(
        endpoint=daemon.endpoint, accessKeyID=ACCESS_KEY_ID, accessKeySecret="x"
    )
    with pytest.raises(FcError) as e:
        bad_secret.list_services()
    assert e.value.err_code == "SignatureNotMatch"


# The generated admin key --------------------------------------------------------------------
@pytest.fixture
def keyless(tmp_path: Path) -> Iterator[RunningDaemon]:
    """A daemon started with no key in its config or environment."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    port = free_port()
    env = daemon_env(data_dir, port)
    del env["FCD_ACCESS_KEY_ID"], env["FCD_ACCESS_KEY_SECRET"]
    running = RunningDaemon(data_dir, port, env).start()
    yield running
    running.kill()


def _read_credentials(path: Path) -> tuple[str, str]:
    values = dict(line.split(" = ", 1) for line in path.read_text().splitlines() if line)
    return values["access_key_id"], values["access_key_secret"]


def test_generated_admin_key_is_private_works_and_survives_restart(
    keyless: RunningDaemon,
) -> None:
    path = keyless.data_dir / "admin-credentials"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    key_id, secret = _read_credentials(path)
    assert key_id
    assert len(secret) >= 20

    created = fc_request(
        keyless.endpoint, "POST", SERVICES, b'{"serviceName":"kept"}', key_id=key_id, secret=secret
    )
    assert created.status_code == 200, created.text
    # The test's usual key is not configured on this daemon.
    refused = fc_request(keyless.endpoint, "GET", SERVICES)
    _assert_fc_error(refused, 403, "InvalidAccessKeyID")

    assert keyless.stop() == 0
    keyless.start()
    assert path.read_text() == text
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    listed = fc_request(keyless.endpoint, "GET", SERVICES, key_id=key_id, secret=secret)
    assert listed.status_code == 200
    assert [s["serviceName"] for s in listed.json()["services"]] == ["kept"]
