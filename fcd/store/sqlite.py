"""One SQLite file in WAL mode: one writer thread, transactions as plain functions, reads apart.

Why a writer thread and not aiosqlite with a lock: a transaction on the writer thread measured
113 µs against 259 µs (DESIGN.md §6), and funnelling every write through one thread makes
SQLite's single-writer rule a property of the code rather than a source of ``database is
locked``. Writes queued while a commit is in progress are committed together (group commit),
each inside its own savepoint, so one failing transaction never takes its neighbours with it.

A write function is ``def tx(conn: sqlite3.Connection) -> T``; it runs inside ``BEGIN IMMEDIATE``
and its result (or exception) comes back to the awaiting coroutine only after the COMMIT, so a
client is never told "done" before the data is durable against a crash of the daemon.

Reads run on the caller's thread through a separate connection: they are short indexed lookups,
and a thread hop would cost more than the query (30-70 µs per hop, DESIGN.md §6).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from fcd import errors
from fcd.store.schema import migrate

T = TypeVar("T")
log = logging.getLogger(__name__)

WriteFn = Callable[[sqlite3.Connection], Any]
_SHUTDOWN = object()
# Commit at most this many queued transactions at once, so one commit's latency stays bounded.
MAX_GROUP = 256


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the pragmas every fcd connection uses."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit survives a crash of the process (kill -9), not of the host.
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.row_factory = sqlite3.Row
    return conn


class Store:
    """The metadata store: ``await store.write(tx)`` and ``store.read(fn)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._writer_conn = connect(path)
        migrate(self._writer_conn)
        self._reader = connect(path)
        self._reader.execute("PRAGMA query_only=ON")
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(
            target=self._run_writer, name="fcd-store-writer", daemon=True
        )
        self._thread.start()
        self._closed = False
        self._write_listeners: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<Store {self.path} queued={self._queue.qsize()}>"

    async def write(self, fn: Callable[[sqlite3.Connection], T], *, notify: bool = True) -> T:
        """Run ``fn`` in a write transaction on the writer thread; return after the commit.

        With ``notify`` (the default) the :meth:`on_write` listeners run afterwards, so caches
        of resources (the invoke path's function catalog) drop what may have changed. Writes
        that never touch resources (metering, logs) pass ``notify=False``.
        """
        if self._closed:
            raise RuntimeError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, loop, future))
        try:
            return await future
        except sqlite3.Error as e:
            full = errors.storage_error(e)
            if full is None:
                raise
            log.error("store write failed, the disk is full: %s", e)
            raise full from e
        finally:
            if notify:
                for listener in self._write_listeners:
                    listener()

    def on_write(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` on the event loop after every notifying write (even a failed one)."""
        self._write_listeners.append(listener)

    def write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in a write transaction from a thread with no event loop (start-up, tools)."""
        done = threading.Event()
        box: dict[str, Any] = {}

        def deliver(outcome: Any, is_error: bool) -> None:
            box["error" if is_error else "value"] = outcome
            done.set()

        self._queue.put((fn, None, deliver))
        done.wait()
        if "error" in box:
            raise box["error"]
        return box["value"]  # type: ignore[no-any-return]

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read-only ``fn`` on the read connection, on the calling thread."""
        return fn(self._reader)

    def close(self) -> None:
        """Finish queued writes, then close both connections."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_SHUTDOWN)
        self._thread.join()
        self._reader.close()

    # writer thread --------------------------------------------------------------------------
    def _run_writer(self) -> None:
        conn = self._writer_conn
        while True:
            first = self._queue.get()
            if first is _SHUTDOWN:
                break
            batch = [first]
            stop = False
            while len(batch) < MAX_GROUP:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _SHUTDOWN:
                    stop = True
                    break
                batch.append(item)
            self._commit_batch(conn, batch)
            if stop:
                break
        conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[tuple[Any, bool]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, _, _ in batch:
                conn.execute("SAVEPOINT tx")
                try:
                    outcomes.append((fn(conn), False))
                    conn.execute("RELEASE tx")
                except BaseException as e:  # the caller gets it; the batch goes on
                    conn.execute("ROLLBACK TO tx")
                    conn.execute("RELEASE tx")
                    outcomes.append((e, True))
            conn.execute("COMMIT")
        except sqlite3.Error as e:
            if errors.storage_error(e) is not None:
                log.error("store commit failed: the disk is full (%s)", e)
            else:
                log.exception("store commit failed")
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(e, True)] * len(batch)
        for (_, loop, target), (outcome, is_error) in zip(batch, outcomes, strict=True):
            if loop is None:
                target(outcome, is_error)
            else:
                loop.call_soon_threadsafe(_resolve, target, outcome, is_error)


def _resolve(future: asyncio.Future[Any], outcome: Any, is_error: bool) -> None:
    if future.done():  # the awaiting request was cancelled; the write still happened
        return
    if is_error:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
