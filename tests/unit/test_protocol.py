"""The daemon↔runtime frames: round trips, reading and splitting streams, broken frames refused."""

from __future__ import annotations

import asyncio

import pytest

from fcd.instances import protocol


def _reader(data: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    return reader


async def test_frames_round_trip_with_raw_payload() -> None:
    payload = bytes(range(256)) * 3
    data = protocol.encode(protocol.Result(id="r1", error="HandledInvocationError"), payload)
    data += protocol.encode(protocol.Log(id="r1"), b"line\n")
    reader = _reader(data)
    frame = await protocol.read_frame(reader)
    assert frame is not None
    header, body = frame
    assert protocol.decode_header(header) == protocol.Result(
        id="r1", error="HandledInvocationError"
    )
    assert body == payload
    frame = await protocol.read_frame(reader)
    assert frame is not None
    assert protocol.decode_header(frame[0]) == protocol.Log(id="r1")
    assert await protocol.read_frame(reader) is None


async def test_requests_decode_as_the_runtime_sees_them() -> None:
    message = protocol.Invoke(id="x", credentials={"access_key_id": "k"}, retry_count=2)
    frame = await protocol.read_frame(_reader(protocol.encode(message, b"event")))
    assert frame is not None
    assert protocol.decode_request(frame[0]) == message
    assert frame[1] == b"event"


async def test_a_frame_cut_short_is_a_protocol_error() -> None:
    data = protocol.encode(protocol.Log(id="a"), b"0123456789")
    with pytest.raises(protocol.ProtocolError):
        await protocol.read_frame(_reader(data[:-3]))
    with pytest.raises(protocol.ProtocolError):
        await protocol.read_frame(_reader(data[:5]))


async def test_oversized_and_unknown_frames_are_refused() -> None:
    with pytest.raises(protocol.ProtocolError):
        await protocol.read_frame(_reader(protocol.PREFIX.pack(protocol.MAX_HEADER + 1, 0)))
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_header(b'{"t":"nonsense"}')
    with pytest.raises(protocol.ProtocolError):
        protocol.decode_header(b"not json")


def test_the_splitter_yields_whole_frames_however_the_bytes_arrive() -> None:
    payload = bytes(range(256)) * 3
    data = protocol.encode(protocol.Log(id="r1"), b"line\n")
    data += protocol.encode(protocol.Result(id="r1"), payload)
    whole = protocol.FrameSplitter().feed(data)
    assert [protocol.decode_header(h) for h, _ in whole] == [
        protocol.Log(id="r1"),
        protocol.Result(id="r1"),
    ]
    assert [p for _, p in whole] == [b"line\n", payload]
    splitter = protocol.FrameSplitter()
    frames = [frame for i in range(len(data)) for frame in splitter.feed(data[i : i + 1])]
    assert frames == whole
    assert not splitter.partial
    assert splitter.feed(data[:5]) == []
    assert splitter.partial


def test_the_splitter_refuses_oversized_headers() -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.FrameSplitter().feed(protocol.PREFIX.pack(protocol.MAX_HEADER + 1, 0))


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 30])
def test_the_splitter_drops_an_oversized_payload_and_goes_on(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payload over MAX_PAYLOAD is dropped as it arrives, never kept; the frames around it
    come out whole, whatever the reads' sizes. (A small MAX_PAYLOAD keeps one-byte reads fast.)"""
    monkeypatch.setattr(protocol, "MAX_PAYLOAD", 10_000)
    size = protocol.MAX_PAYLOAD + 1
    big = protocol.Result(id="r1")
    small = protocol.Log(id="r2")
    stream = (
        protocol.encode_head(big, size)
        + b"\0" * size
        + protocol.encode(small, b"after")
        + protocol.encode(small, b"last")
    )
    splitter = protocol.FrameSplitter()
    frames: list[tuple[bytes, bytes | protocol.Dropped]] = []
    view = memoryview(stream)
    for start in range(0, len(stream), chunk):
        frames += splitter.feed(bytes(view[start : start + chunk]))
        assert len(splitter._buffer) <= protocol.MAX_HEADER + 64 + chunk
    assert [payload for _, payload in frames] == [protocol.Dropped(size), b"after", b"last"]
    assert protocol.decode_header(frames[0][0]) == big
    assert not splitter.partial


def test_an_invoke_frame_carries_no_empty_credentials() -> None:
    from pathlib import Path

    from fcd.instances.instance import _credentials
    from fcd.model import FunctionContext, InstanceSpec

    def spec(**keys: str) -> InstanceSpec:
        context = FunctionContext(
            service_name="s",
            function_name="f",
            qualifier="LATEST",
            version_id="",
            handler="index.handler",
            memory_mb=128,
            timeout_s=3,
            initializer="",
            initialization_timeout_s=3,
            region="cn-hangzhou",
            account_id="1",
            **keys,
        )
        return InstanceSpec("i", "python3", Path("/code"), (), {}, context)

    frame = protocol.encode(protocol.Invoke(id="x", credentials=_credentials(spec())))
    assert b"credentials" not in frame
    assert b"deadline" not in frame
    keyed = _credentials(spec(access_key_id="k", access_key_secret="s", security_token="t"))
    assert keyed == {"access_key_id": "k", "access_key_secret": "s", "security_token": "t"}
    assert b'"security_token":"t"' in protocol.encode(protocol.Invoke(id="x", credentials=keyed))
