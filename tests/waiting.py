"""Wait for a condition, never for a guessed time: poll with a deadline, fail naming what.

A bare ``sleep`` as synchronisation is either too short on a loaded machine (a flaky test) or
too long everywhere (a slow suite). These poll the condition itself and return its value as
soon as it is truthy, or fail with ``message`` once ``timeout`` seconds have passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Between polls: short against the events waited for (tens of ms and up), long enough not to
# load a 2-core machine shared with other test runs.
INTERVAL = 0.05


def wait_until(
    probe: Callable[[], T | None],
    timeout: float = 20.0,
    message: str = "",
    interval: float = INTERVAL,
) -> T:
    """Call ``probe`` until it returns something truthy, and return that.

    Raises:
        AssertionError: ``timeout`` seconds passed first; it names ``message`` (or the probe)
            and the last value seen.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message or probe}; last: {value!r}"
            )
        time.sleep(interval)


async def wait_until_async(
    probe: Callable[[], T | None],
    timeout: float = 20.0,  # noqa: ASYNC109 - the same call as wait_until, on the loop
    message: str = "",
    interval: float = INTERVAL,
) -> T:
    """:func:`wait_until` for tests on the event loop: the loop runs between polls."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {message or probe}; last: {value!r}"
            )
        await asyncio.sleep(interval)
