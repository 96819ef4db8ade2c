"""Throughput of the batch valuation kernel against the same computation in plain NumPy.

Values 1,000,000 products (income, cost with 3-8 items, market with 2-6 explicit comparables;
no range sampling) through :func:`valuation.kernels.valuation.value_batch` on 1 and 2 threads
and through :func:`numpy_valuation.value_batch_numpy`, all in one run on the same data, after
checking that the two agree. Also measures the cold compile time (fresh process, empty cache)
and the first call with a filled cache (fresh process, same cache dir).

Usage::

    .venv/bin/python benchmarks/bench_valuation.py            # table
    .venv/bin/python benchmarks/bench_valuation.py --json     # numbers as JSON
"""

from __future__ import annotations

import argparse
import json
import math
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

from valuation.kernels._jit import jit, jit_parallel, prange
from valuation.kernels.valuation import (
    BatchOutputs,
    CostInputs,
    IncomeInputs,
    MarketInputs,
    _weights,
    allocate_outputs,
    cost_sigma,
    cost_value,
    income_sigma,
    income_value,
    market_value,
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
    )

    n_comps = np.where(has[:, 2], rng.integers(2, 7, n), 0)
    market_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(n_comps, out=market_offsets[1:])
    c = int(market_offsets[-1])
    mkt = MarketInputs(
        offsets=market_offsets,
        price=rng.lognormal(np.log(5e5), 1.0, c),
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
    )
    return has, inc, cst, mkt


# Prototypes of faster kernels, measured beside the production one (not used by the engine).
#
# A: the production maths, bit for bit, with the NamedTuples unpacked once before the
#    ``prange`` loop. Production calls ``_value_one(i, has, inc, cst, mkt, out)`` per product;
#    passing the tuples of ~40 arrays into a function costs an NRT incref + decref (atomic) on
#    every array each call, which on two threads also bounces the shared refcount cache lines.
# B: A plus fewer transcendental calls: income takes one ``log`` for (1+g)(1-d), ``sqrt`` for
#    the mid-year shift and q, q^m from the ``expm1`` it needs anyway (9 libm calls -> 5);
#    market reads ``log(price)`` from an input array (computed with NumPy's SIMD log in the
#    wrapper, and counted in the timing) instead of one ``math.log`` per comparable.


@jit
def _income_value_fewer_calls(
    base: float,
    rate: float,
    growth: float,
    decay: float,
    discount: float,
    life: float,
    mid_year: float,
    tab_tax: float,
    tab_life: float,
) -> tuple[float, float]:
    c = base * rate
    if c <= 0.0 or life <= 0.0 or math.isinf(life):
        # the perpetuity branch is not exercised by the benchmark; keep the production one
        return income_value(base, rate, growth, decay, discount, life, mid_year, tab_tax, tab_life)
    log_q0 = math.log((1.0 + growth) * (1.0 - decay))
    log_k = math.log1p(discount)
    log_q = log_q0 - log_k
    mid = mid_year > 0.0
    shift = math.sqrt(1.0 + discount) if mid else 1.0
    m = math.floor(life)
    f = life - m
    if m == 0.0:
        s_full = 0.0
        t_full = 0.0
    else:
        em1 = math.expm1(log_q)
        em1_m = math.expm1(m * log_q)
        q = 1.0 + em1
        s_full = q * em1_m / em1 if log_q != 0.0 else m
        if abs(log_q) * m < 1e-4:
            t_full = s_full * ((m + 1.0) * 0.5 + log_q * (m * m - 1.0) / 12.0)
        else:
            q_m = 1.0 + em1_m
            t_full = q * (1.0 - (m + 1.0) * q_m + m * q_m * q) / (em1 * em1)
    if f > 0.0:
        timing = m + (0.5 * f if mid else f)
        pv_part = c * f * math.exp((m + 1.0) * log_q0 - timing * log_k)
    else:
        pv_part = 0.0
    pv = c * shift * s_full + pv_part
    duration = (c * shift * t_full + (m + 1.0) * pv_part) / pv
    if tab_tax > 0.0:
        annuity = shift * (-math.expm1(-tab_life * log_k)) / discount
        pv = pv / (1.0 - tab_tax / tab_life * annuity)
    return pv, duration


@jit
def _market_value_log_price(
    log_price: np.ndarray,
    log_fixed: np.ndarray,
    log_quality_ratio: np.ndarray,
    log_volume_ratio: np.ndarray,
    years_ago: np.ndarray,
    start: int,
    stop: int,
    e_quality: float,
    e_volume: float,
    index_growth: float,
    sd_default: float,
    sd_floor: float,
    sd_level: float,
) -> tuple[float, float]:
    if stop <= start:
        return 0.0, 0.0
    log_index = math.log1p(index_growth)
    sum_w = 0.0
    sum_w2 = 0.0
    sum_wp = 0.0
    sum_wl = 0.0
    sum_wll = 0.0
    for j in range(start, stop):
        fq = e_quality * log_quality_ratio[j]
        fv = e_volume * log_volume_ratio[j]
        fd = years_ago[j] * log_index
        ff = log_fixed[j]
        log_adjusted = log_price[j] + fq + fv + fd + ff
        w = 1.0 / (1.0 + abs(fq) + abs(fv) + abs(fd) + abs(ff))
        sum_w += w
        sum_w2 += w * w
        sum_wp += w * math.exp(log_adjusted)
        sum_wl += w * log_adjusted
        sum_wll += w * log_adjusted * log_adjusted
    value = sum_wp / sum_w
    n_eff = sum_w * sum_w / sum_w2
    if stop - start >= 3:
        mean = sum_wl / sum_w
        var = max(sum_wll / sum_w - mean * mean, 0.0)
        dispersion = max(math.sqrt(var), sd_floor)
    else:
        dispersion = sd_default
    return value, math.sqrt(dispersion * dispersion / n_eff + sd_level * sd_level)


def _make_unpacked_kernel(fewer_calls: bool) -> Callable[..., None]:
    """Build prototype A (``fewer_calls=False``) or B; one body, two compiled kernels."""
    income = _income_value_fewer_calls if fewer_calls else income_value
    market = _market_value_log_price if fewer_calls else market_value

    def kernel(
        has: np.ndarray,
        inc: IncomeInputs,
        cst: CostInputs,
        mkt: MarketInputs,
        price_or_log: np.ndarray,
        out: BatchOutputs,
    ) -> None:
        # every array is taken out of its tuple once, outside the parallel loop, one plain
        # assignment per line: numba (0.68) silently drops prange writes to arrays reached
        # through a NamedTuple in the loop or tuple-unpacked from it (numba#7135, #5872)
        base = inc.base
        rate = inc.rate
        growth = inc.growth
        decay = inc.decay
        discount = inc.discount
        life = inc.life
        mid_year = inc.mid_year
        tab_tax = inc.tab_tax
        tab_life = inc.tab_life
        sd_rate = inc.sd_rate
        sd_growth = inc.sd_growth
        sd_decay = inc.sd_decay
        sd_discount = inc.sd_discount
        c_off = cst.offsets
        amount = cst.amount
        age_years = cst.age_years
        index_rate = cst.index_rate
        indexed = cst.indexed
        roc = cst.return_on_cost
        quality = cst.quality_factor
        remaining = cst.remaining_life
        sd_index = cst.sd_index
        sd_return = cst.sd_return
        sd_quality = cst.sd_quality
        m_off = mkt.offsets
        log_fixed = mkt.log_fixed
        lqr = mkt.log_quality_ratio
        lvr = mkt.log_volume_ratio
        years_ago = mkt.years_ago
        e_quality = mkt.e_quality
        e_volume = mkt.e_volume
        index_growth = mkt.index_growth
        sd_default = mkt.sd_default
        sd_floor = mkt.sd_floor
        sd_level = mkt.sd_level
        values = out.values
        sigmas = out.sigmas
        weights = out.weights
        concluded = out.concluded
        for i in prange(has.shape[0]):
            v0 = 0.0
            s0 = 0.0
            v1 = 0.0
            s1 = 0.0
            v2 = 0.0
            s2 = 0.0
            if has[i, 0]:
                v0, duration = income(
                    base[i],
                    rate[i],
                    growth[i],
                    decay[i],
                    discount[i],
                    life[i],
                    mid_year[i],
                    tab_tax[i],
                    tab_life[i],
                )
                s0 = income_sigma(
                    growth[i],
                    decay[i],
                    discount[i],
                    mid_year[i],
                    duration,
                    sd_rate[i],
                    sd_growth[i],
                    sd_decay[i],
                    sd_discount[i],
                )
            if has[i, 1]:
                v1, age = cost_value(
                    amount,
                    age_years,
                    index_rate,
                    c_off[i],
                    c_off[i + 1],
                    0.0,
                    indexed[i],
                    roc[i],
                    quality[i],
                    remaining[i],
                )
                s1 = cost_sigma(
                    age, roc[i], quality[i], indexed[i], sd_index[i], sd_return[i], sd_quality[i]
                )
            if has[i, 2]:
                v2, s2 = market(
                    price_or_log,
                    log_fixed,
                    lqr,
                    lvr,
                    years_ago,
                    m_off[i],
                    m_off[i + 1],
                    e_quality[i],
                    e_volume[i],
                    index_growth[i],
                    sd_default[i],
                    sd_floor[i],
                    sd_level[i],
                )
            values[i, 0] = v0
            values[i, 1] = v1
            values[i, 2] = v2
            sigmas[i, 0] = s0
            sigmas[i, 1] = s1
            sigmas[i, 2] = s2
            w = weights[i]
            _weights(has[i, 0], has[i, 1], has[i, 2], s0, s1, s2, w)
            concluded[i] = w[0] * v0 + w[1] * v1 + w[2] * v2

    kernel.__name__ = kernel.__qualname__ = "value_batch_" + ("b" if fewer_calls else "a")
    return jit_parallel(kernel)


_value_batch_a = _make_unpacked_kernel(fewer_calls=False)
_value_batch_b = _make_unpacked_kernel(fewer_calls=True)


def prototype_a(
    has: np.ndarray, inc: IncomeInputs, cst: CostInputs, mkt: MarketInputs, out: BatchOutputs
) -> None:
    _value_batch_a(has, inc, cst, mkt, mkt.price, out)


def prototype_b(
    has: np.ndarray, inc: IncomeInputs, cst: CostInputs, mkt: MarketInputs, out: BatchOutputs
) -> None:
    _value_batch_b(has, inc, cst, mkt, np.log(mkt.price), out)


def max_relative_error(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Largest ``|a - b| / max(|a|, |b|)`` (0 where both are 0), over ``mask`` if given."""
    scale = np.maximum(np.abs(a), np.abs(b))
    rel = np.where(scale > 0.0, np.abs(a - b) / np.where(scale > 0.0, scale, 1.0), 0.0)
    if mask is not None:
        rel = rel[mask]
    return float(rel.max()) if rel.size else 0.0


def ill_conditioned_duration(has: np.ndarray, inc: IncomeInputs) -> np.ndarray:
    """Products whose income duration the kernel takes from a cancelling sum.

    Above ``|log q|·m = 1e-4`` the kernel uses ``q(1 − (m+1)q^m + m·q^(m+1))/(1 − q)²``: its
    terms are O(m) and cancel down to O(m²·log²q), so one ulp of ``exp`` (NumPy's SIMD one
    against glibc's) moves the duration by ~1e-16/(m·log²q). Up to ``|log q|·m = 1e-2`` that
    is more than 1e-9 in the log-value sd, hence in the weights and the concluded value.
    """
    log_q = np.log1p(inc.growth) + np.log1p(-inc.decay) - np.log1p(inc.discount)
    whole_years = np.floor(np.where(np.isfinite(inc.life), inc.life, 0.0))
    lm = np.abs(log_q) * whole_years
    return has[:, 0] & (lm >= 1e-4) & (lm < 1e-2)


def verify(
    got: BatchOutputs, ref: BatchOutputs, ill: np.ndarray, rtol: float = RTOL
) -> dict[str, float | int | bool]:
    """Compare two outputs: values everywhere at ``rtol``; sd-derived outputs at ``rtol`` on
    well-conditioned products and at 1e-6 on the ``ill``-conditioned ones (reported apart)."""
    well = ~ill
    report: dict[str, float | int | bool] = {"values": max_relative_error(got.values, ref.values)}
    for name in ("sigmas", "weights", "concluded"):
        a, b = getattr(got, name), getattr(ref, name)
        report[name] = max_relative_error(a, b, well)
        report[name + "_ill_conditioned"] = max_relative_error(a, b, ill)
    report["n_ill_conditioned"] = int(ill.sum())
    report["ok"] = bool(
        report["values"] <= rtol
        and all(report[k] <= rtol for k in ("sigmas", "weights", "concluded"))
        and all(report[k + "_ill_conditioned"] <= 1e-6 for k in ("sigmas", "weights", "concluded"))
    )
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


def seconds_per_million(timing: dict[str, float]) -> float:
    return timing["seconds_per_million"]


def run(n: int, reps: int, seed: int, with_compile: bool) -> dict[str, object]:
    start_all = time.perf_counter()
    has, inc, cst, mkt = make_inputs(n, seed)
    outs = {name: allocate_outputs(n) for name in ("numba", "numpy", "a", "b")}

    first_calls = {}
    for name, fn in (("numba", value_batch), ("a", prototype_a), ("b", prototype_b)):
        start = time.perf_counter()
        fn(has, inc, cst, mkt, outs[name])
        first_calls[name] = time.perf_counter() - start
    value_batch_numpy(has, inc, cst, mkt, outs["numpy"])

    ill = ill_conditioned_duration(has, inc)
    checks = {
        "numba_vs_numpy": verify(outs["numba"], outs["numpy"], ill),
        "prototype_a_vs_numba": verify(outs["a"], outs["numba"], ill),
        "prototype_b_vs_numba": verify(outs["b"], outs["numba"], ill),
    }
    checks["prototype_a_bit_identical"] = all(
        np.array_equal(getattr(outs["a"], k), getattr(outs["numba"], k), equal_nan=True)
        for k in BatchOutputs._fields
    )
    if not checks["numba_vs_numpy"]["ok"]:
        raise AssertionError(f"value_batch and the NumPy twin disagree: {checks}")

    def call(fn: Callable[..., object], out: BatchOutputs) -> Callable[[], object]:
        return lambda: fn(has, inc, cst, mkt, out)

    variants = {
        "numpy": (1, call(value_batch_numpy, outs["numpy"])),
        "numba_1t": (1, call(value_batch, outs["numba"])),
        "numba_2t": (2, call(value_batch, outs["numba"])),
        "prototype_a_1t": (1, call(prototype_a, outs["a"])),
        "prototype_a_2t": (2, call(prototype_a, outs["a"])),
        "prototype_b_1t": (1, call(prototype_b, outs["b"])),
        "prototype_b_2t": (2, call(prototype_b, outs["b"])),
    }
    timings = time_variants(variants, reps)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    numpy_best = timings["numpy"]["best_s"]
    for t in timings.values():
        t["products_per_s"] = n / t["best_s"]
        t["seconds_per_million"] = t["best_s"] * 1e6 / n
        t["speedup_vs_numpy"] = numpy_best / t["best_s"]

    result: dict[str, object] = {
        "n_products": n,
        "n_cost_items": int(cst.amount.shape[0]),
        "n_comparables": int(mkt.price.shape[0]),
        "seed": seed,
        "repetitions": reps,
        "threading_layer": numba.threading_layer(),
        "load_average_1min": os.getloadavg()[0],
        "timings": timings,
        "first_call_in_run_s": first_calls,
        "verification": checks,
        "goals": {
            "numba_2t_under_0.25s": seconds_per_million(timings["numba_2t"]) < GOAL_SECONDS_2T,
            "numba_2t_at_least_2x_numpy": timings["numba_2t"]["speedup_vs_numpy"] >= GOAL_RATIO,
            "numba_2t_at_least_3x_numpy": timings["numba_2t"]["speedup_vs_numpy"] >= AIM_RATIO,
        },
    }
    if with_compile:
        result["compile"] = compile_times()
    result["total_runtime_s"] = time.perf_counter() - start_all
    return result


_LABELS = {
    "numpy": "NumPy, vectorised",
    "numba_1t": "numba value_batch",
    "numba_2t": "numba value_batch",
    "prototype_a_1t": "prototype A (tuples unpacked)",
    "prototype_a_2t": "prototype A (tuples unpacked)",
    "prototype_b_1t": "prototype B (A + fewer libm)",
    "prototype_b_2t": "prototype B (A + fewer libm)",
}


def print_table(r: dict[str, object]) -> None:
    timings: dict[str, dict[str, float]] = r["timings"]  # type: ignore[assignment]
    print(
        f"dpv value_batch: {r['n_products']:,} products, {r['n_cost_items']:,} cost items, "
        f"{r['n_comparables']:,} comparables (seed {r['seed']}); best of {r['repetitions']}, "
        f"threading layer {r['threading_layer']}, load average {r['load_average_1min']:.1f}"
    )
    print()
    header = (
        f"{'variant':<31}{'threads':>8}{'best s':>9}{'median s':>10}{'cpu s':>8}"
        f"{'products/s':>13}{'x NumPy':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, t in timings.items():
        print(
            f"{_LABELS[name]:<31}{int(t['threads']):>8}{t['best_s']:>9.3f}{t['median_s']:>10.3f}"
            f"{t['cpu_median_s']:>8.3f}{t['products_per_s']:>13,.0f}{t['speedup_vs_numpy']:>9.2f}"
        )
    print()
    goals: dict[str, bool] = r["goals"]  # type: ignore[assignment]
    t2 = timings["numba_2t"]
    print(
        f"numba/NumPy: {timings['numba_1t']['speedup_vs_numpy']:.2f}x on 1 thread, "
        f"{t2['speedup_vs_numpy']:.2f}x on 2 threads; 1M products warm on 2 threads "
        f"{t2['seconds_per_million']:.3f} s"
    )
    print(
        "goals: < 0.25 s on 2 threads "
        + ("met" if goals["numba_2t_under_0.25s"] else "MISSED")
        + "; >= 2x NumPy "
        + ("met" if goals["numba_2t_at_least_2x_numpy"] else "MISSED")
        + "; aim 3x "
        + ("met" if goals["numba_2t_at_least_3x_numpy"] else "missed")
    )
    if "compile" in r:
        c: dict[str, dict[str, float]] = r["compile"]  # type: ignore[assignment]
        print(
            "compile (fresh process, DPV_CACHE_DIR): cold first call "
            f"{c['cold']['first_call_s']:.2f} s"
            f" (import {c['cold']['import_s']:.2f} s); cached first call "
            f"{c['cached']['first_call_s']:.3f} s (import {c['cached']['import_s']:.2f} s)"
        )
    v: dict[str, dict[str, float]] = r["verification"]  # type: ignore[assignment]
    nv = v["numba_vs_numpy"]
    print(
        f"verification numba vs NumPy ({'OK' if nv['ok'] else 'FAILED'}): max rel. diff values "
        f"{nv['values']:.1e}, sigmas {nv['sigmas']:.1e}, weights {nv['weights']:.1e}, concluded "
        f"{nv['concluded']:.1e}; {nv['n_ill_conditioned']} products with an ill-conditioned "
        f"income duration: concluded {nv['concluded_ill_conditioned']:.1e}, sigmas "
        f"{nv['sigmas_ill_conditioned']:.1e}"
    )
    vb = v["prototype_b_vs_numba"]
    print(
        f"prototype A bit-identical to value_batch: {v['prototype_a_bit_identical']}; "
        f"prototype B vs value_batch: values {vb['values']:.1e}, concluded {vb['concluded']:.1e} "
        f"({'OK' if vb['ok'] else 'FAILED'})"
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
