"""Which instance serves which invocation, and when instances start and go: pure decisions.

One :class:`InstancePool` holds the instances of one function version. Every method is
synchronous, changes the pool's state and returns what the caller must *do* (start this instance,
stop that one, answer 429); the async manager performs those actions. Nothing here awaits, reads a
clock or touches a process, so every scheduling rule is unit-tested in microseconds
(``tests/unit/test_pool.py``), in the manner of httpcore's ``_assign_requests_to_connections``.

The model is slot reservation. An instance offers ``concurrency`` slots (instanceConcurrency,
1-100). A sync invocation takes a slot at once:

* on a ready instance with a free slot (the busiest one, so that load packs onto few instances and
  the rest go idle and are reclaimed),
* else on a starting instance with a free slot (the request waits for that start: "queued"),
* else on a new instance, if the function's ``max_instances`` and the host-wide cap allow one,
* else nowhere: the invocation is rejected with 429 ResourceExhausted *at once*. A sync invoke
  never waits for a busy instance to free up, as FC does.

Instances idle longer than the keep-alive window are reclaimed by :meth:`InstancePool.reap`; with
the adaptive policy (``idle``, ``fcd/instances/keepalive.py``) the window is the function's own,
learnt from the idle times :meth:`InstancePool.arrive` records, and :meth:`InstancePool.prewarm`
says when to start an instance ahead of the next expected invocation. A
pool whose function was redeployed is *drained*: it takes no new invocations, stops its idle
instances at once and each busy one when its last request finishes, so no request fails because
of a deploy.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from fcd.instances.keepalive import IdleHistogram, Windows


class State(enum.Enum):
    STARTING = "starting"
    READY = "ready"


@dataclass
class Member:
    """The pool's view of one instance: its slots and when it last finished a request."""

    instance_id: str
    state: State = State.STARTING
    in_flight: int = 0
    last_used: float = 0.0
    # Started by the adaptive policy ahead of an expected invocation, none waiting for it.
    prewarmed: bool = False


class HostBudget:
    """The host-wide instance cap, shared by every pool of the daemon."""

    def __init__(self, max_total: int) -> None:
        self.max_total = max_total
        self.running = 0

    def __repr__(self) -> str:
        return f"<HostBudget {self.running}/{self.max_total}>"

    @property
    def full(self) -> bool:
        return self.running >= self.max_total


@dataclass(frozen=True)
class Assigned:
    """The invocation has a slot on ``instance_id``.

    ``start`` is true when the caller must start that instance (a new one); ``wait`` is true
    when the instance is still starting and the invocation must wait for it (a cold start for
    this request either way).
    """

    instance_id: str
    start: bool = False
    wait: bool = False

    @property
    def cold(self) -> bool:
        return self.start or self.wait


@dataclass(frozen=True)
class Rejected:
    """No slot and no room for another instance: answer 429 ResourceExhausted at once."""

    reason: str  # "function" (max instances) | "host" (host-wide cap) | "draining"
    message: str


Decision = Assigned | Rejected


@dataclass
class InstancePool:
    """The instances of one function version and the rules that assign invocations to them.

    ``name`` is only for display (``svc/f@3``); ``new_id`` makes instance ids, injectable so the
    tests get predictable ones.
    """

    name: str
    concurrency: int
    max_instances: int
    keep_alive: float
    budget: HostBudget
    new_id: Callable[[], str] | None = None
    # instanceSoftConcurrency: past this many requests on every instance, a new one is started
    # if the caps allow; otherwise requests still fill slots up to ``concurrency``. None = off.
    soft_concurrency: int | None = None
    members: dict[str, Member] = field(default_factory=dict)
    draining: bool = False
    # The adaptive keep-alive policy's idle times (None: the fixed ``keep_alive`` applies), and
    # when the pool last had no invocation in flight.
    idle: IdleHistogram | None = None
    idle_since: float | None = None
    _prewarmed_for: float | None = field(default=None, repr=False)  # idle_since of the last one
    _counter: itertools.count[int] = field(default_factory=itertools.count, repr=False)

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= 100:
            raise ValueError(f"instanceConcurrency must be 1..100, got {self.concurrency}")

    def __repr__(self) -> str:
        busy = sum(1 for m in self.members.values() if m.state is State.READY and m.in_flight)
        idle = sum(1 for m in self.members.values() if m.state is State.READY and not m.in_flight)
        starting = sum(1 for m in self.members.values() if m.state is State.STARTING)
        queued = sum(m.in_flight for m in self.members.values() if m.state is State.STARTING)
        drain = " draining" if self.draining else ""
        return (
            f"<InstancePool fn={self.name} [busy {busy} | idle {idle} | starting {starting} | "
            f"queued {queued}]{drain}>"
        )

    @property
    def size(self) -> int:
        return len(self.members)

    @property
    def in_flight(self) -> int:
        return sum(m.in_flight for m in self.members.values())

    def windows(self) -> Windows:
        """The keep-alive windows that apply now (the fixed window without a policy)."""
        if self.idle is None:
            return Windows(0.0, self.keep_alive, "fixed")
        return self.idle.windows()

    # decisions ----------------------------------------------------------------------------
    def arrive(self, now: float) -> float | None:
        """An invocation arrives: with the adaptive policy, record the function's idle time
        (from the end of its last invocation) if nothing was in flight; return it."""
        if self.idle is None or self.idle_since is None:
            return None
        idle = now - self.idle_since
        self.idle_since = None
        self.idle.record(idle)
        return idle

    def acquire(self) -> Decision:
        """Take a slot for one sync invocation, or say why there is none."""
        if self.draining:
            return Rejected("draining", f"function {self.name} is being redeployed")
        soft = min(self.soft_concurrency or self.concurrency, self.concurrency)
        best = self._best_below(soft)
        if best is None and soft < self.concurrency and not self._may_start():
            best = self._best_below(self.concurrency)  # no room to scale out: use hard slots
        if best is not None:
            best.in_flight += 1
            return Assigned(best.instance_id, wait=best.state is State.STARTING)
        if len(self.members) >= self.max_instances:
            return Rejected(
                "function",
                f"function {self.name} reached its maximum of {self.max_instances} instances"
                f" with {self.concurrency} concurrent requests each",
            )
        if self.budget.full:
            return Rejected(
                "host", f"the host runs its maximum of {self.budget.max_total} instances"
            )
        instance_id = self._make_id()
        self.members[instance_id] = Member(instance_id, State.STARTING, in_flight=1)
        self.budget.running += 1
        return Assigned(instance_id, start=True)

    def _best_below(self, limit: int) -> Member | None:
        best: Member | None = None
        for member in self.members.values():
            if member.in_flight >= limit:
                continue
            if best is None or _prefer(member, best):
                best = member
        return best

    def _may_start(self) -> bool:
        return len(self.members) < self.max_instances and not self.budget.full

    def started(self, instance_id: str, now: float) -> None:
        """The instance is up; its reserved slots now run."""
        member = self.members.get(instance_id)
        if member is not None:
            member.state = State.READY
            member.last_used = now

    def start_failed(self, instance_id: str) -> int:
        """The instance did not start: forget it; return how many invocations waited on it."""
        member = self.members.pop(instance_id, None)
        if member is None:
            return 0
        self.budget.running -= 1
        return member.in_flight

    def release(self, instance_id: str, now: float, *, fatal: bool = False) -> list[str]:
        """One invocation on ``instance_id`` finished; return the instance ids to stop.

        ``fatal``: the instance is gone or unusable (crash, timeout, OOM). It leaves the pool at
        once, so the next invocation starts a replacement; its other in-flight invocations end
        with their own (fatal) results and release it again, which is then a no-op.
        """
        member = self.members.get(instance_id)
        if member is None:
            return []
        member.in_flight -= 1
        member.last_used = now
        member.prewarmed = False
        if self.idle is not None and self.in_flight == 0:
            self.idle_since = now
        if fatal or (self.draining and member.in_flight <= 0):
            self._remove(instance_id)
            return [instance_id]
        return []

    def remove(self, instance_id: str) -> bool:
        """Forget an instance that died on its own (no request of ours saw it); True if known."""
        if instance_id not in self.members:
            return False
        self._remove(instance_id)
        return True

    def reap(self, now: float) -> list[str]:
        """Instances idle for the whole keep-alive window: they leave the pool, stop them.

        With the adaptive policy the window is the function's own (``windows``). When it has a
        pre-warm window, an instance is unloaded as soon as it is idle (:meth:`prewarm` loads
        one again before the next invocation is expected), and a pre-warmed instance that no
        invocation used goes at the end of the keep-alive window.
        """
        w = self.windows()
        after_use = w.keep_for if w.prewarm == 0 else 0.0
        expired = []
        for m in self.members.values():
            if m.state is not State.READY or m.in_flight:
                continue
            if m.prewarmed and self.idle_since is not None:
                done = now - self.idle_since >= w.keep_for
            else:
                done = now - m.last_used >= after_use
            if done:
                expired.append(m.instance_id)
        for instance_id in expired:
            self._remove(instance_id)
        return expired

    def prewarm(self, now: float) -> str | None:
        """The instance to start now, with no invocation waiting, so that one is loaded when
        the function's next invocation is expected; None when there is nothing to do.

        Only with the adaptive policy and a pre-warm window, once per idle period, while the
        pool is empty, not draining, and the function's and the host's caps leave room.
        """
        if self.idle is None or self.idle_since is None or self.draining or self.members:
            return None
        if self._prewarmed_for == self.idle_since:
            return None
        w = self.idle.windows()
        since = now - self.idle_since
        if w.prewarm <= 0 or not w.prewarm <= since < w.keep_for:
            return None
        if self.max_instances < 1 or self.budget.full:
            return None
        self._prewarmed_for = self.idle_since
        instance_id = self._make_id()
        self.members[instance_id] = Member(instance_id, State.STARTING, prewarmed=True)
        self.budget.running += 1
        return instance_id

    def evict_idle(self) -> str | None:
        """Give up the longest-idle instance so another pool can start one under the host cap."""
        idle = [m for m in self.members.values() if m.state is State.READY and m.in_flight == 0]
        if not idle:
            return None
        victim = min(idle, key=lambda m: m.last_used).instance_id
        self._remove(victim)
        return victim

    def drain(self) -> list[str]:
        """Stop taking invocations; return the idle instances to stop now (busy ones follow)."""
        self.draining = True
        idle = [m.instance_id for m in self.members.values() if m.in_flight == 0]
        for instance_id in idle:
            self._remove(instance_id)
        return idle

    @property
    def drained(self) -> bool:
        return self.draining and not self.members

    # helpers ------------------------------------------------------------------------------
    def _remove(self, instance_id: str) -> None:
        del self.members[instance_id]
        self.budget.running -= 1

    def _make_id(self) -> str:
        if self.new_id is not None:
            return self.new_id()
        return f"{self.name}#{next(self._counter)}"


def _prefer(candidate: Member, best: Member) -> bool:
    """Ready before starting; then the busiest (packing), so spare instances can go idle."""
    if (candidate.state is State.READY) != (best.state is State.READY):
        return candidate.state is State.READY
    return candidate.in_flight > best.in_flight
