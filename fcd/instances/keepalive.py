"""Adaptive keep-alive: how long one function's idle instances stay warm, from its own idle times.

A fixed keep-alive window (``[instances] keep_alive``) is too long for a function called every few
seconds and too short for one called every half hour. The hybrid histogram policy of Shahrad et
al. ("Serverless in the Wild", USENIX ATC 2020) learns each function's *idle times* (from the end
of its last invocation to the next arrival) in a histogram and picks two windows from it:

* **pre-warm**: how long after an invocation the function surely stays quiet, the head (5th)
  percentile of the idle times, less a margin;
* **keep-alive**: how long after that an instance should be there, up to the tail (99th)
  percentile, plus a margin.

The histogram is trusted only when it is *representative*: enough samples, and bin counts
concentrated enough (a coefficient of variation of the counts at or above a threshold; idle times
spread evenly over the range predict nothing). When it is not, or when too many idle times fall
beyond the histogram's range, the function gets the fixed window instead. (The paper predicts the
out-of-range case with ARIMA; fcd uses the fixed window there.)

Everything here is pure: :class:`IdleHistogram` is fed idle times and answers :class:`Windows`.
The instance pool applies the answer (``fcd/instances/pool.py``): with no pre-warm window an
idle instance stays for the keep-alive window; with one, it is unloaded as soon as it is idle and
one is started again at the pre-warm time, kept until the end of the keep-alive window.
``bench/keep_alive.py`` measures this against fixed windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["IdleHistogram", "Params", "Windows"]


@dataclass(frozen=True)
class Params:
    """The policy's knobs, with the paper's values as defaults.

    ``bin_width`` is in seconds; the paper's is one minute, and only tests and benchmarks that
    compress time set a smaller one. The range of the histogram is ``bins * bin_width``
    (240 one-minute bins: four hours).
    """

    bin_width: float = 60.0
    bins: int = 240
    head: float = 0.05  # percentile of idle times that sets the pre-warm window
    tail: float = 0.99  # percentile that sets the end of the keep-alive window
    margin: float = 0.10  # pre-warm shortened and keep-alive end lengthened by this fraction
    # Fewer idle times than this say nothing about a function yet.
    min_samples: int = 10
    # Coefficient of variation of the bin counts below which the histogram is not trusted. Samples
    # spread evenly over k of the 240 bins give sqrt(240 / k - 1): 2.0 means at most 48 bins.
    min_cv: float = 2.0
    # Fraction of idle times beyond the range above which the histogram is not trusted.
    max_out_of_bounds: float = 0.5

    def __post_init__(self) -> None:
        if not (self.bin_width > 0 and math.isfinite(self.bin_width)):
            raise ValueError(f"bin_width must be a positive number of seconds: {self.bin_width}")
        if self.bins < 1:
            raise ValueError(f"bins must be at least 1: {self.bins}")
        if not 0 <= self.head <= self.tail <= 1:
            raise ValueError(f"need 0 <= head <= tail <= 1: {self.head}, {self.tail}")
        if not 0 <= self.margin < 1:
            raise ValueError(f"margin must be in [0, 1): {self.margin}")

    @property
    def range(self) -> float:
        return self.bins * self.bin_width


@dataclass(frozen=True)
class Windows:
    """What the policy decided, and from what.

    ``prewarm`` and ``keep_alive`` are seconds: an instance is wanted from ``prewarm`` after the
    last invocation ended until ``prewarm + keep_alive`` after it (:attr:`keep_for`).
    ``reason`` is ``histogram`` when the windows come from the idle times, else why they are the
    fixed window: ``few-samples``, ``not-representative`` or ``out-of-bounds``.
    """

    prewarm: float
    keep_alive: float
    reason: str
    samples: int = 0
    cv: float = 0.0
    out_of_bounds: float = 0.0

    @property
    def keep_for(self) -> float:
        """How long after an invocation an instance kept loaded throughout must stay."""
        return self.prewarm + self.keep_alive

    def __str__(self) -> str:
        return (
            f"prewarm {self.prewarm:.3f}s keep-alive {self.keep_alive:.3f}s ({self.reason}; "
            f"{self.samples} samples, cv {self.cv:.2f}, out of bounds {self.out_of_bounds:.0%})"
        )


@dataclass
class IdleHistogram:
    """One function's idle times and the windows they imply.

    ``fixed`` is the keep-alive the function gets when the histogram says nothing (seconds).
    Memory is ``bins`` counters whatever the number of samples.
    """

    fixed: float
    params: Params = field(default_factory=Params)
    counts: list[int] = field(init=False)
    in_bounds: int = 0
    out_of_bounds: int = 0
    _squares: int = field(default=0, init=False, repr=False)  # sum of squared bin counts
    _windows: Windows | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not (self.fixed >= 0 and math.isfinite(self.fixed)):
            raise ValueError(f"fixed keep-alive must be a non-negative number: {self.fixed}")
        self.counts = [0] * self.params.bins

    @property
    def samples(self) -> int:
        return self.in_bounds + self.out_of_bounds

    def record(self, idle: float) -> None:
        """Count one idle time (seconds; negative or NaN ones, from a clock step, are ignored)."""
        if not idle >= 0:
            return
        index = int(idle // self.params.bin_width) if math.isfinite(idle) else self.params.bins
        if index >= self.params.bins:
            self.out_of_bounds += 1
        else:
            self._squares += 2 * self.counts[index] + 1  # (c + 1)^2 - c^2
            self.counts[index] += 1
            self.in_bounds += 1
        self._windows = None

    def windows(self) -> Windows:
        """The pre-warm and keep-alive windows for the idle times seen so far."""
        if self._windows is None:
            self._windows = self._decide()
        return self._windows

    def _decide(self) -> Windows:
        p = self.params
        samples = self.samples
        oob = self.out_of_bounds / samples if samples else 0.0
        cv = _cv(self._squares, self.in_bounds, p.bins)
        if samples < p.min_samples:
            return Windows(0.0, self.fixed, "few-samples", samples, cv, oob)
        if oob > p.max_out_of_bounds:
            return Windows(0.0, self.fixed, "out-of-bounds", samples, cv, oob)
        if cv < p.min_cv:
            return Windows(0.0, self.fixed, "not-representative", samples, cv, oob)
        head = self._bin_at(p.head) * p.bin_width  # the head bin's lower edge
        end = (self._bin_at(p.tail) + 1) * p.bin_width  # the tail bin's upper edge
        prewarm = head * (1 - p.margin)
        return Windows(prewarm, end * (1 + p.margin) - prewarm, "histogram", samples, cv, oob)

    def _bin_at(self, fraction: float) -> int:
        """The first bin by which ``fraction`` of the in-range idle times have been seen."""
        target = max(1, math.ceil(fraction * self.in_bounds))
        seen = 0
        for index, count in enumerate(self.counts):
            seen += count
            if seen >= target:
                return index
        return len(self.counts) - 1


def _cv(squares: int, total: int, bins: int) -> float:
    """Coefficient of variation (population standard deviation / mean) of ``bins`` counts that
    sum to ``total`` and whose squares sum to ``squares``."""
    if total == 0:
        return 0.0
    mean = total / bins
    variance = max(0.0, squares / bins - mean * mean)
    return math.sqrt(variance) / mean
