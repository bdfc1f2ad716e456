"""The FC request signature (spec §2): pure functions, unit-tested against spec §2.6.

A request is signed with HMAC-SHA256 over the method, ``Content-MD5``, ``Content-Type``, the
``Date`` (or ``x-fc-expires`` for pre-signed URLs), every ``x-fc-*`` header and the canonical
resource. Ordinary API routes sign the decoded path alone; HTTP-trigger routes
(``/2016-08-15/proxy/...``) append the sorted query, and end in ``\\n`` even with no query.

Clients disagree on path escaping (Python signs the unescaped path, Go escapes each segment, Node
escapes layer ARNs with ``encodeURIComponent``), so :func:`verify` accepts a signature over either
the raw path as received or its percent-decoded form.

A signature covers ``Content-MD5`` but not the body, so the body is bound to it only when the
MD5 is checked: :func:`check_body` does it, on the API and the invoke path alike. The SDKs
disagree on its encoding too (spec §1.2): Java sends base64 of the digest (RFC 1864), Go the
hex digest, Node base64 of the hex digest; each is accepted.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from urllib.parse import unquote

from fcd import errors

# "the client time must not differ from the server's by more than 15 minutes" (FC docs, §2.1).
MAX_CLOCK_SKEW_SECONDS = 15 * 60
# Bodies this large are hashed on a thread (MD5 runs ~600 MB/s, so 0.4 ms here; hashlib lets
# go of the GIL): the event loop is not held by a 32 MiB payload's 50 ms of hashing.
MD5_ON_THREAD_BYTES = 256 * 1024
PROXY_PREFIX = "/2016-08-15/proxy/"

Query = Mapping[str, Sequence[str]]


def canonical_resource(path: str, query: Query | None = None) -> str:
    """The signed resource: ``path``, or ``path\\n`` + sorted ``k=v`` lines for proxy routes."""
    if query is None:
        return path
    items: list[str] = []
    for key, values in query.items():
        if values:
            items.extend(f"{key}={value}" for value in values)
        else:
            items.append(key)
    return path + "\n" + "\n".join(sorted(items))


def canonical_headers(headers: Mapping[str, str]) -> str:
    """Every ``x-fc-*`` header as ``name:value\\n``, sorted; names must already be lower case."""
    return "".join(
        f"{name}:{value}\n" for name, value in sorted(headers.items()) if name.startswith("x-fc-")
    )


def string_to_sign(
    method: str, headers: Mapping[str, str], path: str, query: Query | None = None
) -> str:
    """The exact text FC signs. ``headers`` have lower-case names."""
    date = headers.get("date", "")
    if query is not None and query.get("x-fc-expires"):
        date = query["x-fc-expires"][0]
    return "\n".join(
        [
            method.upper(),
            headers.get("content-md5", ""),
            headers.get("content-type", ""),
            date,
            canonical_headers(headers) + canonical_resource(path, query),
        ]
    )


def sign(secret: str, text: str) -> str:
    """Base64 of HMAC-SHA256(secret, text)."""
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def authorization(access_key_id: str, secret: str, text: str) -> str:
    """The ``Authorization`` header value for a string-to-sign."""
    return f"FC {access_key_id}:{sign(secret, text)}"


def parse_authorization(value: str) -> tuple[str, str]:
    """Split ``FC <akid>:<signature>``.

    Raises:
        errors.AccessDenied: the header is not in the FC form.
    """
    scheme, _, credential = value.strip().partition(" ")
    key_id, sep, signature = credential.strip().partition(":")
    if scheme != "FC" or not sep or not key_id or not signature:
        raise errors.AccessDenied(
            "the Authorization header is not of the form 'FC <id>:<signature>'"
        )
    return key_id, signature


def verify(
    *,
    method: str,
    raw_path: str,
    headers: Mapping[str, str],
    query: Query,
    secret_for: Callable[[str], str | None],
    now: float,
    query_signed: bool | None = None,
) -> str:
    """Check a request's signature and freshness; return the access key id that signed it.

    ``headers`` have lower-case names; ``query`` is the decoded query string, signed (and able to
    carry a pre-signed URL's ``x-fc-signature``) when ``query_signed``: by default only under
    ``/proxy``; a custom domain's paths have no such prefix, so its caller passes True.

    Raises:
        errors.AccessDenied: no credentials at all, an unparseable ``Authorization``, a ``Date``
            more than 15 minutes from ``now``, or an expired pre-signed URL.
        errors.MissingRequiredHeader: signed by header but no ``Date``.
        errors.InvalidArgument: a ``Date`` that is not an RFC 1123 date.
        errors.InvalidAccessKeyID: the key id is unknown.
        errors.SignatureNotMatch: the signature is wrong.
    """
    decoded_path = unquote(raw_path)
    if query_signed is None:
        query_signed = decoded_path.startswith(PROXY_PREFIX)
    signed_query: dict[str, Sequence[str]] | None = None
    if "authorization" in headers:
        key_id, signature = parse_authorization(headers["authorization"])
        _check_date(headers.get("date"), now)
        if query_signed:
            signed_query = dict(query)
    elif query_signed and query.get("x-fc-signature"):
        key_id = _first(query, "x-fc-access-key-id")
        signature = _first(query, "x-fc-signature")
        expires = _first(query, "x-fc-expires")
        if not expires.isdigit():
            raise errors.AccessDenied("the pre-signed URL has no valid x-fc-expires")
        if now > int(expires):
            raise errors.AccessDenied(f"the pre-signed URL expired at {expires}")
        signed_query = {k: v for k, v in query.items() if k != "x-fc-signature"}
    else:
        raise errors.AccessDenied("required HTTP header Authorization was not specified")

    secret = secret_for(key_id)
    if secret is None:
        raise errors.InvalidAccessKeyID(f"invalid access key ID '{key_id}'")
    for path in dict.fromkeys((decoded_path, raw_path)):
        expected = sign(secret, string_to_sign(method, headers, path, signed_query))
        if hmac.compare_digest(expected.encode(), signature.encode()):
            return key_id
    raise errors.SignatureNotMatch(
        "The request signature we calculated does not match the signature you provided. "
        "Check your access key and signing method"
    )


def _first(query: Query, key: str) -> str:
    values = query.get(key) or [""]
    return values[0]


def _check_date(date: str | None, now: float) -> None:
    if not date:
        raise errors.MissingRequiredHeader("required HTTP header Date was not specified")
    try:
        when = email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError) as e:
        raise errors.InvalidArgument(f"the Date header '{date}' is not an RFC 1123 date") from e
    if abs(now - when) > MAX_CLOCK_SKEW_SECONDS:
        raise errors.AccessDenied(
            f"the difference between the request time '{date}' and the current time is too large"
            " (more than 15 minutes)"
        )


def content_md5_matches(value: str, body: bytes) -> bool:
    """Whether a ``Content-MD5`` value is the MD5 of ``body`` in any encoding an SDK sends."""
    digest = hashlib.md5(body, usedforsecurity=False)
    given = value.strip()
    hex_digest = digest.hexdigest()
    return given.lower() == hex_digest or given in (
        base64.b64encode(digest.digest()).decode(),
        base64.b64encode(hex_digest.encode()).decode(),
    )


async def check_body(headers: Mapping[str, str], body: bytes) -> None:
    """Refuse a body that is not the one its ``Content-MD5`` (when sent) names.

    ``headers`` have lower-case names. Large bodies are hashed on a thread.

    Raises:
        errors.InvalidArgument: the body's MD5 differs from ``Content-MD5``.
    """
    value = headers.get("content-md5")
    if value is None:
        return
    if len(body) >= MD5_ON_THREAD_BYTES:
        matches = await asyncio.to_thread(content_md5_matches, value, body)
    else:
        matches = content_md5_matches(value, body)
    if not matches:
        raise errors.InvalidArgument(
            f"the Content-MD5 header '{value[:64]}' does not match the MD5 of the request body "
            f"({len(body)} bytes received)"
        )
