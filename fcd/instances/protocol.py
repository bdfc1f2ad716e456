"""The daemon↔runtime control channel: length-prefixed frames of a JSON header and raw bytes.

A frame is ``>II`` (header length, payload length), the header as JSON, then the payload bytes
untouched. JSON rather than msgpack because the runtimes in the sandbox are stdlib-only Python
and plain Node.js; a raw payload because events and results are opaque bytes (up to 32 MiB)
that must not be base64-encoded twice. ``runtimes/python/bootstrap.py`` and
``runtimes/nodejs/bootstrap.js`` hold the mirror of this module; the message names (``t``) are
the contract between them.

Daemon → runtime: ``load``, ``init``, ``invoke``, ``hook`` (preStop / preFreeze), ``exit``.
Runtime → daemon: ``loaded``, ``result``, ``log``.

Before the runtime speaks, the same socket carries two sandbox-level frames handled by
``fcd.isolation.sandbox``: ``prepared`` (the sandbox is made) and ``specialise`` (its
function's files, uid and environment).
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from typing import Literal

import msgspec

PREFIX = struct.Struct(">II")
# A header is a few hundred bytes; anything bigger is a broken or hostile runtime.
MAX_HEADER = 1 << 20
# Results may be as large as sync payloads (32 MiB) plus some slack for error JSON.
MAX_PAYLOAD = 64 << 20


class ProtocolError(Exception):
    """The peer sent a frame that cannot be parsed; the instance is unusable."""


class Load(msgspec.Struct, tag="load", tag_field="t", omit_defaults=True):
    """Import the handler (and, for custom runtimes, start the user's server)."""

    handler: str
    initializer: str = ""
    pre_stop: str = ""
    pre_freeze: str = ""
    concurrency: int = 1
    ca_port: int = 9000
    command: list[str] = []
    # Static context fields (spec §7.4) shared by every request of this instance.
    context: dict[str, object] = {}
    # The function's environment, for runtimes started before the function was known (node).
    env: dict[str, str] = {}
    # Custom runtimes: [url, initial delay, period, timeout, failures, successes] of the health
    # check (customHealthCheckConfig); empty: none.
    health: list[object] = []


class Init(msgspec.Struct, tag="init", tag_field="t", omit_defaults=True):
    """Run the initializer once; the daemon enforces initializationTimeout."""

    id: str
    credentials: dict[str, str] = {}


class Invoke(msgspec.Struct, tag="invoke", tag_field="t", omit_defaults=True):
    """Run the handler on the payload; ``http`` is set for HTTP-trigger requests."""

    id: str
    credentials: dict[str, str] = {}
    retry_count: int = 0
    http: dict[str, object] | None = None
    # The caller's OpenTracing span context and baggage items (``context.tracing``).
    tracing: dict[str, object] | None = None


class Hook(msgspec.Struct, tag="hook", tag_field="t", omit_defaults=True):
    """Run a lifecycle hook (``pre_stop`` or ``pre_freeze``)."""

    id: str
    name: Literal["pre_stop", "pre_freeze"]
    credentials: dict[str, str] = {}


class Exit(msgspec.Struct, tag="exit", tag_field="t"):
    """Leave the loop and exit 0."""


class Loaded(msgspec.Struct, tag="loaded", tag_field="t", omit_defaults=True):
    """The handler is imported (or the custom server accepts). Times are CLOCK_MONOTONIC s."""

    ok: bool = True
    # Set when loading failed: the FC error code and the error JSON the client sees.
    code: str = ""
    sandbox_ready: float = 0.0
    runtime_ready: float = 0.0
    loaded: float = 0.0
    # The interpreter's own version ("3.11.2", "20.20.2"); empty when the runtime has none.
    version: str = ""


class Result(msgspec.Struct, tag="result", tag_field="t", omit_defaults=True):
    """The outcome of an init/invoke/hook; the payload is the body (or the error JSON)."""

    id: str
    error: str | None = None  # None | "HandledInvocationError" | "UnhandledInvocationError"
    http_status: int | None = None
    http_headers: list[tuple[str, str]] = []


class Log(msgspec.Struct, tag="log", tag_field="t", omit_defaults=True):
    """Output written by the function; ``id`` is the request it belongs to ("" = none)."""

    id: str = ""


ToRuntime = Load | Init | Invoke | Hook | Exit
FromRuntime = Loaded | Result | Log

_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[FromRuntime] = msgspec.json.Decoder(FromRuntime)
_runtime_decoder: msgspec.json.Decoder[ToRuntime] = msgspec.json.Decoder(ToRuntime)


def encode(message: ToRuntime | FromRuntime, payload: bytes = b"") -> bytes:
    """One frame: prefix, JSON header, payload."""
    return encode_head(message, len(payload)) + payload


def encode_head(message: ToRuntime | FromRuntime, payload_len: int) -> bytes:
    """A frame's prefix and header: the payload follows as is (written without a copy)."""
    header = _encoder.encode(message)
    return PREFIX.pack(len(header), payload_len) + header


@dataclass(frozen=True, slots=True)
class Dropped:
    """In place of a payload over ``MAX_PAYLOAD``: it was read and dropped, never kept."""

    size: int


class FrameSplitter:
    """Cuts the bytes of a stream into frames as they arrive (no I/O, no awaiting).

    The daemon handles a runtime's frames in the transport's callback rather than in a task
    that awaits each frame: one loop iteration less per frame on the invoke path.

    A payload over ``MAX_PAYLOAD`` (a function returning too much) is not an error of the
    stream: its bytes are dropped as they arrive and the frame comes out with :class:`Dropped`
    as its payload, so the instance can answer that request and go on serving.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        # The header of the frame whose payload is being dropped, and the bytes left of it.
        self._dropping: tuple[bytes, Dropped] | None = None
        self._to_drop = 0

    def feed(self, data: bytes) -> list[tuple[bytes, bytes | Dropped]]:
        """The frames (header, payload) completed by ``data``, in order.

        Raises:
            ProtocolError: a header is beyond ``MAX_HEADER``.
        """
        frames: list[tuple[bytes, bytes | Dropped]] = []
        if self._to_drop:
            dropped = min(self._to_drop, len(data))
            self._to_drop -= dropped
            if self._to_drop:
                return frames
            assert self._dropping is not None
            frames.append(self._dropping)
            self._dropping = None
            data = data[dropped:]
        buffer = self._buffer
        buffer += data
        pos, size = 0, len(buffer)
        while size - pos >= PREFIX.size:
            header_len, payload_len = PREFIX.unpack_from(buffer, pos)
            if header_len > MAX_HEADER:
                raise ProtocolError(f"frame header too large: {header_len} bytes")
            start = pos + PREFIX.size
            if payload_len > MAX_PAYLOAD:
                if size - start < header_len:
                    break  # the header first, then the payload is dropped
                header = bytes(buffer[start : start + header_len])
                have = min(size - start - header_len, payload_len)
                pos = start + header_len + have
                if have < payload_len:
                    self._dropping = (header, Dropped(payload_len))
                    self._to_drop = payload_len - have
                    break
                frames.append((header, Dropped(payload_len)))
                continue
            end = start + header_len + payload_len
            if end > size:
                break
            frames.append(
                (bytes(buffer[start : start + header_len]), bytes(buffer[start + header_len : end]))
            )
            pos = end
        if pos:
            del buffer[:pos]
        return frames

    @property
    def partial(self) -> bool:
        """Whether the stream stopped inside a frame."""
        return bool(self._buffer) or self._to_drop > 0


def decode_header(header: bytes) -> FromRuntime:
    """Parse a runtime's header.

    Raises:
        ProtocolError: not JSON, or not one of the runtime's messages.
    """
    try:
        return _decoder.decode(header)
    except msgspec.DecodeError as e:
        raise ProtocolError(f"bad frame from runtime: {e}") from e


def decode_request(header: bytes) -> ToRuntime:
    """Parse a daemon's header (used by tests that play the runtime's part).

    Raises:
        ProtocolError: not JSON, or not one of the daemon's messages.
    """
    try:
        return _runtime_decoder.decode(header)
    except msgspec.DecodeError as e:
        raise ProtocolError(f"bad frame from daemon: {e}") from e


async def read_frame(reader: asyncio.StreamReader) -> tuple[bytes, bytes] | None:
    """Read one frame's header and payload; None at a clean end of stream.

    Raises:
        ProtocolError: the stream ends inside a frame, or a length is beyond the limits.
    """
    try:
        prefix = await reader.readexactly(PREFIX.size)
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            return None
        raise ProtocolError("stream ended inside a frame prefix") from e
    header_len, payload_len = PREFIX.unpack(prefix)
    if header_len > MAX_HEADER or payload_len > MAX_PAYLOAD:
        raise ProtocolError(f"frame too large: header {header_len}, payload {payload_len}")
    try:
        data = await reader.readexactly(header_len + payload_len)
    except asyncio.IncompleteReadError as e:
        raise ProtocolError("stream ended inside a frame") from e
    return data[:header_len], data[header_len:]
