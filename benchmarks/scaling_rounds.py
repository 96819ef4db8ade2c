"""Interleaved timing rounds for thread-scaling measurements on a noisy machine.

A figure measured once per thread count against one 1-thread time gives a speed-up as noisy as
that one time. Here every figure is measured once at every thread count in each of ``R``
rounds, the thread counts visited in an interleaved order (1, 16, 2, 8, 4, reversed on every
other round) so that a slow spell of the machine falls on several thread counts rather than on
one. Each call records:

* the wall time (``time.perf_counter``);
* the CPU time of the whole process, every thread (``time.process_time``);
* from the ``cpu`` line of ``/proc/stat`` (when readable), the machine's busy time (user, nice,
  system, irq, softirq) and its steal time (the hypervisor running something else on our
  virtual CPUs), in clock ticks of ``os.sysconf('SC_CLK_TCK')``.

:func:`summarise` turns the rounds of one figure at one thread count into the median and the
minimum wall time, the spread ``(max − min) / median``, the utilisation
``process CPU / (wall × threads)`` (median over rounds), the steal seconds per wall second and
the CPUs' worth of other load (the machine's busy time less ours, per wall second; both summed
over rounds, since a tick is 10 ms). :func:`paired` gives the ratio of two figures' medians
with the range of the same ratio round by round: two ratios whose ranges overlap are not told
apart by the run.

Before each call :func:`settle` waits until the process uses no CPU while its main thread
sleeps: OpenMP's threads spin for a while after a parallel loop ends (GNU OpenMP's default
spin count, some milliseconds), and that CPU time would otherwise be charged to the next call,
most visibly to a 1-thread call after a 16-thread one. How long it waited is kept with the
sample of the call *before* the wait (:attr:`Sample.tail`): the length of that spin, which is
also about how long a thread waiting at the end of a parallel loop counts as busy.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

try:
    TICK = float(os.sysconf("SC_CLK_TCK"))
except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
    TICK = 100.0
PROC_STAT = Path("/proc/stat")


def cpu_counters() -> tuple[float, float] | None:
    """Return the machine's busy and steal seconds so far (``/proc/stat``), or None."""
    try:
        with PROC_STAT.open() as f:
            line = f.readline()
    except OSError:
        return None
    fields = line.split()
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
    return (user + nice + system + irq + softirq) / TICK, steal / TICK


@dataclass
class Sample:
    """One timed call: wall, process CPU, machine busy and steal seconds (NaN: unknown).

    ``tail``: the seconds :func:`settle` waited after the call, before the next one (NaN when
    no call followed).
    """

    wall: float
    cpu: float
    busy: float
    steal: float
    tail: float = math.nan


SETTLE_LIMIT_S = 0.1


def settle(limit: float = SETTLE_LIMIT_S, step: float = 0.001) -> float:
    """Sleep until the process burns under a third of a CPU while this thread sleeps.

    Returns the seconds waited (at most about ``limit``).
    """
    start = time.perf_counter()
    while True:
        c0, w0 = time.process_time(), time.perf_counter()
        time.sleep(step)
        c1, w1 = time.process_time(), time.perf_counter()
        if c1 - c0 < (w1 - w0) / 3 or w1 - start > limit:
            return w1 - start


def measure(fn: Callable[[], object]) -> Sample:
    """Call ``fn`` once and return its :class:`Sample`."""
    before = cpu_counters()
    c0 = time.process_time()
    w0 = time.perf_counter()
    fn()
    w1 = time.perf_counter()
    c1 = time.process_time()
    after = cpu_counters()
    if before is None or after is None:
        busy = steal = math.nan
    else:
        busy, steal = after[0] - before[0], after[1] - before[1]
    return Sample(w1 - w0, c1 - c0, busy, steal)


def interleaved(threads: Sequence[int]) -> list[int]:
    """Thread counts alternately from the low and the high end: 1, 16, 2, 8, 4."""
    ordered = sorted(threads)
    out: list[int] = []
    lo, hi = 0, len(ordered) - 1
    while lo <= hi:
        out.append(ordered[lo])
        if hi != lo:
            out.append(ordered[hi])
        lo, hi = lo + 1, hi - 1
    return out


def round_order(threads: Sequence[int], r: int) -> list[int]:
    """The thread counts of round ``r``: :func:`interleaved`, reversed on odd rounds."""
    order = interleaved(threads)
    return order if r % 2 == 0 else order[::-1]


Figures = dict[str, Callable[[int], object]]
Samples = dict[tuple[str, int], list[Sample]]


Gate = Callable[[int, float], bool]


def deadline_gate(deadline: float, progress: Callable[[str], object]) -> Gate:
    """A gate that starts round ``r`` unless the last round, 15 % longer, would pass ``deadline``.

    ``deadline`` is a ``time.perf_counter`` value; the first round always starts.
    """

    def gate(r: int, last: float) -> bool:
        if r > 0 and time.perf_counter() + 1.15 * last > deadline:
            progress(f"rounds stopped after {r}: the next would pass the budget")
            return False
        return True

    return gate


def run_rounds(
    figures: Figures,
    threads: Sequence[int],
    rounds: int,
    set_threads: Callable[[int], object],
    gate: Gate,
    progress: Callable[[str], object],
) -> tuple[Samples, int]:
    """Measure every figure once at every thread count in each of up to ``rounds`` rounds.

    ``figures[name](t)`` runs the figure once on ``t`` threads, after ``set_threads(t)``. The
    figures are visited in an order rotated by one each round. ``gate(r, seconds)`` is asked
    before round ``r`` (``seconds``: how long the last round took, 0 before the first); the
    rounds end at the first False. Every call waits for :func:`settle` first (no longer once
    three waits in a row reached the limit). Returns the samples by (figure, threads), in
    round order, and the number of rounds run.
    """
    samples: Samples = {(name, t): [] for name in figures for t in threads}
    names = list(figures)
    done = 0
    last: Sample | None = None
    stuck = 0  # waits in a row that reached the limit
    took = 0.0
    for r in range(rounds):
        if not gate(r, took):
            break
        start = time.perf_counter()
        quiet = 0.0
        order = round_order(threads, r)
        shift = r % len(names)
        for t in order:
            set_threads(t)
            for name in names[shift:] + names[:shift]:
                waited = math.nan
                if stuck < 3:
                    waited = settle()
                    quiet += waited
                    stuck = stuck + 1 if waited >= SETTLE_LIMIT_S else 0
                    if stuck == 3:
                        progress("the process stays busy between calls: no more waits for quiet")
                if last is not None:
                    last.tail = waited
                last = measure(lambda: figures[name](t))  # noqa: B023
                samples[(name, t)].append(last)
        done += 1
        took = time.perf_counter() - start
        progress(
            f"round {done}/{rounds}: {took:.1f} s ({quiet:.1f} s of it waiting for quiet), "
            f"threads in the order {', '.join(map(str, order))}"
        )
    if last is not None and stuck < 3:
        last.tail = settle()
    return samples, done


@dataclass(frozen=True)
class Summary:
    """The rounds of one figure at one thread count."""

    threads: int
    median: float
    min: float
    spread: float
    utilisation: float
    steal_per_s: float
    others_cpus: float
    tail: float
    walls: tuple[float, ...]

    def record(self) -> dict[str, object]:
        """The JSON fields (``seconds`` is the median)."""
        return {
            "threads": self.threads,
            "seconds": self.median,
            "min_s": self.min,
            "spread": self.spread,
            "rounds": len(self.walls),
            "seconds_rounds": list(self.walls),
            "utilisation": self.utilisation,
            "steal_s_per_s": self.steal_per_s,
            "other_load_cpus": self.others_cpus,
            "tail_s": self.tail,
        }


def summarise(samples: Sequence[Sample], threads: int) -> Summary:
    """Median, minimum, spread, utilisation, steal, other load and tail of ``samples``."""
    walls = [s.wall for s in samples]
    median = statistics.median(walls)
    wall_sum = sum(walls)
    utilisation = statistics.median(s.cpu / (s.wall * threads) for s in samples)
    steal = sum(s.steal for s in samples) / wall_sum
    others = (sum(s.busy for s in samples) - sum(s.cpu for s in samples)) / wall_sum
    tails = [s.tail for s in samples if not math.isnan(s.tail)]
    return Summary(
        threads=threads,
        median=median,
        min=min(walls),
        spread=(max(walls) - min(walls)) / median,
        utilisation=utilisation,
        steal_per_s=steal,
        others_cpus=others,
        tail=statistics.median(tails) if tails else math.nan,
        walls=tuple(walls),
    )


def paired(numerator: Sequence[float], denominator: Sequence[float]) -> tuple[float, float, float]:
    """``median(numerator) / median(denominator)`` and the min and max of the per-round ratios.

    The two sequences are the wall times of the same rounds (paired by position).
    """
    ratio = statistics.median(numerator) / statistics.median(denominator)
    per_round = [a / b for a, b in zip(numerator, denominator, strict=True)]
    return ratio, min(per_round), max(per_round)


def overlap(a: Sequence[float], b: Sequence[float]) -> bool:
    """Whether the ranges ``[a_lo, a_hi]`` and ``[b_lo, b_hi]`` (items 1 and 2) overlap."""
    return not (a[2] < b[1] or b[2] < a[1])
