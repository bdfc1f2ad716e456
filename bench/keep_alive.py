"""Keep-alive policies replayed over a day of invocations: cold starts against idle instance time.

    .venv/bin/python -m bench.keep_alive [--functions 300] [--hours 24] [--seed 1]
    sudo .venv/bin/python -m bench.keep_alive --daemon [--bin 1] [--minutes 90]

**Simulation** (default; pure, virtual time, no daemon). A population of functions over
``--hours`` of virtual time, built in two parts:

* the *busy* share (19 %: the functions the Azure 2019 trace shows invoked more than once a
  minute on average) from ``orcbench`` (PyPI, models fitted to the Azure Functions 2019 trace;
  offline): a model drawn with orcbench's own weights, one function per job, its invocation
  times and run times;
* the *rest* generated here, because orcbench's models only cover functions busy in a
  30-minute capture window (every one of its functions is invoked at least every ~16 s on
  average, so no keep-alive window ever expires for them): daily invocation counts from a
  log-normal fitted to the figures Shahrad et al. publish for that trace (45 % of applications
  invoked at most once an hour, 81 % at most once a minute), truncated to at most one a minute;
  one third periodic (timers, period jittered by 1 %), the rest Poisson; a run time per
  function from a log-normal with median 1 s. Both shapes are our assumptions, not the trace.

Each function is simulated as the paper's simulator does: one instance, loaded or not;
an invocation finds it loaded (warm) or not (cold); *idle instance time* is the time it is
loaded with nothing running (wasted memory time). Policies, side by side on the same trace:

* ``fixed 10 min``, ``fixed 15 min``: an instance stays loaded that long after each invocation;
* ``adaptive + pre-warm (fcd)``: ``fcd.instances.keepalive`` with fcd's default 15-minute
  fallback, applied as the paper and fcd do: with a pre-warm window, the instance is unloaded
  at the end of an invocation, loaded again at pre-warm and kept for keep-alive;
* ``adaptive, kept loaded``: the same windows, but the instance stays loaded from the end of
  the invocation to pre-warm + keep-alive (what the pre-warm saves).

Prints, per policy: cold starts and their share of invocations, the median and 75th percentile
of the per-function cold-start share, idle instance-hours, and idle time relative to fixed
10 min; the load average before and after (the run is CPU-bound; a loaded box only slows it).

**Daemon** (``--daemon``): a short real replay through ``python -m fcd`` with
``keep_alive_policy = "adaptive"`` and a histogram bin of ``--bin`` seconds standing for a
minute (so ``--minutes`` of trace time replay in ``--minutes * bin`` seconds). A handful of
python3 functions with regular and Poisson arrivals are invoked through the ``fc2`` SDK with
``X-Fc-Log-Type: Tail``; an invocation is counted cold when FC's summary line carries
``Init Duration``. Beside each function's count: what the simulation of the same arrivals says.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import math
import os
import random
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fcd.instances.keepalive import IdleHistogram, Params

MINUTE = 60.0
DAY = 24 * 60 * MINUTE
# Share of functions invoked more than once a minute on average (Azure 2019: 19 %).
BUSY_SHARE = 0.19
# log10(invocations per day) ~ N(MU, SIGMA): P(<= 24/day) = 0.45, P(<= 1440/day) = 0.81.
LOG10_DAILY_MU = 1.603
LOG10_DAILY_SIGMA = 1.773
PERIODIC_SHARE = 1 / 3
FCD_FALLBACK = 15 * MINUTE


@dataclass
class Function:
    """One function's invocations: start times and run times, seconds."""

    name: str
    kind: str  # busy (orcbench) | periodic | poisson
    arrivals: list[tuple[float, float]]


# traces -------------------------------------------------------------------------------------
def rare_functions(count: int, horizon: float, rng: random.Random) -> Iterator[Function]:
    """Functions invoked at most once a minute on average (see the module docstring)."""
    for i in range(count):
        while True:
            per_day = 10 ** rng.gauss(LOG10_DAILY_MU, LOG10_DAILY_SIGMA)
            if per_day <= 24 * 60:
                break
        per_day = max(per_day, 1.0)
        mean_gap = DAY / per_day
        run_time = min(60.0, rng.lognormvariate(0.0, 1.5))
        arrivals: list[tuple[float, float]] = []
        if rng.random() < PERIODIC_SHARE:
            kind = "periodic"
            t = rng.uniform(0, mean_gap)
            while t < horizon:
                arrivals.append((t, run_time))
                t += mean_gap * rng.uniform(0.99, 1.01)
        else:
            kind = "poisson"
            t = rng.expovariate(1 / mean_gap)
            while t < horizon:
                arrivals.append((t, run_time))
                t += rng.expovariate(1 / mean_gap)
        yield Function(f"{kind}-{i}", kind, arrivals)


def busy_functions(count: int, horizon: float, seed: int) -> Iterator[Function]:
    """Functions from orcbench's Azure-2019 models, drawn with the models' weights."""
    import numpy as np
    from orcbench.internals import run

    np.random.seed(seed)  # orcbench draws its generators' seeds from numpy's global state
    models = run.load_models()
    picks = random.Random(seed).choices(models, weights=[m.weight for m in models], k=count)
    for i, model in enumerate(picks):
        job = run.Job(model, 1)
        trace = job.run_trace(horizon / MINUTE)  # (minutes, id, run time ms, model)
        arrivals = sorted((t * MINUTE, max(0.001, ms / 1000)) for t, _, ms, _ in trace)
        yield Function(f"busy-{i}-{model.name}", "busy", arrivals)


# the simulation -----------------------------------------------------------------------------
@dataclass
class Tally:
    """One policy's counts over one function."""

    invocations: int = 0
    cold: int = 0
    idle: float = 0.0  # seconds an instance was loaded with nothing running


@dataclass
class Result:
    policy: str
    per_function: list[Tally] = field(default_factory=list)


def simulate(
    arrivals: list[tuple[float, float]],
    horizon: float,
    fixed: Iterable[float],
    params: Params,
    fallback: float,
) -> tuple[list[Tally], Tally, Tally, str]:
    """Replay one function under fixed windows and the adaptive policy (kept and pre-warmed).

    Returns the fixed tallies (in ``fixed``'s order), adaptive as fcd applies it, adaptive with
    the paper's pre-warm, and why the last adaptive windows were chosen.
    """
    windows_fixed = list(fixed)
    fixed_tallies = [Tally() for _ in windows_fixed]
    kept, prewarmed = Tally(), Tally()
    histogram = IdleHistogram(fallback, params)
    end: float | None = None
    for start, run_time in arrivals:
        if end is None:
            for t in (*fixed_tallies, kept, prewarmed):
                t.cold += 1
        else:
            idle = max(0.0, start - end)
            for window, t in zip(windows_fixed, fixed_tallies, strict=True):
                t.cold += idle > window
                t.idle += min(idle, window)
            w = histogram.windows()
            keep_for = w.keep_for
            kept.cold += idle > keep_for
            kept.idle += min(idle, keep_for)
            if idle < w.prewarm or idle > keep_for:
                prewarmed.cold += 1
            prewarmed.idle += max(0.0, min(idle, keep_for) - w.prewarm)
            histogram.record(idle)
        end = max(end or 0.0, start + run_time)
    if end is not None:  # the last invocation's window, cut at the horizon
        tail = max(0.0, horizon - end)
        for window, t in zip(windows_fixed, fixed_tallies, strict=True):
            t.idle += min(tail, window)
        w = histogram.windows()
        kept.idle += min(tail, w.keep_for)
        prewarmed.idle += max(0.0, min(tail, w.keep_for) - w.prewarm)
    for t in (*fixed_tallies, kept, prewarmed):
        t.invocations = len(arrivals)
    return fixed_tallies, kept, prewarmed, histogram.windows().reason


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p * len(ordered)) - 1))]


def run_simulation(args: argparse.Namespace) -> None:
    horizon = args.hours * 3600.0
    busy = round(args.functions * BUSY_SHARE)
    rng = random.Random(args.seed)
    load_before = os.getloadavg()
    began = time.monotonic()
    # Generated one function at a time: a busy function's day can be millions of invocations.
    functions = itertools.chain(
        rare_functions(args.functions - busy, horizon, rng),
        busy_functions(busy, horizon, args.seed) if busy else (),
    )
    names = ["fixed 10 min", "fixed 15 min", "adaptive + pre-warm (fcd)", "adaptive, kept loaded"]
    results = [Result(n) for n in names]
    reasons: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for fn in functions:
        if not fn.arrivals:
            continue
        fixed, kept, prewarmed, reason = simulate(
            fn.arrivals, horizon, (10 * MINUTE, 15 * MINUTE), Params(), FCD_FALLBACK
        )
        for result, tally in zip(results, [*fixed, prewarmed, kept], strict=True):
            result.per_function.append(tally)
        reasons[reason] = reasons.get(reason, 0) + 1
        kinds[fn.kind] = kinds.get(fn.kind, 0) + 1
    done = time.monotonic()
    invocations = sum(t.invocations for t in results[0].per_function)
    print(
        f"{len(results[0].per_function)} functions invoked ({_fmt(kinds)}), {invocations:,} "
        f"invocations over {args.hours:g} h of virtual time; seed {args.seed}"
    )
    print(f"adaptive windows at the end of the day: {_fmt(reasons)}")
    base_idle = sum(t.idle for t in results[0].per_function)
    print()
    print(
        f"{'policy':<29}{'cold starts':>12}{'cold %':>8}{'fn p50 %':>10}{'fn p75 %':>10}"
        f"{'idle inst-h':>13}{'vs 10 min':>11}"
    )
    for result in results:
        cold = sum(t.cold for t in result.per_function)
        idle = sum(t.idle for t in result.per_function)
        shares = [100 * t.cold / t.invocations for t in result.per_function]
        print(
            f"{result.policy:<29}{cold:>12,}{100 * cold / invocations:>8.2f}"
            f"{percentile(shares, 0.5):>10.1f}{percentile(shares, 0.75):>10.1f}"
            f"{idle / 3600:>13.1f}{idle / base_idle:>11.2f}"
        )
    load_after = os.getloadavg()
    print()
    print(
        f"traces generated and simulated in {done - began:.1f} s;"
        f" load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
    )


# the daemon replay --------------------------------------------------------------------------
def replay_functions(minutes: float, rng: random.Random) -> list[Function]:
    """A handful of functions in trace minutes: regular ones and a Poisson one."""
    functions = []
    for name, period in (("every2_5", 2.5), ("every4_5", 4.5), ("every7_5", 7.5)):
        t, arrivals = rng.uniform(0, 1), []
        while t < minutes:
            arrivals.append((t * MINUTE, 0.0))
            t += period * rng.uniform(0.98, 1.02)
        functions.append(Function(name, "periodic", arrivals))
    t, arrivals = rng.expovariate(1 / 3), []
    while t < minutes:
        arrivals.append((t * MINUTE, 0.0))
        t += rng.expovariate(1 / 3)
    functions.append(Function("poisson3", "poisson", arrivals))
    # Every 1.5 min with a 6-minute pause after the 12th and the 21st call: the first pause is
    # longer than any idle time seen (a cold start under the adaptive policy, not under 15 min).
    t, arrivals = 0.5, []
    while t < minutes:
        arrivals.append((t * MINUTE, 0.0))
        t += 6.0 if len(arrivals) in (12, 21) else 1.5
    functions.append(Function("pauses", "periodic", arrivals))
    return functions


def run_daemon(args: argparse.Namespace) -> None:
    from tests.conftest import make_client
    from tests.daemon import RunningDaemon, daemon_env, free_port

    scale = args.bin / MINUTE  # wall seconds per trace second
    keep_alive = max(1, round(15 * MINUTE * scale))
    functions = replay_functions(args.minutes, random.Random(args.seed))
    data_dir = Path(tempfile.mkdtemp(prefix="fcd-bench-")) / "data"
    data_dir.mkdir(parents=True)
    conf = data_dir.parent / "fcd.toml"
    conf.write_text(
        "[instances]\n"
        f'keep_alive = {keep_alive}\nkeep_alive_policy = "adaptive"\n'
        f"keep_alive_bin = {float(args.bin)}\n"
    )
    port = free_port()
    isolation = "namespaces" if os.geteuid() == 0 else "none"
    env = daemon_env(data_dir, port, FCD_LOG_LEVEL="warning", FCD_ISOLATION=isolation)
    daemon = RunningDaemon(data_dir, port, env, args=("--config", str(conf))).start()
    cold: dict[str, list[bool]] = {}
    try:
        client = make_client(daemon.endpoint)
        client.create_service("kab")
        code = Path(tempfile.mkdtemp(prefix="fcd-bench-code-"))
        (code / "index.py").write_text("def handler(event, context):\n    return b'ok'\n")
        for fn in functions:
            client.create_function(
                "kab", fn.name, "python3", "index.handler", codeDir=str(code), memorySize=128
            )
        began = time.monotonic() + 1.0

        def replay(fn: Function) -> None:
            flags = cold.setdefault(fn.name, [])
            mine = make_client(daemon.endpoint)
            for start, _ in fn.arrivals:
                delay = began + start * scale - time.monotonic()
                if delay > 0:
                    time.sleep(delay)  # the trace's own pacing, in its own thread
                r = mine.invoke_function("kab", fn.name, b"", headers={"x-fc-log-type": "Tail"})
                tail = base64.b64decode(r.headers.get("x-fc-log-result", ""))
                flags.append(b"Init Duration" in tail)

        print(
            f"replaying {args.minutes:g} trace minutes in {args.minutes * args.bin:g} s: bin "
            f"{args.bin:g} s stands for 1 min, keep_alive {keep_alive} s for 15 min, {isolation}"
        )
        threads = [threading.Thread(target=replay, args=(fn,)) for fn in functions]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        daemon.stop(timeout=60)
    print(
        f"{'function':<12}{'invocations':>12}{'cold (daemon)':>15}{'cold (simulated)':>18}"
        f"{'fixed 15 min (simulated)':>26}"
    )
    for fn in functions:
        scaled = [(t * scale, d) for t, d in fn.arrivals]
        (fixed,), _, prewarmed, reason = simulate(
            scaled, args.minutes * args.bin, (keep_alive,), Params(bin_width=args.bin), keep_alive
        )
        print(
            f"{fn.name:<12}{len(fn.arrivals):>12}{sum(cold[fn.name]):>15}{prewarmed.cold:>18}"
            f"{fixed.cold:>26}  (adaptive: {reason})"
        )


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functions", type=int, default=300)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--daemon", action="store_true", help="a short replay through fcd")
    parser.add_argument("--bin", type=float, default=1.0, help="daemon: seconds per minute")
    parser.add_argument("--minutes", type=float, default=90.0, help="daemon: trace minutes")
    args = parser.parse_args()
    if args.daemon:
        run_daemon(args)
    else:
        run_simulation(args)


if __name__ == "__main__":
    main()
