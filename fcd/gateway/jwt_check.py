"""JWT authentication of HTTP-trigger requests (``authType: jwt``), on PyJWT.

Pure: the request's parts come in as plain data and the decision goes out as claims or an
error, so every case is unit-tested without a server (``tests/unit/test_jwt_check.py``). The
trigger's settings were checked when it was written (:mod:`fcd.wire.jwt_auth`).

FC's order: the first token found along ``tokenLookup`` is the one checked; a token naming a
``kid`` is checked with that key only; an expired, not-yet-valid, malformed or wrongly signed
token, or none at all where one is needed, is refused with 401. Claims named in ``claimPassBy``
then replace whatever the client sent under the same header, query or cookie name, so a
function can trust them.
"""

from __future__ import annotations

import json
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt

from fcd import errors
from fcd.wire.jwt_auth import JwtAuthConfig, TokenSource

Headers = list[tuple[bytes, bytes]]
# Clock skew allowed on exp and nbf, in seconds.
LEEWAY = 5


def authenticate(
    config: JwtAuthConfig,
    path: str,
    headers: dict[str, str],
    query: dict[str, list[str]],
    form: bytes | None,
) -> dict[str, Any] | None:
    """The token's claims, or None when ``path`` needs no token.

    ``headers`` are lower-cased; ``form`` is the body when ``tokenLookup`` reads a form.

    Raises:
        errors.Unauthorized: no token where one is needed, or a token that does not verify.
    """
    if not config.needs_token(path):
        return None
    for source in config.lookups:
        token = _find(source, headers, query, form)
        if token:
            return _verify(config, token)
    where = ", ".join(f"{s.position} {s.name!r}" for s in config.lookups)
    raise errors.Unauthorized(f"a JWT is required in {where}")


def _find(
    source: TokenSource, headers: dict[str, str], query: dict[str, list[str]], form: bytes | None
) -> str:
    if source.position == "header":
        value = headers.get(source.name.lower(), "")
        if source.prefix.strip():
            if not value.startswith(source.prefix.strip()):
                return ""
            value = value[len(source.prefix.strip()) :]
        return value.strip()
    if source.position == "query":
        return (query.get(source.name) or [""])[0]
    if source.position == "cookie":
        return _cookies(headers.get("cookie", "")).get(source.name, "")
    values = parse_qs((form or b"").decode("utf-8", "replace"), keep_blank_values=True)
    return (values.get(source.name) or [""])[0]


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def _verify(config: JwtAuthConfig, token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as e:
        raise errors.Unauthorized(f"the JWT is malformed: {e}") from None
    kid = header.get("kid")
    keys = [k for k in config.keys if kid is None or k.key_id == kid]
    if not keys:
        raise errors.Unauthorized(f"the JWT's kid {kid!r} names no key of the trigger's jwks")
    for key in keys:
        if header.get("alg") != key.algorithm_name:
            continue
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm_name],
                leeway=LEEWAY,
                options={"verify_aud": False, "verify_iat": False},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError:
            raise errors.Unauthorized("the JWT has expired") from None
        except jwt.ImmatureSignatureError:
            raise errors.Unauthorized("the JWT is not valid yet (nbf)") from None
        except jwt.InvalidTokenError as e:
            raise errors.Unauthorized(f"the JWT is invalid: {e}") from None
        return claims
    raise errors.Unauthorized("the JWT's signature matches no key of the trigger's jwks")


def pass_claims(
    config: JwtAuthConfig, claims: dict[str, Any], raw_headers: Headers, query_string: bytes
) -> tuple[Headers, bytes]:
    """The request's headers and query with the ``claimPassBy`` claims put in.

    A claim absent from the token is not passed; a client's own value under a mapped name is
    dropped either way, so the function never mistakes it for a verified claim.
    """
    headers = list(raw_headers)
    query = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    cookies: dict[str, str] = {}
    for mapping in config.claims:
        value = claims.get(mapping.claim)
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        if mapping.position == "header":
            name = mapping.name.lower().encode("latin-1")
            headers = [(k, v) for k, v in headers if k.lower() != name]
            if value is not None:
                headers.append((name, text.encode("utf-8")))
        elif mapping.position == "query":
            query.pop(mapping.name, None)
            if value is not None:
                query[mapping.name] = [text]
        elif value is not None:
            cookies[mapping.name] = text
    if cookies:
        headers = _with_cookies(headers, cookies)
    return headers, urlencode(query, doseq=True).encode("latin-1")


def _with_cookies(headers: Headers, cookies: dict[str, str]) -> Headers:
    sent = {}
    for name, value in headers:
        if name.lower() == b"cookie":
            sent.update(_cookies(value.decode("latin-1")))
    sent.update(cookies)
    line = "; ".join(f"{k}={v}" for k, v in sent.items())
    kept = [(k, v) for k, v in headers if k.lower() != b"cookie"]
    return [*kept, (b"cookie", line.encode("utf-8"))]
