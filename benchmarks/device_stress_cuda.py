"""The stress kernel on a GPU against the CPU kernel: bit identity, speed, a whole book.

Run once on a machine with an NVIDIA GPU and numba-cuda
(``python benchmarks/device_stress_cuda.py``; ``--smoke`` runs tiny sizes, also under
``NUMBA_ENABLE_CUDASIM=1``). Imports only
``valuation.kernels`` (numpy, numba, numba-cuda): the model's arrays are built here.

1. Bit identity: the GPU's outputs against the CPU kernel's on 100 k paths of a model with every
   event (sector factor, jumps, revocation, expiry and renewal, wrong-way default, a sale after
   the tenor); mismatching elements and the largest absolute and ulp difference if any; how the
   kernel was built (without link-time optimisation, the PTX's fused multiply-adds).
2. Where bits differ, what differs: SHA-256 of the CPU's and the GPU's output arrays against
   those of the CPU on the reference machine (``device_reference_hashes.json``, written by
   ``--reference``); the device primitives (Philox, uniform, inverse normal, logarithm,
   exponential) against the CPU's on the same inputs; the stress kernel linked *with*
   link-time optimisation, against the CPU and against what such a build gave on an H200
   before (the contrast); where a terminal value differs, a per-step trace of the first such
   path.
3. Speed: the full model at 1 M paths × 60 steps × 3 items at the package's register limit
   (kernel time, device-resident, compile excluded; and with transfers), beside other limits,
   block sizes and the model with parts switched off; the CPU kernel on all cores; the bare-GBM
   CUDA yardstick with the same generator; in G path-steps/s (paths × steps × items per second).
4. A whole book: 10⁴ loans × 10⁴ paths × 60 steps × 3 items, end to end (host constants,
   transfers, kernel, results back) through ``stress_book_cuda`` (many loans per launch), and
   three loans' rows against the CPU kernel's.
5. Code: the floating-point instructions of each kernel's PTX and SASS (where ``nvdisasm``
   exists), whether it was linked without link-time optimisation, its registers and spills.
6. Profile (where Nsight Compute's ``ncu`` exists and may read the counters): the stress kernel
   on the full model, without events and diffusion only, at 131,072 paths: how many threads of
   a warp execute each instruction, issue and FP64-pipe utilisation, memory throughput,
   occupancy and the stall reasons per issued instruction (``PROFILE_METRICS``).

Prints one line per figure and writes the figures to ``$OUT/cuda.json`` when ``OUT`` is set.
``--reference [PATH]`` runs only the CPU side (no GPU needed) and writes the hashes the device
run compares against.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from valuation.kernels import layout as L

RESULTS: dict[str, Any] = {}
# The identity part's outputs (CPU, GPU) and model, for the diagnostics.
IDENTITY: dict[str, Any] = {}
SCRIPT = Path(__file__).resolve()
REFERENCE = SCRIPT.with_name("device_reference_hashes.json")
IDENTITY_SEED = 20261201
PROBE_SEED = 77


def say(key: str, value: Any, text: str) -> None:
    """Record a figure and print its line."""
    RESULTS[key] = value
    print(text, flush=True)


def model_arrays(n_steps: int, seed: int, variant: int = 0) -> dict[str, Any]:
    """A three-item pledge with every event, as the kernel's arrays (monthly steps)."""
    dt = 1.0 / 12.0
    rng = np.random.default_rng(1000 + variant)
    vols = np.array([0.35, 0.25, 0.2]) * (1.0 + 0.2 * rng.random(3))
    items = np.zeros((3, L.N_ITEM_COLUMNS))
    items[:, L.LOG_V0] = np.log([60.0, 30.0, 20.0])
    items[:, L.LOG_DRIFT_STEP] = (np.array([0.02, -0.05, 0.0]) - 0.5 * vols**2) * dt
    items[:, L.SIGMA_SQRT_DT] = vols * math.sqrt(dt)
    lam = np.array([1.5, 0.5, 0.0])
    items[:, L.JUMP_LAMBDA_DT] = lam * dt
    items[:, L.JUMP_P0] = np.exp(-lam * dt)
    items[:, L.JUMP_MEAN] = [-0.15, -0.3, 0.0]
    items[:, L.JUMP_VOL] = [0.2, 0.1, 0.0]
    items[:, L.REVOKE_P] = -np.expm1(-np.array([0.1, 0.05, 0.0]) * dt)
    items[:, L.REVOKE_KEEP] = [0.2, 0.0, 1.0]
    items[:, L.EXPIRY_STEP] = [9.0, 0.0, 0.0]
    items[:, L.RENEW_P] = [0.8, 1.0, 1.0]
    items[:, L.LAPSE_KEEP] = [0.5, 1.0, 1.0]
    items[:, L.POOL_WEIGHT] = [0.5, 0.3, 0.2]
    rho, wrong_way, pd = 0.5, 0.5, 0.08
    scalars = np.zeros(L.N_SCALARS)
    scalars[L.AMOUNT] = 60.0
    scalars[L.MARGIN_CALL_LTV] = 0.8
    # Φ⁻¹ of the monthly default probability, by bisection on erfc (no scipy needed).
    p_step = -math.expm1(math.log1p(-pd) * dt)
    lo, hi = -10.0, 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if 0.5 * math.erfc(-mid / math.sqrt(2.0)) < p_step else (lo, mid)
    scalars[L.DEFAULT_THRESHOLD] = 0.5 * (lo + hi)
    scalars[L.WRONG_WAY] = wrong_way
    scalars[L.WRONG_WAY_COMPLEMENT] = math.sqrt(1.0 - wrong_way**2)
    scalars[L.LIQUIDATION_KEEP] = 0.7
    scalars[L.SQRT_RHO] = math.sqrt(rho)
    scalars[L.SQRT_ONE_MINUS_RHO] = math.sqrt(1.0 - rho)
    rate = 0.06 / 12.0
    k = np.arange(n_steps + 1)
    profile = (1 - (1 + rate) ** -(n_steps - k)) / (1 - (1 + rate) ** -n_steps)
    profile[-1] = 1e-9  # a last exposure just above zero (the annuity's ends at 0)
    return {
        "items": items,
        "sector_index": np.array([0, 0, 1], dtype=np.int64),
        "item_keys": np.array(
            [11 + 7 * variant, 12 + 7 * variant, 13 + 7 * variant], dtype=np.uint64
        ),
        "sector_keys": np.array([101, 102], dtype=np.uint64),
        "stream_keys": np.array([seed, 999 + variant], dtype=np.uint64),
        "profile": profile,
        "scalars": scalars,
        "n_liquidation_steps": 6,
    }


def kernel_inputs(m: dict[str, Any]) -> L.StressArrays:
    return L.StressArrays(
        m["items"],
        m["sector_index"],
        m["item_keys"],
        m["sector_keys"],
        m["stream_keys"],
        m["profile"],
        m["scalars"],
        m["n_liquidation_steps"],
    )


def outputs(n: int, n_items: int, n_steps: int, store: bool) -> list[np.ndarray]:
    return [
        np.empty(n),
        np.empty(n, dtype=np.int64),
        np.empty(n),
        np.empty(n),
        np.empty((n, n_items), dtype=np.uint8),
        np.empty((n, n_items if store else 0)),
        np.empty((n_steps + 1 if store else 0, n), dtype=np.float32),
    ]


NAMES = ("min_ratio", "default_step", "ead", "loss", "flags", "terminal", "pool")


def run_cpu(m: dict[str, Any], n: int, store: bool) -> list[np.ndarray]:
    return cpu_rows(kernel_inputs(m), n, store)


def cpu_rows(inputs: L.StressArrays, n: int, store: bool) -> list[np.ndarray]:
    """The CPU kernel's outputs for paths 0 .. n − 1 of a model, on every core."""
    from valuation.kernels._jit import run_parallel
    from valuation.kernels.stress import stress_paths

    out = outputs(n, inputs[0].shape[0], inputs[5].shape[0] - 1, store)
    path_outputs = L.PathOutputs(*out)
    run_parallel(lambda b, e: stress_paths(inputs, 0, b, e, path_outputs), n, L.CHUNK)
    return out


def run_gpu(m: dict[str, Any], n: int, store: bool) -> list[np.ndarray]:
    from valuation.kernels.cuda.paths import stress_paths_cuda

    out = outputs(n, 3, m["profile"].shape[0] - 1, store)
    stress_paths_cuda(kernel_inputs(m), 0, 0, n, L.PathOutputs(*out))
    return out


def ulps(a: np.ndarray, b: np.ndarray) -> int:
    """Largest distance in units in the last place between two float arrays."""
    if a.dtype.kind != "f":
        return 0
    width = np.int64 if a.dtype == np.float64 else np.int32
    ia, ib = a.view(width).astype(np.int64), b.view(width).astype(np.int64)
    ia = np.where(ia < 0, np.iinfo(width).min - ia, ia)
    ib = np.where(ib < 0, np.iinfo(width).min - ib, ib)
    return int(np.max(np.abs(ia - ib))) if a.size else 0


def part_identity(n: int) -> None:
    from valuation.kernels.cuda.paths import _stress_kernel, fma_count
    from valuation.kernels.cuda.prep import device_constants

    m = model_arrays(60, seed=IDENTITY_SEED)
    t0 = time.perf_counter()
    cpu = run_cpu(m, n, True)
    t1 = time.perf_counter()
    gpu = run_gpu(m, n, True)
    t2 = time.perf_counter()
    IDENTITY.update(model=m, cpu=cpu, gpu=gpu, n=n)
    say(
        "cpu_first_call_s", t1 - t0, f"CPU kernel first call (compile + {n} paths): {t1 - t0:.1f} s"
    )
    say(
        "gpu_first_call_s", t2 - t1, f"GPU kernel first call (compile + {n} paths): {t2 - t1:.1f} s"
    )
    _, _, _, certain = device_constants(m["items"], 66)
    say("revocation_table_certain", certain, f"revocation tables certain: {certain}")
    report: dict[str, Any] = {}
    bad_rows: dict[str, np.ndarray] = {}
    all_equal = True
    for name, a, b in zip(NAMES, cpu, gpu, strict=True):
        same = np.array_equal(a, b) or (
            a.dtype.kind == "f" and np.array_equal(a, b, equal_nan=True)
        )
        bad = int(np.count_nonzero(a != b)) if not same else 0
        diff = float(np.nanmax(np.abs(a.astype(float) - b.astype(float)))) if not same else 0.0
        rows = np.flatnonzero((a != b).reshape(a.shape[0], -1).any(axis=1)) if not same else []
        if name == "pool":  # (steps + 1, paths): a path is a column
            rows = np.flatnonzero((a != b).any(axis=0)) if not same else []
        bad_rows[name] = np.asarray(rows, dtype=np.int64)
        report[name] = {
            "identical": same,
            "mismatches": bad,
            "max_abs": diff,
            "max_ulp": ulps(a, b) if not same else 0,
            "first_paths": [int(r) for r in bad_rows[name][:8]],
        }
        all_equal = all_equal and same
        print(
            f"  {name:13s} identical={same} mismatches={bad} max_abs={diff:.3g}",
            f"max_ulp={report[name]['max_ulp']}",
        )
    defaults = int(np.count_nonzero(cpu[1] >= 0))
    late = int(np.count_nonzero((cpu[1] >= 0) & (cpu[1] + 6 > 60)))
    flags = np.bitwise_or.reduce(cpu[4], axis=1)
    say(
        "identity",
        report,
        f"bit identity on {n} paths: {'ALL IDENTICAL' if all_equal else 'MISMATCH'}",
    )
    say(
        "identity_events",
        {
            "defaults": defaults,
            "sales_after_tenor": late,
            "revoked": int(np.count_nonzero(flags & 1)),
            "lapsed": int(np.count_nonzero(flags & 4)),
        },
        f"  events exercised: {defaults} defaults ({late} sold after the tenor), "
        f"{int(np.count_nonzero(flags & 1))} paths revoked, "
        f"{int(np.count_nonzero(flags & 4))} lapsed",
    )
    if not all_equal:
        rows = np.unique(np.concatenate(list(bad_rows.values())))
        kinds = {
            "paths": int(rows.size),
            "defaulted": int(np.count_nonzero(cpu[1][rows] >= 0)),
            "sold_after_tenor": int(np.count_nonzero((cpu[1][rows] >= 0) & (cpu[1][rows] > 54))),
            "revoked": int(np.count_nonzero(flags[rows] & 1)),
            "lapsed": int(np.count_nonzero(flags[rows] & 4)),
        }
        say("mismatching_paths", kinds, f"  mismatching paths: {kinds}")
    try:
        count = fma_count(_stress_kernel)
        say("ptx_fma_count", count, f"fused multiply-adds in the stress kernel's PTX: {count}")
    except Exception as exc:  # a figure lost, not the part
        say("ptx_fma_count", f"unknown: {exc}", f"fused multiply-adds in the PTX: unknown ({exc})")
    from valuation.kernels.cuda import paths
    from valuation.kernels.cuda._numba_internals import PTXAS_GUARD

    build = {
        "linked_without_lto": paths.linked_without_lto(_stress_kernel),
        "max_registers": paths.MAX_REGISTERS,
        "ptxas_guard": dict(PTXAS_GUARD),
    }
    say(
        "stress_kernel_build",
        build,
        f"stress kernel built from its PTX (no link-time optimisation): "
        f"{build['linked_without_lto']}; register limit {build['max_registers']}; unrounded "
        f"f64 operations rewritten as .rn before linking: {build['ptxas_guard']}",
    )


BLOCK_SIZES = (64, 128, 256, 512)
REGISTER_LIMITS = (72, 128)  # 128: the unlimited build (120 registers)


def fastest_launch(kernel: Any, blocks: int, size: int, args: Any, repeats: int) -> float:
    """Return the shortest wall time of ``repeats`` launches of ``kernel``, each synchronised."""
    from numba import cuda

    fastest = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        kernel[blocks, size](*args)
        cuda.synchronize()
        fastest = min(fastest, time.perf_counter() - t0)
    return fastest


def registers_trial(
    limit: int, args: list[Any], outputs: list[Any], reference: list[np.ndarray], work: int
) -> dict[str, Any]:
    """The stress kernel compiled with ``max_registers=limit``: its speed, spills and bits."""
    from numba import cuda

    from valuation.kernels.cuda._numba_internals import simulated
    from valuation.kernels.cuda.paths import _stress_kernel, blocks_for, threads_per_block

    if simulated():  # no registers in the simulator
        kernel = cuda.jit(_stress_kernel.py_func)
    else:  # the function first: cuda.jit(lto=False, ...) used as a decorator factory drops lto
        kernel = cuda.jit(_stress_kernel.py_func, lto=False, max_registers=limit)
    n = reference[0].shape[0]
    blocks, size = blocks_for(n), threads_per_block()
    kernel[blocks, size](*args)
    cuda.synchronize()
    same = all(
        np.array_equal(out.copy_to_host(), ref)
        for out, ref in zip(outputs, reference, strict=False)
    )
    fastest = fastest_launch(kernel, blocks, size, args, 3)
    import cuda_diagnostics as diag

    return {"gps": work / fastest / 1e9, "same_bits": same, **diag.occupancy(kernel)}


def speed_arguments(m: dict[str, Any], n: int) -> tuple[list[Any], Any]:
    """The stress kernel's device arguments and outputs for paths 0 .. n − 1 of model ``m``."""
    from numba import cuda

    from valuation.kernels.cuda.paths import launch_arguments
    from valuation.kernels.cuda.prep import device_constants

    steps = m["profile"].shape[0] - 1
    aux, thresholds, pool0, _ = device_constants(m["items"], steps + m["n_liquidation_steps"])
    inputs = [cuda.to_device(np.ascontiguousarray(a)) for a in kernel_inputs(m)[:7]]
    constants = [
        cuda.to_device(aux),
        cuda.to_device(thresholds),
        cuda.to_device(1.0 / m["profile"]),
        pool0,
    ]
    scalars = m["scalars"]
    return launch_arguments(
        inputs,
        constants,
        m["items"].shape[0],
        steps,
        m["n_liquidation_steps"],
        0,
        n,
        store_pool=False,
        store_terminal=False,
        use_factor=bool(scalars[L.DEFAULT_THRESHOLD] > -math.inf and scalars[L.WRONG_WAY] != 0),
    )


def model_parts(m: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The benchmark's model with parts switched off, to find where the time goes.

    ``no_events`` (no jumps, revocation or expiry), ``no_default`` (no borrower default, so no
    factor, borrower draws or sale), ``diffusion_only`` (both); and, to split the events' cost,
    ``no_jumps`` (revocation and expiry kept), ``jumps_only`` (no revocation or expiry) and
    ``no_sector`` (the sector factor off: one normal a step instead of two).
    """

    def changed(base: dict[str, Any], array: str, **values: float) -> dict[str, Any]:
        """``base`` with entries of its ``items`` columns or ``scalars`` set (named in ``L``)."""
        variant = dict(base)
        variant[array] = base[array].copy()
        for name, value in values.items():
            variant[array][..., getattr(L, name)] = value
        return variant

    no_jumps = {"JUMP_LAMBDA_DT": 0.0, "JUMP_P0": 1.0}
    no_certificate = {"REVOKE_P": 0.0, "EXPIRY_STEP": 0.0}
    no_default = {"DEFAULT_THRESHOLD": -math.inf}
    quiet = changed(m, "items", **no_jumps, **no_certificate)
    return {
        "no_events": quiet,
        "no_default": changed(m, "scalars", **no_default),
        "diffusion_only": changed(quiet, "scalars", **no_default),
        "no_jumps": changed(m, "items", **no_jumps),
        "jumps_only": changed(m, "items", **no_certificate),
        "no_sector": changed(m, "scalars", SQRT_RHO=0.0, SQRT_ONE_MINUS_RHO=1.0),
    }


def part_speed(n: int, n_cpu: int, repeats: int) -> None:
    from numba import cuda

    from valuation.kernels.cuda.paths import (
        MAX_REGISTERS,
        _stress_kernel,
        blocks_for,
        threads_per_block,
    )

    m = model_arrays(60, seed=7)
    steps, items = 60, 3
    work = n * steps * items
    args, speed_outputs = speed_arguments(m, n)
    grid, size = blocks_for(n), threads_per_block()  # 128 a block on a GPU
    _stress_kernel[grid, size](*args)  # compiled already; warm
    cuda.synchronize()
    best = fastest_launch(_stress_kernel, grid, size, args, repeats)
    say(
        "gpu_full_model_gps",
        work / best / 1e9,
        f"GPU full model, {n} paths x {steps} steps x {items} items, at most {MAX_REGISTERS} "
        f"registers: {best * 1e3:.2f} ms, {work / best / 1e9:.2f} G path-steps/s (kernel only)",
    )
    by_block = {}
    for tpb in BLOCK_SIZES:
        blocks = (n + tpb - 1) // tpb
        _stress_kernel[blocks, tpb](*args)
        cuda.synchronize()
        fastest = fastest_launch(_stress_kernel, blocks, tpb, args, max(1, repeats - 2))
        by_block[tpb] = work / fastest / 1e9
    parts = {}
    for name, variant in model_parts(m).items():
        part_args, _ = speed_arguments(variant, n)
        fastest = fastest_launch(_stress_kernel, grid, size, part_args, max(1, repeats - 2))
        parts[name] = work / fastest / 1e9
        del part_args
    say(
        "gpu_full_model_parts_gps",
        parts,
        "GPU model with parts switched off: "
        + ", ".join(f"{k}: {v:.2f} G/s" for k, v in parts.items()),
    )
    reference = [a.copy_to_host() for a in speed_outputs[:5]]
    by_registers = {}
    for limit in REGISTER_LIMITS:
        try:
            by_registers[limit] = registers_trial(limit, args, speed_outputs, reference, work)
        except Exception as exc:  # a figure lost, not the part
            by_registers[limit] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}"}
    say(
        "gpu_full_model_by_max_registers",
        by_registers,
        f"GPU full model compiled with other register limits (128 threads/block): {by_registers}",
    )
    say(
        "gpu_full_model_gps_by_block",
        by_block,
        "GPU full model by threads per block: "
        + ", ".join(f"{k}: {v:.2f} G/s" for k, v in by_block.items()),
    )
    t0 = time.perf_counter()
    run_gpu(m, n, False)
    t1 = time.perf_counter()
    say(
        "gpu_full_model_with_transfers_gps",
        work / (t1 - t0) / 1e9,
        f"GPU full model incl. host constants and transfers: {(t1 - t0) * 1e3:.1f} ms, "
        f"{work / (t1 - t0) / 1e9:.2f} G path-steps/s",
    )

    from valuation.kernels._jit import pool_threads

    run_cpu(m, min(n_cpu, 4096), False)  # compiled already (part 1) or now
    best_cpu = math.inf
    for _ in range(2):
        t0 = time.perf_counter()
        run_cpu(m, n_cpu, False)
        best_cpu = min(best_cpu, time.perf_counter() - t0)
    cpu_rate = n_cpu * steps * items / best_cpu / 1e9
    say(
        "cpu_full_model_gps",
        cpu_rate,
        f"CPU full model on {pool_threads()} threads, {n_cpu} paths: {best_cpu * 1e3:.1f} ms, "
        f"{cpu_rate:.3f} G path-steps/s",
    )
    say(
        "gpu_over_cpu",
        RESULTS["gpu_full_model_gps"] / cpu_rate,
        f"GPU / CPU (full model): {RESULTS['gpu_full_model_gps'] / cpu_rate:.1f}x",
    )

    from valuation.kernels.cuda.gbm import _gbm_kernel

    it = m["items"]
    columns = (it[:, L.LOG_V0], it[:, L.LOG_DRIFT_STEP], it[:, L.SIGMA_SQRT_DT])
    keys = (m["item_keys"], m["sector_index"], m["sector_keys"])
    gargs = [
        *(cuda.to_device(np.ascontiguousarray(a)) for a in (*columns, *keys)),
        float(m["scalars"][L.SQRT_RHO]),
        float(m["scalars"][L.SQRT_ONE_MINUS_RHO]),
        np.uint64(m["stream_keys"][0]),
        cuda.to_device(1.0 / m["profile"]),
        float(np.exp(it[:, L.LOG_V0]).sum()),
        0,
        n,
        cuda.device_array(n),
    ]
    _gbm_kernel[grid, size](*gargs)
    cuda.synchronize()
    best_gbm = fastest_launch(_gbm_kernel, grid, size, gargs, repeats)
    say(
        "gpu_gbm_gps",
        work / best_gbm / 1e9,
        "GPU bare GBM yardstick (same Philox, normals, exp; sector factor): "
        f"{best_gbm * 1e3:.2f} ms, "
        f"{work / best_gbm / 1e9:.2f} G path-steps/s; full model at "
        f"{RESULTS['gpu_full_model_gps'] / (work / best_gbm / 1e9):.2f} of it",
    )


# Nsight Compute metrics that tell apart what limits the stress kernel: how many threads of a
# warp execute each instruction (divergence), how busy the issue slots and the FP64 pipe are,
# memory throughput, occupancy, and why warps stall (per issued instruction).
PROFILE_METRICS = (
    "smsp__thread_inst_executed_per_inst_executed.ratio",
    "smsp__inst_executed.sum",
    "smsp__issue_active.avg.pct_of_peak_sustained_active",
    "smsp__pipe_fp64_cycles_active.avg.pct_of_peak_sustained_active",
    "sm__warps_active.avg.pct_of_peak_sustained_active",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
    "l1tex__t_sector_hit_rate.pct",
    "lts__t_sector_hit_rate.pct",
    "gpu__time_duration.sum",
    *(
        f"smsp__average_warps_issue_stalled_{reason}_per_issue_active.ratio"
        for reason in (
            "long_scoreboard", "short_scoreboard", "wait", "math_pipe_throttle",
            "mio_throttle", "lg_throttle", "no_instruction", "branch_resolving",
            "barrier", "not_selected", "dispatch_stall", "drain", "membar", "sleeping",
        )
    ),
)  # fmt: skip
PROFILE_PATHS = 131_072
PROFILE_S = 120  # the most ncu may take
PARTS = ("identity", "diagnose", "speed", "book", "code", "profile")


def find_ncu() -> str | None:
    """Return the path of Nsight Compute's ``ncu``, if installed."""
    import shutil

    found = shutil.which("ncu")
    if found:
        return found
    for pattern in ("/usr/local/cuda*/bin/ncu", "/opt/nvidia/nsight-compute*/ncu"):
        for candidate in sorted(Path("/").glob(pattern.lstrip("/"))):
            return str(candidate)
    return None


def profile_launches(n: int) -> None:
    """The profiled child: the stress kernel on the full model (a warm-up launch, then one) and
    on the model without events and without default, one launch each."""
    from numba import cuda

    from valuation.kernels.cuda.paths import _stress_kernel, blocks_for, threads_per_block

    m = model_arrays(60, seed=7)
    variants = model_parts(m)
    for model in (m, m, variants["no_events"], variants["diffusion_only"]):
        args, _ = speed_arguments(model, n)
        _stress_kernel[blocks_for(n), threads_per_block()](*args)
        cuda.synchronize()


def part_profile(n: int) -> None:
    """The stress kernel under Nsight Compute (where ``ncu`` exists and may read counters)."""
    import csv
    import subprocess

    ncu = find_ncu()
    if ncu is None:
        say("profile", "ncu not found", "profile: skipped (Nsight Compute's ncu not found)")
        return
    cmd = [
        ncu, "--csv", "--clock-control", "none", "--kernel-name", "regex:_stress_kernel",
        "--launch-skip", "1", "--launch-count", "3", "--metrics", ",".join(PROFILE_METRICS),
        sys.executable, str(SCRIPT), "--profile-launches", str(n),
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PROFILE_S)
    except subprocess.TimeoutExpired:
        say("profile", "timeout", f"profile: ncu timed out after {PROFILE_S} s")
        return
    table: dict[str, dict[str, str]] = {}
    rows = [line for line in done.stdout.splitlines() if line.startswith('"')]
    for row in csv.DictReader(rows):
        if "Metric Name" in row and "Metric Value" in row:
            value = f"{row['Metric Value']} {row.get('Metric Unit') or ''}".strip()
            table.setdefault(row.get("ID", "?"), {})[row["Metric Name"]] = value
    launches = sorted(table, key=lambda key: int(key) if key.isdigit() else -1)
    names = ("full", "no_events", "diffusion_only")  # profile_launches' order after warm-up
    by_variant = {
        names[i] if i < len(names) else f"launch_{launch}": table[launch]
        for i, launch in enumerate(launches)
    }
    if not by_variant:
        tail = (done.stdout + done.stderr)[-1500:]
        say(
            "profile",
            {"error": tail, "rc": done.returncode},
            f"profile: no metrics (rc {done.returncode}):\n{tail}",
        )
        return
    say("profile", by_variant, "profile (Nsight Compute):")
    for variant, metrics in by_variant.items():
        for metric in PROFILE_METRICS:
            if metric in metrics:
                print(f"  {variant:<15} {metric:<75} {metrics[metric]}", flush=True)


def part_book(loans: int, paths: int) -> None:
    from valuation.kernels.cuda.book import stress_book_cuda

    steps, items = 60, 3
    models = [model_arrays(steps, seed=5, variant=v) for v in range(min(loans, 50))]
    book = []
    for loan in range(loans):
        m = dict(models[loan % len(models)])
        m["stream_keys"] = np.array([5, 100_000 + loan], dtype=np.uint64)
        book.append(kernel_inputs(m))
    stress_book_cuda(book[:2], min(paths, 1024))  # compile (and no one-block launch)
    t0 = time.perf_counter()
    stats = stress_book_cuda(book, paths)
    elapsed = time.perf_counter() - t0
    work = loans * paths * steps * items
    say(
        "book",
        {"loans": loans, "paths": paths, "elapsed_s": elapsed, "gps": work / elapsed / 1e9},
        f"book: {loans} loans x {paths} paths x {steps} steps x {items} items end to end "
        f"(host constants, transfers both ways, kernel) in {elapsed:.2f} s, "
        f"{work / elapsed / 1e9:.2f} G path-steps/s",
    )
    from valuation.kernels.cuda.prep import device_constants

    t0 = time.perf_counter()
    for m in book:
        device_constants(m[0], steps + int(m[7]))
    prep = time.perf_counter() - t0
    say(
        "book_host_constants_s",
        prep,
        f"  of which the host constants of {loans} loans (device_constants): {prep:.2f} s",
    )
    same = []
    for loan in (0, 1, loans - 1):
        cpu = cpu_rows(book[loan], paths, False)
        same.append(
            bool(
                np.array_equal(cpu[0], stats.min_ratio[loan])
                and np.array_equal(cpu[1], stats.default_step[loan])
                and np.array_equal(cpu[2], stats.ead[loan])
                and np.array_equal(cpu[3], stats.loss[loan])
                and np.array_equal(cpu[4], stats.flags[loan])
            )
        )
    say(
        "book_rows_identical", same, f"book rows of loans 0, 1 and the last equal the CPU's: {same}"
    )


def cpu_fingerprint(n: int, *, probes: bool) -> dict[str, Any]:
    """The CPU side only: hashes of the identity model's outputs on ``n`` paths, the host."""
    import cuda_diagnostics as diag

    m = model_arrays(60, seed=IDENTITY_SEED)
    result: dict[str, Any] = {
        "paths": n,
        "hashes": diag.output_hashes(run_cpu(m, n, True)),
        "host": diag.host_info(),
    }
    if probes:
        inp = diag.probe_inputs(PROBE_N)
        cpu = diag.probe_cpu(inp, PROBE_SEED)
        result["probe_hashes"] = {name: diag.sha256(a) for name, a in cpu.items()}
        result["probe_n"] = PROBE_N
    return result


# The GPU's output hashes on the identity model's 100,000 paths on an H200 when the kernel was
# linked with link-time optimisation (nvJitLink contracting a·b + c): what lto_contrast expects.
LTO_GPU_HASHES_H200 = {
    "min_ratio": "83b2181d642e985d639ea62d863a4989ab5f365fee73c6ffaab92ea2ef79e913",
    "default_step": "33053c43db69ec834c6626e4fe70d019398b0139144193b1e1cea7545fb841ee",
    "ead": "8b23fa8f76194ad4e03e5f9986cc09486a02ed37e5ef76ec10bcfcaacae0f21d",
    "loss": "77da6252f1a9d70e61490af75495764bce431ed52c89f6f823aa0ad12219da31",
    "flags": "23858c023978562587307108a45cdac52fdba0d42213d34fa64a5840eaf12d8e",
    "terminal": "10410eed47a8372fee263af969d8d1d7aec9582b87199d6d0fa759dc1e8338ea",
    "pool": "f243198e7523b90a6715783afda1c32d0f7155acddf3e3424c1dd075b9276319",
}
PROBE_N = 20_000
IDENTITY_PATHS = 100_000
IDENTITY_SMOKE = 40
VARIANTS = {
    "vector_width_256": {"DPV_VECTOR_WIDTH": "256"},
    "generic": {"NUMBA_CPU_NAME": "generic"},
}


def write_reference(path: Path, sizes: list[int]) -> None:
    """``--reference``: the CPU's hashes here (default, and each variant) for ``sizes`` paths."""
    import cuda_diagnostics as diag

    doc: dict[str, Any] = {"identity_seed": IDENTITY_SEED, "probe_seed": PROBE_SEED}
    for n in sizes:
        entry = cpu_fingerprint(n, probes=True)
        entry["variants"] = {
            name: diag.cpu_hashes_in_subprocess(SCRIPT, n, env) for name, env in VARIANTS.items()
        }
        doc[str(n)] = entry
        print(json.dumps({str(n): entry["hashes"]}, indent=1), flush=True)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"reference hashes written to {path}")


def part_diagnose(probe_n: int, trace_paths: int) -> None:
    """Where bits differ: hashes against the reference machine, primitives, a traced path."""
    with warnings.catch_warnings():  # the trace's one-thread and small launches
        warnings.filterwarnings("ignore", message=".*Grid size")
        diagnose(probe_n, trace_paths)


def diagnose(probe_n: int, trace_paths: int) -> None:
    """The body of :func:`part_diagnose`."""
    import cuda_diagnostics as diag

    m, cpu, gpu, n = IDENTITY["model"], IDENTITY["cpu"], IDENTITY["gpu"], IDENTITY["n"]
    here = diag.output_hashes(cpu)
    say("cpu_hashes", here, f"CPU output hashes: {json.dumps(here)}")
    say("gpu_hashes", diag.output_hashes(gpu), "GPU output hashes recorded")
    host = diag.host_info()
    say("host", host, f"host: {json.dumps(host)}")
    reference = diag.load_reference(REFERENCE) or {}
    ref = reference.get(str(n))
    if ref:
        same = {k: here[k] == ref["hashes"][k] for k in here}
        gpu_same = {k: v == ref["hashes"][k] for k, v in RESULTS["gpu_hashes"].items()}
        say(
            "cpu_equals_reference",
            same,
            f"CPU outputs equal the reference machine's ({ref['host'].get('cpu_model')}): {same}",
        )
        say("gpu_equals_reference", gpu_same, f"GPU outputs equal the reference CPU's: {gpu_same}")
    else:
        say("cpu_equals_reference", None, f"no reference hashes for {n} paths in {REFERENCE}")
    inp = diag.probe_inputs(probe_n)
    pc = diag.probe_cpu(inp, PROBE_SEED)
    pg = diag.probe_gpu(inp, PROBE_SEED)
    probes = diag.probe_report(pc, pg, inp)
    say(
        "probes",
        probes,
        "primitives, GPU against CPU (mismatches of "
        f"{probe_n}): " + ", ".join(f"{k}={v['mismatches']}" for k, v in probes.items()),
    )
    for k, v in probes.items():
        if v["mismatches"]:
            print(f"  {k}: {json.dumps(v.get('examples', [])[:3])}")
    if ref and ref.get("probe_n") == probe_n:
        probe_same = {k: diag.sha256(a) == ref["probe_hashes"].get(k) for k, a in pc.items()}
        say("probe_cpu_equals_reference", probe_same, f"CPU primitives = reference: {probe_same}")

    lto_contrast(m, n, here)
    item = diag.PLAIN_ITEM
    bad = np.flatnonzero(cpu[5][:, item] != gpu[5][:, item])
    if not bad.size:
        say("trace", None, f"no terminal value of the event-free item {item} differs: no trace")
        return
    path = int(bad[0])
    t0 = time.perf_counter()
    report = diag.trace_report(
        diag.trace_cpu(m, path, item),
        diag.trace_gpu(m, path, item),
        diag.kernel_steps(lambda mm, k: run_cpu(mm, k, True), m, path, item, trace_paths),
        diag.kernel_steps(lambda mm, k: run_gpu(mm, k, True), m, path, item, trace_paths),
    )
    report["path"] = path
    report["item"] = item
    report["item_terminal_mismatches"] = int(bad.size)
    say(
        "trace",
        report,
        f"trace of path {path}, event-free item {item} ({bad.size} of {n} terminal values "
        f"differ; {time.perf_counter() - t0:.1f} s): first differing step "
        f"{json.dumps(report['first_differing_step'])}",
    )
    for k, row in report["steps"].items():
        print(f"  step {k}: {json.dumps(row)}")


def lto_contrast(m: dict[str, Any], n: int, cpu_hashes: dict[str, str]) -> None:
    """The stress kernel linked *with* link-time optimisation, on the identity model's paths.

    Its outputs against the CPU's and against what such a build gave before on an H200
    (:data:`LTO_GPU_HASHES_H200`): the contrast that shows the link step as the cause.
    """
    import cuda_diagnostics as diag
    from numba import cuda

    from valuation.kernels.cuda import paths
    from valuation.kernels.cuda._numba_internals import simulated

    if simulated():
        say("lto_contrast", None, "GPU linked with link-time optimisation: not in the simulator")
        return
    default = paths._stress_kernel
    try:
        t0 = time.perf_counter()
        paths._stress_kernel = cuda.jit(
            default.py_func, lto=True, max_registers=paths.MAX_REGISTERS
        )
        hashes = diag.output_hashes(run_gpu(m, n, True))
        report = {
            "equal_to_cpu": {k: v == cpu_hashes[k] for k, v in hashes.items()},
            "equal_to_lto_build_on_h200": (
                {k: v == LTO_GPU_HASHES_H200[k] for k, v in hashes.items()}
                if n == IDENTITY_PATHS
                else None
            ),
            "seconds": time.perf_counter() - t0,
        }
    except Exception as exc:  # no nvJitLink: a figure lost, not the part
        report = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    finally:
        paths._stress_kernel = default
    say("lto_contrast", report, f"GPU linked with link-time optimisation: {json.dumps(report)}")


def part_code() -> None:
    """The compiled kernels' floating-point instructions and occupancy (after every part)."""
    import cuda_diagnostics as diag

    from valuation.kernels.cuda.paths import linked_without_lto

    for name, kernel in kernels():
        try:
            census = diag.ptx_census(kernel)
        except Exception as exc:  # a figure lost, not the part
            census = {"error": str(exc)}
        census["linked_without_lto"] = linked_without_lto(kernel)
        say(f"ptx_{name}", census, f"{name} PTX: {json.dumps(census)}")
        usage = diag.occupancy(kernel)
        say(f"occupancy_{name}", usage, f"{name} kernel: {json.dumps(usage)}")


def kernels() -> list[tuple[str, Any]]:
    """The compiled kernels whose code and occupancy the script reports."""
    import cuda_diagnostics as diag

    from valuation.kernels.cuda.gbm import _gbm_kernel
    from valuation.kernels.cuda.paths import _book_kernel, _stress_kernel

    found = [("stress", _stress_kernel), ("book", _book_kernel), ("gbm", _gbm_kernel)]
    return found + [("probe", k) for k in diag._PROBE] + [("trace", k) for k in diag._TRACE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (simulator-friendly)")
    parser.add_argument(
        "--reference",
        nargs="?",
        const=str(REFERENCE),
        help="CPU only: write the reference hashes (default: next to this script)",
    )
    parser.add_argument("--cpu-hashes", type=int, help="CPU only: print the hashes for N paths")
    parser.add_argument(
        "--profile-launches", type=int, help="the launches Nsight Compute profiles (internal)"
    )
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {','.join(PARTS)} (default: all)",
    )
    args = parser.parse_args()
    smoke = args.smoke
    if args.profile_launches:
        profile_launches(args.profile_launches)
        return
    if args.cpu_hashes:
        print(json.dumps(cpu_fingerprint(args.cpu_hashes, probes=False)), flush=True)
        return
    if args.reference:
        write_reference(Path(args.reference), [IDENTITY_SMOKE, IDENTITY_PATHS])
        return
    try:
        from numba import cuda

        gpu = cuda.get_current_device()
        name = gpu.name.decode() if isinstance(gpu.name, bytes) else str(gpu.name)
        say("device", name, f"device: {name}")
    except Exception as exc:  # the figure says what went wrong
        say("device", f"none: {exc}", f"device: none ({exc})")
    import numba

    try:
        from importlib.metadata import version

        numba_cuda = version("numba-cuda")
    except Exception:  # not installed: the parts say what fails
        numba_cuda = "absent"
    say(
        "versions",
        {"numpy": np.__version__, "numba": numba.__version__, "numba_cuda": numba_cuda},
        f"numpy {np.__version__}, numba {numba.__version__}, numba-cuda {numba_cuda}",
    )
    big = 64 if smoke else 1_000_000
    parts = [
        ("identity", lambda: part_identity(IDENTITY_SMOKE if smoke else IDENTITY_PATHS)),
        ("diagnose", lambda: part_diagnose(200 if smoke else PROBE_N, 1 if smoke else L.CHUNK)),
        ("speed", lambda: part_speed(big, big, 1 if smoke else 5)),
        ("book", lambda: part_book(3 if smoke else 10_000, 16 if smoke else 10_000)),
        ("code", part_code),
        ("profile", lambda: part_profile(64 if smoke else PROFILE_PATHS)),
    ]
    chosen = set(args.parts.split(","))
    unknown = chosen - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")
    start = time.perf_counter()
    for name, part in parts:
        if name not in chosen:
            continue
        t0 = time.perf_counter()
        try:
            part()
        except Exception:  # one part's failure must not lose the others
            RESULTS[f"{name}_error"] = traceback.format_exc()
            print(f"{name}: FAILED\n{traceback.format_exc()}", flush=True)
        print(f"[{name}: {time.perf_counter() - t0:.1f} s]", flush=True)
        write_results()  # after every part: a run cut short keeps what it measured
    print(f"[all: {time.perf_counter() - start:.1f} s]", flush=True)


def write_results() -> None:
    """Write the figures so far to ``$OUT/cuda.json`` where ``OUT`` is set."""
    out = os.environ.get("OUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        Path(out, "cuda.json").write_text(json.dumps(RESULTS, indent=2, default=str))


if __name__ == "__main__":
    main()
