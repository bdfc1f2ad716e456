"""HTTP triggers with ``authType: jwt``, created through the official SDK as FC documents it.

The keys are a real RSA pair; tokens are made with PyJWT as a user's auth service would.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import fc2
import pytest
import requests
from fc2.fc_exceptions import FcError

from tests.daemon import RunningDaemon
from tests.fc_errors import assert_fc_error
from tests.integration.test_http_trigger import WSGI_ECHO, proxy, write_code
from tests.unit.test_jwt_check import KEY, OTHER, jwk, token

AUTH_CONFIG = {
    "jwks": {"keys": [jwk(KEY)]},
    "tokenLookup": "header:Authorization:Bearer ,cookie:token",
    "claimPassBy": "header:uid:X-User-Id,query:role:role",
    "whitelist": ["/login"],
}


@pytest.fixture
def jwt_function(client: fc2.Client, unique: str, tmp_path: Path) -> str:
    service = f"jwt_{unique}"
    client.create_service(service)
    code = write_code(tmp_path, {"index.py": WSGI_ECHO})
    client.create_function(service, "echo", "python3", "index.handler", codeDir=code)
    config = {"authType": "jwt", "methods": ["GET", "POST"], "authConfig": json.dumps(AUTH_CONFIG)}
    client.create_trigger(service, "echo", "echo-http", "http", config, "", "")
    return service


def test_valid_token_passes_claims_and_bad_ones_get_401(
    daemon: RunningDaemon, client: fc2.Client, jwt_function: str
) -> None:
    url = daemon.endpoint + proxy(jwt_function, "echo", "/hello")
    good = token(uid="user-1", role="admin")
    reply = requests.get(
        url + "?role=forged",
        headers={"Authorization": f"Bearer {good}", "X-User-Id": "forged"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    seen = reply.json()
    assert seen["headers"]["HTTP_X_USER_ID"] == "user-1"
    assert seen["query"] == "role=admin"

    by_cookie = requests.get(url, cookies={"token": good}, timeout=30)
    assert by_cookie.status_code == 200

    for headers in (
        {},
        {"Authorization": "Bearer " + token(OTHER)},
        {"Authorization": "Bearer " + token(exp=int(time.time()) - 60)},
    ):
        assert_fc_error(requests.get(url, headers=headers, timeout=30), 401, "Unauthorized")

    # A whitelisted path needs no token.
    login = requests.post(daemon.endpoint + proxy(jwt_function, "echo", "/login"), timeout=30)
    assert login.status_code == 200


def test_a_jwt_trigger_without_usable_keys_is_refused_at_create(
    client: fc2.Client, jwt_function: str
) -> None:
    config = {
        "authType": "jwt",
        "methods": ["GET"],
        "authConfig": json.dumps({"jwks": {"keys": []}, "tokenLookup": "query:jwt"}),
    }
    with pytest.raises(FcError) as e:
        client.create_trigger(jwt_function, "echo", "bad-http", "http", config, "", "")
    assert e.value.status_code == 400
