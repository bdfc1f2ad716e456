"""Raw HTTP calls signed with fcd.signature, for the error cases the official SDKs cannot send.

``requests`` re-quotes URLs, so :func:`raw_request` uses ``http.client`` when the exact bytes of
the path matter (odd encodings in fuzz tests).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import requests

from fcd import signature
from tests.daemon import ACCESS_KEY_ID, ACCESS_KEY_SECRET, RunningDaemon

API = "/2016-08-15"


def sign_headers(
    method: str,
    path: str,
    headers: Mapping[str, str] | None = None,
    *,
    key_id: str = ACCESS_KEY_ID,
    secret: str = ACCESS_KEY_SECRET,
    date: str | None = None,
) -> dict[str, str]:
    """``headers`` plus ``Date``, ``Content-Type`` (unless given) and a valid ``Authorization``
    for ``path`` exactly as it will be sent. The query is signed only on HTTP-trigger routes
    (``/2016-08-15/proxy/...``), as FC does."""
    out = {"Date": date or email.utils.formatdate(time.time(), usegmt=True)}
    out.update(headers or {})
    out.setdefault("Content-Type", "application/json")
    lowered = {k.lower(): v for k, v in out.items()}
    raw_path, _, query = path.partition("?")
    signed_query = None
    if raw_path.startswith(signature.PROXY_PREFIX):
        signed_query = parse_qs(query, keep_blank_values=True)
    text = signature.string_to_sign(method, lowered, raw_path, signed_query)
    out["Authorization"] = signature.authorization(key_id, secret, text)
    return out


def fc_request(
    endpoint: str,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    **sign: str,
) -> requests.Response:
    """A signed request through ``requests``; ``sign`` goes to :func:`sign_headers`."""
    return requests.request(
        method,
        endpoint + path,
        data=body,
        headers=sign_headers(method, path, headers, **sign),
        timeout=30,
    )


def api_call(
    daemon: RunningDaemon, method: str, path: str, payload: Any = None, **headers: str
) -> requests.Response:
    """A signed call to ``API + path`` with ``payload`` as its JSON body (none when None)."""
    body = b"" if payload is None else json.dumps(payload).encode()
    return fc_request(daemon.endpoint, method, API + path, body, headers)


def raw_request(
    port: int,
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> tuple[int, dict[str, str], bytes]:
    """Send exactly ``method path`` with ``headers`` (not signed here); return status, lower-cased
    headers and body. One connection per call, closed before returning."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=False, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()
