"""Throughput of the batch valuation kernel against the same computation in plain NumPy.

Values 1,000,000 products (income under certificate events, cost with 3-8 items, market with
2-6 explicit comparables or, for a tenth, the price model's value; no range sampling) through
:func:`valuation.kernels.valuation.value_batch` on 1 and 2 threads and through
:func:`numpy_valuation.value_batch_numpy`, all in one run on the same data, after checking
that the two agree on every product to 1e-9 relative. Also measures the cold compile time
(fresh process, empty cache) and the first call with a filled cache (fresh process, same cache
dir).

Usage::

    .venv/bin/python benchmarks/bench_valuation.py            # table
    .venv/bin/python benchmarks/bench_valuation.py --json     # numbers as JSON
    .venv/bin/python benchmarks/bench_valuation.py --n 100000 --reps 3 --no-compile   # quick

Both implementations read ``MarketInputs.log_price``; the ``np.log`` of the comparable prices is
taken when the inputs are built, outside the timing of both, as the engine's prep layer does.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numba
from numpy_valuation import value_batch_numpy

from valuation.kernels.valuation import (
    BatchOutputs,
    CostInputs,
    IncomeInputs,
    MarketInputs,
    allocate_outputs,
    value_batch,
)

N_PRODUCTS = 1_000_000
SEED = 20240603
RTOL = 1e-9
GOAL_SECONDS_2T = 0.25
GOAL_RATIO = 2.0
AIM_RATIO = 3.0


def make_inputs(
    n: int, seed: int = SEED
) -> tuple[np.ndarray, IncomeInputs, CostInputs, MarketInputs]:
    """Return a realistic random batch of ``n`` products (seeded)."""
    rng = np.random.default_rng(seed)

    has = rng.random((n, 3)) < np.array([0.9, 0.85, 0.8])
    has[~has.any(axis=1), 0] = True

    life = rng.uniform(0.5, 10.0, n)
    whole = rng.random(n) < 0.2  # some lives are whole years (no partial final year)
    life[whole] = np.maximum(np.round(life[whole]), 1.0)
    tab = rng.random(n) < 0.3
    inc = IncomeInputs(
        base=rng.lognormal(np.log(2e6), 1.0, n),
        rate=rng.uniform(0.05, 0.4, n),
        growth=rng.uniform(-0.2, 0.4, n),
        decay=rng.uniform(0.0, 0.3, n),
        discount=rng.uniform(0.08, 0.3, n),
        life=life,
        mid_year=(rng.random(n) < 0.5).astype(np.float64),
        tab_tax=np.where(tab, rng.uniform(0.15, 0.35, n), 0.0),
        tab_life=rng.choice(np.array([5.0, 10.0, 15.0]), n),
        sd_rate=rng.uniform(0.05, 0.3, n),
        sd_growth=rng.uniform(0.01, 0.1, n),
        sd_decay=rng.uniform(0.01, 0.05, n),
        sd_discount=rng.uniform(0.01, 0.04, n),
        **certificate_inputs(n, rng),
    )

    n_items = np.where(has[:, 1], rng.integers(3, 9, n), 0)
    cost_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_items, out=cost_offsets[1:])
    m = int(cost_offsets[-1])
    cst = CostInputs(
        offsets=cost_offsets,
        amount=rng.lognormal(np.log(5e4), 1.2, m),
        age_years=rng.uniform(0.0, 6.0, m),
        index_rate=rng.uniform(-0.05, 0.12, m),
        indexed=(rng.random(n) < 0.7).astype(np.float64),
        return_on_cost=rng.uniform(0.0, 0.3, n),
        quality_factor=rng.uniform(0.5, 1.0, n),
        remaining_life=rng.uniform(0.5, 10.0, n),
        sd_index=rng.uniform(0.005, 0.03, n),
        sd_return=rng.uniform(0.01, 0.05, n),
        sd_quality=rng.uniform(0.02, 0.1, n),
        sd_model=rng.uniform(0.0, 1.0, n),
    )

    # a tenth of the products with a market value have no comparables: the price model's value
    modelled = has[:, 2] & (rng.random(n) < 0.1)
    n_comps = np.where(has[:, 2] & ~modelled, rng.integers(2, 7, n), 0)
    market_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_comps, out=market_offsets[1:])
    c = int(market_offsets[-1])
    mkt = MarketInputs(
        offsets=market_offsets,
        # The engine's prep layer (valuation.methods.inputs) takes the log of the prices with
        # NumPy when it builds the inputs; so does this generator, outside the timing of both
        # the kernel and the NumPy twin (which both read ``log_price``).
        log_price=np.log(rng.lognormal(np.log(5e5), 1.0, c)),
        log_fixed=rng.normal(0.0, 0.1, c),
        log_quality_ratio=rng.normal(0.0, 0.2, c),
        log_volume_ratio=rng.normal(0.0, 0.5, c),
        years_ago=rng.uniform(0.0, 3.0, c),
        e_quality=rng.uniform(0.5, 1.5, n),
        e_volume=rng.uniform(0.2, 0.8, n),
        index_growth=rng.uniform(0.0, 0.06, n),
        sd_default=np.full(n, 0.5),
        sd_floor=np.full(n, 0.05),
        sd_level=rng.uniform(0.05, 0.2, n),
        sd_model=rng.uniform(0.0, 1.0, n),
        model_value=np.where(modelled, rng.lognormal(np.log(5e5), 1.0, n), 0.0),
        model_sd=np.where(modelled, rng.uniform(0.2, 0.6, n), 0.0),
    )
    return has, inc, cst, mkt


def certificate_inputs(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Return the income method's certificate events, roll-forward and model errors.

    Most certificates expire within their 3-year validity and are renewed with a probability
    around the default 0.7; some are revoked or expired already (``keep`` < 1, nothing ahead),
    some have no expiry ahead, some expire today.
    """
    first_expiry = rng.uniform(0.0, 6.0, n)
    first_expiry[rng.random(n) < 0.03] = 0.0
    gone = rng.random(n) < 0.1  # revoked or lapsed already: no event ahead, keep < 1
    none_ahead = gone | (rng.random(n) < 0.1)
    first_expiry[none_ahead] = np.inf
    hazard = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.0, 0.3, n))
    return {
        "roll": rng.uniform(0.0, 1.5, n),
        "hazard": np.where(none_ahead, 0.0, hazard),
        "revoke_keep": np.where(rng.random(n) < 0.7, 0.0, rng.uniform(0.0, 1.0, n)),
        "first_expiry": first_expiry,
        "validity": np.full(n, 3.0),
        "renew_p": np.where(rng.random(n) < 0.1, 1.0, rng.uniform(0.0, 1.0, n)),
        "lapse_keep": rng.uniform(0.0, 1.0, n),
        "keep": np.where(gone, rng.uniform(0.0, 1.0, n), 1.0),
        "sd_life": rng.uniform(0.0, 0.3, n),
        "sd_model": rng.uniform(0.0, 1.0, n),
    }


def verify(got: BatchOutputs, ref: BatchOutputs, rtol: float = RTOL) -> dict[str, object]:
    """Compare two outputs on every product: each field's largest relative difference and the
    products above ``rtol`` (count and the first few indices), and ``ok``."""
    report: dict[str, object] = {"rtol": rtol}
    ok = True
    for name in BatchOutputs._fields:
        a, b = getattr(got, name), getattr(ref, name)
        equal = (a == b) | (np.isnan(a) & np.isnan(b))  # also equal infinities
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = np.abs(a - b) / np.maximum(np.abs(a), np.abs(b))
        rel = np.where(equal, 0.0, np.where(np.isnan(rel), np.inf, rel))  # NaN vs number: inf
        bad = rel > rtol
        if bad.ndim == 2:
            bad = bad.any(axis=1)
        report[name] = float(rel.max()) if rel.size else 0.0
        report[name + "_n_over"] = int(bad.sum())
        report[name + "_first_over"] = [int(i) for i in np.flatnonzero(bad)[:10]]
        ok = ok and not bad.any()
    report["ok"] = ok
    return report


def time_variants(
    variants: dict[str, tuple[int, Callable[[], object]]], reps: int
) -> dict[str, dict[str, float]]:
    """Time every variant ``reps`` times, interleaved, so background load hits them alike.

    Returns best and median wall-clock seconds and the median CPU seconds of the process.
    """
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(reps):
        for name, (threads, fn) in variants.items():
            numba.set_num_threads(threads)
            cpu_start = time.process_time()
            start = time.perf_counter()
            fn()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - cpu_start)
    return {
        name: {
            "threads": variants[name][0],
            "best_s": min(wall[name]),
            "median_s": float(np.median(wall[name])),
            "cpu_median_s": float(np.median(cpu[name])),
        }
        for name in variants
    }


_PROBE = """
import json, time
start = time.perf_counter()
from valuation.kernels.valuation import allocate_outputs, tiny_batch, value_batch
imported = time.perf_counter()
has, inc, cst, mkt = tiny_batch()
out = allocate_outputs(1)
call = time.perf_counter()
value_batch(has, inc, cst, mkt, out)
done = time.perf_counter()
print(json.dumps({"import_s": imported - start, "first_call_s": done - call}))
"""


def compile_times() -> dict[str, dict[str, float]]:
    """First call of ``value_batch`` in a fresh process: empty cache, then the filled cache."""
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    result = {}
    with tempfile.TemporaryDirectory(prefix="dpv-bench-cache-") as cache:
        env["DPV_CACHE_DIR"] = cache
        for label in ("cold", "cached"):
            start = time.perf_counter()
            run = subprocess.run(
                [sys.executable, "-c", _PROBE],
                env=env,
                capture_output=True,
                text=True,
                check=True,
                cwd=Path(__file__).resolve().parent.parent,
            )
            probe = json.loads(run.stdout.strip().splitlines()[-1])
            probe["process_s"] = time.perf_counter() - start
            result[label] = probe
        result["cached"]["cache_files"] = sum(1 for p in Path(cache).rglob("*") if p.is_file())
    return result


def run(n: int, reps: int, seed: int, with_compile: bool) -> dict[str, object]:
    load_at_start = os.getloadavg()
    start_all = time.perf_counter()
    # inputs are built (log prices included) before any timing, as the engine's prep layer does
    has, inc, cst, mkt = make_inputs(n, seed)
    outs = {name: allocate_outputs(n) for name in ("numba", "numpy")}

    start = time.perf_counter()
    value_batch(has, inc, cst, mkt, outs["numba"])
    first_call_in_run = time.perf_counter() - start
    value_batch_numpy(has, inc, cst, mkt, outs["numpy"])

    check = verify(outs["numba"], outs["numpy"])
    if not check["ok"]:
        raise AssertionError(f"value_batch and the NumPy twin disagree beyond {RTOL}: {check}")

    def call(fn: Callable[..., object], out: BatchOutputs) -> Callable[[], object]:
        return lambda: fn(has, inc, cst, mkt, out)

    variants = {
        "numpy": (1, call(value_batch_numpy, outs["numpy"])),
        "numba_1t": (1, call(value_batch, outs["numba"])),
        "numba_2t": (2, call(value_batch, outs["numba"])),
    }
    timings = time_variants(variants, reps)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    numpy_best = timings["numpy"]["best_s"]
    for t in timings.values():
        t["products_per_s"] = n / t["best_s"]
        t["seconds_per_million"] = t["best_s"] * 1e6 / n
        t["speedup_vs_numpy"] = numpy_best / t["best_s"]

    per_million_2t = timings["numba_2t"]["seconds_per_million"]
    result: dict[str, object] = {
        "n_products": n,
        "n_cost_items": int(cst.amount.shape[0]),
        "n_comparables": int(mkt.log_price.shape[0]),
        "seed": seed,
        "repetitions": reps,
        "cpu_count": os.cpu_count(),
        "threading_layer": numba.threading_layer(),
        "load_average_at_start": {
            "1min": load_at_start[0],
            "5min": load_at_start[1],
            "15min": load_at_start[2],
        },
        "timings": timings,
        "ratio_numba_2t_over_numpy": timings["numba_2t"]["speedup_vs_numpy"],
        "ratio_numba_1t_over_numpy": timings["numba_1t"]["speedup_vs_numpy"],
        "first_call_in_run_s": first_call_in_run,
        "verification": check,
        "goals": {
            "numba_2t_seconds_per_million": per_million_2t,
            "numba_2t_under_0.25s": per_million_2t < GOAL_SECONDS_2T,
            "numba_2t_at_least_2x_numpy": timings["numba_2t"]["speedup_vs_numpy"] >= GOAL_RATIO,
            "numba_2t_at_least_3x_numpy": timings["numba_2t"]["speedup_vs_numpy"] >= AIM_RATIO,
        },
    }
    if with_compile:
        result["compile"] = compile_times()
    result["load_average_at_end_1min"] = os.getloadavg()[0]
    result["total_runtime_s"] = time.perf_counter() - start_all
    return result


_LABELS = {
    "numpy": "NumPy twin, vectorised",
    "numba_1t": "numba value_batch",
    "numba_2t": "numba value_batch",
}


def print_table(r: dict[str, object]) -> None:
    timings: dict[str, dict[str, float]] = r["timings"]  # type: ignore[assignment]
    load: dict[str, float] = r["load_average_at_start"]  # type: ignore[assignment]
    print(
        f"dpv value_batch: {r['n_products']:,} products, {r['n_cost_items']:,} cost items, "
        f"{r['n_comparables']:,} comparables (seed {r['seed']}); best of {r['repetitions']} "
        f"(interleaved), threading layer {r['threading_layer']}, {r['cpu_count']} CPUs"
    )
    print(
        f"load average at start: {load['1min']:.2f} (1 min), {load['5min']:.2f} (5 min), "
        f"{load['15min']:.2f} (15 min); at end {r['load_average_at_end_1min']:.2f} (1 min)"
    )
    print()
    header = (
        f"{'variant':<24}{'threads':>8}{'best s':>9}{'median s':>10}{'cpu s':>8}"
        f"{'products/s':>13}{'x NumPy':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, t in timings.items():
        print(
            f"{_LABELS[name]:<24}{int(t['threads']):>8}{t['best_s']:>9.3f}{t['median_s']:>10.3f}"
            f"{t['cpu_median_s']:>8.3f}{t['products_per_s']:>13,.0f}{t['speedup_vs_numpy']:>9.2f}"
        )
    print()
    goals: dict[str, float | bool] = r["goals"]  # type: ignore[assignment]
    t1, t2, tn = timings["numba_1t"], timings["numba_2t"], timings["numpy"]
    print(
        f"products/s: numba 1 thread {t1['products_per_s']:,.0f}; numba 2 threads "
        f"{t2['products_per_s']:,.0f}; NumPy {tn['products_per_s']:,.0f}"
    )
    print(
        f"ratios: numba(2 threads)/NumPy {r['ratio_numba_2t_over_numpy']:.2f}x; "
        f"numba(1 thread)/NumPy {r['ratio_numba_1t_over_numpy']:.2f}x "
        f"(goal >= {GOAL_RATIO:.0f}x on 2 threads: "
        + ("met" if goals["numba_2t_at_least_2x_numpy"] else "MISSED")
        + f"; aim {AIM_RATIO:.0f}x: "
        + ("met" if goals["numba_2t_at_least_3x_numpy"] else "missed")
        + ")"
    )
    scaled = "" if r["n_products"] == 1_000_000 else f" (scaled from {r['n_products']:,})"
    print(
        f"1M products warm on 2 threads: {goals['numba_2t_seconds_per_million']:.3f} s{scaled} "
        f"against the {GOAL_SECONDS_2T} s goal: "
        + ("met" if goals["numba_2t_under_0.25s"] else "MISSED")
    )
    if "compile" in r:
        c: dict[str, dict[str, float]] = r["compile"]  # type: ignore[assignment]
        print(
            "compile (fresh process, empty DPV_CACHE_DIR): cold first call "
            f"{c['cold']['first_call_s']:.2f} s (import {c['cold']['import_s']:.2f} s); "
            f"cached first call {c['cached']['first_call_s']:.3f} s "
            f"(import {c['cached']['import_s']:.2f} s)"
        )
    else:
        print("compile: not measured (--no-compile)")
    v: dict[str, float] = r["verification"]  # type: ignore[assignment]
    print(
        f"verification numba vs NumPy, all {r['n_products']:,} products at {RTOL:.0e} relative "
        f"({'OK' if v['ok'] else 'FAILED'}): max rel. diff values {v['values']:.1e}, sigmas "
        f"{v['sigmas']:.1e}, weights {v['weights']:.1e}, concluded {v['concluded']:.1e}"
    )
    print(f"total runtime {r['total_runtime_s']:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=N_PRODUCTS, help="number of products")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per variant")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--no-compile", action="store_true", help="skip the compile probes")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    result = run(args.n, args.reps, args.seed, with_compile=not args.no_compile)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
