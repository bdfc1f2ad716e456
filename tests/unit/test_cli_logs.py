"""fcctl's pure pieces: log levels, --follow's de-duplication, upload progress chunks, sizes."""

from __future__ import annotations

import argparse
import io
from pathlib import Path
from typing import Any

import pytest

from fcd.cli import logs
from fcd.client import CODE_SIZE_LIMIT, CodeTooLarge, code_bytes, report_chunks


def test_line_levels_of_python_and_node_loggers() -> None:
    assert logs.line_level("2026-12-04T10:00:00.000Z rid [ERROR] boom") == "ERROR"
    assert logs.line_level("2026-12-04T10:00:00.000Z rid [warn] careful") == "WARNING"
    assert logs.line_level("plain print") is None
    lines = [{"message": m} for m in ("[INFO] a", "[ERROR] b", "c", "[CRITICAL] d")]
    assert [x["message"] for x in logs.at_level(lines, "ERROR")] == ["[ERROR] b", "[CRITICAL] d"]
    assert logs.at_level(lines, None) == lines


class FakeClient:
    """Answers the logs route from pages queued by the test."""

    def __init__(self, pages: list[list[dict[str, Any]]]) -> None:
        self.pages = pages
        self.queries: list[dict[str, str]] = []

    def call(self, method: str, path: str, *, query: dict[str, str]) -> Any:
        self.queries.append(query)
        page = self.pages.pop(0) if self.pages else []

        class Reply:
            def json(self) -> Any:
                return {"logs": page}

        return Reply()


def line(time: str, message: str, rid: str = "r") -> dict[str, Any]:
    return {"time": time, "requestId": rid, "message": message}


def test_follow_prints_each_line_once_and_moves_since_on() -> None:
    first = [line("2026-12-04T10:00:00.001Z", "a"), line("2026-12-04T10:00:00.002Z", "b")]
    # The route's since is inclusive: the newest line of the last poll comes again.
    second = [line("2026-12-04T10:00:00.002Z", "b"), line("2026-12-04T10:00:00.002Z", "c")]
    client = FakeClient([first, second])
    args = argparse.Namespace(
        function=("s", None, "f"), since=None, tail=100, request_id="", level=None
    )
    out = io.StringIO()
    logs.follow(client, args, out=out, sleep=lambda _: None, rounds=3)  # type: ignore[arg-type]
    assert [x.split()[-1] for x in out.getvalue().splitlines()] == ["a", "b", "c"]
    assert client.queries[1]["since"] == repr(logs.parse_time("2026-12-04T10:00:00.002Z"))


def test_progress_chunks_cover_the_body() -> None:
    seen: list[tuple[int, int]] = []
    payload = bytes(range(256)) * 5000
    chunks = list(report_chunks(payload, lambda a, b: seen.append((a, b)), size=300_000))
    assert b"".join(chunks) == payload
    assert seen[-1] == (len(payload), len(payload))
    assert len(seen) == len(chunks) == 5


def test_code_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    big = tmp_path / "big.zip"
    with big.open("wb") as f:
        f.truncate(CODE_SIZE_LIMIT + 1)
    with pytest.raises(CodeTooLarge, match=r"100 MiB \(FC's CodeSizeLimit\)"):
        code_bytes(big)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_upload_progress_only_on_a_terminal() -> None:
    from fcd.cli.progress import upload_progress

    with upload_progress(io.StringIO(), io.StringIO()) as report:
        assert report is None
    err = Terminal()
    with upload_progress(Terminal(), err) as report:
        assert report is not None
        report(1, 2)
        report(2, 2)
    assert "uploading" in err.getvalue()
