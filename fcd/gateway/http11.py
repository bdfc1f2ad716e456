"""The HTTP/1.1 connection of every listener: uvicorn's httptools protocol, with a bounded head.

uvicorn with httptools puts no bound on a request's head: llhttp hands a header over in pieces
that httptools joins (a copy per piece), so one anonymous client sending a 128 MiB header held
the event loop for seconds and the memory for all of it, and a client that sends its head one
byte at a time holds a connection forever. :class:`BoundedHead` refuses, before it reads more:

* a head (request line and headers) over ``header_bytes``, or with more than ``header_count``
  header fields: ``431 RequestHeaderFieldsTooLarge``;
* a head that has not arrived ``header_timeout`` seconds after the connection opened or after
  the request's first byte (an idle keep-alive connection that starts a request and stalls):
  ``408 RequestTimeout``. A connection that never sent a byte is just closed.

Either answer is FC's error JSON with ``Connection: close``, and the connection is closed.

The cost on the hot path is about 1 µs per request (three more Python calls and a few integer
comparisons; measured 6.3 against 5.5 µs to parse an SDK invoke request): a head that arrives
in one read never arms a timer, and only a connection's first request cancels the one armed
when it opened. The timer is an ``asyncio`` call_later like uvicorn's own keep-alive.

uvicorn writes a response's head and its body with one ``write`` each, and uvloop sends each
at once: two syscalls per response. Each request's cycle writes through :class:`_JoinHead`
instead, which holds the head until the body's first write and sends both in one (or sends
the head alone at the end of the loop iteration when the body is not there yet, so a
streamed answer's head is never held back).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from fcd import errors, ids

# How long a refused connection keeps reading (and dropping) what the client is still sending,
# so that closing it does not reset the connection before the client has read the answer.
LINGER_SECONDS = 2.0
# Bytes a refused connection drops at most while lingering; then it closes at once.
LINGER_BYTES = 4 * 1024 * 1024
# Bytes a header field costs beyond its name and value: ": " and CRLF.
_FIELD_OVERHEAD = 4


@dataclass(frozen=True, slots=True)
class HeadLimits:
    """``limits.header_bytes``, ``header_count`` and ``header_timeout`` of the config."""

    max_bytes: int
    max_fields: int
    timeout: float


class _Refused(Exception):
    """Raised from a parser callback to stop parsing a head that is over a limit."""


class BoundedHead(HttpToolsProtocol):
    """uvicorn's httptools protocol with :class:`HeadLimits`; see the module docstring.

    Made per listener by :func:`protocol_class`, which sets ``limits``.
    """

    limits: HeadLimits

    # Per connection, set in connection_made:
    # _in_head: a head is being read, or awaited (at the start, or after a request's body).
    # _began: the current head has had at least one byte.
    # _read: bytes of the reads that began and ended inside the current head (httptools holds
    #   what it has parsed of a field until the field ends, so this bounds its memory).
    # _reading: the length of the read being parsed.
    # _over: the limit on_headers_complete found exceeded (it then stops the parser).
    # _refusal: the error the connection was refused with; afterwards nothing more is parsed.
    # _dropped: bytes read and dropped since the refusal.
    # _timer: the head deadline, armed while a head is awaited across reads.

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._in_head = True
        self._began = False
        self._read = self._reading = self._dropped = 0
        self._over: errors.FcError | None = None
        self._refusal: errors.FcError | None = None
        self._timer: asyncio.TimerHandle | None = self.loop.call_later(
            self.limits.timeout, self._head_timed_out
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's, but a head over a limit is refused instead of parsed on."""
        if self._refusal is not None:
            self._drop(len(data))
            return
        read_in_head = self._in_head
        self._reading = len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self._over is not None:
                self._refuse(self._over)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        if not (self._in_head and self._began):
            return
        # The head goes on past this read; when the read began inside it, all of it is head.
        if read_in_head:
            self._read += len(data)
            if self._read > self.limits.max_bytes:
                self._refuse(self._too_large())
                return
        if self._timer is None:
            self._timer = self.loop.call_later(self.limits.timeout, self._head_timed_out)

    # Parser callbacks (httptools calls them from inside feed_data) -----------------------------
    # Only those called once per request are overridden: a head that passes a limit within one
    # read costs at most that read (uvloop reads 256 KB at most), and across reads ``_read``
    # stops it; so the sizes are checked once, when the head is complete.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = self._began = True
        self._read = 0

    def on_headers_complete(self) -> None:
        limits = self.limits
        if len(self.headers) > limits.max_fields:
            self._over = errors.RequestHeaderFieldsTooLarge(
                f"the request has more than {limits.max_fields} header fields"
            )
            raise _Refused
        # The head is at most this read and the earlier ones; count it only when that is over.
        if self._read + self._reading > limits.max_bytes:
            size = len(self.url) + sum(len(n) + len(v) + _FIELD_OVERHEAD for n, v in self.headers)
            if size > limits.max_bytes:
                self._over = self._too_large()
                raise _Refused
        self._in_head = self._began = False
        self._cancel_timer()
        earlier = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not earlier:
            join = _JoinHead(self.transport, cycle, self.loop)
            cycle.transport = cast(asyncio.Transport, join)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    # Refusing -----------------------------------------------------------------------------------
    def _too_large(self) -> errors.FcError:
        return errors.RequestHeaderFieldsTooLarge(
            f"the request line and headers are over {self.limits.max_bytes} bytes"
        )

    def _head_timed_out(self) -> None:
        self._timer = None
        if self._refusal is not None or self.transport.is_closing():
            return
        if not self._began:
            self.transport.close()  # nothing was sent: there is no request to answer
            return
        self._refuse(
            errors.RequestTimeout(
                f"the request line and headers did not arrive within {self.limits.timeout:g} s"
            )
        )

    def _refuse(self, error: errors.FcError) -> None:
        """Answer ``error`` and close; nothing more the client sends is parsed or kept."""
        self._refusal = error
        self._cancel_timer()
        if self.cycle is not None and not self.cycle.response_complete:
            # An earlier request of this (pipelined) connection is still being answered: let
            # that answer finish, then close, as uvicorn does on shutdown.
            self.cycle.keep_alive = False
            return
        request_id = ids.request_id()
        body = errors.error_body(error, request_id)
        head = [
            STATUS_LINE[error.status],
            b"content-type: application/json\r\n",
            b"content-length: %d\r\n" % len(body),
            b"x-fc-request-id: %s\r\n" % request_id.encode(),
            b"connection: close\r\n\r\n",
        ]
        self.transport.write(b"".join(head) + body)
        # Closing a socket with unread data resets the connection, which can destroy the answer
        # before the client has read it: half-close where the transport can, and go on reading
        # (and dropping) for a moment, as nginx's lingering close does.
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self.transport.close)

    def _drop(self, size: int) -> None:
        self._dropped += size
        if self._dropped > LINGER_BYTES:
            self.transport.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


# A body at most this long is copied behind the held head (one buffer, one write); a longer
# one is written after it (a copy would cost more than the second syscall).
JOIN_LIMIT = 64 << 10


class _JoinHead:
    """A request cycle's transport: the response head is held until the body's first write.

    Only a write made once the response has started and before anything else was written
    is held (the head); ``100 Continue`` and everything after the head pass straight
    through. The head is sent at the latest at the end of the loop iteration that wrote it.
    """

    __slots__ = ("_cycle", "_head", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any, loop: Any) -> None:
        self._transport = transport
        self._cycle = cycle
        self._loop: asyncio.AbstractEventLoop = loop
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if len(data) <= JOIN_LIMIT:
                self._transport.write(head + data)
                return
            self._transport.write(head)
        elif self._cycle is not None and self._cycle.response_started:
            # The cycle holds this object: let go of it, or every request would leave a
            # reference cycle for the garbage collector (measured: p99 x6 on the floor).
            self._cycle = None
            self._head = data
            self._loop.call_soon(self._flush)
            return
        self._transport.write(data)

    def _flush(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            if not self._transport.is_closing():
                self._transport.write(head)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def protocol_class(limits: HeadLimits) -> type[BoundedHead]:
    """The protocol class uvicorn instantiates per connection, bound to ``limits``."""
    return type("BoundedHead", (BoundedHead,), {"limits": limits})
