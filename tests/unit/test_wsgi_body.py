"""The WSGI body FC's python runtime sends: every return shape an app may use (PEP 3333 and
FC's leniency), with ``close()`` called exactly once, whatever the iteration did."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

BOOTSTRAP = Path(__file__).parents[2] / "runtimes" / "python" / "bootstrap.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fcd_python_bootstrap", BOOTSTRAP)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bootstrap = _load()


class Closing:
    """An iterable with ``close()``, as Flask's and Django's responses are."""

    def __init__(self, chunks: list[bytes | str], fail_at: int | None = None) -> None:
        self.chunks = chunks
        self.fail_at = fail_at
        self.closed = 0

    def __iter__(self) -> Iterator[bytes | str]:
        for i, chunk in enumerate(self.chunks):
            if i == self.fail_at:
                raise RuntimeError("the app broke mid-body")
            yield chunk

    def close(self) -> None:
        self.closed += 1


def _as_bytes(chunk: bytes | str) -> bytes:
    return chunk.encode() if isinstance(chunk, str) else chunk


chunks = st.lists(st.one_of(st.binary(max_size=64), st.text(max_size=16)), max_size=6)
byte_chunks = st.lists(st.binary(max_size=64), max_size=4)


@given(written=byte_chunks, body=st.binary(max_size=256))
def test_bytes_and_bytearray_are_sent_whole(written: list[bytes], body: bytes) -> None:
    expected = b"".join(written) + body
    assert bootstrap.wsgi_body(list(written), body) == expected
    assert bootstrap.wsgi_body(list(written), bytearray(body)) == expected
    assert bootstrap.wsgi_body(list(written), memoryview(body)) == expected


@given(written=byte_chunks, body=st.text(max_size=64))
def test_a_str_is_sent_as_utf8(written: list[bytes], body: str) -> None:
    assert bootstrap.wsgi_body(list(written), body) == b"".join(written) + body.encode()


@given(
    written=byte_chunks,
    parts=chunks,
    shape=st.sampled_from(["list", "tuple", "generator", "closing"]),
)
def test_any_iterable_of_chunks_is_joined(
    written: list[bytes], parts: list[bytes | str], shape: str
) -> None:
    result: object
    if shape == "list":
        result = list(parts)
    elif shape == "tuple":
        result = tuple(parts)
    elif shape == "generator":
        result = (p for p in parts)
    else:
        result = Closing(parts)
    expected = b"".join(written) + b"".join(_as_bytes(p) for p in parts)
    assert bootstrap.wsgi_body(list(written), result) == expected
    if isinstance(result, Closing):
        assert result.closed == 1


@given(parts=st.lists(st.binary(max_size=8), min_size=1, max_size=5), data=st.data())
def test_close_is_called_when_the_iteration_fails(parts: list[bytes], data: st.DataObject) -> None:
    result = Closing(list(parts), fail_at=data.draw(st.integers(0, len(parts) - 1)))
    with pytest.raises(RuntimeError, match="mid-body"):
        bootstrap.wsgi_body([], result)
    assert result.closed == 1


@pytest.mark.parametrize("bad", [None, 5, [1, 2], [b"ok", None]])
def test_what_is_not_a_body_is_refused_by_name(bad: object) -> None:
    with pytest.raises(TypeError, match="WSGI app"):
        bootstrap.wsgi_body([], bad)
