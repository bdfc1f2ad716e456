"""The management API: a Quart app built from the services the daemon passes in.

Every route under ``/2016-08-15/`` is signed (spec §2) and checked here, before any resource code
runs, with its body checked against ``Content-MD5`` when one is sent (the signature covers the
header, not the body: :func:`fcd.signature.check_body`). This module is also the only place
that turns an :class:`~fcd.errors.FcError` (or a surprise) into FC's JSON error with the
request id: resource modules just raise.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from quart import Blueprint, Quart, Response, g, request
from werkzeug.exceptions import HTTPException

from fcd import errors, ids, signature
from fcd.api.context import ApiContext, ctx

log = logging.getLogger(__name__)

API_PREFIX = "/2016-08-15/"
# Access-Control-Expose-Headers as FC sends it, so browser clients can read these.
EXPOSE_HEADERS = (
    "Date,x-fc-request-id,x-fc-error-type,x-fc-code-checksum,x-fc-invocation-duration,"
    "x-fc-max-memory-usage,x-fc-log-result,x-fc-invocation-code-version"
)


def create_app(context: ApiContext, blueprints: Iterable[Blueprint]) -> Quart:
    """Build the app; ``blueprints`` are the resource modules' route sets."""
    app = Quart("fcd", static_folder=None)
    app.config["FCD"] = context
    app.config["MAX_CONTENT_LENGTH"] = context.config.limits.api_body
    # Quart's own body timeout would cut off slow uploads of large zips.
    app.config["BODY_TIMEOUT"] = 600
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
    app.before_request(_begin)
    app.after_request(_finish)
    app.register_error_handler(errors.FcError, _render_fc_error)
    app.register_error_handler(HTTPException, _render_http_exception)
    app.register_error_handler(Exception, _render_unexpected)
    return app


async def _begin() -> None:
    g.request_id = ids.request_id()
    if request.path.startswith(API_PREFIX):
        headers = _authenticate()
        if "content-md5" in headers:
            # Read (and cached for the route) within the app's body limit, then checked.
            body = await request.get_data(as_text=False)
            assert isinstance(body, bytes)
            await signature.check_body(headers, body)


def _authenticate() -> dict[str, str]:
    """Check the signature; return the request's headers with lower-case names."""
    context = ctx()
    headers = {name.lower(): value for name, value in request.headers.items()}
    query = {key: request.args.getlist(key) for key in request.args}
    raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.path
    g.access_key_id = signature.verify(
        method=request.method,
        raw_path=raw_path.split("?", 1)[0],
        headers=headers,
        query=query,
        secret_for=context.secret_for,
        now=context.clock(),
    )
    return headers


async def _finish(response: Response) -> Response:
    response.headers["X-Fc-Request-Id"] = _request_id()
    response.headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return response


def _request_id() -> str:
    request_id = g.get("request_id")
    if request_id is None:
        request_id = g.request_id = ids.request_id()
    return str(request_id)


def error_response(error: errors.FcError) -> Response:
    """FC's error shape: ``{"ErrorCode", "ErrorMessage"}``, JSON-typed, with the request id."""
    request_id = _request_id()
    response = Response(
        errors.error_body(error, request_id), status=error.status, content_type="application/json"
    )
    response.headers["X-Fc-Request-Id"] = request_id
    return response


async def _render_fc_error(error: errors.FcError) -> Response:
    return error_response(error)


async def _render_http_exception(error: HTTPException) -> Response:
    """Quart's own errors (no route, wrong method, body too large) in FC's shape."""
    status = error.code or 500
    fc_error: errors.FcError
    if status == 404:
        fc_error = errors.NotFound(f"'{request.method}' against '{request.path}' is not found")
    elif status == 405:
        fc_error = errors.MethodNotAllowed(
            f"'{request.method}' against '{request.path}' is not supported"
        )
    elif status == 413:
        limit = ctx().config.limits.api_body
        fc_error = errors.EntityTooLarge(
            f"payload size exceeds maximum allowed size ({limit} bytes)"
        )
    elif status < 500:
        fc_error = errors.InvalidArgument(error.description or error.name)
    else:
        fc_error = errors.InternalServerError("an internal error has occurred. Please retry.")
    fc_error.status = status if status != 413 else errors.EntityTooLarge.status
    return error_response(fc_error)


async def _render_unexpected(error: Exception) -> Response:
    full = errors.storage_error(error)
    if full is not None:
        log.error("%s %s: the disk is full: %s", request.method, request.path, error)
        return error_response(full)
    log.exception("unexpected error serving %s %s", request.method, request.path)
    return error_response(
        errors.InternalServerError("an internal error has occurred. Please retry.")
    )
