"""The one exception tree of fcd.

Every error a client can see is an :class:`FcError` subclass that carries the HTTP status and the
FC ``ErrorCode`` as class attributes, so the edges (the management API, the invoke gateway) render
all of them the same way with :func:`error_body`. Foreign exceptions are translated where they
enter (``msgspec.ValidationError`` → :class:`InvalidArgument`, ``sqlite3.IntegrityError`` →
``*AlreadyExists``); a function's own failure is a *result*, never one of these.
"""

from __future__ import annotations

import errno
import json
import sqlite3


class FcError(Exception):
    """Base of every client-visible error: ``status`` and ``code`` name the FC error."""

    status: int = 500
    code: str = "InternalServerError"
    # The answer ends the connection (``Connection: close``): the request was never read whole.
    closes: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status} {self.code}: {self.message}>"


def error_body(error: FcError, request_id: str) -> bytes:
    """The FC error JSON: PascalCase keys, as the Go and Java SDKs parse them case-sensitively."""
    return json.dumps(
        {"ErrorCode": error.code, "ErrorMessage": error.message, "RequestId": request_id}
    ).encode()


# 400 ---------------------------------------------------------------------------------------------
class InvalidArgument(FcError):
    status, code = 400, "InvalidArgument"


class MissingRequiredHeader(FcError):
    status, code = 400, "MissingRequiredHeader"


class PathNotSupported(FcError):
    status, code = 400, "PathNotSupported"


class EntityTooLarge(FcError):
    status, code = 400, "EntityTooLarge"


class LimitExceeded(FcError):
    status, code = 400, "LimitExceededError"


# 401 ---------------------------------------------------------------------------------------------
class Unauthorized(FcError):
    """An HTTP trigger with ``authType: jwt`` got no token, or one that does not verify."""

    status, code = 401, "Unauthorized"


# 403 ---------------------------------------------------------------------------------------------


class AccessDenied(FcError):
    status, code = 403, "AccessDenied"


class SignatureNotMatch(FcError):
    status, code = 403, "SignatureNotMatch"


class InvalidAccessKeyID(FcError):
    status, code = 403, "InvalidAccessKeyID"


# 404 ---------------------------------------------------------------------------------------------
class NotFound(FcError):
    """Base of the ``*NotFound`` family; the route itself missing uses this code."""

    status, code = 404, "NotFound"


class ServiceNotFound(NotFound):
    code = "ServiceNotFound"


class FunctionNotFound(NotFound):
    code = "FunctionNotFound"


class TriggerNotFound(NotFound):
    code = "TriggerNotFound"


class AliasNotFound(NotFound):
    code = "AliasNotFound"


class VersionNotFound(NotFound):
    code = "VersionNotFound"


class DomainNameNotFound(NotFound):
    code = "DomainNameNotFound"


class LayerNotFound(NotFound):
    code = "LayerNotFound"


class AsyncConfigNotExists(NotFound):
    code = "AsyncConfigNotExists"


class OnDemandConfigNotFound(NotFound):
    code = "OnDemandConfigNotFound"


class ProvisionConfigNotExist(NotFound):
    code = "ProvisionConfigNotExist"


class AsyncInvocationNotFound(NotFound):
    code = "StatefulAsyncInvocationNotFound"


# 405 ---------------------------------------------------------------------------------------------
class MethodNotAllowed(FcError):
    status, code = 405, "MethodNotAllowed"


# 408 / 431: answered by the connection itself, before a request exists ---------------------------
class RequestTimeout(FcError):
    """The request line and headers did not arrive within ``limits.header_timeout``, or its
    body within ``limits.body_timeout``."""

    status, code = 408, "RequestTimeout"
    closes = True


class RequestHeaderFieldsTooLarge(FcError):
    """The request head is over ``limits.header_bytes`` or ``limits.header_count``."""

    status, code = 431, "RequestHeaderFieldsTooLarge"


# 409 ---------------------------------------------------------------------------------------------
class Conflict(FcError):
    status, code = 409, "Conflict"


class ServiceAlreadyExists(Conflict):
    code = "ServiceAlreadyExists"


class FunctionAlreadyExists(Conflict):
    code = "FunctionAlreadyExists"


class TriggerAlreadyExists(Conflict):
    code = "TriggerAlreadyExists"


class AliasAlreadyExists(Conflict):
    code = "AliasAlreadyExists"


class DomainNameAlreadyExists(Conflict):
    code = "DomainNameAlreadyExists"


class ServiceNotEmpty(Conflict):
    code = "ServiceNotEmpty"


class FunctionNotEmpty(Conflict):
    code = "FunctionNotEmpty"


class VersionNotEmpty(Conflict):
    """A version that an alias still points at cannot be deleted."""

    code = "VersionNotEmpty"


class ConcurrentUpdateError(Conflict):
    code = "ConcurrentUpdateError"


# 412 ---------------------------------------------------------------------------------------------
class PreconditionFailed(FcError):
    status, code = 412, "PreconditionFailed"


class AsyncInvocationStopped(FcError):
    status, code = 412, "AsyncInvocationStopped"


# 429 / 5xx ---------------------------------------------------------------------------------------
class ResourceExhausted(FcError):
    status, code = 429, "ResourceExhausted"


class InternalServerError(FcError):
    status, code = 500, "InternalServerError"


class BadResponse(FcError):
    status, code = 502, "BadResponse"


class ResourceThrottled(FcError):
    status, code = 503, "ResourceThrottled"


class InsufficientStorage(FcError):
    """The disk under the data dir is full: nothing more can be stored until space is freed.

    FC documents no error for this (its storage is not the caller's concern); 507 is HTTP's
    "Insufficient Storage", and unlike a 500 it tells the caller that a retry will not help
    before an operator acts.
    """

    status, code = 507, "InsufficientStorage"


_DISK_FULL = "the server's disk is full: nothing more can be stored until an operator frees space"


def storage_error(error: BaseException) -> InsufficientStorage | None:
    """The FC error for a full disk (ENOSPC or a quota, SQLite's SQLITE_FULL), else None."""
    if isinstance(error, InsufficientStorage):
        return error
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage(_DISK_FULL)
    if isinstance(error, sqlite3.Error) and getattr(error, "sqlite_errorcode", None) == 13:
        return InsufficientStorage(_DISK_FULL)  # SQLITE_FULL
    return None
