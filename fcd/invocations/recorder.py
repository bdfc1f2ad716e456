"""The metering and log flusher: the invoke path appends to memory, this writes in batches.

An invocation must never wait on SQLite (DESIGN §6: a thread hop costs 30-70 µs, a commit more),
so the gateway and the instances only append metering records and log lines to in-memory
buffers. :meth:`Recorder.run` swaps the buffers out every :data:`FLUSH_INTERVAL` seconds and
writes each batch in one transaction on the store's writer thread, and prunes rows past their
retention now and then. On shutdown the daemon calls :meth:`Recorder.close` after the last
invocation has finished, and ``run`` writes what is left before it returns, so an acknowledged
invocation's row and lines are on disk when the daemon exits.

Error handling: a failed batch is logged and dropped (metering and logs must not take the daemon
down, and retrying a batch the database refused would only fail again).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable

from fcd.config import Retention
from fcd.logs import store as log_store
from fcd.metering import store as metering_store
from fcd.metering.usage import Usage
from fcd.store import Store

log = logging.getLogger(__name__)

# Batches are written this often (seconds): rare enough to group thousands of rows in one
# commit, soon enough that `fcctl logs` shows a request's lines right after it returns.
FLUSH_INTERVAL = 0.2
# Retention is enforced this often (seconds).
PRUNE_INTERVAL = 600.0
# A runaway function cannot grow the buffer without bound between two flushes.
MAX_BUFFERED_LINES = 200_000


class Recorder:
    """Buffers of metering records and log lines, and the task that writes them."""

    def __init__(
        self, store: Store, retention: Retention, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.retention = retention
        self.clock = clock
        self._usage: list[Usage] = []
        self._lines: list[log_store.Row] = []
        self._dropped = 0
        self._wake = asyncio.Event()
        self._closing = False
        self._last_prune = 0.0

    def __repr__(self) -> str:
        return f"<Recorder usage={len(self._usage)} lines={len(self._lines)}>"

    # called on the hot path ---------------------------------------------------------------
    def usage(self, record: Usage) -> None:
        self._usage.append(record)

    def log(self, service: str, function: str, request_id: str, line: bytes) -> None:
        """One line a function printed; a trailing newline is not kept."""
        if len(self._lines) >= MAX_BUFFERED_LINES:
            self._dropped += 1
            return
        if line.endswith(b"\n"):
            line = line[:-1]
        # A plain tuple, in the column order of log_store.insert: this runs for every line.
        self._lines.append((service, function, request_id, self.clock(), line))

    # the component --------------------------------------------------------------------------
    async def run(self, *, ready: asyncio.Event) -> None:
        """Flush every :data:`FLUSH_INTERVAL` until :meth:`close`, then flush once more."""
        ready.set()
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL)
            except TimeoutError:
                pass
            await self.flush()
            if self.clock() - self._last_prune >= PRUNE_INTERVAL:
                await self.prune()
        await self.flush()

    def close(self) -> None:
        """Make :meth:`run` write what is buffered and return."""
        self._closing = True
        self._wake.set()

    async def flush(self) -> None:
        """Write the buffered records and lines in one transaction."""
        records, lines = self._usage, self._lines
        if not records and not lines:
            return
        self._usage, self._lines = [], []
        if self._dropped:
            log.warning("dropped %d function log lines: the log buffer was full", self._dropped)
            self._dropped = 0

        def tx(conn: sqlite3.Connection) -> None:
            if records:
                metering_store.insert(conn, records)
            if lines:
                log_store.insert(conn, lines)

        try:
            await self.store.write(tx, notify=False)
        except (sqlite3.Error, RuntimeError):
            log.exception("lost %d metering rows and %d log lines", len(records), len(lines))

    async def prune(self) -> None:
        """Delete log lines and metering rows older than their retention."""
        now = self.clock()
        self._last_prune = now
        logs_before = now - self.retention.logs
        usage_before = now - self.retention.invocations

        def tx(conn: sqlite3.Connection) -> tuple[int, int]:
            return log_store.prune(conn, logs_before), metering_store.prune(conn, usage_before)

        try:
            lines, rows = await self.store.write(tx, notify=False)
        except (sqlite3.Error, RuntimeError):
            log.exception("pruning old logs and metering rows failed")
            return
        if lines or rows:
            log.info("pruned %d log lines and %d metering rows past retention", lines, rows)
