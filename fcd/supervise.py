"""Supervision of the daemon's long-lived background loops.

A ``TaskGroup`` ends every task when one fails: one bug in the pool refill or the log pruner
would take the whole daemon, and every in-flight request, down with it. Each long-lived loop
therefore runs under :meth:`Supervisor.run`, which logs an unexpected exception with its
traceback, counts it, and starts the loop again after a back-off that doubles up to a cap.
Only cancellation (the daemon's shutdown) or the loop returning (its owner closed it) ends it.

The back-off arithmetic is the pure :func:`next_delay`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

# The first restart comes quickly (a one-off failure costs little); a loop that keeps failing
# is retried at most every 30 s, so it neither spins a CPU nor floods the log.
FIRST_DELAY_S = 0.1
MAX_DELAY_S = 30.0
# A loop that ran this long before failing is treated as healthy again: its next restart is quick.
HEALTHY_AFTER_S = 60.0


def next_delay(previous: float, ran_for: float) -> float:
    """The pause before restarting a loop that failed after running ``ran_for`` seconds,
    given the pause before its last restart (0 for its first failure). Pure."""
    if previous <= 0 or ran_for >= HEALTHY_AFTER_S:
        return FIRST_DELAY_S
    return min(MAX_DELAY_S, previous * 2)


class Supervisor:
    """Runs loops until they are cancelled or return, restarting them when they fail.

    ``failures`` counts the unexpected exceptions per loop name (for metrics).
    """

    def __init__(
        self,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sleep = sleep
        self._clock = clock
        self.failures: Counter[str] = Counter()

    async def run(self, name: str, loop: Callable[[], Awaitable[None]]) -> None:
        """Run ``loop()`` and start it again whenever it raises.

        Error handling:
            * ``CancelledError`` propagates: shutdown ends the loop;
            * a normal return ends supervision (the loop's owner closed it);
            * any other exception is logged with its traceback, counted in ``failures``,
              and the loop is started again after :func:`next_delay`.
        """
        delay = 0.0
        while True:
            started = self._clock()
            try:
                await loop()
            except Exception:
                self.failures[name] += 1
                delay = next_delay(delay, self._clock() - started)
                log.exception(
                    "background loop %s failed (%d so far): restarting in %.1f s",
                    name,
                    self.failures[name],
                    delay,
                )
            else:
                return
            await self._sleep(delay)

    def __repr__(self) -> str:
        failed = " ".join(f"{name}={n}" for name, n in sorted(self.failures.items()))
        return f"<Supervisor failures: {failed or 'none'}>"
