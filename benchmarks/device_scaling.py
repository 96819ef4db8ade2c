"""Thread and worker scaling of the batch kernels and of ``dpv revalue``, on a many-core machine.

One run, under four minutes on 16 cores, one line per figure on stdout and everything in
``$OUT/scaling.json`` when ``OUT`` is set. Parts (each skipped, and said so, when the time
budget is spent):

1. **machine**: CPUs, cores per socket, threads per core, NUMA nodes, numba's threading layer.
2. **warm-up**: every numba kernel compiled into a fresh cache (timed; the JIT kernels, no
   ahead-of-time stress kernel, so every part runs the same code).
3. **valuation kernel** (``value_batch``, ``range_batch``) at 1, 2, 4, 8, 16 threads
   (``numba.set_num_threads`` in one process), with the measurements that tell apart the
   hypotheses for its poor scaling beside a triad and small compute kernels. At most 80 s,
   110 s with the 256-bit run below.

   *Rounds.* The machine these runs get is a shared virtual machine whose speed drifts by
   tens of per cent between minutes, so no figure is a single or a best-of measurement:
   every figure (and each probe below) is measured once at every thread count in each of
   five rounds (two with ``--quick``; fewer when the child's budget would be passed, and said
   so), the thread counts visited in the order 1, 16, 2, 8, 4 and reversed on every other
   round (see ``scaling_rounds.py``). A line gives the median wall time (``seconds`` in the
   JSON), the minimum, the spread (max − min) / median, the speed-up median(1 thread) /
   median(t threads) with the range of the same ratio round by round, the utilisation
   (process CPU seconds / (wall × t), median over rounds: near 1 = every thread busy, so a
   poor speed-up means each thread works slower; well below 1 = threads waiting) and the
   steal seconds per wall second (``/proc/stat``). Before each call the script waits until
   the OpenMP threads have stopped spinning from the call before, so that their spin is not
   charged to it; how long that took is kept (``tail_s``).

   * *memory bandwidth*: the bytes ``value_batch`` reads and writes per product, a STREAM-like
     triad's GB/s at each thread count, and ``value_batch`` on a batch that fits in cache
     (16 k products, repeated) beside the 1 M batch. Bandwidth-bound: the 1 M batch flattens
     where the triad does and the cached batch keeps scaling;
   * *scheduling / grain*: the same loop compiled serially and run on a plain thread pool
     over slices of 4 k and 64 k products taken dynamically (what ``run_parallel`` does for
     the stress kernel), beside numba's ``prange``. If the pool scales and ``prange`` does
     not, the cause is ``prange``'s static split of unequal products or its launch;
   * *allocation in the parallel loop*: ``range_batch`` allocates a ``(4, samples)`` array
     and four sorted copies per product. Two small kernels with the same shape of work, one
     allocating per product and one allocating once per block and sorting in place, and
     ``range_batch`` itself at 200 and 2,000 samples (the allocations per product stay, the
     work grows tenfold). Allocation-bound: the allocating kernel and the 200-sample range
     flatten while their twins scale;
   * *core frequency*: two probes whose ``prange`` has one iteration per thread, each the
     same serial work, so their time stays flat with more threads unless the cores slow when
     more of them are busy (turbo, the virtual machine): a dependent scalar chain (shift, xor,
     multiply) and a multiply-add loop over 2 KiB of float64 that stays in L1 (512-bit
     vectors, as the assembly line shows). Reported in ns per step and as the ratio of the
     t-thread time to the 1-thread time;
   * *vector width*: the default run lets LLVM use 512-bit vectors on AVX-512 machines; a
     second process with ``DPV_VECTOR_WIDTH=256`` and its own empty cache (numba reads the
     setting when it compiles) measures ``value_batch`` (1 M and cached) and the probes at 1
     and 16 threads (``kernel256.*``, ``probe256.*``; 30 s more, skipped when the budget is
     short). The two processes set up one after the other, then take their rounds in turn
     (each waits for the parent's word on stdin), so that both see the machine in the same
     minutes. The lines naming zmm/ymm/xmm registers in each run's assembly of the serial
     ``value_batch`` and of the vector probe show what each compiled;
   * *layout*: ``value_batch`` reads about 40 per-product arrays, each its own stream of
     cache lines, more than a core's prefetcher follows. The same 1 M batch with every
     per-product float64 field moved into one row-major matrix (the kernel unchanged, handed
     strided column views: a product's fields share a few adjacent lines), checked to give
     the same bits. Stream-bound: the row layout scales above the column one (apart);
   * *shared cores*: the machine reports one thread per core, but a virtual machine's CPUs
     may be hyperthreads of fewer physical cores, which share their execution units. With
     two Python threads pinned (``os.sched_setaffinity``) to CPU 0 and CPU ``j``, each of
     three bodies runs on CPU 0 while CPU ``j`` runs the same: the vector loop (multiply and
     add units), a vectorised division loop (the divider) and the serial ``value_batch`` on
     16 k products. CPU 0's time over its time alone, per ``j`` (median of three each, after
     the rounds). A ratio near 2 for the vector loop: CPU ``j`` is CPU 0's sibling, and a
     speed-up near the count of physical cores is all a compute-bound kernel can reach;
   * *per-thread time*: after the rounds, three calls each of ``value_batch_1M``,
     ``value_batch_cached`` and ``range_2000_samples`` at the top thread count, with every
     thread's time on a CPU and time runnable but waiting for one, from
     ``/proc/self/task/*/schedstat`` (nanoseconds). A thread that ran much less than the call's
     wall time waited at its end for the others (imbalance, or a straggler slowed by the host);
     time waiting to run means the threads outnumbered the CPUs they got;
   * *false sharing*: outputs are written by contiguous blocks of products (``(n, 3)``
     rows, 24 bytes), so neighbouring threads share at most one cache line per block; the
     per-product output bytes are printed for the record, not varied.

   A summary follows: one line per hypothesis with the numbers that decide it, whether the
   ranges compared overlap, and the rule to read them; no verdict.

4. **stress kernel** (``valuation.risk.api.simulate``: the serial kernel on
   ``run_parallel``'s pool) at 1, 2, 4, 8, 16 threads (a process each, since the pool's size
   is fixed at start), with its default grain and a 16× larger one.
5. **``dpv revalue``**: the book of ``bench_revalue.py`` (40,000 products tiled from the
   sample, loans on a fifth), chunks of 1,000, on the local engine and on a local Dask cluster
   of 1, 2, 4, 8 workers; products per second overall and in the steady state (from the
   progress lines: the chunks finished after the first, over the time since it finished, so
   that the cluster's start-up and the first chunk do not hide the scaling), the time the first
   chunk took to finish, the speed-up, and whether every run published the same bytes.

Usage (from the repository root; ``valuation`` and ``calibration`` are imported from it)::

    python benchmarks/device_scaling.py            # the full run (OUT=dir to keep the JSON)
    python benchmarks/device_scaling.py --quick    # a small smoke run of every part

Needs numpy, numba and pyarrow (parts 1-3); pydantic for part 4; and the project's other
dependencies (scikit-learn, lightgbm, typer, rich, jinja2) plus dask and distributed for part 5.
A part whose packages are missing is skipped and says which.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(HERE) not in sys.path:  # the sibling modules (scaling_rounds, bench_*) when imported
    sys.path.insert(0, str(HERE))
BUDGET_S = 225.0  # leave a margin under the four minutes
THREADS = (1, 2, 4, 8, 16)
WORKERS = (1, 2, 4, 8)
ROUNDS = 5  # interleaved rounds of the kernel figures (full run)
ROUNDS_QUICK = 2
KERNELS_S = 80.0  # the most the kernels child may take
WIDTH_S = 30.0  # the most the 256-bit child may take
SHARED_S = 10.0  # kept of the kernels' budget for the shared-core probe after the rounds
PROBE_S = 0.06  # seconds of one probe measurement (full run)
VECTOR_PROBE_ELEMENTS = 256  # float64 per thread in the vector probe: 2 KiB, in L1
START = time.perf_counter()
RESULTS: dict[str, Any] = {}


def emit(key: str, text: str, value: Any = None) -> None:
    """Print one line and keep the value under ``key`` in the results."""
    print(f"{time.perf_counter() - START:6.1f}s  {text}", flush=True)
    if value is not None:
        RESULTS[key] = value


def left() -> float:
    return BUDGET_S - (time.perf_counter() - START)


def cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"cpus": cpus(), "python": sys.version.split()[0]}
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in (
                "Model name", "Socket(s)", "Core(s) per socket", "Thread(s) per core",
                "NUMA node(s)", "L2 cache", "L3 cache", "CPU max MHz",
            ):  # fmt: skip
                info[key.strip()] = value.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    nodes = Path("/sys/devices/system/node")
    if nodes.is_dir():
        info["numa_nodes"] = sorted(p.name for p in nodes.glob("node[0-9]*"))
    return info


def child_env(threads: int | None, cache: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DPV_CACHE_DIR"] = cache
    env["DPV_DISABLE_AOT"] = "1"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if threads is not None:
        env["NUMBA_NUM_THREADS"] = str(threads)
    return env


def relay(line: str) -> None:
    """Print a child's line; a record (``@{...}``) is emitted and kept."""
    if line.startswith("@"):
        record = json.loads(line[1:])
        emit(record["key"], record["text"], record.get("value"))
    else:
        print("        " + line.rstrip(), flush=True)


@contextlib.contextmanager
def watchdog(timeout: float, procs: Callable[[], Iterable[Any]]) -> Iterator[threading.Event]:
    """Kill the processes ``procs()`` returns if the block lasts over ``timeout`` seconds.

    Yields the event that says whether it did.
    """
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        for proc in procs():
            proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        yield killed
    finally:
        timer.cancel()


def child_command(args: list[str]) -> list[str]:
    """The command that runs this script as a child with ``args``."""
    return [sys.executable, str(Path(__file__).resolve()), *args]


def run_child(args: list[str], env: dict[str, str], timeout: float) -> None:
    """Run this script as a child and relay its lines; kill it after ``timeout`` seconds."""
    proc = subprocess.Popen(child_command(args), env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    with watchdog(timeout, lambda: [proc]) as killed:
        for line in proc.stdout:
            relay(line)
        proc.wait()
    if killed.is_set():
        emit("timeout", f"child {args[:2]} killed after {timeout:.0f} s")


class GatedChild:
    """A kernels child whose rounds start on the parent's word (``--gated``).

    The child prints ``?ready <seconds of its last round>`` before each round and waits for a
    line on stdin: ``go`` runs the round, anything else ends the rounds (it then prints its
    figures and exits).
    """

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            child_command([*args, "--gated"]),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.alive = True
        self.last = 0.0

    def ready(self) -> bool:
        """Relay lines until the child waits for a round (True) or has ended (False)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("?ready"):
                self.last = float(line.split()[1])
                return True
            relay(line)
        self.alive = False
        return False

    def send(self, word: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(word + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.alive = False

    def round(self) -> None:
        """Run one round and wait until it is done."""
        self.send("go")
        if self.alive:
            self.ready()

    def finish(self) -> None:
        """End the rounds, relay the figures, wait for the exit."""
        if self.alive:
            self.send("stop")
        self.ready()
        self.proc.wait()


def part_kernels(threads: tuple[int, ...], cache: str, quick: bool) -> None:
    """The kernels child (every figure) and the 256-bit child, their rounds taken in turn.

    Both processes set up first, one after the other (the 256-bit one compiles into an empty
    cache); then round ``r`` of the default run is followed by round ``r`` of the 256-bit
    run, so that the two see the machine in the same minutes. Rounds stop when the next pair
    would pass the budget: :data:`KERNELS_S`, plus :data:`WIDTH_S` with the 256-bit run.
    """
    from scaling_rounds import deadline_gate

    extra = ["--quick"] if quick else []
    with_256 = left() > KERNELS_S + WIDTH_S + 45
    limit = min(KERNELS_S + (WIDTH_S if with_256 else 0.0), left() - 40)
    end = time.perf_counter() + limit - SHARED_S  # the rounds' end: the shared cores' probe follows
    children: list[GatedChild] = []
    with watchdog(limit + 5, lambda: [child.proc for child in children]) as killed:
        # one process sets up at a time: the 256-bit one, then the default one
        if with_256:
            env = child_env(max(threads), tempfile.mkdtemp(prefix="dpv-cache256-"))
            env["DPV_VECTOR_WIDTH"] = "256"
            children.append(GatedChild(["--child", "kernels256", *extra], env))
            children[0].ready()
        else:
            emit("kernel256.skipped", f"256-bit vectors: skipped ({left():.0f} s left, "
                 f"{KERNELS_S + WIDTH_S + 45:.0f} s needed with the parts after them)")  # fmt: skip
        env = child_env(max(threads), cache)
        env.pop("DPV_VECTOR_WIDTH", None)  # the engine's default width
        children.insert(0, GatedChild(["--child", "kernels", *extra], env))
        children[0].ready()
        rounds = ROUNDS if not quick else ROUNDS_QUICK
        gate = deadline_gate(
            end - 2, lambda text: emit("kernel.stopped", f"kernels: {text} of {limit:.0f} s")
        )
        for r in range(rounds):
            alive = [child for child in children if child.alive]
            if not alive:
                emit("kernel.stopped", f"kernels: no child left after {r} rounds")
                break
            if not gate(r, sum(child.last for child in alive)):
                break
            for child in alive:
                child.round()
        for child in children:
            child.finish()
    if killed.is_set():
        emit("timeout", f"kernels: killed after {limit + 5:.0f} s")


def say(key: str, text: str, value: Any) -> None:
    """In a child: one record for the parent."""
    print("@" + json.dumps({"key": key, "text": text, "value": value}), flush=True)


# --------------------------------------------------------------------------- children


def child_warm() -> None:
    start = time.perf_counter()
    from valuation.kernels.registry import warmup_all

    warmup_all()
    seconds = time.perf_counter() - start
    say(
        "warmup_s", f"warm-up: every kernel compiled into a fresh cache in {seconds:.1f} s", seconds
    )


def _fastest(fn: Any, reps: int) -> float:
    """Return the shortest wall time of ``reps`` calls of ``fn``."""
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _micro_kernels() -> tuple[Any, Any, Any]:
    import numba
    import numpy as np

    @numba.njit(parallel=True, nogil=True, cache=True)
    def triad(a: Any, b: Any, c: Any, s: float) -> None:
        for i in numba.prange(a.shape[0]):
            a[i] = b[i] + s * c[i]

    @numba.njit(parallel=True, nogil=True, cache=True)
    def alloc_each(n: int, s: int, out: Any) -> None:
        for i in numba.prange(n):
            x = np.empty((4, s))
            for r in range(4):
                for k in range(s):
                    x[r, k] = ((i * 7919 + r * 104729 + k * 15485863) % 1000003) * 1e-6
            acc = 0.0
            for r in range(4):
                y = np.sort(x[r])
                acc += y[s // 2]
            out[i] = acc

    @numba.njit(parallel=True, nogil=True, cache=True)
    def alloc_block(n: int, s: int, out: Any) -> None:
        block = 64
        for b in numba.prange((n + block - 1) // block):
            x = np.empty((4, s))
            for i in range(b * block, min(n, (b + 1) * block)):
                for r in range(4):
                    for k in range(s):
                        x[r, k] = ((i * 7919 + r * 104729 + k * 15485863) % 1000003) * 1e-6
                acc = 0.0
                for r in range(4):
                    x[r].sort()
                    acc += x[r, s // 2]
                out[i] = acc

    return triad, alloc_each, alloc_block


def _slices(batch: tuple[Any, ...], a: int, b: int) -> tuple[Any, ...]:
    """Products ``a:b`` of a batch: per-product arrays sliced, CSR offsets ``a:b+1``."""
    has, inc, cst, mkt = batch
    cst_s = cst._replace(
        offsets=cst.offsets[a : b + 1],
        **{f: getattr(cst, f)[a:b] for f in cst._fields
           if f not in ("offsets", "amount", "age_years", "index_rate")},
    )  # fmt: skip
    mkt_s = mkt._replace(
        offsets=mkt.offsets[a : b + 1],
        **{f: getattr(mkt, f)[a:b] for f in mkt._fields
           if f not in ("offsets", "log_price", "log_fixed", "log_quality_ratio",
                        "log_volume_ratio", "years_ago")},
    )  # fmt: skip
    inc_s = inc._replace(**{f: getattr(inc, f)[a:b] for f in inc._fields})
    return has[a:b], inc_s, cst_s, mkt_s


def _rows(batch: tuple[Any, ...]) -> tuple[Any, ...]:
    """The batch with every per-product float64 field in one row-major ``(n, fields)`` matrix.

    The kernel gets strided column views of it (the same values, so the same bits): a
    product's fields lie in a few adjacent cache lines instead of one line in each of some 40
    arrays. The CSR items (cost items, comparables) and ``has`` stay as they are.
    """
    import numpy as np

    has, *tuples = batch
    n = has.shape[0]
    fields = [(k, f) for k, t in enumerate(tuples) for f in t._fields
              if getattr(t, f).shape == (n,) and getattr(t, f).dtype == np.float64]  # fmt: skip
    matrix = np.empty((n, len(fields)))
    views: list[dict[str, Any]] = [{} for _ in tuples]
    for j, (k, f) in enumerate(fields):
        matrix[:, j] = getattr(tuples[k], f)
        views[k][f] = matrix[:, j]
    return (has, *(t._replace(**v) for t, v in zip(tuples, views, strict=True)))


def _probe_kernels() -> tuple[Any, Any, Any]:
    """The frequency probes: a scalar dependent chain and an L1-resident vector loop.

    Iteration ``i`` of each ``prange(t)`` (one per thread) runs the same serial work, so the
    wall time stays the same at any ``t`` unless the cores run slower when more are busy.
    ``vector_body`` is compiled without the cache, so that its machine code can be read.
    """
    import numba
    import numpy as np

    @numba.njit(nogil=True, cache=True)
    def chain_body(seed: Any, n: int) -> Any:
        x = seed
        for _ in range(n):  # each step waits for the last: shift, xor, multiply
            x ^= x >> np.uint64(29)
            x *= np.uint64(0xBF58476D1CE4E5B9)
        return x

    @numba.njit(parallel=True, nogil=True, cache=True)
    def chain_probe(t: int, n: int, out: Any) -> None:
        for i in numba.prange(t):
            out[i] = chain_body(np.uint64(i + 1), n)

    @numba.njit(nogil=True)
    def vector_body(row: Any, reps: int, width: int) -> None:
        for _ in range(reps):
            for k in range(width):
                row[k] = row[k] * 0.999 + 0.001

    @numba.njit(parallel=True, nogil=True, cache=True)
    def vector_probe(t: int, reps: int, work: Any) -> None:
        for i in numba.prange(t):
            vector_body(work[i], reps, VECTOR_PROBE_ELEMENTS)

    return chain_probe, vector_body, vector_probe


def _pinned(body: Any, cpu: int, partner_cpu: int | None) -> float:
    """Seconds ``body(0)`` takes pinned to ``cpu`` while ``body(1)`` runs on ``partner_cpu``.

    Both start together at a barrier; ``partner_cpu`` None runs ``body(0)`` alone. ``body(1)``
    should take longer, so that ``body(0)`` has company from start to end.
    """

    jobs = [(0, cpu)] + ([] if partner_cpu is None else [(1, partner_cpu)])
    barrier = threading.Barrier(len(jobs))
    took: list[float] = [math.nan] * len(jobs)

    def run(k: int) -> None:
        which, where = jobs[k]
        os.sched_setaffinity(0, {where})  # 0: the calling thread (Linux)
        barrier.wait()
        start = time.perf_counter()
        body(which)
        took[k] = time.perf_counter() - start

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return took[0]


def shared_cores(vector_body: Any, serial: Any, small: tuple[Any, ...], quick: bool) -> None:
    """CPU 0's slow-down with each other CPU busy, for three bodies (see the module docstring)."""
    import numba
    import numpy as np

    from valuation.kernels.valuation import allocate_outputs

    if not hasattr(os, "sched_setaffinity"):
        say("shared.skipped", "shared cores: skipped (no sched_setaffinity)", None)
        return
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        say("shared.skipped", "shared cores: skipped (one CPU)", None)
        return

    @numba.njit(nogil=True, cache=True)
    def divide_body(row: Any, reps: int, width: int) -> None:
        for _ in range(reps):
            for k in range(width):
                row[k] = 1.0 / (row[k] + 1.0)

    rows = np.ones((2, VECTOR_PROBE_ELEMENTS + 8))
    outs = [allocate_outputs(small[0].shape[0]) for _ in range(2)]
    target = 0.02 if not quick else 0.005
    reps_v = _calibrate(lambda k: vector_body(rows[0], k, VECTOR_PROBE_ELEMENTS), 256, target)
    reps_d = _calibrate(lambda k: divide_body(rows[0], k, VECTOR_PROBE_ELEMENTS), 64, target)
    bodies = {
        "vector_loop": lambda r: vector_body(rows[r], reps_v * (1 + r), VECTOR_PROBE_ELEMENTS),
        "divide_loop": lambda r: divide_body(rows[r], reps_d * (1 + r), VECTOR_PROBE_ELEMENTS),
        "value_batch_16k": lambda r: [serial(*small, outs[r]) for _ in range(1 + r)],
    }
    start = time.perf_counter()
    home = cpus[0]
    for name, body in bodies.items():
        alone = float(np.median([_pinned(body, home, None) for _ in range(3)]))
        ratios: dict[int, float] = {}
        for j in cpus[1:]:
            pair = [_pinned(body, home, j) for _ in range(3)]
            ratios[j] = float(np.median(pair)) / alone
        shown = ", ".join(f"{j}: {r:.2f}" for j, r in ratios.items())
        say(f"shared.{name}",
            f"shared cores, {name:<15}: CPU {home} alone {alone * 1e3:.2f} ms; with CPU j "
            f"busy, x alone: {shown}", {"alone_s": alone, "ratio": ratios})  # fmt: skip
    say("shared.seconds", f"shared cores: {time.perf_counter() - start:.1f} s",
        time.perf_counter() - start)  # fmt: skip


def _task_times() -> dict[str, tuple[int, int]]:
    """Each thread's nanoseconds on a CPU and runnable but waiting (``schedstat``), by id."""
    times: dict[str, tuple[int, int]] = {}
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return times
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat") as f:
                run, wait = (int(x) for x in f.read().split()[:2])
        except (OSError, ValueError):
            continue
        times[tid] = (run, wait)
    return times


def thread_times(figures: dict[str, Any], top: int) -> None:
    """Per-thread CPU and run-queue time of three calls of a few figures at ``top`` threads."""
    import numba
    import numpy as np
    from scaling_rounds import settle

    if not _task_times():
        say("threads.skipped", "per-thread time: skipped (no /proc/self/task/*/schedstat)", None)
        return
    numba.set_num_threads(top)
    for name in ("value_batch_1M", "value_batch_cached", "range_2000_samples"):
        if name not in figures:
            continue
        calls = []
        for _ in range(3):
            settle()
            before = _task_times()
            start = time.perf_counter()
            figures[name](top)
            wall = time.perf_counter() - start
            after = _task_times()
            deltas = [(after[k][0] - before[k][0], after[k][1] - before[k][1])
                      for k in after if k in before]  # fmt: skip
            busy = sorted((d for d in deltas if d[0] > 0), reverse=True)[:top]
            run = np.array([d[0] for d in busy]) / 1e9
            wait = np.array([d[1] for d in busy]) / 1e9
            calls.append({"wall_s": wall, "run_s": run.tolist(), "wait_s": wait.tolist()})
        mid = sorted(calls, key=lambda c: c["wall_s"])[1]
        run, wait = np.array(mid["run_s"]), np.array(mid["wait_s"])
        say(f"threads.{name}",
            f"per-thread time, {name:<18} {top} threads (the median call of 3): wall "
            f"{mid['wall_s'] * 1e3:.1f} ms; {run.size} threads ran max {run.max() * 1e3:.1f} / "
            f"median {np.median(run) * 1e3:.1f} / min {run.min() * 1e3:.1f} ms; waited to run "
            f"max {wait.max() * 1e3:.1f} / median {np.median(wait) * 1e3:.1f} ms",
            calls)  # fmt: skip


def _register_lines(dispatcher: Any) -> dict[str, int]:
    """Lines of a compiled function's assembly naming 512-, 256- and 128-bit registers."""
    try:
        lines = dispatcher.inspect_asm(dispatcher.signatures[0]).splitlines()
    except Exception as exc:  # only a record: never stop the measurements for it
        print(f"assembly not readable: {exc!r}", flush=True)
        return {}
    return {reg: sum(reg in line for line in lines) for reg in ("zmm", "ymm", "xmm")}


def _calibrate(run: Any, units: int, target: float) -> int:
    """The units of work for which ``run(units)`` takes about ``target`` seconds.

    The size grows fourfold until a run takes a quarter of ``target``, then is rescaled until
    a run lands within a factor 1.5 of it; each time is the fastest of three, so that one run
    cut short by another process does not shrink the probe.
    """

    def fastest(k: int) -> float:
        return max(_fastest(lambda: run(k), 3), 1e-9)

    run(1)  # compiled before it is timed
    seconds = fastest(units)
    for _ in range(10):
        if seconds > target / 4:
            break
        units *= 4
        seconds = fastest(units)
    for _ in range(3):
        units = max(1, int(units * target / seconds))
        seconds = fastest(units)
        if target / 1.5 < seconds < target * 1.5:
            break
    return units


def _probe_figures(top: int, quick: bool) -> tuple[Any, dict[str, int], Any]:
    """The probe figures (name -> run on t threads), their steps per thread, ``vector_body``."""
    import numba
    import numpy as np

    chain_probe, vector_body, vector_probe = _probe_kernels()
    out = np.zeros(top, dtype=np.uint64)
    # a row per thread, 64 bytes of padding between rows so no cache line is shared
    work = np.ones((top, VECTOR_PROBE_ELEMENTS + 8))
    target = PROBE_S if not quick else PROBE_S / 6
    numba.set_num_threads(1)  # a parallel loop on more threads waits for all of them to end
    n_chain = _calibrate(lambda k: chain_probe(1, k, out), 1 << 16, target)
    reps = _calibrate(lambda k: vector_probe(1, k, work), 256, target)
    figures = {
        "scalar_chain": lambda t: chain_probe(t, n_chain, out),
        "vector_loop": lambda t: vector_probe(t, reps, work),
    }
    steps = {"scalar_chain": n_chain, "vector_loop": reps * VECTOR_PROBE_ELEMENTS}
    return figures, steps, vector_body


def _kernel_figures(n: int, quick: bool, subset: bool) -> tuple[Any, dict[str, Any]]:
    """The kernel figures (name -> run on t threads) and what their lines need.

    ``subset``: only ``value_batch_1M`` and ``value_batch_cached`` (the vector-width run).
    """
    from concurrent.futures import ThreadPoolExecutor

    import numba
    import numpy as np
    from bench_valuation import make_inputs

    from valuation.kernels import _jit
    from valuation.kernels.range import range_batch
    from valuation.kernels.rng import seed_key
    from valuation.kernels.valuation import BatchOutputs, allocate_outputs, value_batch

    start = time.perf_counter()
    batch = make_inputs(n)
    has, inc, cst, mkt = batch
    out = allocate_outputs(n)
    in_bytes = sum(a.nbytes for t in (inc, cst, mkt) for a in t) + has.nbytes
    out_bytes = sum(a.nbytes for a in out)
    info: dict[str, Any] = {"n": n, "bytes": in_bytes + out_bytes}
    if not subset:
        say("value_batch_bytes_per_product",
            f"value_batch: {n:,} products built in {time.perf_counter() - start:.1f} s; "
            f"{in_bytes / n:.0f} B read + {out_bytes / n:.0f} B written per product",
            {"read": in_bytes / n, "written": out_bytes / n})  # fmt: skip

    # the same loop compiled serially (prange is range); not cached: it would share the cache
    # index of value_batch, whose source it is (and its machine code is read below)
    serial = numba.njit(**{**_jit._OPTIONS, "cache": False})(value_batch.py_func)
    small = 16_384
    small_batch = _slices(batch, 0, small)
    small_out = allocate_outputs(small)
    repeat_small = max(1, n // small // 2)
    figures: dict[str, Any] = {
        "value_batch_1M": lambda t: value_batch(*batch, out),
        "value_batch_cached": lambda t: [
            value_batch(*small_batch, small_out) for _ in range(repeat_small)
        ],
    }
    serial(*small_batch, small_out)
    info["serial"] = serial
    info["small"] = small_batch
    if subset:
        return figures, info

    def pooled(grain: int, t: int) -> None:
        """Serial value_batch over slices of ``grain`` products taken dynamically by t threads."""
        nxt = [0]
        lock = threading.Lock()

        def work() -> None:
            while True:
                with lock:
                    begin = nxt[0]
                    nxt[0] += grain
                if begin >= n:
                    return
                end = min(n, begin + grain)
                h, i_, c_, m_ = _slices(batch, begin, end)
                serial(h, i_, c_, m_, BatchOutputs(*(x[begin:end] for x in out)))

        with ThreadPoolExecutor(max_workers=t) as pool:
            for f in [pool.submit(work) for _ in range(t)]:
                f.result()

    value_batch(*batch, out)
    layer = numba.threading_layer()  # known once a parallel kernel has run
    say("threading_layer", f"numba threading layer: {layer}", layer)
    reference = out.concluded.copy()
    pooled(4096, 2)
    if not np.array_equal(reference, out.concluded):
        say("pool_mismatch", "ERROR: the pooled serial loop differs from value_batch", True)

    rows = _rows(batch)
    value_batch(*rows, out)
    if not np.array_equal(reference, out.concluded):
        say("rows_mismatch", "ERROR: value_batch on the row layout differs", True)
    moved = sum(a.strides[0] > 8 for t in rows[1:] for a in t)
    say(
        "value_batch_rows_fields",
        f"value_batch_rows: {moved} per-product fields in one row-major matrix",
        moved,
    )

    triad, alloc_each, alloc_block = _micro_kernels()
    m = 8_000_000 if not quick else 400_000
    a, b, c = np.zeros(m), np.ones(m), np.full(m, 2.0)
    n_range = 500 if not quick else 100
    range_out = np.zeros((n_range, 4, 3))
    range_batch_ = _slices(batch, 0, n_range)
    range_point = BatchOutputs(*(x[:n_range] for x in out))
    key = seed_key(7)
    entity = np.arange(1, n_range + 1, dtype=np.uint64)
    n_alloc = 2_000 if not quick else 500
    alloc_out = np.zeros(n_alloc)
    figures.update({
        "value_batch_rows": lambda t: value_batch(*rows, out),
        "pool_grain_4k": lambda t: pooled(4096, t),
        "pool_grain_64k": lambda t: pooled(65536, t),
        "triad": lambda t: triad(a, b, c, 3.0),
        "range_2000_samples": lambda t: range_batch(
            *range_batch_, range_point, entity, key, 2000, range_out
        ),
        "range_200_samples": lambda t: range_batch(
            *range_batch_, range_point, entity, key, 200, range_out
        ),
        "alloc_each_product": lambda t: alloc_each(n_alloc, 500, alloc_out),
        "alloc_once_per_block": lambda t: alloc_block(n_alloc, 500, alloc_out),
    })  # fmt: skip
    info["triad_bytes"] = 3 * m * 8
    return figures, info


def _kernel_line(
    name: str, label: str, s: Any, speedup: tuple[float, float, float], info: dict[str, Any]
) -> str:
    line = (
        f"{label:<22} {s.threads:>2} threads: {s.median * 1e3:9.2f} ms (min {s.min * 1e3:.2f}, "
        f"spread {s.spread:4.0%}), speed-up {speedup[0]:5.2f}x [{speedup[1]:.2f}-{speedup[2]:.2f}]"
        f", util {s.utilisation:4.2f}, steal {s.steal_per_s:.2f} s/s"
    )
    if name == "triad":
        line += f", {info['triad_bytes'] / s.median / 1e9:.1f} GB/s"
    elif name == "value_batch_1M":
        line += (f", {info['n'] / s.median / 1e6:.2f} M products/s, "
                 f"{info['bytes'] / s.median / 1e9:.1f} GB/s")  # fmt: skip
    return line


def _stdin_gate(r: int, last: float) -> bool:
    """In a gated child: tell the parent a round may start, and wait for its word."""
    print(f"?ready {last:.3f}", flush=True)
    return sys.stdin.readline().strip() == "go"


def child_kernels(
    n: int, threads: tuple[int, ...], quick: bool, budget: float, wide: bool, gated: bool
) -> None:
    """Time the kernel figures and the probes in interleaved rounds; one line per figure.

    ``wide``: the default run (``kernel.*``, ``probe.*``, every figure); otherwise the run
    with ``DPV_VECTOR_WIDTH=256`` (``kernel256.*``, ``probe256.*``, ``value_batch`` only).
    ``gated``: each round waits for ``go`` on stdin (:class:`GatedChild`); otherwise rounds
    run while the next one fits in ``budget`` seconds from the start of the process.
    """
    import numba
    from scaling_rounds import deadline_gate, paired, run_rounds, summarise

    tag = "" if wide else "256"
    bits = "512-bit" if wide else "256-bit"

    def progress(text: str) -> None:
        say(f"kernel{tag}.progress", f"{bits} run: {text}", None)

    gate = _stdin_gate if gated else deadline_gate(START + budget, progress)
    if wide:
        say("numba", f"numba {numba.__version__}", numba.__version__)
    top = max(threads)
    figures, info = _kernel_figures(n, quick, subset=not wide)
    probes, steps, vector_body = _probe_figures(top, quick)
    vector_regs = _register_lines(vector_body)
    kernel_regs = _register_lines(info["serial"])
    say(f"asm{tag}",
        f"{bits} run, assembly lines naming zmm/ymm/xmm registers: value_batch (serial twin) "
        f"{'/'.join(str(kernel_regs.get(r)) for r in ('zmm', 'ymm', 'xmm'))}, vector probe "
        f"body {'/'.join(str(vector_regs.get(r)) for r in ('zmm', 'ymm', 'xmm'))}",
        {"value_batch_serial": kernel_regs, "vector_probe_body": vector_regs})  # fmt: skip
    start = time.perf_counter()
    numba.set_num_threads(top)
    for run in [*figures.values(), *probes.values()]:
        run(top)  # compiles what is left and starts numba's threads
    say(f"warm_calls{tag}",
        f"every figure called once at {top} threads in {time.perf_counter() - start:.1f} s; "
        f"probes of {steps['scalar_chain']:,} chain steps and {steps['vector_loop']:,} "
        f"vector-element updates per thread", steps)  # fmt: skip

    rounds = ROUNDS if not quick else ROUNDS_QUICK
    samples, done = run_rounds(
        {**figures, **probes}, threads, rounds, numba.set_num_threads, gate, progress
    )
    say(f"kernel{tag}.rounds", f"{bits} run: {done} rounds of every figure at {threads} threads",
        done)  # fmt: skip
    if done == 0:
        return
    ordered = sorted(threads)
    mark = "" if wide else " 256b"
    for name in figures:
        base = [x.wall for x in samples[(name, ordered[0])]]
        for t in ordered:
            s = summarise(samples[(name, t)], t)
            speedup = paired(base, s.walls)
            record = {**s.record(), "speedup": speedup[0], "speedup_range": list(speedup[1:])}
            moved = {"value_batch_1M": info["bytes"], "triad": info.get("triad_bytes")}
            if moved.get(name):
                record["gb_per_s"] = moved[name] / s.median / 1e9
            line = _kernel_line(name, name + mark, s, speedup, info)
            say(f"kernel{tag}.{name}.{t}", line, record)
    for name in probes:
        base = [x.wall for x in samples[(name, ordered[0])]]
        for t in ordered:
            s = summarise(samples[(name, t)], t)
            slow = paired(s.walls, base)
            ns = s.median / steps[name] * 1e9
            say(f"probe{tag}.{name}.{t}",
                f"{name + mark:<22} {t:>2} threads: {s.median * 1e3:9.2f} ms "
                f"(min {s.min * 1e3:.2f}, spread {s.spread:4.0%}), {ns:.3f} ns per step, "
                f"{slow[0]:.2f}x the 1-thread time [{slow[1]:.2f}-{slow[2]:.2f}], "
                f"util {s.utilisation:4.2f}",
                {**s.record(), "ns_per_step": ns, "slowdown": slow[0],
                 "slowdown_range": list(slow[1:])})  # fmt: skip
    if wide:
        thread_times(figures, top)
        shared_cores(vector_body, info["serial"], info["small"], quick)


def child_stress(paths: int, quick: bool) -> None:
    import numpy as np
    from bench_stress import FULL

    from valuation.kernels._jit import pool_threads, run_parallel
    from valuation.kernels.layout import CHUNK, PathOutputs, path_output_shapes
    from valuation.kernels.stress import stress_paths
    from valuation.risk.api import simulate
    from valuation.risk.model import build_model
    from valuation.schema._base import parse_model
    from valuation.schema.stress import StressRequest

    model = build_model(parse_model(StressRequest, FULL))
    t = pool_threads()
    n_items = model.items.shape[0]
    arrays = model.arrays

    shapes = path_output_shapes(
        paths, n_items, model.n_steps, store_terminal=False, store_pool=False
    )

    def with_grain(grain: int) -> None:
        out = PathOutputs(**{name: np.empty(shape, dt) for name, (shape, dt) in shapes.items()})

        def run(begin: int, end: int) -> None:
            stress_paths(arrays, 0, begin, end, out)

        run_parallel(run, paths, grain)

    def default() -> None:
        simulate(model, paths, store_pool=False, store_terminal=False)

    reps = 3 if not quick else 1
    default()  # compiled and warm before it is timed
    seconds = _fastest(default, reps)
    with_grain(16 * CHUNK)
    big = _fastest(lambda: with_grain(16 * CHUNK), reps)
    steps = paths * model.n_steps * n_items
    rate = steps / seconds / 1e6
    say(f"stress.{t}",
        f"stress simulate        {t:>2} threads: {seconds * 1e3:9.2f} ms, {rate:7.1f} M "
        f"path-steps/s; grain {16 * CHUNK}: {big * 1e3:.2f} ms",
        {"threads": t, "seconds": seconds, "grain_16x_seconds": big,
         "path_steps_per_s": steps / seconds})  # fmt: skip


# --------------------------------------------------------------------------- revalue


def _digest(out: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(out.glob("part-*.parquet")):
        h.update(p.read_bytes())
    return h.hexdigest()


def run_revalue(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``dpv revalue`` and time, from its progress lines, when each chunk finished.

    Returns the exit code, the wall seconds, the times of the chunk lines and the last line of
    stderr. The process is killed at ``timeout``.
    """
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    chunks: list[float] = []
    last = ""
    assert proc.stderr is not None
    with watchdog(timeout, lambda: [proc]):
        for line in proc.stderr:
            if line.startswith("dpv revalue: chunk ") and " done" in line:
                chunks.append(time.perf_counter() - start)
            if line.strip():
                last = line.strip()
        code = proc.wait()
    return {"code": code, "wall": time.perf_counter() - start, "chunks": chunks, "last": last}


def missing(*names: str) -> list[str]:
    """The packages among ``names`` this Python cannot import."""
    import importlib.util

    return [name for name in names if importlib.util.find_spec(name) is None]


def part_revalue(products: int, chunk_size: int, workers: tuple[int, ...], cache: str) -> None:
    lacking = missing("pydantic", "lightgbm", "sklearn", "pyarrow", "typer", "rich")
    if lacking:
        emit("revalue.skipped", f"revalue: skipped, missing packages {lacking}", lacking)
        return
    from bench_revalue import make_book

    lacking_dask = missing("dask", "distributed")
    if lacking_dask:
        emit("revalue.dask_skipped", f"revalue on Dask: skipped, missing {lacking_dask}")
        workers = ()
    env = child_env(None, cache)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        book, loans = make_book(folder, products)
        emit("revalue.book", f"revalue: book of {products:,} products, loans for a fifth, "
             f"made in {time.perf_counter() - start:.1f} s", products)  # fmt: skip
        common = [book, "--loans", str(loans), "--as-of", "2026-06-30",
                  "--chunk-size", str(chunk_size)]  # fmt: skip
        runs: list[tuple[str, list[str]]] = [("local", [])]
        runs += [(f"dask_{w}", ["--engine", "dask", "--workers", str(w)]) for w in workers]
        digests: dict[str, str] = {}
        base = None
        for name, extra in runs:
            if left() < 20:
                emit(f"revalue.{name}", f"revalue {name}: skipped (time budget spent)")
                continue
            out = folder / f"out-{name}"
            cmd = [sys.executable, "-m", "valuation", "revalue", *map(str, common),
                   "--out", str(out), *extra]  # fmt: skip
            run = run_revalue(cmd, env, timeout=max(10.0, left()))
            if run["code"] not in (0, 3):
                emit(f"revalue.{name}", f"revalue {name}: failed ({run['code']}) {run['last']}")
                continue
            summary = json.loads((out / "summary.json").read_text())
            inner = summary["seconds"]
            digests[name] = _digest(out)
            # the steady state: the chunks finished after the first one, over the time since
            # it finished (the start-up and the first chunk left out)
            times = run["chunks"]
            steady = (
                chunk_size * (len(times) - 1) / (times[-1] - times[0]) if len(times) > 2 else None
            )
            if name == "dask_1":
                base = steady or products / inner
            rate = steady or products / inner
            speed = f", speed-up {rate / base:.2f}x over 1 worker" if base else ""
            first = times[0] if times else math.nan
            emit(f"revalue.{name}",
                 f"revalue {name:<8}: {run['wall']:6.1f} s wall, {inner:6.1f} s in the run, "
                 f"{products / inner:7.0f} products/s overall, first chunk done at {first:.1f} s, "
                 f"steady {rate:7.0f} products/s{speed}",
                 {"wall_s": run["wall"], "run_s": inner, "products_per_s": products / inner,
                  "first_chunk_s": first, "steady_products_per_s": steady})  # fmt: skip
        same = len(set(digests.values())) == 1
        emit("revalue.identical", f"revalue: every run published the same bytes: {same}", same)


# --------------------------------------------------------------------------- summary


def _ratio(record: Any, field: str = "speedup") -> str:
    """``1.23x [1.10-1.30]``: a record's ratio and its range over the rounds."""
    if not isinstance(record, dict) or field not in record:
        return "n/a"
    lo, hi = record[f"{field}_range"]
    return f"{record[field]:.2f}x [{lo:.2f}-{hi:.2f}]"


def _versus(a: Any, b: Any, field: str = "speedup") -> str:
    """``apart`` when the two records' ranges of ``field`` do not overlap, else ``overlap``."""
    from scaling_rounds import overlap

    if not isinstance(a, dict) or not isinstance(b, dict) or field not in a or field not in b:
        return "n/a"
    apart = not overlap((a[field], *a[f"{field}_range"]), (b[field], *b[f"{field}_range"]))
    return "apart" if apart else "overlap"


def _number(record: Any, field: str, scale: float = 1.0, digits: int = 2) -> str:
    if not isinstance(record, dict) or field not in record:
        return "n/a"
    return f"{record[field] * scale:.{digits}f}"


def summarise_kernels(top: int) -> None:
    """One line per hypothesis: the numbers of both kernel runs that decide it, and the rule.

    Prints no verdict: which ranges are apart is a fact of the run, what it means is the rule.
    """

    def k(name: str, t: int = top, prefix: str = "kernel") -> Any:
        return RESULTS.get(f"{prefix}.{name}.{t}")

    vb, vc = k("value_batch_1M"), k("value_batch_cached")
    if not isinstance(vb, dict):
        emit("summary", "summary: no kernel figures")
        return
    spreads = {
        (key.split(".")[1], rec["threads"]): rec["spread"]
        for key, rec in RESULTS.items()
        if key.startswith("kernel.") and isinstance(rec, dict) and "spread" in rec
    }
    worst = max(spreads, key=lambda x: spreads[x])
    emit("summary.how",
         f"summary at {top} threads, {RESULTS.get('kernel.rounds')} rounds. Speed-up: median "
         f"1-thread time / median {top}-thread time [min-max of that ratio round by round]; "
         f"'apart': two such ranges do not overlap; 'overlap': this run does not tell the two "
         f"apart. Largest spread (max-min)/median: {spreads[worst]:.0%} ({worst[0]}, "
         f"{worst[1]} threads)")  # fmt: skip
    tr = k("triad")
    emit("summary.bandwidth",
         f"bandwidth   : value_batch_1M {_ratio(vb)} at {_number(vb, 'gb_per_s', 1, 1)} GB/s; "
         f"value_batch_cached {_ratio(vc)} (vs 1M: {_versus(vb, vc)}); triad {_ratio(tr)} at "
         f"{_number(tr, 'gb_per_s', 1, 1)} GB/s. Rule: bandwidth-bound if the 1M batch is "
         f"below the cached one (apart) and its GB/s nears the triad's")  # fmt: skip
    p4, p64 = k("pool_grain_4k"), k("pool_grain_64k")
    emit("summary.scheduling",
         f"scheduling  : prange (value_batch_1M) {_ratio(vb)}; the same loop on a thread pool, "
         f"slices of 4k {_ratio(p4)} (vs prange: {_versus(vb, p4)}), of 64k {_ratio(p64)} "
         f"(vs prange: {_versus(vb, p64)}). Rule: prange's static split or its launch costs "
         f"if a pool is above prange (apart)")  # fmt: skip
    vr = k("value_batch_rows")
    emit("summary.layout",
         f"layout      : value_batch_1M (a column per field) {_ratio(vb)}; the same batch with "
         f"its per-product fields in one row-major matrix {_ratio(vr)} (vs columns: "
         f"{_versus(vb, vr)}); {top}-thread medians {_number(vb, 'seconds', 1e3)} vs "
         f"{_number(vr, 'seconds', 1e3)} ms. Rule: too many streams for the prefetchers if "
         f"the rows scale above the columns (apart)")  # fmt: skip
    shared = {name: RESULTS.get(f"shared.{name}") for name in
              ("vector_loop", "divide_loop", "value_batch_16k")}  # fmt: skip
    if all(isinstance(x, dict) for x in shared.values()):
        vec = shared["vector_loop"]["ratio"]
        siblings = [j for j, r in vec.items() if r > 1.4]
        others = [j for j in vec if j not in siblings]

        def mean_at(name: str, cpus: list[Any]) -> str:
            ratios = [shared[name]["ratio"][j] for j in cpus]
            return f"{sum(ratios) / len(ratios):.2f}" if ratios else "n/a"

        emit("summary.shared_cores",
             f"shared cores: CPUs whose load slows CPU 0's vector loop over 1.4x: "
             f"{siblings or 'none'}; CPU 0's time x alone, with one of them busy / with another "
             f"CPU busy: vector loop {mean_at('vector_loop', siblings)} / "
             f"{mean_at('vector_loop', others)}, division {mean_at('divide_loop', siblings)} / "
             f"{mean_at('divide_loop', others)}, value_batch {mean_at('value_batch_16k', siblings)}"
             f" / {mean_at('value_batch_16k', others)}. Rule: CPUs near 2x on the vector loop "
             f"are hyperthreads of CPU 0's core; if each CPU has one, {top} CPUs are {top // 2} "
             f"cores, and value_batch near 2x beside a sibling cannot scale past about "
             f"{top // 2}x")  # fmt: skip
    ae, ao = k("alloc_each_product"), k("alloc_once_per_block")
    r200, r2000 = k("range_200_samples"), k("range_2000_samples")
    emit("summary.allocation",
         f"allocation  : alloc_each_product {_ratio(ae)} vs alloc_once_per_block {_ratio(ao)} "
         f"({_versus(ae, ao)}); range_200_samples {_ratio(r200)} vs range_2000_samples "
         f"{_ratio(r2000)} ({_versus(r200, r2000)}). Rule: allocating in the parallel loop "
         f"costs if the allocating twin (alloc_each, range_200) is below the other "
         f"(apart)")  # fmt: skip
    sc, vl = k("scalar_chain", prefix="probe"), k("vector_loop", prefix="probe")
    sc256, vl256 = k("scalar_chain", prefix="probe256"), k("vector_loop", prefix="probe256")
    asm = RESULTS.get("asm", {}).get("vector_probe_body", {})
    asm256 = RESULTS.get("asm256", {}).get("vector_probe_body", {})
    cap = f"{top / sc['slowdown']:.1f}x" if isinstance(sc, dict) else "n/a"
    emit("summary.frequency",
         f"frequency   : time of the same work per thread, {top} vs 1 thread: scalar chain "
         f"{_ratio(sc, 'slowdown')}, vector loop {_ratio(vl, 'slowdown')} ({asm.get('zmm')} "
         f"zmm lines; vs scalar: {_versus(sc, vl, 'slowdown')}); 256-bit run: scalar "
         f"{_ratio(sc256, 'slowdown')}, vector {_ratio(vl256, 'slowdown')} ({asm256.get('zmm')} "
         f"zmm lines). Rule: a ratio s with its range above 1 means a core runs at 1/s of its "
         f"1-thread speed with {top} busy, capping a compute-bound speed-up near {top}/s = "
         f"{cap}; the vector loop above the scalar chain (apart) points at a wide-vector "
         f"frequency licence")  # fmt: skip
    v256, c256 = (
        k("value_batch_1M", prefix="kernel256"),
        k("value_batch_cached", prefix="kernel256"),
    )
    one, one256 = k("value_batch_1M", 1), k("value_batch_1M", 1, "kernel256")
    regs = RESULTS.get("asm", {}).get("value_batch_serial", {})
    regs256 = RESULTS.get("asm256", {}).get("value_batch_serial", {})
    emit("summary.vector_width",
         f"vector width: value_batch_1M speed-up 256-bit {_ratio(v256)} vs 512-bit {_ratio(vb)} "
         f"({_versus(v256, vb)}); value_batch_cached 256-bit {_ratio(c256)} vs 512-bit "
         f"{_ratio(vc)} ({_versus(c256, vc)}); value_batch_1M median 256-bit vs 512-bit: "
         f"1 thread {_number(one256, 'seconds', 1e3)} vs {_number(one, 'seconds', 1e3)} ms, "
         f"{top} threads {_number(v256, 'seconds', 1e3)} vs {_number(vb, 'seconds', 1e3)} ms "
         f"(separate processes, rounds in turn); zmm lines in value_batch's serial twin "
         f"{regs256.get('zmm')} vs {regs.get('zmm')}. Rule: 512-bit vectors cost the scaling "
         f"if the 256-bit speed-up is above the 512-bit one (apart)")  # fmt: skip
    names = ["value_batch_1M", "value_batch_cached", "pool_grain_4k", "triad",
             "alloc_once_per_block", "range_2000_samples"]  # fmt: skip
    utils = ", ".join(f"{name} {_number(k(name), 'utilisation')}" for name in names)
    steals = [
        rec["steal_s_per_s"]
        for key, rec in RESULTS.items()
        if key.startswith(("kernel.", "probe.")) and isinstance(rec, dict)
        and rec.get("threads") == top and "steal_s_per_s" in rec
    ]  # fmt: skip
    emit("summary.utilisation",
         f"utilisation : process CPU / (wall x threads) at {top} threads: {utils}, "
         f"scalar_chain {_number(sc, 'utilisation')}; the process stayed busy after a "
         f"value_batch_1M call for a median {_number(vb, 'tail_s', 1e3, 1)} ms at {top} threads, "
         f"{_number(one, 'tail_s', 1e3, 1)} ms at 1 (threads spinning, counted as busy while "
         f"they wait for that long); during value_batch_1M steal "
         f"{_number(vb, 'steal_s_per_s')} CPU-s/s and other load {_number(vb, 'other_load_cpus')} "
         f"CPUs (largest steal of any figure at {top} threads: "
         f"{max(steals, default=math.nan):.2f}). Rule: near 1 with a poor speed-up = each thread "
         f"slower (memory, frequency); well below 1 = threads waiting (imbalance, scheduling, "
         f"steal); threads that spin while waiting count as busy")  # fmt: skip


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--child", choices=["warm", "kernels", "kernels256", "stress"])
    parser.add_argument("--products", type=int, default=None)
    parser.add_argument("--budget", type=float, default=KERNELS_S, help=argparse.SUPPRESS)
    parser.add_argument("--gated", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "warm":
        child_warm()
        return
    if args.child in ("kernels", "kernels256"):
        n = args.products or (1_000_000 if not args.quick else 50_000)
        top = int(os.environ.get("NUMBA_NUM_THREADS", "1"))
        wide = args.child == "kernels"
        threads = tuple(t for t in THREADS if t <= top) if wide else tuple(sorted({1, top}))
        child_kernels(n, threads, args.quick, args.budget, wide, args.gated)
        return
    if args.child == "stress":
        child_stress(200_000 if not args.quick else 20_000, args.quick)
        return

    top = cpus()
    threads = tuple(t for t in THREADS if t <= top)
    workers = tuple(w for w in WORKERS if w <= top)
    info = machine()
    emit("machine", "machine: " + ", ".join(f"{k} {v}" for k, v in info.items()), info)
    cache = tempfile.mkdtemp(prefix="dpv-cache-")
    run_child(["--child", "warm"], child_env(top, cache), timeout=120)
    quick = ["--quick"] if args.quick else []
    if left() > 60:
        part_kernels(threads, cache, args.quick)
    else:
        emit("kernel.skipped", "kernels: skipped (time budget spent)")
    summarise_kernels(max(threads))
    lacking = missing("pydantic")
    if lacking:
        emit("stress.skipped", f"stress: skipped, missing packages {lacking}", lacking)
        threads_stress: tuple[int, ...] = ()
    else:
        threads_stress = threads
    for t in threads_stress:
        if left() < 45:
            emit(f"stress.{t}", f"stress {t} threads: skipped (time budget spent)")
            continue
        run_child(["--child", "stress", *quick],
                  child_env(t, cache), timeout=25)  # fmt: skip
    if left() > 30:
        n = args.products or (40_000 if not args.quick else 600)
        part_revalue(n, 1000 if not args.quick else 100, workers, cache)
    RESULTS["total_s"] = time.perf_counter() - START
    emit("total", f"total {RESULTS['total_s']:.1f} s")
    target = os.environ.get("OUT")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        path = Path(target) / "scaling.json"
        path.write_text(json.dumps(RESULTS, indent=1, default=str) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
