"""The log caps of an instance as a pure decision: what is kept, what is counted, the marker."""

from __future__ import annotations

import re

from fcd.config import FunctionLogs
from fcd.instances.logcap import READ_OVERHEAD_S, LineJoiner, LogBudget, Throttle

LIMITS = FunctionLogs(
    invocation_bytes=1000,
    line_bytes=100,
    instance_bytes_per_second=10_000,
    instance_lines_per_second=1000,
)
MARKER = re.compile(rb"^fcd: dropped (\d+) log lines \((\d+) bytes\)")


def counts(marker: bytes | None) -> tuple[int, int]:
    assert marker is not None
    found = MARKER.match(marker)
    assert found is not None, marker
    return int(found[1]), int(found[2])


def test_output_within_the_caps_is_kept_as_is() -> None:
    budget = LogBudget(LIMITS, now=0.0)
    budget.begin("r1")
    chunk = b"hello\nworld\n"
    (kept,) = budget.admit("r1", chunk, 0.0)
    assert kept is chunk  # no copy on the invoke path
    assert budget.finish("r1") is None


def test_past_the_invocation_cap_lines_are_dropped_with_one_marker() -> None:
    budget = LogBudget(LIMITS, now=0.0)
    budget.begin("r1")
    line = b"x" * 49 + b"\n"  # 50 bytes: 20 fit in 1000
    kept = [piece for _ in range(100) for piece in budget.admit("r1", line, 0.0)]
    assert b"".join(kept) == line * 20
    marker = budget.finish("r1")
    assert counts(marker) == (80, 80 * 50)
    assert marker is not None
    assert b"this invocation reached its log limit of 1000 bytes" in marker
    assert budget.finish("r1") is None  # one marker only


def test_a_big_chunk_keeps_the_lines_that_fit_and_counts_the_rest() -> None:
    budget = LogBudget(LIMITS, now=0.0)
    budget.begin("r1")
    line = b"y" * 9 + b"\n"
    chunk = line * 1_000_000  # 10 MB in one frame
    kept = budget.admit("r1", chunk, 0.0)
    assert b"".join(kept) == line * 100
    assert counts(budget.finish("r1")) == (999_900, 9_999_000)


def test_the_marker_goes_before_fcs_end_line_which_passes_the_cap() -> None:
    budget = LogBudget(LIMITS, now=0.0)
    budget.begin("r1")
    start = b"FC Invoke Start RequestId: r1\n"
    assert budget.admit("r1", start, 0.0) == [start]
    budget.admit("r1", (b"z" * 99 + b"\n") * 20, 0.0)
    forged = b"FC Invoke End RequestId: r2\n"  # another request's id: no pass
    assert budget.admit("r1", forged, 0.0) == []
    end = b"FC Invoke End RequestId: r1, Error: Unhandled function error\n"
    marker, kept_end = budget.admit("r1", end, 0.0)
    assert kept_end == end
    assert counts(marker)[0] > 0
    assert budget.admit("r1", end, 0.0) == []  # the pass works once
    assert budget.finish("r1") is None  # the request's log ended with its End line
    closing = budget.close()  # what it dropped after that counts outside requests
    assert counts(closing) == (1, len(end))
    assert closing is not None
    assert b"this invocation reached its log limit" in closing


def test_the_instance_rate_is_shared_and_refills() -> None:
    limits = FunctionLogs(
        invocation_bytes=10**9,
        line_bytes=100,
        instance_bytes_per_second=1000,
        instance_lines_per_second=10**6,
    )
    budget = LogBudget(limits, now=0.0)  # holds 4 s: 4000 bytes
    budget.begin("a")
    budget.begin("b")
    line = b"w" * 99 + b"\n"
    kept_a = [p for _ in range(30) for p in budget.admit("a", line, 0.0)]
    kept_b = [p for _ in range(30) for p in budget.admit("b", line, 0.0)]
    assert len(kept_a) == 30
    assert len(kept_b) == 10  # the bucket was empty after 40 lines
    assert budget.admit("b", line, 0.05) == []  # 50 bytes refilled: not a line yet
    assert budget.admit("b", line, 0.2) == [line]  # 200 bytes refilled
    marker = budget.finish("b")
    assert counts(marker) == (21, 2100)
    assert marker is not None
    assert b"more than 1000 bytes or 1000000 lines per second" in marker


def test_a_line_rate_caps_many_short_lines() -> None:
    limits = FunctionLogs(
        invocation_bytes=10**9,
        line_bytes=100,
        instance_bytes_per_second=10**9,
        instance_lines_per_second=10,
    )
    budget = LogBudget(limits, now=0.0)
    budget.begin("r")
    kept = budget.admit("r", b"a\n" * 1000, 0.0)
    assert b"".join(kept) == b"a\n" * 40
    assert counts(budget.finish("r")) == (960, 1920)


def test_long_lines_are_cut_and_counted() -> None:
    budget = LogBudget(LIMITS, now=0.0)
    budget.begin("r1")
    chunk = b"short\n" + b"L" * 250 + b"\nafter\n" + b"U" * 150  # the last has no newline
    kept = budget.admit("r1", chunk, 0.0)
    assert kept == [b"short\n", b"L" * 100 + b"\n", b"after\n", b"U" * 100 + b"\n"]
    marker = budget.finish("r1")
    assert counts(marker) == (0, 150 + 50)
    assert marker is not None
    assert b"2 line(s) cut at 100 bytes" in marker


def test_output_outside_requests_gets_its_marker_before_its_next_kept_line() -> None:
    limits = FunctionLogs(
        invocation_bytes=10**9,
        line_bytes=100,
        instance_bytes_per_second=25,  # holds 100 bytes
        instance_lines_per_second=1000,
    )
    budget = LogBudget(limits, now=0.0)
    line = b"b" * 49 + b"\n"
    assert budget.admit("", line, 0.0) == [line]
    assert budget.admit("", line, 0.0) == [line]
    assert budget.admit("gone-request", line, 0.0) == []  # not in flight: outside
    marker, kept = budget.admit("", line, 10.0)
    assert kept == line
    assert counts(marker) == (1, 50)
    assert b"outside a request" in marker
    assert budget.admit("", line, 10.0) == [line]
    assert budget.close() is None


def test_close_reports_what_was_dropped_outside_requests() -> None:
    budget = LogBudget(LIMITS, now=0.0)  # holds 40,000 bytes
    kept = budget.admit("", (b"c" * 99 + b"\n") * 500, 0.0)
    assert sum(map(len, kept)) == 40_000
    assert budget.admit("", b"more\n", 0.0) == []
    assert counts(budget.close()) == (101, 10_005)
    assert budget.close() is None


def test_joiner_gives_whole_lines_and_bounds_an_endless_one() -> None:
    joiner = LineJoiner(10)
    assert joiner.feed(b"ab") == (b"", 0, 0)
    assert joiner.feed(b"c\nde") == (b"abc\n", 0, 0)
    assert joiner.feed(b"f\n") == (b"def\n", 0, 0)
    assert joiner.feed(b"0123456789ABC") == (b"0123456789\n", 1, 3)
    assert joiner.feed(b"D" * 1000) == (b"", 0, 1000)  # still the same line: thrown away
    assert joiner.feed(b"EF\nnext\nhalf") == (b"next\n", 0, 2)
    assert joiner.end() == b"half"
    assert joiner.end() == b""


def test_the_throttle_pauses_a_flooding_reader_for_four_times_its_work() -> None:
    throttle = Throttle(ratio=4.0, min_pause=0.01, max_pause=0.1)
    # Tiny reads: charged their time plus the loop's overhead until a pause is due.
    pauses = [throttle.charge(0.0001) for _ in range(100)]
    due = [p for p in pauses if p]
    assert due
    assert all(0.01 <= p <= 0.1 for p in due)
    work = 100 * (0.0001 + READ_OVERHEAD_S)
    assert sum(pauses) <= 4 * work + 1e-9
    assert sum(pauses) >= 4 * work - 0.01  # only the last, unpaid charge is pending
    assert throttle.charge(1.0) == 0.1  # one long read: the longest pause


def test_a_quiet_functions_start_and_end_lines_never_empty_the_bucket() -> None:
    limits = FunctionLogs(
        invocation_bytes=10**9,
        line_bytes=100,
        instance_bytes_per_second=10**9,
        instance_lines_per_second=1,  # holds 4 lines
    )
    budget = LogBudget(limits, now=0.0)
    now = 0.0
    for i in range(100):  # a quiet function: only its Start/End lines, one request a second
        rid = f"r{i}"
        budget.begin(rid)
        budget.admit(rid, f"FC Invoke Start RequestId: {rid}\n".encode(), now)
        budget.admit(rid, f"FC Invoke End RequestId: {rid}\n".encode(), now)
        budget.finish(rid)
        now += 2.0
    budget.begin("last")
    assert budget.admit("last", b"a line\n", now) == [b"a line\n"]
