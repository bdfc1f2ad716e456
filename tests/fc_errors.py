"""The shape every API error must have (spec §6.1, §12 item 2), asserted on a raw response."""

from __future__ import annotations

from typing import Any

import requests


def assert_fc_error(response: requests.Response, status: int, code: str) -> dict[str, Any]:
    """Status, FC's JSON body with PascalCase keys, and the 36-character request id."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    request_id = response.headers["X-Fc-Request-Id"]
    assert len(request_id) == 36
    body: dict[str, Any] = response.json()
    assert body["ErrorCode"] == code, body
    assert body["ErrorMessage"]
    return body
