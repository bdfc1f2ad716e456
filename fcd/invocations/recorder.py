"""The metering and log flusher: the invoke path appends to memory, this writes in batches.

An invocation must never wait on SQLite (DESIGN §6: a thread hop costs 30-70 µs, a commit more),
so the gateway and the instances only append metering records and log lines to in-memory
buffers. :meth:`Recorder.run` swaps the buffers out every :data:`FLUSH_INTERVAL` seconds and
writes each batch in one transaction on the store's writer thread, and prunes rows past their
retention now and then. The log lines are also kept under a size cap
(``retention.logs_bytes``): past it the oldest lines are deleted first, right after the batch
that crossed it. The buffers are bounded in lines and bytes; when the store cannot keep up,
further lines are dropped and each request they belonged to gets a marker line saying how many.

On shutdown the daemon calls :meth:`Recorder.close` after the last invocation has finished, and
``run`` writes what is left before it returns, so an acknowledged invocation's row and lines are
on disk when the daemon exits.

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
# A runaway function cannot grow the buffer without bound between two flushes (the instances'
# log caps keep each function far below; these bound all of them together).
MAX_BUFFERED_LINES = 200_000
MAX_BUFFERED_BYTES = 64 << 20
# Requests whose lines dropped from a full buffer are counted one by one, for their markers;
# past this many, only in the total logged.
MAX_DROP_KEYS = 10_000
# The size cap deletes down to this share of retention.logs_bytes, so that the next batches do
# not cross it again at once; and this many rows per transaction, so the writer stays free.
PRUNE_TO = 0.9
PRUNE_BATCH = 50_000


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
        self._buffered = 0  # bytes of the lines in self._lines
        self._dropped = 0
        self._drops: dict[tuple[str, str, str], list[int]] = {}  # key → [lines, bytes]
        # What the stored lines weigh (fcd.logs.store.size), once measured at the first prune.
        self._log_bytes: int | None = None
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
        if line.endswith(b"\n"):
            line = line[:-1]
        size = len(line)
        if len(self._lines) >= MAX_BUFFERED_LINES or self._buffered + size > MAX_BUFFERED_BYTES:
            self._drop((service, function, request_id), size)
            return
        self._buffered += size
        # A plain tuple, in the column order of log_store.insert: this runs for every line.
        self._lines.append((service, function, request_id, self.clock(), line))

    def _drop(self, key: tuple[str, str, str], size: int) -> None:
        self._dropped += 1
        counts = self._drops.get(key)
        if counts is None:
            if len(self._drops) >= MAX_DROP_KEYS:
                return
            counts = self._drops[key] = [0, 0]
        counts[0] += 1
        counts[1] += size

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
        """Write the buffered records and lines in one transaction, then keep the lines under
        their size cap."""
        records, lines, size = self._usage, self._lines, self._buffered
        if not records and not lines:
            return
        self._usage, self._lines, self._buffered = [], [], 0
        if self._dropped:
            log.warning("dropped %d function log lines: the log buffer was full", self._dropped)
            self._dropped = 0
            now = self.clock()
            for (service, function, request_id), (count, nbytes) in self._drops.items():
                line = (
                    f"fcd: dropped {count} log lines ({nbytes} bytes): "
                    "the daemon's log store could not keep up"
                ).encode()
                lines.append((service, function, request_id, now, line))
                size += len(line)
            self._drops = {}

        def tx(conn: sqlite3.Connection) -> None:
            if records:
                metering_store.insert(conn, records)
            if lines:
                log_store.insert(conn, lines)

        try:
            await self.store.write(tx, notify=False)
        except (sqlite3.Error, RuntimeError):
            log.exception("lost %d metering rows and %d log lines", len(records), len(lines))
            return
        if self._log_bytes is not None:
            self._log_bytes += size + len(lines) * log_store.ROW_OVERHEAD
            if self._log_bytes > self.retention.logs_bytes:
                await self.prune_size()

    async def prune(self) -> None:
        """Delete log lines and metering rows older than their retention, then keep the lines
        under their size cap.

        The first call measures what the stored lines weigh (one scan of the table); from then
        on the figure is kept up to date from what is written and deleted.
        """
        now = self.clock()
        self._last_prune = now
        logs_before = now - self.retention.logs
        usage_before = now - self.retention.invocations
        measure = self._log_bytes is None

        def tx(conn: sqlite3.Connection) -> tuple[int, int, int, int | None]:
            lines, freed = log_store.prune(conn, logs_before)
            rows = metering_store.prune(conn, usage_before)
            return lines, freed, rows, log_store.size(conn) if measure else None

        try:
            lines, freed, rows, measured = await self.store.write(tx, notify=False)
        except (sqlite3.Error, RuntimeError):
            log.exception("pruning old logs and metering rows failed")
            return
        if lines or rows:
            log.info("pruned %d log lines and %d metering rows past retention", lines, rows)
        if measured is not None:
            self._log_bytes = measured
        elif self._log_bytes is not None:
            self._log_bytes = max(0, self._log_bytes - freed)
        if self._log_bytes is not None and self._log_bytes > self.retention.logs_bytes:
            await self.prune_size()

    async def prune_size(self) -> None:
        """Delete the oldest log lines until they weigh :data:`PRUNE_TO` of their size cap."""
        target = int(self.retention.logs_bytes * PRUNE_TO)
        deleted = freed = 0
        while self._log_bytes is not None and self._log_bytes > target:
            excess = self._log_bytes - target

            def tx(conn: sqlite3.Connection, excess: int = excess) -> tuple[int, int]:
                return log_store.prune_oldest(conn, excess, PRUNE_BATCH)

            try:
                lines, nbytes = await self.store.write(tx, notify=False)
            except (sqlite3.Error, RuntimeError):
                log.exception("pruning log lines over their size cap failed")
                return
            deleted += lines
            freed += nbytes
            self._log_bytes = self._log_bytes - nbytes if lines else 0
        log.info(
            "pruned %d log lines (%d bytes): the stored lines passed retention.logs_bytes (%d)",
            deleted,
            freed,
            self.retention.logs_bytes,
        )
