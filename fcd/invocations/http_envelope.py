"""An HTTP-trigger request kept whole in an async invocation's payload.

``X-Fc-Invocation-Type: Async`` on an HTTP trigger queues the request; when it runs, the
function must still see the method, path, query and headers, not just the body. The queue
stores one opaque payload per invocation, so the request is wrapped: a magic prefix, the
request line and headers as JSON, then the body bytes untouched. Rows whose ``source`` starts
with ``http:`` carry such a payload; :func:`unwrap` gives the invoker back the body and the
:class:`~fcd.model.HttpRequestInfo`.
"""

from __future__ import annotations

import struct

import msgspec

from fcd.model import HttpRequestInfo

SOURCE_PREFIX = "http:"
_MAGIC = b"FCDHTTP1"
_LENGTH = struct.Struct(">I")


class _Request(msgspec.Struct):
    method: str
    path: str
    request_uri: str
    client_ip: str
    host: str
    queries: dict[str, list[str]]
    headers: dict[str, list[str]]


_decoder = msgspec.json.Decoder(_Request)


def wrap(info: HttpRequestInfo, body: bytes) -> bytes:
    """The payload to queue for ``info`` with ``body``."""
    head = msgspec.json.encode(
        _Request(
            info.method,
            info.path,
            info.request_uri,
            info.client_ip,
            info.host,
            {k: list(v) for k, v in info.queries.items()},
            {k: list(v) for k, v in info.headers.items()},
        )
    )
    return _MAGIC + _LENGTH.pack(len(head)) + head + body


def unwrap(source: str, payload: bytes) -> tuple[bytes, HttpRequestInfo | None]:
    """``(body, request)`` of a queued payload; ``(payload, None)`` for any other source."""
    if not source.startswith(SOURCE_PREFIX) or not payload.startswith(_MAGIC):
        return payload, None
    start = len(_MAGIC) + _LENGTH.size
    (length,) = _LENGTH.unpack_from(payload, len(_MAGIC))
    head = _decoder.decode(payload[start : start + length])
    info = HttpRequestInfo(
        method=head.method,
        path=head.path,
        request_uri=head.request_uri,
        client_ip=head.client_ip,
        host=head.host,
        queries=head.queries,
        headers=head.headers,
    )
    return payload[start + length :], info
