"""The invoke path: a bare ASGI handler in front of the management app.

``POST /2016-08-15/services/{svc}[.{qualifier}]/functions/{fn}/invocations`` is served here,
without Quart: a Quart route costs ~0.2 ms and a quarter of the throughput (DESIGN §6), which an
invocation must not pay. Everything else (and the lifespan protocol) goes to the fallback app the
daemon passes in, the Quart management API, which this module never imports.

A request is checked in the same order as the API checks it: signature (FC scheme, same keys),
then payload size (``EntityTooLarge`` past ``limits.sync_payload``, before the body is read
whole), then the invocation. Errors are FC's JSON with the request id; a function's own failure
is a 200 with ``X-Fc-Error-Type`` (spec §5.3).
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fcd import errors, ids, signature
from fcd.config import Limits
from fcd.gateway import headers as shape
from fcd.gateway.body import read_body
from fcd.gateway.http_trigger import HttpTriggerServer
from fcd.invocations.invoker import Invoker
from fcd.invocations.queue import AsyncQueue, AsyncRequest

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
# The fallback is any ASGI app (Quart types its own arguments more narrowly).
ASGIApp = Callable[..., Awaitable[None]]

SERVICES_PREFIX = "/2016-08-15/services/"
INVOCATIONS_SUFFIX = "/invocations"
_JSON = b"application/json"
# Verdicts kept at most; a burst of distinct signatures just empties the cache.
VERIFIED_CACHE_SIZE = 4096


def invoke_target(path: str) -> tuple[str, str, str] | None:
    """``(service, qualifier, function)`` of an invoke path, or None for any other path."""
    if not path.startswith(SERVICES_PREFIX) or not path.endswith(INVOCATIONS_SUFFIX):
        return None
    parts = path[len(SERVICES_PREFIX) : -len(INVOCATIONS_SUFFIX)].split("/")
    if len(parts) != 3 or parts[1] != "functions" or not parts[0] or not parts[2]:
        return None
    service, _, qualifier = parts[0].partition(".")
    return service, qualifier, parts[2]


class Gateway:
    """The daemon's ASGI app: invocations here, everything else to ``fallback``."""

    def __init__(
        self,
        fallback: ASGIApp,
        invoker: Invoker,
        *,
        secret_for: Callable[[str], str | None],
        limits: Limits,
        clock: Callable[[], float] = time.time,
        queue: AsyncQueue | None = None,
        http: HttpTriggerServer | None = None,
    ) -> None:
        self.fallback = fallback
        self.http = http  # HTTP triggers and custom domains
        self.invoker = invoker
        self.queue = queue
        self.secret_for = secret_for
        self.limits = limits
        self.clock = clock
        # Signatures verified recently: request identity → (access key id, signed-at epoch).
        self._verified: dict[tuple[str, ...], tuple[str, float]] = {}

    def __repr__(self) -> str:
        return f"<Gateway {self.invoker!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.http is not None:
            routed = self.http.route(scope)
            if routed is not None:
                await self.http.serve(scope, receive, send, routed)
                return
        if scope["type"] == "http" and scope["method"] == "POST":
            target = invoke_target(scope["path"])
            if target is not None:
                await self._invoke(scope, receive, send, target)
                return
        await self.fallback(scope, receive, send)

    async def _invoke(
        self, scope: Scope, receive: Receive, send: Send, target: tuple[str, str, str]
    ) -> None:
        request_id = ids.request_id()
        try:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            self._authenticate(scope, headers)
            options = shape.parse_options(headers)
            service, qualifier, function = target
            if (options.asynchronous or options.stateful_id) and self.queue is not None:
                # Async (an invocation id implies it, as the Go SDK sends it): 202 after COMMIT.
                payload = await self._read_body(receive, headers, self.limits.async_payload)
                await self.queue.submit(
                    AsyncRequest(
                        service, qualifier, function, payload, request_id, options.stateful_id
                    )
                )
                stateful = self.queue.policy(service, qualifier, function).stateful
                invocation_id = options.stateful_id or (request_id if stateful else "")
                await _send_accepted(send, request_id, invocation_id)
                return
            payload = await self._read_body(receive, headers)
            done = await self.invoker.invoke(
                service,
                qualifier,
                function,
                payload,
                request_id=request_id,
                tracing=shape.parse_tracing(headers),
            )
        except errors.FcError as error:
            await _send_error(send, error, request_id)
            return
        except Exception as e:
            full = errors.storage_error(e)
            if full is not None:
                log.error("invocation %s: the disk is full: %s", request_id, e)
                await _send_error(send, full, request_id)
                return
            log.exception("invocation %s of %s failed unexpectedly", request_id, scope["path"])
            internal = errors.InternalServerError("an internal error has occurred. Please retry.")
            await _send_error(send, internal, request_id)
            return
        response_headers = shape.invoke_headers(
            request_id=request_id,
            result=done.result,
            version=done.version,
            instance_id=done.instance_id,
            code_checksum=done.code_checksum,
            error_type=done.error_type,
            log=done.log if options.log_tail else None,
        )
        response_headers.append((b"content-length", str(len(done.body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": response_headers})
        await send({"type": "http.response.body", "body": done.body})

    def _authenticate(self, scope: Scope, headers: dict[str, str]) -> None:
        """Check the FC signature, remembering verdicts that succeeded for a short while.

        A signature covers the method, path, date and a few headers, so an SDK that sends one
        request after another within the same second repeats it exactly; the HMAC and the date
        parsing (~20 µs) are then skipped. The date's freshness is still checked every time.

        Raises:
            errors.AccessDenied, errors.SignatureNotMatch, errors.InvalidAccessKeyID,
            errors.MissingRequiredHeader, errors.InvalidArgument: see ``signature.verify``.
        """
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        now = self.clock()
        key = (
            raw_path,
            headers.get("authorization", ""),
            headers.get("date", ""),
            headers.get("content-md5", ""),
            headers.get("content-type", ""),
            *[f"{k}:{v}" for k, v in headers.items() if k.startswith("x-fc-")],
        )
        cached = self._verified.get(key)
        if cached is not None:
            key_id, signed_at = cached
            if (
                abs(now - signed_at) <= signature.MAX_CLOCK_SKEW_SECONDS
                and self.secret_for(key_id) is not None
            ):
                return
        key_id = signature.verify(
            method="POST",
            raw_path=raw_path.split("?", 1)[0],
            headers=headers,
            query={},
            secret_for=self.secret_for,
            now=now,
        )
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[key] = (key_id, _signed_at(headers.get("date", ""), now))

    async def _read_body(self, receive: Receive, headers: dict[str, str], limit: int = 0) -> bytes:
        """The whole payload, refused with ``EntityTooLarge`` over the (sync) limit."""
        return await read_body(
            receive,
            headers,
            limit or self.limits.sync_payload,
            _too_large,
            within=self.limits.body_timeout,
        )


def _signed_at(date: str, now: float) -> float:
    """The epoch of a ``Date`` header that ``signature.verify`` has just accepted."""
    try:
        return email.utils.parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return now


def _too_large(limit: int) -> errors.EntityTooLarge:
    return errors.EntityTooLarge(f"payload size exceeds maximum allowed size ({limit} bytes)")


async def _send_accepted(send: Send, request_id: str, invocation_id: str) -> None:
    """202, empty body: the invocation is committed to the async queue."""
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [
                (b"content-length", b"0"),
                (b"x-fc-request-id", request_id.encode()),
                (b"access-control-expose-headers", shape.EXPOSE_HEADERS),
            ]
            + (
                [(b"x-fc-stateful-async-invocation-id", invocation_id.encode())]
                if invocation_id
                else []
            ),
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _send_error(send: Send, error: errors.FcError, request_id: str) -> None:
    body = errors.error_body(error, request_id)
    await send(
        {
            "type": "http.response.start",
            "status": error.status,
            "headers": [
                (b"content-type", _JSON),
                (b"content-length", str(len(body)).encode()),
                (b"x-fc-request-id", request_id.encode()),
                (b"access-control-expose-headers", shape.EXPOSE_HEADERS),
                *([(b"connection", b"close")] if error.closes else []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
