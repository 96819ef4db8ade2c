"""Thread and worker scaling of the batch kernels and of ``dpv revalue``, on a many-core machine.

One run, under four minutes on 16 cores, one line per figure on stdout and everything in
``$OUT/scaling.json`` when ``OUT`` is set. Parts (each skipped, and said so, when the time
budget is spent):

1. **machine**: CPUs, cores per socket, threads per core, NUMA nodes, numba's threading layer.
2. **warm-up**: every numba kernel compiled into a fresh cache (timed; the JIT kernels, no
   ahead-of-time stress kernel, so every part runs the same code).
3. **valuation kernel** (``value_batch``, ``range_batch``) at 1, 2, 4, 8, 16 threads
   (``numba.set_num_threads`` in one process), with the measurements that tell apart the
   hypotheses for its poor scaling (9.3× at 16 threads, 4 threads barely above 2):

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
   * *false sharing*: outputs are written by contiguous blocks of products (``(n, 3)``
     rows, 24 bytes), so neighbouring threads share at most one cache line per block; the
     per-product output bytes are printed for the record, not varied.

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
import hashlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUDGET_S = 225.0  # leave a margin under the four minutes
THREADS = (1, 2, 4, 8, 16)
WORKERS = (1, 2, 4, 8)
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


def run_child(args: list[str], env: dict[str, str], timeout: float) -> list[dict[str, Any]]:
    """Run this script as a child; relay its lines and return its JSON records."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    records: list[dict[str, Any]] = []
    deadline = time.perf_counter() + timeout
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("@"):
                record = json.loads(line[1:])
                records.append(record)
                emit(record["key"], record["text"], record.get("value"))
            else:
                print("        " + line.rstrip(), flush=True)
            if time.perf_counter() > deadline:
                proc.kill()
                emit("timeout", f"child {args[:2]} killed after {timeout:.0f} s")
                break
        proc.wait(timeout=max(1.0, deadline - time.perf_counter()))
    except subprocess.TimeoutExpired:
        proc.kill()
        emit("timeout", f"child {args[:2]} killed after {timeout:.0f} s")
    return records


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


def _best(fn: Any, reps: int) -> float:
    fn()
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


def child_kernels(n: int, threads: tuple[int, ...], quick: bool) -> None:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import numba
    import numpy as np

    sys.path.insert(0, str(HERE))
    from bench_valuation import make_inputs

    from valuation.kernels import _jit
    from valuation.kernels.range import range_batch
    from valuation.kernels.rng import seed_key
    from valuation.kernels.valuation import BatchOutputs, allocate_outputs, value_batch

    say("numba", f"numba {numba.__version__}", numba.__version__)
    start = time.perf_counter()
    batch = make_inputs(n)
    has, inc, cst, mkt = batch
    out = allocate_outputs(n)
    in_bytes = sum(a.nbytes for t in (inc, cst, mkt) for a in t) + has.nbytes
    out_bytes = sum(a.nbytes for a in out)
    say("value_batch_bytes_per_product",
        f"value_batch: {n:,} products built in {time.perf_counter() - start:.1f} s; "
        f"{in_bytes / n:.0f} B read + {out_bytes / n:.0f} B written per product",
        {"read": in_bytes / n, "written": out_bytes / n})  # fmt: skip

    # the same loop compiled serially (prange is range); not cached: it would share the cache
    # index of value_batch, whose source it is
    serial = numba.njit(**{**_jit._OPTIONS, "cache": False})(value_batch.py_func)
    triad, alloc_each, alloc_block = _micro_kernels()
    small = 16_384
    small_batch = _slices(batch, 0, small)
    small_out = allocate_outputs(small)
    repeat_small = max(1, n // small)
    m = 8_000_000 if not quick else 400_000
    a, b, c = np.zeros(m), np.ones(m), np.full(m, 2.0)
    n_range = 1_000 if not quick else 200
    range_out = np.zeros((n_range, 4, 3))
    range_batch_ = _slices(batch, 0, n_range)
    range_point = BatchOutputs(*(x[:n_range] for x in out))
    key = seed_key(7)
    entity = np.arange(1, n_range + 1, dtype=np.uint64)
    n_alloc = 4_000 if not quick else 1_000
    alloc_out = np.zeros(n_alloc)

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
    base: dict[str, float] = {}
    reps = 3 if not quick else 1
    for t in threads:
        numba.set_num_threads(t)
        figures = {
            "value_batch_1M": _best(lambda: value_batch(*batch, out), reps),
            "value_batch_cached": _best(
                lambda: [value_batch(*small_batch, small_out) for _ in range(repeat_small)], reps
            ),
            "pool_grain_4k": _best(lambda: pooled(4096, t), reps),  # noqa: B023
            "pool_grain_64k": _best(lambda: pooled(65536, t), reps),  # noqa: B023
            "triad": _best(lambda: triad(a, b, c, 3.0), reps),
            "range_2000_samples": _best(
                lambda: range_batch(*range_batch_, range_point, entity, key, 2000, range_out), 1
            ),
            "range_200_samples": _best(
                lambda: range_batch(*range_batch_, range_point, entity, key, 200, range_out), reps
            ),
            "alloc_each_product": _best(lambda: alloc_each(n_alloc, 500, alloc_out), reps),
            "alloc_once_per_block": _best(lambda: alloc_block(n_alloc, 500, alloc_out), reps),
        }
        if t == threads[0]:
            base = dict(figures)
        for name, seconds in figures.items():
            speedup = base[name] / seconds * threads[0]
            extra = ""
            if name == "triad":
                extra = f", {3 * m * 8 / seconds / 1e9:.1f} GB/s"
            elif name == "value_batch_1M":
                extra = (f", {n / seconds / 1e6:.2f} M products/s, "
                         f"{(in_bytes + out_bytes) / seconds / 1e9:.1f} GB/s")  # fmt: skip
            line = f"{name:<22} {t:>2} threads: {seconds * 1e3:9.2f} ms, speed-up {speedup:5.2f}x"
            say(f"kernel.{name}.{t}", line + extra,
                {"threads": t, "seconds": seconds, "speedup": speedup})  # fmt: skip


def child_stress(paths: int, quick: bool) -> None:
    import numpy as np

    from valuation.kernels._jit import pool_threads, run_parallel
    from valuation.kernels.layout import CHUNK, PathOutputs
    from valuation.kernels.stress import stress_paths
    from valuation.risk.api import simulate
    from valuation.risk.model import build_model
    from valuation.schema._base import parse_model
    from valuation.schema.stress import StressRequest

    sys.path.insert(0, str(HERE))
    from bench_stress import FULL

    model = build_model(parse_model(StressRequest, FULL))
    t = pool_threads()
    n_items = model.items.shape[0]
    arrays = model.arrays

    def with_grain(grain: int) -> None:
        out = PathOutputs(np.empty(paths), np.empty(paths, dtype=np.int64), np.empty(paths),
                          np.empty(paths), np.empty((paths, n_items), dtype=np.uint8),
                          np.empty((paths, 0)), np.empty((0, paths), dtype=np.float32))  # fmt: skip

        def run(begin: int, end: int) -> None:
            stress_paths(arrays, 0, begin, end, out)

        run_parallel(run, paths, grain)

    reps = 3 if not quick else 1
    seconds = _best(lambda: simulate(model, paths, store_pool=False, store_terminal=False), reps)
    big = _best(lambda: with_grain(16 * CHUNK), reps)
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


def make_book(folder: Path, products: int) -> tuple[Path, Path]:
    """The book of ``bench_revalue.py``: the sample tiled, loans on every fifth product."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_revalue import make_book as tiled_book

    return tiled_book(folder, products)


def run_revalue(cmd: list[str], env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``dpv revalue`` and time, from its progress lines, when each chunk finished.

    Returns the exit code, the wall seconds, the times of the chunk lines and the last line of
    stderr. The process is killed at ``timeout``.
    """
    import threading

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    chunks: list[float] = []
    last = ""
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("dpv revalue: chunk ") and " done" in line:
            chunks.append(time.perf_counter() - start)
        if line.strip():
            last = line.strip()
    code = proc.wait()
    watchdog.cancel()
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


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--child", choices=["warm", "kernels", "stress"])
    parser.add_argument("--products", type=int, default=None)
    args = parser.parse_args()
    if args.child == "warm":
        child_warm()
        return
    if args.child == "kernels":
        n = args.products or (1_000_000 if not args.quick else 50_000)
        top = int(os.environ.get("NUMBA_NUM_THREADS", "1"))
        child_kernels(n, tuple(t for t in THREADS if t <= top), args.quick)
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
    if left() > 60:
        kernel_args = ["--child", "kernels"] + (["--quick"] if args.quick else [])
        run_child(kernel_args, child_env(max(threads), cache), timeout=min(80, left() - 40))
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
        run_child(["--child", "stress"] + (["--quick"] if args.quick else []),
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
