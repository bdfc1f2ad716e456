"""The instance manager: performs what the pools decide, and owns every instance's lifetime.

:class:`~fcd.instances.pool.InstancePool` decides (which instance serves, start one, stop one,
429); this module does it: starts instances through :class:`~fcd.instances.instance.Instance`,
hands them invocations, stops them in tracked background tasks, and reclaims idle ones past the
keep-alive window in :meth:`InstanceManager.run`.

Pools are per function version and per *configuration*: when the catalog reports a new
fingerprint for a version (LATEST redeployed), the manager opens a new pool for it and drains the
old one, whose in-flight invocations finish on the old instances. No request fails because of a
deploy.

Error handling:
    * no slot and no room (function max instances, host cap) → ``errors.ResourceExhausted`` at
      once; under the host cap an idle instance of another function is given up first;
    * an instance that fails to start → :class:`StartFailure` for every invocation that waited
      on it (the invoker renders it);
    * an instance that dies, times out or runs out of memory → its results say so
      (``instance_fatal``), it leaves the pool and the next invocation starts a replacement;
    * ``CancelledError`` is re-raised after the slot is given back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fcd import errors
from fcd.config import FunctionLogs, Instances
from fcd.instances.instance import Instance, Isolation, StartFailure
from fcd.instances.keepalive import IdleHistogram, Params
from fcd.instances.pool import Assigned, HostBudget, InstancePool, Rejected
from fcd.model import InstanceSpec, InvokeRequest, InvokeResult

log = logging.getLogger(__name__)

# How often idle instances are looked at for reclaiming (seconds); a fraction of keep-alive.
REAP_INTERVAL = 1.0
# An idle instance found dead is replaced; this bounds the retries of one invocation.
MAX_DEAD_RETRIES = 3

__all__ = ["InstanceManager", "Outcome", "PoolSpec", "StartFailure"]


@dataclass(frozen=True)
class PoolSpec:
    """What the manager needs to know about a function version to run it.

    ``lineage`` names the version (service, function, version id); ``fingerprint`` its current
    configuration. ``make_spec`` builds an instance's spec on a cold start (it may unpack code).
    """

    lineage: tuple[str, str, str]
    fingerprint: str
    concurrency: int
    max_instances: int
    make_spec: Callable[[str], Awaitable[InstanceSpec]]
    soft_concurrency: int | None = None  # instanceSoftConcurrency

    @property
    def name(self) -> str:
        service, function, version = self.lineage
        return f"{service}/{function}@{version}"


@dataclass(frozen=True)
class Outcome:
    """An invocation's result and how it was served."""

    result: InvokeResult
    instance_id: str
    cold: bool
    cold_start_ms: float


OnLog = Callable[[str, str, str, bytes], None]  # (service, function, request id, line)


class InstanceManager:
    """Every pool and instance of the daemon."""

    def __init__(
        self,
        isolation: Isolation,
        config: Instances,
        on_log: OnLog,
        clock: Callable[[], float] = time.monotonic,
        *,
        log_limits: FunctionLogs | None = None,
    ) -> None:
        self.isolation = isolation
        self.config = config
        self.on_log = on_log
        self.log_limits = log_limits or FunctionLogs()
        self.clock = clock
        self.budget = HostBudget(config.max_total)
        self._pools: dict[tuple[tuple[str, str, str], str], InstancePool] = {}
        self._current: dict[tuple[str, str, str], InstancePool] = {}
        self._adaptive = config.keep_alive_policy == "adaptive"
        self._specs: dict[tuple[str, str, str], PoolSpec] = {}  # for pre-warm starts
        self._instances: dict[str, Instance] = {}
        self._starts: dict[str, asyncio.Future[Instance]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._wake = asyncio.Event()

    def __repr__(self) -> str:
        return (
            f"<InstanceManager pools={len(self._pools)} instances={len(self._instances)} "
            f"{self.budget!r}>"
        )

    def pools(self) -> list[InstancePool]:
        return list(self._pools.values())

    # the invoke path ------------------------------------------------------------------------
    async def invoke(self, spec: PoolSpec, request: InvokeRequest) -> Outcome:
        """Run one sync invocation on an instance of ``spec``'s function version.

        Raises:
            errors.ResourceExhausted: no instance slot and no room to start another, or no
                sandbox uid free for the instance it would start.
            StartFailure: the instance this invocation waited for did not start.
        """
        pool = self._pool_for(spec)
        for _ in range(MAX_DEAD_RETRIES + 1):
            assigned = self._acquire(pool)
            instance_id = assigned.instance_id
            if assigned.cold:
                start = self._starts.get(instance_id)
                if assigned.start or start is None:
                    start = self._begin_start(pool, spec, instance_id, request.request_id)
                try:
                    instance = await asyncio.shield(start)
                except StartFailure:
                    raise
                except asyncio.CancelledError:
                    self._release(pool, instance_id, fatal=False)
                    raise
            else:
                instance = self._instances[instance_id]
                if not instance.alive:
                    # Died while idle (killed from outside, OOM in a background thread).
                    self._release(pool, instance_id, fatal=True)
                    continue
            return await self._run(pool, instance, request, assigned.cold)
        raise errors.ResourceExhausted(f"instances of {spec.name} keep dying at start")

    def _acquire(self, pool: InstancePool) -> Assigned:
        if pool.idle is not None:
            idle = pool.arrive(self.clock())
            if idle is not None:
                log.debug("%s was idle %.3fs: %s", pool.name, idle, pool.windows())
        decision = pool.acquire()
        if isinstance(decision, Rejected) and decision.reason == "host" and self._evict_one(pool):
            decision = pool.acquire()
        if isinstance(decision, Rejected):
            log.debug("429 for %r: %s", pool, decision.message)
            raise errors.ResourceExhausted(decision.message)
        return decision

    async def _run(
        self, pool: InstancePool, instance: Instance, request: InvokeRequest, cold: bool
    ) -> Outcome:
        # The instance enforces the function's timeout itself (and ends the instance on it);
        # a second timer here would cost every invocation a timer handle.
        fatal = True  # an instance that raised (it should not) is not trusted again
        try:
            result = await instance.invoke(request)
            fatal = result.instance_fatal
        except asyncio.CancelledError:
            fatal = False  # the caller went away; the instance is fine
            raise
        finally:
            self._release(pool, instance.id, fatal=fatal)
        cold_ms = instance.cold_start.total_ms if cold else 0.0
        return Outcome(result, instance.id, cold, cold_ms)

    def _release(self, pool: InstancePool, instance_id: str, *, fatal: bool) -> None:
        for stopped in pool.release(instance_id, self.clock(), fatal=fatal):
            self._stop(stopped)
        if pool.drained:
            self._forget_pool(pool)

    # pools ----------------------------------------------------------------------------------
    def _pool_for(self, spec: PoolSpec) -> InstancePool:
        if self._adaptive:
            self._specs[spec.lineage] = spec
        pool = self._current.get(spec.lineage)
        if pool is not None and self._pools.get((spec.lineage, spec.fingerprint)) is pool:
            pool.max_instances = spec.max_instances
            return pool
        pool = self._pools.get((spec.lineage, spec.fingerprint))
        if pool is None or pool.draining:  # a retired pool's config came back: start afresh
            pool = InstancePool(
                name=spec.name,
                concurrency=spec.concurrency,
                soft_concurrency=spec.soft_concurrency,
                max_instances=spec.max_instances,
                keep_alive=self.config.keep_alive,
                budget=self.budget,
                new_id=_instance_id,
                idle=self._idle_histogram(),
            )
            self._pools[(spec.lineage, spec.fingerprint)] = pool
        old = self._current.get(spec.lineage)
        self._current[spec.lineage] = pool
        if old is not None and old is not pool:
            log.info("%s was redeployed: draining %r", spec.name, old)
            for instance_id in old.drain():
                self._stop(instance_id)
            if old.drained:
                self._forget_pool(old)
        return pool

    def _idle_histogram(self) -> IdleHistogram | None:
        """A new pool's adaptive keep-alive policy, or None for the fixed window."""
        if not self._adaptive:
            return None
        return IdleHistogram(self.config.keep_alive, Params(bin_width=self.config.keep_alive_bin))

    def retire(self, stale: Callable[[tuple[str, str, str], str], bool]) -> int:
        """Drain every pool whose function version is gone or has another configuration now.

        ``stale(lineage, fingerprint)`` decides; it is asked once per pool that serves. A
        drained pool takes no new invocation, its idle instances stop at once and each busy
        one when its in-flight invocations end (within the function's timeout, which the
        instance enforces). Without this a deleted function, or one whose service lost
        ``internetAccess``, kept its sandboxes until keep-alive or its next invocation.
        Returns how many pools were retired.
        """
        retired = 0
        for (lineage, fingerprint), pool in list(self._pools.items()):
            if pool.draining or not stale(lineage, fingerprint):
                continue
            retired += 1
            log.info("%s changed or was deleted: draining %r", pool.name, pool)
            if self._current.get(lineage) is pool:
                del self._current[lineage]
            for instance_id in pool.drain():
                self._stop(instance_id)
            if pool.drained:
                self._forget_pool(pool)
        return retired

    def _forget_pool(self, pool: InstancePool) -> None:
        for key, candidate in list(self._pools.items()):
            if candidate is pool:
                del self._pools[key]

    def _evict_one(self, needy: InstancePool) -> bool:
        """Stop the longest-idle instance of another pool so ``needy`` can start one."""
        for pool in sorted(self._pools.values(), key=lambda p: -p.size):
            if pool is needy:
                continue
            victim = pool.evict_idle()
            if victim is not None:
                log.info("host cap reached: reclaiming idle %s for %s", victim, needy.name)
                self._stop(victim)
                return True
        return False

    # instance lifetimes ---------------------------------------------------------------------
    def _begin_start(
        self, pool: InstancePool, spec: PoolSpec, instance_id: str, request_id: str
    ) -> asyncio.Future[Instance]:
        """Start an instance in a task of its own: every invocation that waits shares it, and
        one waiter's cancellation does not stop the start for the others."""
        future: asyncio.Future[Instance] = asyncio.get_running_loop().create_future()
        self._starts[instance_id] = future
        starting = self._start(pool, spec, instance_id, request_id, future)
        self._spawn(starting, f"start {instance_id}")
        return future

    async def _start(
        self,
        pool: InstancePool,
        spec: PoolSpec,
        instance_id: str,
        request_id: str,
        future: asyncio.Future[Instance],
    ) -> None:
        service, function, _ = spec.lineage

        def on_log(request_id: str, line: bytes) -> None:
            self.on_log(service, function, request_id, line)

        try:
            instance_spec = await spec.make_spec(instance_id)
            instance = await Instance.start(
                instance_spec,
                self.isolation,
                on_log,
                request_id=request_id,
                log_limits=self.log_limits,
            )
        except BaseException as e:
            waited = pool.start_failed(instance_id)
            self._starts.pop(instance_id, None)
            # No uid or other sandbox resource free: a 429 like a full host, not a failure.
            known = (StartFailure, errors.ResourceExhausted)
            failure = e if isinstance(e, known) else _start_failure(e)
            log.warning(
                "instance %s of %s failed to start (%d waiting): %s",
                instance_id,
                spec.name,
                waited,
                failure,
            )
            if not future.done():
                future.set_exception(failure)
                future.exception()  # retrieved: no "never retrieved" warning with no waiter
            if pool.drained:
                self._forget_pool(pool)
            if isinstance(e, asyncio.CancelledError):
                raise
            return
        self._starts.pop(instance_id, None)
        self._instances[instance_id] = instance
        pool.started(instance_id, self.clock())
        log.debug("started %r (cold start %.2f ms)", instance, instance.cold_start.total_ms)
        if not future.done():
            future.set_result(instance)
        if pool.draining and instance_id not in pool.members:
            self._stop(instance_id)

    def _stop(self, instance_id: str) -> None:
        instance = self._instances.pop(instance_id, None)
        if instance is not None:
            self._spawn(self._stop_instance(instance), f"stop {instance_id}")

    async def _stop_instance(self, instance: Instance) -> None:
        try:
            await instance.stop()
        except Exception:
            log.exception("stopping %r failed", instance)

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("instance task %s failed", task.get_name(), exc_info=task.exception())

    # the component --------------------------------------------------------------------------
    async def run(self, *, ready: asyncio.Event) -> None:
        """Reclaim idle instances past keep-alive, and pre-warm those the adaptive policy
        expects to be needed, until :meth:`close`."""
        ready.set()
        shortest: float = self.config.keep_alive
        if self._adaptive:
            shortest = min(shortest, self.config.keep_alive_bin)  # windows are whole bins
        interval = min(REAP_INTERVAL, max(0.05, shortest / 10))
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)
            now = self.clock()
            for pool in list(self._pools.values()):
                for instance_id in pool.reap(now):
                    log.debug(
                        "reclaiming idle %s of %s: %s", instance_id, pool.name, pool.windows()
                    )
                    self._stop(instance_id)
                if pool.size == 0 and all(pool is not c for c in self._current.values()):
                    self._forget_pool(pool)
            self._prewarm(now)

    def _prewarm(self, now: float) -> None:
        """Start the instances the adaptive policy expects to be needed; none waits for them (a
        failed start is logged by :meth:`_start`)."""
        for lineage, spec in list(self._specs.items()):
            current = self._current.get(lineage)
            if current is None:  # the function's pools were forgotten
                del self._specs[lineage]
                continue
            instance_id = current.prewarm(now)
            if instance_id is not None:
                log.debug("pre-warming %s of %s: %s", instance_id, current.name, current.windows())
                self._begin_start(current, spec, instance_id, f"prewarm-{instance_id}")

    async def close(self) -> None:
        """Stop every instance (in-flight invocations have drained by now) and end :meth:`run`."""
        self._closing = True
        self._wake.set()
        for instance_id in list(self._instances):
            self._stop(instance_id)
        for future in self._starts.values():
            future.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for pool in self._pools.values():
            pool.members.clear()
        self.budget.running = 0


def _instance_id() -> str:
    return "c-" + uuid.uuid4().hex[:24]


def _start_failure(error: BaseException) -> StartFailure:
    if isinstance(error, asyncio.CancelledError):
        return StartFailure("FunctionNotStarted", "the daemon is shutting down")
    return StartFailure("FunctionNotStarted", f"the instance could not be started: {error}")
