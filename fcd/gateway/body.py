"""Reading a request body off ASGI ``receive``, for the invoke route and HTTP triggers alike."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fcd import errors, signature

Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]


async def read_body(
    receive: Receive,
    headers: dict[str, str],
    limit: int,
    too_large: Callable[[int], errors.FcError],
    *,
    signed: bool = True,
    within: float = 0,
) -> bytes:
    """The whole body, joined once, refused as soon as it is known to be over ``limit``.

    ``too_large`` builds the error for an oversized body: the invoke API and HTTP triggers
    answer that case with different FC errors. A ``signed`` request's body must match its
    ``Content-MD5`` when it has one (the signature covers the header, not the body); an
    anonymous HTTP-trigger request's header is the function's to judge. A body that comes in
    more than one chunk must be whole within ``within`` seconds of its first (0: no bound);
    a body that arrives at once, the common case, arms no timer.

    Raises:
        errors.FcError: from ``too_large``.
        errors.RequestTimeout: the rest of the body did not arrive within ``within`` seconds.
        errors.InvalidArgument: the client went away mid-body, or the body is not the one
            ``Content-MD5`` names.
    """
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0

    def take(message: MutableMapping[str, Any]) -> bool:
        """Keep one message's chunk; whether more of the body follows."""
        nonlocal size
        if message["type"] == "http.disconnect":
            raise errors.InvalidArgument("the client closed the connection mid-request")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        if chunk:
            chunks.append(chunk)
        return bool(message.get("more_body", False))

    if take(await receive()):
        try:
            async with asyncio.timeout(within or None):
                while take(await receive()):
                    pass
        except TimeoutError:
            raise errors.RequestTimeout(
                f"the request body did not arrive within {within:g} s ([limits] body_timeout)"
            ) from None
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if signed and "content-md5" in headers:  # no coroutine on the common path
        await signature.check_body(headers, body)
    return body
