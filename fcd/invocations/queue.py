"""Durable async invocations: accepted into SQLite before the 202, run by workers, retried.

``X-Fc-Invocation-Type: Async`` (and the timer, object-storage and HTTP triggers) come here
through :meth:`AsyncQueue.submit`: the row is committed (group commit on the store's writer
thread) before the caller is told "accepted", so a crash after the 202 loses nothing.

Workers (:meth:`AsyncQueue.run`) pull due rows and run them through the same
:class:`~fcd.invocations.invoker.Invoker` as sync invocations:

* a function that is full (its instance concurrency x max instances in flight, or the manager
  answering 429) is back-pressure: the row stays queued, no retry attempt is used;
* a function error (error type, timeout, crash, start failure) uses one of
  ``maxAsyncRetryAttempts`` (default 2) and is retried after a doubling backoff;
* a row older than ``maxAsyncEventAgeInSeconds`` (default 86400) when it would run or be retried
  ends ``Expired``; a row out of retries ends ``Failed``;
* the final record goes to the ``onSuccess``/``onFailure`` destination: another function (an
  async invocation of it, enqueued in the same transaction that ends the row) or an http(s)
  URL (POSTed after the commit).

Guarantee: at least once. A row is marked ``Running`` before it runs; rows a crash left
``Running`` go back to ``Enqueued`` when the daemon starts, so they run again (duplicates are
possible, losses are not; docs/async.md).

Stateful invocations (``statefulInvocation`` in the async config, or an explicit
``X-Fc-Stateful-Async-Invocation-Id``) are listed, read and stopped by the API; their records
are the same rows, so every invocation has a status even when not listed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from fcd import egress, errors, ids
from fcd.config import Async, Config
from fcd.invocations import destinations, http_envelope
from fcd.invocations.catalog import LATEST, Catalog
from fcd.invocations.invoker import Invocation, Invoker
from fcd.store import Store, docs
from fcd.wire.configs import AsyncConfig

log = logging.getLogger(__name__)

# The document kind fcd.api.lookup stores async invoke configs under (scope "svc/fn").
ASYNC_CONFIG = "async_config"
DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 86400
# Backoff of function-error retries: BASE, 2xBASE, 4xBASE, … capped (seconds).
BACKOFF_BASE_S = 1.0
BACKOFF_CAP_S = 300.0
# Back-pressure (429, full function) and platform errors: retried after this, no attempt used.
THROTTLE_DELAY_S = 0.2
PLATFORM_DELAY_S = 2.0
# Invocations running at once across the daemon; the host cap on instances still applies.
MAX_IN_FLIGHT = 1024
FETCH_BATCH = 256
# With nothing due, look again at least this often (retries become due on their own).
IDLE_POLL_S = 1.0
# Finished rows are kept this long for get/list, then pruned.
KEEP_FINISHED_S = 7 * 86400
RETURN_PAYLOAD_LIMIT = 1024 * 1024

ENQUEUED, RUNNING, SUCCEEDED, FAILED, STOPPED, EXPIRED = (
    "Enqueued",
    "Running",
    "Succeeded",
    "Failed",
    "Stopped",
    "Expired",
)
FINISHED = (SUCCEEDED, FAILED, STOPPED, EXPIRED)
_INVOCATION_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
_config = msgspec.json.Decoder(AsyncConfig)


class InvocationExists(errors.Conflict):
    code = "StatefulAsyncInvocationAlreadyExists"


class QueueFull(errors.ResourceExhausted):
    """The function's unfinished async invocations, or the bytes the queue keeps, are at the
    bound of ``[async]`` in the config: FC's throttling answer, 429 ResourceExhausted."""


@dataclass(frozen=True)
class AsyncRequest:
    """One accepted async invocation, as any source hands it to the queue."""

    service: str
    qualifier: str  # "LATEST", a version id or an alias
    function: str
    payload: bytes
    request_id: str = ""  # generated when empty
    invocation_id: str = ""  # stateful async invocation id; generated when empty
    source: str = "api"  # "api" | "timer:<trigger>" | "oss:<trigger>" | "http:<trigger>" | …
    stateful: bool = False  # recorded for list/get/stop even without statefulInvocation


@dataclass(frozen=True)
class Policy:
    """The async invoke config of one function qualifier, with FC's defaults applied."""

    max_retries: int = DEFAULT_RETRIES
    max_age_s: int = DEFAULT_MAX_AGE_S
    on_success: str = ""
    on_failure: str = ""
    stateful: bool = False


# pure decisions -----------------------------------------------------------------------------
def policy_of(config: AsyncConfig | None) -> Policy:
    """FC's defaults for whatever the config leaves unset."""
    if config is None:
        return Policy()
    dest = config.destination_config
    return Policy(
        max_retries=(
            DEFAULT_RETRIES
            if config.max_async_retry_attempts is None
            else config.max_async_retry_attempts
        ),
        max_age_s=config.max_async_event_age_in_seconds or DEFAULT_MAX_AGE_S,
        on_success=(dest.on_success.destination if dest.on_success else "") or "",
        on_failure=(dest.on_failure.destination if dest.on_failure else "") or "",
        stateful=config.stateful_invocation,
    )


def backoff(retried: int) -> float:
    """Seconds before retry number ``retried + 1`` of a function error."""
    return float(min(BACKOFF_CAP_S, BACKOFF_BASE_S * (2 ** min(retried, 20))))


@dataclass(frozen=True)
class Verdict:
    """What to do with a row after an attempt ended with a function error."""

    status: str  # ENQUEUED (retry), FAILED or EXPIRED
    due_at: float = 0.0
    condition: str = ""


def after_failure(policy: Policy, *, retried: int, enqueued_at: float, now: float) -> Verdict:
    """Retry, or give up: out of retries → Failed; the retry would run past max age → Expired."""
    if retried >= policy.max_retries:
        return Verdict(FAILED, condition="RetriesExhausted")
    due = now + backoff(retried)
    if due - enqueued_at > policy.max_age_s:
        return Verdict(EXPIRED, condition="EventAgeExceeded")
    return Verdict(ENQUEUED, due_at=due)


def check_invocation_id(invocation_id: str) -> None:
    """Raises: errors.InvalidArgument: not ``[A-Za-z_][A-Za-z0-9_-]{0,127}``."""
    if not _INVOCATION_ID.fullmatch(invocation_id):
        raise errors.InvalidArgument(
            f"stateful async invocation id '{invocation_id}' is invalid: it must match "
            "[A-Za-z_][A-Za-z0-9_-]{0,127}"
        )


# rows ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    seq: int
    request_id: str
    invocation_id: str
    service: str
    qualifier: str
    function: str
    payload: bytes
    retried: int
    enqueued_at: float
    source: str = "api"

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.qualifier, self.function)


_COLUMNS = (
    "seq, request_id, invocation_id, service, qualifier, function, payload, attempts, enqueued_at,"
    " source"
)


def _row(r: sqlite3.Row) -> Row:
    return Row(
        r["seq"],
        r["request_id"],
        r["invocation_id"],
        r["service"],
        r["qualifier"],
        r["function"],
        bytes(r["payload"]),
        r["attempts"],
        r["enqueued_at"],
        r["source"],
    )


def event_json(status: str, at: float, detail: str = "") -> str:
    return json.dumps({"status": status, "timestamp": int(at * 1000), "eventDetail": detail})


def _append_event(conn: sqlite3.Connection, seq: int, event: str) -> None:
    conn.execute(
        "UPDATE async_invocations SET events = json_insert(events, '$[#]', json(?)) WHERE seq = ?",
        (event, seq),
    )


# Finished rows pruned per step when the byte bound needs room (oldest first).
PRUNE_STEP = 64


def _admit(conn: sqlite3.Connection, request: AsyncRequest, bounds: Async) -> None:
    """Make room for one more invocation of this function, or refuse it.

    The counts are exact (schema migration 6 keeps them with triggers, in this transaction).
    Finished records are history: the oldest are pruned before their 7 days to make room.

    Raises:
        QueueFull: the function has ``max_queued_per_function`` unfinished invocations, or the
            unfinished ones alone hold ``max_stored_bytes``.
    """
    queued, stored = conn.execute(
        "SELECT (SELECT queued FROM async_depth WHERE service = ? AND function = ?),"
        " (SELECT bytes FROM async_usage)",
        (request.service, request.function),
    ).fetchone()
    if queued is not None and queued >= bounds.max_queued_per_function:
        raise QueueFull(
            f"function '{request.function}' of service '{request.service}' has "
            f"{queued} async invocations waiting, its maximum ([async] max_queued_per_function)"
        )
    limit = bounds.max_stored_bytes - len(request.payload)
    if stored > limit and not _trim(conn, limit):
        raise QueueFull(
            "the async queue holds its maximum of payload bytes "
            f"({bounds.max_stored_bytes}, [async] max_stored_bytes); retry later"
        )


def _trim(conn: sqlite3.Connection, limit: int) -> bool:
    """Prune the oldest finished rows until the table's payload and result bytes are at most
    ``limit``; False when the unfinished rows alone hold more."""
    while conn.execute("SELECT bytes FROM async_usage").fetchone()[0] > limit:
        pruned = conn.execute(
            "DELETE FROM async_invocations WHERE seq IN (SELECT seq FROM async_invocations"
            " WHERE ended_at IS NOT NULL ORDER BY ended_at LIMIT ?)",
            (PRUNE_STEP,),
        ).rowcount
        if not pruned:
            return False
    return True


def _insert(conn: sqlite3.Connection, request: AsyncRequest, stateful: bool, now: float) -> None:
    try:
        conn.execute(
            "INSERT INTO async_invocations(request_id, invocation_id, service, qualifier,"
            " function, source, stateful, payload, status, attempts, enqueued_at, due_at, events)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, json_array(json(?)))",
            (
                request.request_id,
                request.invocation_id,
                request.service,
                request.qualifier,
                request.function,
                request.source,
                int(stateful),
                request.payload,
                ENQUEUED,
                now,
                now,
                event_json(ENQUEUED, now, request.source),
            ),
        )
    except sqlite3.IntegrityError:
        raise InvocationExists(
            f"stateful async invocation '{request.invocation_id}' of function "
            f"'{request.function}' in service '{request.service}' already exists"
        ) from None


@dataclass
class AsyncQueue:
    """The durable queue and its workers."""

    store: Store
    catalog: Catalog
    invoker: Invoker
    config: Config
    wall: Callable[[], float] = time.time
    _policies: dict[tuple[str, str, str], Policy] = field(default_factory=dict)
    _in_flight: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    # Functions found full (or with max instances 0): left out of fetches until a slot frees.
    _blocked: set[tuple[str, str, str]] = field(default_factory=set)
    # Functions that may have queued rows; due rows are fetched per function.
    _pending: set[tuple[str, str, str]] = field(default_factory=set)
    # The earliest due time of a queued row not yet due (a retry's backoff), as last fetched.
    _next_due: float = float("inf")
    # Rows a crash left Running are requeued once per daemon start, not on a supervised restart
    # of the workers (whose attempts are still running then).
    _recovered: bool = False
    # Where http(s) destinations may connect although the address is local (config).
    _allow: tuple[egress.Rule, ...] = ()

    def __post_init__(self) -> None:
        self._allow = egress.parse_allow(self.config.async_.destination_allow)

    def __repr__(self) -> str:
        return f"<AsyncQueue running={len(self._tasks)}>"

    def invalidate(self) -> None:
        """Forget cached async configs: a resource changed (``Store.on_write``)."""
        self._policies.clear()
        self._blocked.clear()  # max instances may have changed
        self._wake.set()

    # accepting ------------------------------------------------------------------------------
    async def submit(self, request: AsyncRequest) -> str:
        """Validate, commit, return the request id (only after the COMMIT).

        Raises:
            errors.ServiceNotFound, errors.FunctionNotFound, errors.VersionNotFound,
            errors.AliasNotFound, errors.EntityTooLarge, errors.InvalidArgument,
            InvocationExists
        """
        return (await self.submit_many([request]))[0]

    async def submit_many(self, requests: list[AsyncRequest]) -> list[str]:
        """Like :meth:`submit` for several invocations, committed in one transaction.

        Raises:
            see :meth:`submit`; nothing is committed when one request is refused.
        """
        ready: list[tuple[AsyncRequest, bool]] = []
        for request in requests:
            ready.append(self._prepare(request))
        now = self.wall()

        bounds = self.config.async_

        def tx(conn: sqlite3.Connection) -> None:
            for request, stateful in ready:
                _admit(conn, request, bounds)
                _insert(conn, request, stateful, now)

        await self.store.write(tx, notify=False)
        for request, _ in ready:
            self._pending.add((request.service, request.qualifier, request.function))
        self._wake.set()
        return [request.request_id for request, _ in ready]

    def _prepare(self, request: AsyncRequest) -> tuple[AsyncRequest, bool]:
        limit = self.config.limits.async_payload
        if len(request.payload) > limit:
            raise errors.EntityTooLarge(
                f"payload size exceeds maximum allowed size ({limit} bytes)"
            )
        qualifier = request.qualifier or LATEST
        self.catalog.resolve(request.service, qualifier, request.function)
        if request.invocation_id:
            check_invocation_id(request.invocation_id)
        policy = self.policy(request.service, qualifier, request.function)
        request_id = request.request_id or ids.request_id()
        stateful = policy.stateful or request.stateful or bool(request.invocation_id)
        return (
            AsyncRequest(
                service=request.service,
                qualifier=qualifier,
                function=request.function,
                payload=request.payload,
                request_id=request_id,
                invocation_id=request.invocation_id or request_id,
                source=request.source,
                stateful=stateful,
            ),
            stateful,
        )

    def policy(self, service: str, qualifier: str, function: str) -> Policy:
        """The async config of ``service.qualifier/function`` (cached until a resource write)."""
        key = (service, qualifier or LATEST, function)
        found = self._policies.get(key)
        if found is None:

            def read(conn: sqlite3.Connection) -> Policy:
                doc = docs.get(conn, ASYNC_CONFIG, f"{service}/{function}", key[1])
                return policy_of(_config.decode(doc.body) if doc else None)

            found = self._policies[key] = self.store.read(read)
        return found

    # the workers ----------------------------------------------------------------------------
    async def run(self, *, ready: asyncio.Event) -> None:
        """Requeue what a crash left running, then dispatch due rows until cancelled.

        Error handling:
            an exception other than cancellation leaves the running attempts alone: they
            finish and record their end while the supervisor starts this loop again.
        """
        if not self._recovered:
            recovered = await self.store.write(_recover, notify=False)
            if recovered:
                log.warning("%d async invocations were running at a crash: queued again", recovered)
            self._recovered = True
        self._pending.update(self.store.read(_queued_functions))
        ready.set()
        last_prune = 0.0
        try:
            while True:
                self._wake.clear()
                started = await self._dispatch()
                now = self.wall()
                if now - last_prune > 3600:
                    last_prune = now
                    await self.store.write(_pruner(now - KEEP_FINISHED_S), notify=False)
                if started:
                    continue
                pause = min(IDLE_POLL_S, max(0.0, self._next_due - self.wall()))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._wake.wait()
        except asyncio.CancelledError:
            for task in list(self._tasks):
                task.cancel()
            raise

    async def close(self) -> None:
        """Cancel running attempts (their rows stay ``Running`` and rerun at the next start)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _capacity(self, row: Row) -> int:
        """How many of this function's invocations may run at once (-1: it no longer exists;
        0: its max instances is 0, so it waits)."""
        try:
            version, max_instances = self.catalog.resolve(*row.key)
        except errors.NotFound:
            return -1
        return version.concurrency * max_instances

    async def _dispatch(self) -> int:
        """Claim due rows the functions have room for and start them; return how many rows
        were started or found blocked (0: nothing more to do until woken)."""
        room = MAX_IN_FLIGHT - len(self._tasks)
        if room <= 0:
            return 0
        keys = [k for k in self._pending if k not in self._blocked]
        if not keys:
            return 0
        now = self.wall()
        rows, drained, self._next_due = self.store.read(
            lambda conn: _due(conn, now, min(room, FETCH_BATCH), keys)
        )
        self._pending.difference_update(drained)
        blocked = len(self._blocked)
        chosen: list[Row] = []
        gone: list[Row] = []
        planned: dict[tuple[str, str, str], int] = {}
        for row in rows:
            capacity = self._capacity(row)
            if capacity < 0:
                gone.append(row)
                continue
            busy = self._in_flight.get(row.key, 0) + planned.get(row.key, 0)
            if busy >= capacity:
                self._blocked.add(row.key)  # back-pressure: it stays queued
                continue
            planned[row.key] = planned.get(row.key, 0) + 1
            chosen.append(row)
        newly_blocked = len(self._blocked) - blocked
        if not chosen and not gone:
            return newly_blocked
        # The rows are marked Running while their attempts already start (a commit less
        # between accept and handler start); each attempt records its end only once its row is
        # claimed (one stopped in between is not), and the next fetch waits for the claim.
        seqs = [r.seq for r in chosen + gone]
        claim = asyncio.ensure_future(self.store.write(_claimer(seqs, now), notify=False))
        for row in gone:
            self._spawn(self._fail_missing(row, claim))
        for row in chosen:
            self._in_flight[row.key] = self._in_flight.get(row.key, 0) + 1
            self._spawn(self._attempt(row, claim))
        return len(await claim) + newly_blocked

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _done(self, key: tuple[str, str, str]) -> None:
        left = self._in_flight.get(key, 1) - 1
        if left <= 0:
            self._in_flight.pop(key, None)
        else:
            self._in_flight[key] = left
        self._blocked.discard(key)
        self._wake.set()

    async def _attempt(self, row: Row, claim: asyncio.Future[set[int]]) -> None:
        try:
            await self._attempt_once(row, claim)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("async invocation %s: the queue failed to record it", row.request_id)
        finally:
            self._done(row.key)

    async def _attempt_once(self, row: Row, claim: asyncio.Future[set[int]]) -> None:
        policy = self.policy(*row.key)
        now = self.wall()
        if now - row.enqueued_at > policy.max_age_s:
            if row.seq in await asyncio.shield(claim):
                await self._finish(row, policy, EXPIRED, None, "EventAgeExceeded", now)
            return
        try:
            # An HTTP-trigger request runs with its method, path, query and headers.
            payload, http = http_envelope.unwrap(row.source, row.payload)
            done = await self.invoker.invoke(
                row.service,
                row.qualifier,
                row.function,
                payload,
                request_id=row.request_id,
                http=http,
            )
            if row.seq not in await asyncio.shield(claim):
                return  # stopped before it was claimed: nothing is recorded
        except errors.ResourceExhausted as e:
            await self._requeue(row, self.wall() + THROTTLE_DELAY_S, "Throttled", str(e))
            return
        except errors.NotFound as e:
            await self._finish(row, policy, FAILED, None, "FunctionNotFound", self.wall(), str(e))
            return
        except errors.FcError as e:  # could not start (CAExited, …): the function's fault
            await self._failed_attempt(row, policy, None, f"{e.code}: {e}")
            return
        except Exception as e:
            log.exception("async invocation %s: platform error", row.request_id)
            await self._requeue(row, self.wall() + PLATFORM_DELAY_S, "PlatformError", str(e))
            return
        if done.error_type is None:
            await self._finish(row, policy, SUCCEEDED, done, "", self.wall())
        else:
            await self._failed_attempt(row, policy, done, done.body.decode(errors="replace"))

    async def _failed_attempt(
        self, row: Row, policy: Policy, done: Invocation | None, message: str
    ) -> None:
        now = self.wall()
        verdict = after_failure(policy, retried=row.retried, enqueued_at=row.enqueued_at, now=now)
        if verdict.status == ENQUEUED:
            await self.store.write(_retrier(row.seq, verdict.due_at, now, message), notify=False)
            self._pending.add(row.key)
            return
        await self._finish(row, policy, verdict.status, done, verdict.condition, now, message)

    async def _requeue(self, row: Row, due_at: float, why: str, detail: str) -> None:
        await self.store.write(_requeuer(row.seq, due_at, self.wall(), why, detail), notify=False)
        self._pending.add(row.key)

    async def _fail_missing(self, row: Row, claim: asyncio.Future[set[int]]) -> None:
        if row.seq not in await asyncio.shield(claim):
            return
        policy = self.policy(*row.key)
        message = f"function '{row.function}' of service '{row.service}' no longer exists"
        await self._finish(row, policy, FAILED, None, "FunctionNotFound", self.wall(), message)

    async def _finish(
        self,
        row: Row,
        policy: Policy,
        status: str,
        done: Invocation | None,
        condition: str,
        now: float,
        message: str = "",
    ) -> None:
        """End the row; enqueue a function destination in the same transaction."""
        target = policy.on_success if status == SUCCEEDED else policy.on_failure
        record = destinations.record(
            request_id=row.request_id,
            function_arn=destinations.function_arn(
                self.config.region, self.config.account_id, *row.key
            ),
            condition=condition,
            invoke_count=row.retried + (0 if done is None and status == EXPIRED else 1),
            payload=row.payload,
            done=done,
            now=now,
        )
        follow_up: AsyncRequest | None = None
        destination_status = ""
        fc_target = destinations.parse_function(target, self.config.region, self.config.account_id)
        if fc_target is not None:
            try:
                follow_up, _ = self._prepare(
                    AsyncRequest(
                        service=fc_target[0],
                        qualifier=fc_target[1],
                        function=fc_target[2],
                        payload=record,
                        source=f"destination:{row.request_id}",
                    )
                )
                destination_status = SUCCEEDED
            except errors.FcError as e:
                log.warning("destination %s of %s: %s", target, row.request_id, e)
                destination_status = FAILED
        elif target and not destinations.is_http(target):
            destination_status = FAILED  # MNS/EventBridge: no such service on this host
        elif target:
            destination_status = "Pending"

        bounds = self.config.async_

        def tx(conn: sqlite3.Connection) -> tuple[bool, bool]:
            changed = _ender(row.seq, status, done, message, destination_status, now)(conn)
            _trim(conn, bounds.max_stored_bytes)  # its result may have passed the bound
            if not changed or follow_up is None:
                return changed, False
            try:
                _admit(conn, follow_up, bounds)
            except QueueFull as e:
                log.warning("destination %s of %s: %s", target, row.request_id, e)
                _destination_status(row.seq, FAILED)(conn)
                return changed, False
            _insert(conn, follow_up, follow_up.stateful, now)
            return changed, True

        changed, followed = await self.store.write(tx, notify=False)
        if follow_up is not None and followed:
            self._pending.add((follow_up.service, follow_up.qualifier, follow_up.function))
            self._wake.set()
        if changed and destination_status == "Pending":
            delivered = await destinations.post(target, record, self._allow)
            await self.store.write(
                _destination_status(row.seq, SUCCEEDED if delivered else FAILED), notify=False
            )


# transactions -------------------------------------------------------------------------------
def _recover(conn: sqlite3.Connection) -> int:
    cursor = conn.execute(
        "UPDATE async_invocations SET status = ?, events = json_insert(events, '$[#]', json(?))"
        " WHERE status = 'Running'",
        (ENQUEUED, event_json(ENQUEUED, time.time(), "requeued after a daemon restart")),
    )
    return cursor.rowcount


def _queued_functions(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return [
        (r[0], r[1], r[2])
        for r in conn.execute(
            "SELECT DISTINCT service, qualifier, function FROM async_invocations"
            " WHERE status = 'Enqueued'"
        )
    ]


def _due(
    conn: sqlite3.Connection, now: float, limit: int, keys: list[tuple[str, str, str]]
) -> tuple[list[Row], list[tuple[str, str, str]], float]:
    """Due rows of these functions, oldest first, at most ``limit`` in all; the functions with
    no queued row left (due or not); and the earliest due time among the others' rows."""
    rows: list[Row] = []
    drained: list[tuple[str, str, str]] = []
    next_due = float("inf")
    for key in keys:
        if len(rows) >= limit:
            break
        found = conn.execute(
            f"SELECT {_COLUMNS} FROM async_invocations WHERE service = ? AND qualifier = ?"
            " AND function = ? AND status = 'Enqueued' AND due_at <= ? ORDER BY due_at, seq"
            " LIMIT ?",
            (*key, now, limit - len(rows)),
        ).fetchall()
        rows += [_row(r) for r in found]
        if not found:
            (due,) = conn.execute(
                "SELECT min(due_at) FROM async_invocations WHERE service = ? AND qualifier = ?"
                " AND function = ? AND status = 'Enqueued'",
                key,
            ).fetchone()
            if due is None:
                drained.append(key)
            else:
                next_due = min(next_due, due)
    return rows, drained, next_due


def _claimer(seqs: list[int], now: float) -> Callable[[sqlite3.Connection], set[int]]:
    def tx(conn: sqlite3.Connection) -> set[int]:
        holes = ",".join("?" * len(seqs))
        event = event_json(RUNNING, now)
        rows = conn.execute(
            "UPDATE async_invocations SET status = ?, started_at = coalesce(started_at, ?),"
            " events = json_insert(events, '$[#]', json(?))"
            f" WHERE seq IN ({holes}) AND status = ? RETURNING seq",
            (RUNNING, now, event, *seqs, ENQUEUED),
        ).fetchall()
        return {r[0] for r in rows}

    return tx


def _retrier(
    seq: int, due_at: float, now: float, message: str
) -> Callable[[sqlite3.Connection], None]:
    def tx(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE async_invocations SET status = ?, due_at = ?, attempts = attempts + 1,"
            " error_message = ?, events = json_insert(events, '$[#]', json(?))"
            " WHERE seq = ? AND status = ?",
            (
                ENQUEUED,
                due_at,
                message[:4096],
                event_json("Retrying", now, message[:1024]),
                seq,
                RUNNING,
            ),
        )

    return tx


def _requeuer(
    seq: int, due_at: float, now: float, why: str, detail: str
) -> Callable[[sqlite3.Connection], None]:
    def tx(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE async_invocations SET status = ?, due_at = ? WHERE seq = ? AND status = ?",
            (ENQUEUED, due_at, seq, RUNNING),
        )
        if why != "Throttled":  # throttles can be many; they are not worth an event each
            _append_event(conn, seq, event_json(why, now, detail[:1024]))

    return tx


def _ender(
    seq: int,
    status: str,
    done: Invocation | None,
    message: str,
    destination_status: str,
    now: float,
) -> Callable[[sqlite3.Connection], bool]:
    def tx(conn: sqlite3.Connection) -> bool:
        cursor = conn.execute(
            "UPDATE async_invocations SET status = ?, ended_at = ?, error_message = ?,"
            " return_payload = ?, duration_ms = ?, instance_id = ?, destination_status = ?,"
            " events = json_insert(events, '$[#]', json(?))"
            " WHERE seq = ? AND status IN (?, ?)",
            (
                status,
                now,
                message[:4096],
                done.body[:RETURN_PAYLOAD_LIMIT] if done else None,
                done.result.duration_ms if done else None,
                done.instance_id if done else "",
                destination_status,
                event_json(status, now, message[:1024]),
                seq,
                RUNNING,
                ENQUEUED,
            ),
        )
        return cursor.rowcount == 1

    return tx


def _destination_status(seq: int, status: str) -> Callable[[sqlite3.Connection], None]:
    def tx(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE async_invocations SET destination_status = ? WHERE seq = ?", (status, seq)
        )

    return tx


def _pruner(before: float) -> Callable[[sqlite3.Connection], None]:
    def tx(conn: sqlite3.Connection) -> None:
        conn.execute(
            "DELETE FROM async_invocations WHERE ended_at IS NOT NULL AND ended_at < ?", (before,)
        )

    return tx
