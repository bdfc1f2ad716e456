"""HTTP triggers: ``/2016-08-15/proxy/{svc}[.{qualifier}]/{fn}/{path…}`` and custom domains.

A request here is not an invocation API call: the function gets the original request (method,
path, headers, query, body) and answers with its own status, headers and body (spec §5.5).
The checks run in FC's order: the function's ``http`` trigger for the qualifier (404
``TriggerNotFound`` without one), the trigger's ``methods`` (405), the request limits (400
``InvalidArgument``), the trigger's ``authType`` (``function``: an FC signature over the path and
the sorted query, or a pre-signed URL; ``jwt``: a token verified against the trigger's JWKS by
:mod:`fcd.gateway.jwt_check`, 401 ``Unauthorized`` otherwise), then the invocation.

The pure parts — parsing the proxy path, the limits, which request headers the function sees,
which response headers it may set — are functions over plain data, unit-tested without a
server (``tests/unit/test_http_trigger.py``). The trigger configs are cached like the catalog
caches functions: read on a miss, dropped on every notifying store write.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qs

import msgspec

from fcd import errors, ids, signature
from fcd.config import Limits
from fcd.gateway import jwt_check
from fcd.gateway.body import read_body
from fcd.gateway.headers import parse_tracing
from fcd.invocations import http_envelope
from fcd.invocations.invoker import Invoker
from fcd.invocations.queue import AsyncQueue, AsyncRequest
from fcd.model import HttpRequestInfo
from fcd.store import Store, docs
from fcd.wire import jwt_auth
from fcd.wire.custom_domains import is_daemon_path
from fcd.wire.triggers import HTTP, config_value

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

PROXY_PREFIX = "/2016-08-15/proxy/"
LATEST = "LATEST"
TRIGGER = "trigger"  # the document kind fcd.api.lookup stores triggers under
# Request limits of HTTP triggers (spec §5.5, §8).
MAX_HEADER_BYTES = 8 * 1024
MAX_URL_BYTES = 4 * 1024
MAX_RESPONSE_HEADER_BYTES = 8 * 1024
# Request headers the function never sees, and response headers it may not set (spec §5.5).
_DROPPED_REQUEST = frozenset({"connection", "keep-alive"})
_IGNORED_RESPONSE = frozenset(
    {"connection", "content-length", "date", "keep-alive", "server", "upgrade", "transfer-encoding"}
)
_JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class Target:
    """Where an HTTP request goes: a function, and the path it sees.

    ``proxy`` is True for ``/proxy`` requests (signed over the full proxy path and the query,
    spec §2.1); a custom-domain request is signed over its own path and query (spec §2.4).
    """

    service: str
    qualifier: str  # "" = LATEST
    function: str
    path: str  # what the function sees as its path
    proxy: bool = True


def proxy_target(path: str) -> Target | None:
    """The target of a ``/2016-08-15/proxy/{svc}[.{qual}]/{fn}[/{path}]`` path, or None.

    The function's path is what follows the function name (``/`` when nothing does), as FC's
    runtimes show it (spec §5.5).
    """
    if not path.startswith(PROXY_PREFIX):
        return None
    head, _, rest = path[len(PROXY_PREFIX) :].partition("/")
    function, _, sub = rest.partition("/")
    service, _, qualifier = head.partition(".")
    if not service or not function:
        return None
    return Target(service, qualifier, function, "/" + sub)


@dataclass(frozen=True, slots=True)
class HttpTrigger:
    """The parts of an ``http`` trigger's config that serving reads."""

    name: str
    auth_type: str  # "anonymous" | "function" | "jwt"
    methods: frozenset[str]
    jwt: jwt_auth.JwtAuthConfig | None = None  # parsed once, for authType jwt


class _StoredTrigger(msgspec.Struct, rename="camel"):
    trigger_name: str
    trigger_type: str
    trigger_config: Any = None
    qualifier: str = LATEST


_stored = msgspec.json.Decoder(_StoredTrigger)


def http_triggers(bodies: Iterable[bytes]) -> dict[str, HttpTrigger]:
    """Qualifier → the ``http`` trigger serving it, from one function's stored trigger docs."""
    found: dict[str, HttpTrigger] = {}
    for body in bodies:
        stored = _stored.decode(body)
        if stored.trigger_type != HTTP or not isinstance(stored.trigger_config, dict):
            continue
        config = stored.trigger_config
        methods = config_value(config, "methods") or []
        auth_type = str(config_value(config, "authType") or "function")
        found[stored.qualifier or LATEST] = HttpTrigger(
            name=stored.trigger_name,
            auth_type=auth_type,
            methods=frozenset(str(m).upper() for m in methods),
            jwt=jwt_auth.parse(config_value(config, "authConfig")) if auth_type == "jwt" else None,
        )
    return found


@dataclass
class TriggerIndex:
    """``(service, function)`` → its HTTP triggers by qualifier, cached until a store write."""

    store: Store
    _cache: dict[tuple[str, str], dict[str, HttpTrigger]] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"<TriggerIndex cached={len(self._cache)}>"

    def invalidate(self) -> None:
        self._cache.clear()

    def find(self, service: str, qualifier: str, function: str) -> HttpTrigger:
        """The HTTP trigger of ``service.qualifier/function``.

        Raises:
            errors.TriggerNotFound: the function has no HTTP trigger for that qualifier.
        """
        key = (service, function)
        triggers = self._cache.get(key)
        if triggers is None:
            scope = f"{service}/{function}"

            def read(conn: sqlite3.Connection) -> dict[str, HttpTrigger]:
                return http_triggers(doc.body for doc in docs.all_in(conn, TRIGGER, scope))

            triggers = self._cache[key] = self.store.read(read)
        trigger = triggers.get(qualifier or LATEST)
        if trigger is None:
            raise errors.TriggerNotFound(
                f"function '{function}' of service '{service}' has no HTTP trigger for "
                f"qualifier '{qualifier or LATEST}'"
            )
        return trigger


# Pure request/response shaping -----------------------------------------------------------------
def check_limits(raw_headers: Headers, raw_path: bytes, query_string: bytes) -> None:
    """Refuse requests over FC's header and URL limits (spec §5.5).

    Raises:
        errors.InvalidArgument
    """
    header_bytes = sum(len(k) + len(v) + 4 for k, v in raw_headers)
    if header_bytes > MAX_HEADER_BYTES:
        raise errors.InvalidArgument(
            f"request headers are {header_bytes} bytes, more than the {MAX_HEADER_BYTES} allowed"
        )
    url_bytes = len(raw_path) + (len(query_string) + 1 if query_string else 0)
    if url_bytes > MAX_URL_BYTES:
        raise errors.InvalidArgument(
            f"the request path and query are {url_bytes} bytes, more than the "
            f"{MAX_URL_BYTES} allowed"
        )


def function_headers(raw_headers: Headers) -> dict[str, list[str]]:
    """The request headers the function sees: multi-valued, without hop-by-hop and ``x-fc-*``."""
    seen: dict[str, list[str]] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name in _DROPPED_REQUEST or name.startswith("x-fc-"):
            continue
        seen.setdefault(name, []).append(raw_value.decode("latin-1"))
    return seen


def parse_query(query_string: bytes) -> dict[str, list[str]]:
    """Every query parameter with all its values (a bare ``k`` is ``k`` with value ``""``)."""
    return parse_qs(query_string.decode("latin-1"), keep_blank_values=True)


def response_headers(pairs: Iterable[tuple[str, str]]) -> Headers:
    """The function's response headers minus those FC sets itself (spec §5.5).

    Raises:
        errors.BadResponse: the headers left are over 8 KB.
    """
    kept: Headers = []
    size = 0
    for name, value in pairs:
        lower = name.lower()
        if lower in _IGNORED_RESPONSE or lower.startswith("x-fc-"):
            continue
        raw = (name.encode("latin-1", "replace"), str(value).encode("latin-1", "replace"))
        size += len(raw[0]) + len(raw[1]) + 4
        kept.append(raw)
    if size > MAX_RESPONSE_HEADER_BYTES:
        raise errors.BadResponse(
            f"the function's response headers are {size} bytes, more than the "
            f"{MAX_RESPONSE_HEADER_BYTES} allowed"
        )
    return kept


# Serving ---------------------------------------------------------------------------------------
class Domains(Protocol):
    """Custom domains (:class:`fcd.gateway.domains.DomainIndex`)."""

    def any(self) -> bool: ...

    def domain(self, host: str) -> Any: ...

    def target(self, domain: Any, path: str, method: str) -> Target: ...


def _host(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""


class HttpTriggerServer:
    """Serves HTTP-trigger requests for :class:`fcd.gateway.app.Gateway`."""

    def __init__(
        self,
        invoker: Invoker,
        triggers: TriggerIndex,
        *,
        secret_for: Callable[[str], str | None],
        limits: Limits,
        domains: Domains | None = None,
        queue: AsyncQueue | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.invoker = invoker
        self.triggers = triggers
        self.domains = domains
        self.secret_for = secret_for
        self.limits = limits
        self.queue = queue
        self.clock = clock

    def __repr__(self) -> str:
        return f"<HttpTriggerServer {self.triggers!r}>"

    def route(self, scope: Scope) -> Target | tuple[Any] | None:
        """What serves this request: a custom domain (by ``Host``), a ``/proxy`` target, or
        None (not an HTTP-trigger request). Cheap: the invoke path asks it on every request.

        The daemon's own paths (the API under ``/2016-08-15/``, ``/healthz``) are never a
        custom domain's, whatever the ``Host``: signed requests reach the API, not a function.
        """
        path: str = scope["path"]
        if self.domains is not None and self.domains.any() and not is_daemon_path(path):
            domain = self.domains.domain(_host(scope))
            if domain is not None:
                return (domain,)
        return proxy_target(path)

    async def serve(
        self, scope: Scope, receive: Receive, send: Send, routed: Target | tuple[Any]
    ) -> None:
        """Answer one request: the function's response, or FC's error JSON."""
        request_id = ids.request_id()
        try:
            if isinstance(routed, tuple):
                assert self.domains is not None
                routed = self.domains.target(routed[0], scope["path"], scope["method"])
            await self._serve(scope, receive, send, routed, request_id)
        except errors.FcError as error:
            await send_error(send, error, request_id)
        except Exception as e:
            full = errors.storage_error(e)
            if full is not None:
                log.error("HTTP-trigger request %s: the disk is full: %s", request_id, e)
                await send_error(send, full, request_id)
                return
            log.exception("HTTP-trigger request %s of %s failed", request_id, scope["path"])
            internal = errors.InternalServerError("an internal error has occurred. Please retry.")
            await send_error(send, internal, request_id)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, target: Target, request_id: str
    ) -> None:
        method = scope["method"]
        trigger = self.triggers.find(target.service, target.qualifier, target.function)
        if method not in trigger.methods:
            raise errors.MethodNotAllowed(
                f"method {method} is not allowed by the HTTP trigger '{trigger.name}' "
                f"(allowed: {', '.join(sorted(trigger.methods))})"
            )
        raw_headers: Headers = scope["headers"]
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query_string: bytes = scope.get("query_string", b"")
        check_limits(raw_headers, raw_path, query_string)
        lower = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw_headers}
        query = parse_query(query_string)
        asynchronous = lower.get("x-fc-invocation-type", "").lower() == "async"
        limit = self.limits.async_payload if asynchronous else self.limits.sync_payload
        body: bytes | None = None
        signed = trigger.auth_type == "function"  # FC-signed: Content-MD5 must match the body
        if trigger.jwt is not None:
            if trigger.jwt.reads_form:  # the token may be in the (bounded) form body
                body = await read_body(
                    receive,
                    lower,
                    limit,
                    _too_large,
                    signed=False,
                    within=self.limits.body_timeout,
                )
            claims = jwt_check.authenticate(trigger.jwt, target.path, lower, query, body)
            if claims is not None and trigger.jwt.claims:
                raw_headers, query_string = jwt_check.pass_claims(
                    trigger.jwt, claims, raw_headers, query_string
                )
                query = parse_query(query_string)
        elif signed:
            self._authenticate(method, raw_path, lower, query, target)
        if body is None:
            body = await read_body(
                receive, lower, limit, _too_large, signed=signed, within=self.limits.body_timeout
            )
        uri = raw_path.decode("latin-1")
        if query_string:
            uri += "?" + query_string.decode("latin-1")
        client = scope.get("client") or ("", 0)
        info = HttpRequestInfo(
            method=method,
            path=target.path,
            request_uri=uri,
            client_ip=str(client[0]),
            host=lower.get("host", ""),
            queries=query,
            headers=function_headers(raw_headers),
        )
        if asynchronous:
            if self.queue is None:
                raise errors.InvalidArgument("asynchronous invocation is not available")
            # Queued whole: when it runs, the function sees this request as if it were sync.
            await self.queue.submit(
                AsyncRequest(
                    target.service,
                    target.qualifier or LATEST,
                    target.function,
                    http_envelope.wrap(info, body),
                    request_id,
                    source=f"{http_envelope.SOURCE_PREFIX}{trigger.name}",
                )
            )
            await send_plain(send, 202, b"", [(b"x-fc-request-id", request_id.encode())])
            return
        done = await self.invoker.invoke(
            target.service,
            target.qualifier,
            target.function,
            body,
            request_id=request_id,
            http=info,
            tracing=parse_tracing(lower),
        )
        common = [(b"x-fc-request-id", request_id.encode())]
        if done.error_type is not None:
            # A crash, timeout or exception: FC answers 502 with the error JSON, no ErrorCode.
            extra = [(b"content-type", _JSON), (b"x-fc-error-type", done.error_type.encode())]
            await send_plain(send, 502, done.body, common + extra)
            return
        result = done.result
        headers = response_headers(result.http_headers)
        await send_plain(send, result.http_status or 200, done.body, headers + common)

    def _authenticate(
        self,
        method: str,
        raw_path: bytes,
        headers: dict[str, str],
        query: dict[str, list[str]],
        target: Target,
    ) -> None:
        """Check an FC signature over the path and sorted query (spec §2.1, §2.4).

        Raises:
            errors.AccessDenied, errors.SignatureNotMatch, errors.InvalidAccessKeyID,
            errors.MissingRequiredHeader
        """
        path = raw_path.decode("latin-1")
        if target.proxy:
            signature.verify(
                method=method,
                raw_path=path,
                headers=headers,
                query=query,
                secret_for=self.secret_for,
                now=self.clock(),
            )
            return
        verify_domain_request(method, path, headers, query, self.secret_for, self.clock())


def verify_domain_request(
    method: str,
    path: str,
    headers: dict[str, str],
    query: dict[str, list[str]],
    secret_for: Callable[[str], str | None],
    now: float,
) -> None:
    """A custom-domain request, signed over its own path and sorted query (spec §2.4).

    :func:`fcd.signature.verify` signs the query only under ``/proxy`` by default; a custom
    domain's paths have no such prefix, so the query is signed here explicitly: an
    ``Authorization`` header with a fresh ``Date``, or a pre-signed URL (``x-fc-expires`` in
    place of the date, every query parameter but ``x-fc-signature`` signed).

    Raises:
        errors.AccessDenied, errors.SignatureNotMatch, errors.InvalidAccessKeyID,
        errors.MissingRequiredHeader, errors.InvalidArgument (a malformed ``Date``)
    """
    signature.verify(
        method=method,
        raw_path=path,
        headers=headers,
        query=query,
        secret_for=secret_for,
        now=now,
        query_signed=True,
    )


def _too_large(limit: int) -> errors.InvalidArgument:
    return errors.InvalidArgument(f"the request body exceeds the maximum of {limit} bytes")


async def send_plain(send: Send, status: int, body: bytes, headers: Headers) -> None:
    """One whole response with its ``content-length``."""
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: errors.FcError, request_id: str) -> None:
    """FC's error JSON for a request the function never saw."""
    body = errors.error_body(error, request_id)
    headers = [(b"content-type", _JSON), (b"x-fc-request-id", request_id.encode())]
    if error.closes:
        headers.append((b"connection", b"close"))
    await send_plain(send, error.status, body, headers)


class TriggersOnly:
    """The ASGI app of the optional second listener (``http_listen``, e.g. ``:80``).

    It serves HTTP triggers and custom domains and nothing else: the management and invoke
    APIs stay on the main listener only.
    """

    def __init__(self, server: HttpTriggerServer) -> None:
        self.server = server

    def __repr__(self) -> str:
        return f"<TriggersOnly {self.server!r}>"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        routed = self.server.route(scope)
        if routed is None:
            missing = errors.NotFound(
                f"'{scope['path']}' is neither an HTTP trigger nor a custom domain route"
            )
            await send_error(send, missing, ids.request_id())
            return
        await self.server.serve(scope, receive, send, routed)
