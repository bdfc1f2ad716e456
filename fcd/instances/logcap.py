"""What a function may log: which of an instance's output bytes are kept (pure, no I/O).

A function's output reaches the daemon two ways: log frames sent by its runtime, and the raw
stdout/stderr pipes that anything in the sandbox can write to (``os.write(1, …)``, child
processes, a runtime the function replaced). Either way it is the function's data and must
not cost the host more than the operator allows, so the cap lives here, on the daemon's side
of both channels, where a function cannot get around it:

* **per invocation**: a request keeps at most ``invocation_bytes`` of log;
* **per instance**: all of an instance's output together is metered by a token bucket of
  ``instance_bytes_per_second`` and ``instance_lines_per_second`` that holds
  :data:`BURST_SECONDS` worth;
* **per line**: a line longer than ``line_bytes`` is cut there (a line without a newline too).

What does not fit is dropped at once, only counted, and the request's log gets ONE marker line
(:func:`marker`) with the counts and the caps that were hit: just before FC's
``FC <Phase> End RequestId`` line when the runtime prints one, else when the request finishes
(what is dropped of a request after its End line, such as the rest of a pipe still being read,
is counted with the output outside requests).
FC's bracket lines of a request (``FC Invoke Start/End RequestId: <id>``) pass whatever the
caps, once each, so a capped log still shows where the request began and ended. Output outside
any request (or tagged with an id that is not in flight) shares the instance's bucket; its
marker is written before the next such line that is kept, or when the instance ends.

:class:`LogBudget` decides over chunks (a frame's payload, or whole lines from a pipe) and
returns the pieces to keep: the unchanged chunk in the common case, so the invoke path pays a
few comparisons; a bigger chunk is walked line by line only as far as the caps let it keep
lines (what follows is counted with ``bytes.count``). :class:`LineJoiner` cuts a pipe's byte
stream into whole lines and never holds more than ``line_bytes`` of an unfinished one;
:class:`Throttle` slows the reading of an instance whose output is being dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fcd.config import FunctionLogs

# The instance's bucket holds this many seconds of its rate: a function may print a burst (a
# traceback, a dump at start) without losing lines, but not keep up more than the rate.
BURST_SECONDS = 4.0
# FC's bracket lines are short; longer chunks are never checked for one.
_BRACKET_MAX = 256
_BRACKET = re.compile(
    rb"FC (?:Invoke|Initialize|PreStop|PreFreeze) (Start|End) RequestId: ([^\s,]+)"
    rb"(?:, Error: [^\n]*)?\n?"
)


@dataclass(slots=True)
class Dropped:
    """What was dropped of one request (or of the output outside requests) since its last
    marker, and why."""

    lines: int = 0
    bytes: int = 0
    cut: int = 0  # lines cut at line_bytes (kept, their excess counted in ``bytes``)
    invocation: bool = False  # the per-invocation cap was reached
    rate: bool = False  # the instance's rate was exceeded

    def __bool__(self) -> bool:
        return bool(self.lines or self.bytes)

    def add(self, other: Dropped) -> None:
        self.lines += other.lines
        self.bytes += other.bytes
        self.cut += other.cut
        self.invocation |= other.invocation
        self.rate |= other.rate


def marker(dropped: Dropped, limits: FunctionLogs, *, outside: bool = False) -> bytes:
    """The one line that tells a function's owner what was dropped and why."""
    reasons = []
    if dropped.invocation:
        reasons.append(f"this invocation reached its log limit of {limits.invocation_bytes} bytes")
    if dropped.rate:
        reasons.append(
            f"the instance logged more than {limits.instance_bytes_per_second} bytes or "
            f"{limits.instance_lines_per_second} lines per second"
        )
    if dropped.cut:
        reasons.append(f"{dropped.cut} line(s) cut at {limits.line_bytes} bytes")
    where = " outside a request" if outside else ""
    return (
        f"fcd: dropped {dropped.lines} log lines ({dropped.bytes} bytes){where}: "
        f"{'; '.join(reasons)}\n"
    ).encode()


def _line_count(data: bytes, start: int = 0) -> int:
    """Lines in ``data[start:]``; an unterminated last line counts."""
    return data.count(b"\n", start) + (not data.endswith(b"\n"))


class _Owner:
    """One request in flight (or the instance's output outside requests)."""

    __slots__ = ("brackets", "dropped", "ended", "full", "request_id", "used")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id.encode()
        self.used = 0
        self.full = False  # past the per-invocation cap: nothing more is kept
        self.brackets = 2  # FC's Start and End lines pass once each
        self.ended = False  # FC's End line has passed
        self.dropped = Dropped()

    def drop(self, data: bytes, start: int = 0) -> None:
        self.dropped.lines += _line_count(data, start)
        self.dropped.bytes += len(data) - start

    def take_marker(self, limits: FunctionLogs, *, outside: bool = False) -> bytes | None:
        if not self.dropped:
            return None
        line = marker(self.dropped, limits, outside=outside)
        self.dropped = Dropped()
        return line


class LogBudget:
    """The log caps of one instance: which chunks of output are kept (see the module doc).

    ``now`` is CLOCK_MONOTONIC seconds, passed in so tests drive the clock.
    """

    def __init__(self, limits: FunctionLogs, now: float) -> None:
        self.limits = limits
        self._line_bytes = limits.line_bytes
        self._bytes_rate = float(limits.instance_bytes_per_second)
        self._lines_rate = float(limits.instance_lines_per_second)
        # Never smaller than one line: a bucket that cannot hold a line would drop them all.
        self._bytes_cap = max(self._bytes_rate * BURST_SECONDS, limits.line_bytes + 1.0)
        self._lines_cap = max(self._lines_rate * BURST_SECONDS, 1.0)
        self._bytes = self._bytes_cap
        self._lines = self._lines_cap
        self._refilled = now
        self._requests: dict[str, _Owner] = {}
        self._outside = _Owner("")

    def __repr__(self) -> str:
        return (
            f"<LogBudget requests={len(self._requests)} bytes={self._bytes:.0f}"
            f"/{self._bytes_cap:.0f} lines={self._lines:.0f}/{self._lines_cap:.0f}>"
        )

    # -- a request's lifetime -------------------------------------------------------------
    def begin(self, request_id: str) -> None:
        """A request is in flight: its output is counted against its own cap from now on."""
        self._requests[request_id] = _Owner(request_id)

    def finish(self, request_id: str) -> bytes | None:
        """The request is over: its marker line if anything of it was dropped (idempotent).

        After FC's End line (which took the marker along) a request's log is closed: what it
        dropped since, typically the rest of a pipe read after the runtime's result, is told
        with the output outside requests.
        """
        owner = self._requests.pop(request_id, None)
        if owner is None:
            return None
        if owner.ended:
            self._outside.dropped.add(owner.dropped)
            return None
        return owner.take_marker(self.limits)

    def close(self) -> bytes | None:
        """The instance is gone: the marker of output outside requests, if any was dropped."""
        return self._outside.take_marker(self.limits, outside=True)

    def cut(self, request_id: str, lines: int, nbytes: int) -> None:
        """Count ``lines`` cut at the line length upstream (a pipe's :class:`LineJoiner`)."""
        owner = self._requests.get(request_id, self._outside)
        owner.dropped.cut += lines
        owner.dropped.bytes += nbytes

    # -- the decision ---------------------------------------------------------------------
    def admit(self, request_id: str, data: bytes, now: float) -> list[bytes]:
        """The pieces of ``data`` (output of ``request_id``) to keep, in order, markers
        included; ``[data]`` itself when all of it fits."""
        if not data:
            return []
        owner = self._requests.get(request_id)
        outside = owner is None
        if owner is None:
            owner = self._outside
        elif owner.brackets and len(data) <= _BRACKET_MAX and data.startswith(b"FC "):
            kept = self._bracket(owner, data)
            if kept is not None:
                return kept
        if owner.full:
            owner.dropped.invocation = True
            owner.drop(data)
            return []
        self._refill(now)
        size = len(data)
        if size <= self._line_bytes:
            # No line to cut: keep the chunk whole when every cap has room for it.
            lines = _line_count(data)
            if (
                (outside or owner.used + size <= self.limits.invocation_bytes)
                and self._bytes >= size
                and self._lines >= lines
            ):
                self._bytes -= size
                self._lines -= lines
                owner.used += size
                if outside and owner.dropped:
                    return [self._outside_marker(owner.dropped), data]
                return [data]
        if not outside:
            return self._admit_lines(owner, data, outside)
        # Output outside requests has no end: what was dropped of it so far is told before
        # the next line kept.
        before, owner.dropped = owner.dropped, Dropped()
        pieces = self._admit_lines(owner, data, outside)
        if not before:
            return pieces
        if not pieces:
            before.add(owner.dropped)
            owner.dropped = before
            return pieces
        return [marker(before, self.limits, outside=True), *pieces]

    def _outside_marker(self, dropped: Dropped) -> bytes:
        self._outside.dropped = Dropped()
        return marker(dropped, self.limits, outside=True)

    def _bracket(self, owner: _Owner, data: bytes) -> list[bytes] | None:
        match = _BRACKET.fullmatch(data)
        if match is None or match[2] != owner.request_id:
            return None
        owner.brackets -= 1
        owner.used += len(data)
        self._bytes -= len(data)  # may go below zero: the bucket then refills first
        self._lines -= 1
        if match[1] == b"End":
            owner.ended = True
            line = owner.take_marker(self.limits)
            if line is not None:
                return [line, data]
        return [data]

    def _admit_lines(self, owner: _Owner, data: bytes, outside: bool) -> list[bytes]:
        """Line by line: keep what fits, cut long lines, drop from the first that does not fit.

        Runs over the lines kept plus one, so its cost is bounded by the caps, not the data.
        """
        limit = self._line_bytes
        pieces: list[bytes] = []
        start = pos = 0  # start: the first byte of the run of whole lines kept so far
        size = len(data)
        while pos < size:
            newline = data.find(b"\n", pos)
            end = size if newline < 0 else newline + 1
            length = end - pos - (newline >= 0)
            cut = data[pos : pos + limit] + b"\n" if length > limit else None
            cost = limit + 1 if cut is not None else end - pos
            if not self._fits(owner, cost, outside):
                if start < pos:
                    pieces.append(data[start:pos])
                owner.drop(data, pos)
                return pieces
            self._bytes -= cost
            self._lines -= 1
            owner.used += cost
            if cut is not None:
                if start < pos:
                    pieces.append(data[start:pos])
                pieces.append(cut)
                owner.dropped.cut += 1
                owner.dropped.bytes += length - limit
                start = end
            pos = end
        if start < size:
            pieces.append(data[start:])
        return pieces

    def _fits(self, owner: _Owner, cost: int, outside: bool) -> bool:
        if not outside and owner.used + cost > self.limits.invocation_bytes:
            owner.full = True
            owner.dropped.invocation = True
            return False
        if self._bytes < cost or self._lines < 1:
            owner.dropped.rate = True
            return False
        return True

    def _refill(self, now: float) -> None:
        elapsed = now - self._refilled
        if elapsed > 0:
            self._refilled = now
            self._bytes = min(self._bytes_cap, self._bytes + elapsed * self._bytes_rate)
            self._lines = min(self._lines_cap, self._lines + elapsed * self._lines_rate)


class LineJoiner:
    """Cuts a pipe's byte stream into whole lines, holding at most ``line_bytes`` of a line.

    An unfinished line that grows past ``line_bytes`` is given out cut there (with a newline),
    and the rest of it, up to its newline, is counted and thrown away.
    """

    def __init__(self, line_bytes: int) -> None:
        self._limit = line_bytes
        self._partial = b""
        self._skipping = False

    def feed(self, chunk: bytes) -> tuple[bytes, int, int]:
        """``(whole lines, lines cut, bytes cut)`` after ``chunk``."""
        cut_lines = cut_bytes = 0
        if self._skipping:
            newline = chunk.find(b"\n")
            if newline < 0:
                return b"", 0, len(chunk)
            cut_bytes = newline
            chunk = chunk[newline + 1 :]
            self._skipping = False
        last = chunk.rfind(b"\n")
        if last < 0:
            whole, partial = b"", self._partial + chunk
        else:
            whole, partial = self._partial + chunk[: last + 1], chunk[last + 1 :]
        if len(partial) > self._limit:
            whole += partial[: self._limit] + b"\n"
            cut_lines, cut_bytes = 1, cut_bytes + len(partial) - self._limit
            partial = b""
            self._skipping = True
        self._partial = partial
        return whole, cut_lines, cut_bytes

    def end(self) -> bytes:
        """The unfinished last line at the end of the stream (``b""`` when none)."""
        partial, self._partial = self._partial, b""
        return partial


class Throttle:
    """How long to stop reading an instance whose output is being dropped whole.

    Dropping costs the daemon little per byte but something per read (a wake-up, a frame to
    parse), and a function can make its reads tiny and many. Each read that was all dropped is
    charged its time plus :data:`READ_OVERHEAD_S` (the loop's own share, not measured), times
    ``ratio``; once the charge reaches ``min_pause`` the reader pauses that long (at most
    ``max_pause``) and the function blocks on its writes meanwhile. A flooding instance so gets
    at most ``1 / (1 + ratio)`` of the event loop; an instance within its caps never pauses.
    """

    def __init__(self, ratio: float = 4.0, min_pause: float = 0.01, max_pause: float = 0.1) -> None:
        self.ratio = ratio
        self.min_pause = min_pause
        self.max_pause = max_pause
        self._debt = 0.0

    def charge(self, busy: float) -> float:
        """A read that was all dropped took ``busy`` seconds: the pause to make now (0: none)."""
        self._debt += self.ratio * (busy + READ_OVERHEAD_S)
        if self._debt < self.min_pause:
            return 0.0
        pause = min(self._debt, self.max_pause)
        self._debt = 0.0
        return pause


# What a read costs the event loop besides the callback measured: the poll, the read system
# call and the dispatch (measured ~15-30 µs with uvloop on these machines).
READ_OVERHEAD_S = 20e-6
