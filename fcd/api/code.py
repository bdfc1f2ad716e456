"""Code packages over HTTP: the store accessor, and expiring download URLs that fcd serves itself.

GetFunctionCode and the layer routes answer with a URL (FC hands out pre-signed OSS links). fcd's
URL points at ``GET /code/<sha256>.zip?Expires=<epoch>&Signature=<hmac>`` on the host the client
used. The route lies outside ``/2016-08-15/`` so it is not FC-signed: a URL must work in a
browser or ``curl``. It is signed instead with an HMAC key the daemon generates once and keeps in
the ``settings`` table, over the digest and the expiry; a URL cannot be altered to fetch another
package or to live longer.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import sqlite3
from urllib.parse import quote

from quart import Blueprint, Response, request, send_file

from fcd import errors
from fcd.api.context import ctx
from fcd.store.code import CodeInfo, CodeStore, decode_zip_file
from fcd.wire.functions import Code

routes = Blueprint("code", __name__)

# FC's code URLs are short-lived pre-signed links; ten minutes, as Lambda's layer links.
URL_TTL_SECONDS = 10 * 60
KEY_SETTING = "code_url_key"
_STORE = "code_store"
_KEY = "code_url_key"


def code_store() -> CodeStore:
    """The app's code store, made on first use (it is stateless apart from its directory)."""
    context = ctx()
    store = context.extras.get(_STORE)
    if store is None:
        store = context.extras[_STORE] = CodeStore(context.data_dir, context.config.limits)
    assert isinstance(store, CodeStore)
    return store


async def store_zip(code: Code, checksum_header: str | None) -> CodeInfo:
    """Check and store the package a create/update/publish body carries.

    ``checksum_header`` is ``X-Fc-Code-Checksum``: when given, it must equal the package's
    CRC-64, as on FC, so a client can detect a package damaged on the way.

    Raises:
        errors.InvalidArgument: no or both code forms, OSS code, bad base64, a zip that breaks a
            rule of :mod:`fcd.store.code`, or a checksum mismatch.
    """
    if code.oss_bucket_name or code.oss_object_name:
        if code.zip_file:
            raise errors.InvalidArgument(
                "code must have either zipFile or ossBucketName and ossObjectName, not both"
            )
        raise errors.InvalidArgument(
            "OSS code is not supported by fcd: send the package as code.zipFile"
        )
    if not code.zip_file:
        raise errors.InvalidArgument("code.zipFile is required")
    store = code_store()
    encoded = code.zip_file
    info = await asyncio.to_thread(lambda: store.put(decode_zip_file(encoded, store.limits)))
    if checksum_header is not None and checksum_header.strip() != info.checksum:
        raise errors.InvalidArgument(
            f"X-Fc-Code-Checksum {checksum_header.strip()} does not match the CRC-64 of the "
            f"code ({info.checksum})"
        )
    return info


async def _url_key() -> bytes:
    context = ctx()
    key = context.extras.get(_KEY)
    if key is None:

        def tx(conn: sqlite3.Connection) -> str:
            conn.execute(
                "INSERT OR IGNORE INTO settings(key, value) VALUES (?, ?)",
                (KEY_SETTING, secrets.token_hex(32)),
            )
            row = conn.execute("SELECT value FROM settings WHERE key=?", (KEY_SETTING,)).fetchone()
            return str(row[0])

        key = context.extras[_KEY] = bytes.fromhex(await context.store.write(tx))
    assert isinstance(key, bytes)
    return key


def _signature(key: bytes, sha256: str, expires: int) -> str:
    digest = hmac.new(key, f"{sha256}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


async def download_url(sha256: str) -> str:
    """An absolute, expiring URL for a stored package, on the host this request came to."""
    expires = int(ctx().clock()) + URL_TTL_SECONDS
    signature = _signature(await _url_key(), sha256, expires)
    base = request.host_url.rstrip("/")
    return f"{base}/code/{sha256}.zip?Expires={expires}&Signature={quote(signature)}"


@routes.get("/code/<name>")
async def get_code(name: str) -> Response:
    """Serve a package named by a URL from :func:`download_url`.

    Raises:
        errors.AccessDenied: missing, wrong or expired signature.
        errors.NotFound: the package is no longer stored.
    """
    sha256, dot, ext = name.partition(".")
    expires = request.args.get("Expires", "")
    signature = request.args.get("Signature", "")
    if ext != "zip" or not dot or not expires.isdigit() or not signature:
        raise errors.AccessDenied("the code URL is not signed")
    expected = _signature(await _url_key(), sha256, int(expires))
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise errors.AccessDenied("the code URL signature does not match")
    if int(expires) < ctx().clock():
        raise errors.AccessDenied(f"the code URL expired at {expires}")
    try:
        path = code_store().zip_path(sha256)
    except ValueError:
        raise errors.NotFound(f"code package '{sha256}' does not exist") from None
    if not path.is_file():
        raise errors.NotFound(f"code package '{sha256}' does not exist")
    response = await send_file(path, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{sha256}.zip"'
    return response
