"""The full stress model on the GPU: one thread per path, the CPU kernel's bits.

:func:`stress_paths_cuda` takes the arguments of :func:`valuation.kernels.stress.stress_paths`
and fills the same outputs with the same bits. Each thread runs one path the way the "obvious
per-path loop" runs it: for each item in order, its event schedule
(:func:`~valuation.kernels.cuda.primitives.item_events`), then its steps (the sector and item
normals of the step, the drift, the events, the exponential, added to the pooled value and to
the borrower's factor); then the running minimum of value over exposure profile, the first
step of default, and the sale of the collateral (run on past the tenor where it falls after
it). Every sum is formed in the CPU kernel's order (items in order at each step; a step's
events in the order of the jumps' numbers, then the revocation, then the lapse), so the
per-path arrays the CPU kernel keeps for a block of paths are kept per thread here, in device
scratch arrays laid out path-minor (coalesced).

No contraction
--------------
NVVM contracts ``a·b + c`` into a fused multiply-add by default (``-fma=1``), even when
numba-cuda compiles without fast-math: one rounding instead of two, so not the CPU's bits.
:func:`forbid_contraction` compiles the kernels with ``-fma=0``, and :data:`kernel_jit` links
them without link-time optimisation (with it, nvJitLink would compile NVVM's IR again and
contract by its own default), so the PTX holds ``mul.rn.f64`` and ``add.rn.f64``, which
``ptxas`` never fuses, and is what runs;
:func:`fma_count` counts the fused ones left in a kernel's PTX (zero). As a second guard, any
``mul.f64``, ``add.f64`` or ``sub.f64`` without a rounding mode in this package's PTX (which
``ptxas`` would be free to fuse) is linked as its ``.rn`` form, the same IEEE operation;
``DPV_CUDA_PTXAS_FMAD=1`` links the PTX as NVVM wrote it, to measure what the guard changes.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from typing import Any

import numpy as np
from numba import cuda

from valuation.kernels.cuda.prep import device_constants
from valuation.kernels.cuda.primitives import (
    device,
    exp_scalar,
    item_events,
    lane_normal,
    philox4,
    step_normal,
)
from valuation.kernels.layout import (
    AMOUNT,
    DEFAULT_THRESHOLD,
    EXPIRY_STEP,
    JUMP_LAMBDA_DT,
    LIQUIDATION_KEEP,
    LOG_DRIFT_STEP,
    LOG_V0,
    POOL_WEIGHT,
    REVOKE_P,
    SIGMA_SQRT_DT,
    SQRT_ONE_MINUS_RHO,
    SQRT_RHO,
    WRONG_WAY,
    WRONG_WAY_COMPLEMENT,
    PathOutputs,
    StressArrays,
)

THREADS_PER_BLOCK = 128


def _simulated() -> bool:
    from numba import config

    return bool(getattr(config, "ENABLE_CUDASIM", 0))


# numba.cuda under a name typed Any (its stubs type cuda.grid poorly); the simulator swaps
# this name too, as it swaps every global bound to the module.
threads: Any = cuda
_jit: Any = cuda.jit
# Registers per thread the kernels are compiled for. The full model needs about 120 without a
# limit, which leaves a multiprocessor 512 threads; at 64 it holds 1024 (a few values spill to
# local memory, which the caches serve): on an H200 the full model ran twice as fast (26 against
# 13 G path-steps/s, measured on a build linked with link-time optimisation, with the same bits
# at both limits). One constant for every kernel of the package (stress, book and yardstick).
MAX_REGISTERS = 64


def _kernel_decorator() -> Any:
    """Compile a kernel to PTX by NVVM and link it without link-time optimisation.

    With link-time optimisation (numba-cuda's default where nvJitLink is found) NVVM's IR is
    optimised and compiled again at link time by nvJitLink, whose default contracts
    ``a·b + c`` into fused multiply-adds whatever NVVM was told (:func:`forbid_contraction`),
    and the PTX one can inspect is not what runs. ``cuda.jit(func, lto=False, ...)`` is the
    form that passes the option on: the decorator factory ``cuda.jit(lto=False)`` drops it
    (numba-cuda 0.30). Plain ``cuda.jit`` in the simulator.
    """
    if _simulated():
        return _jit

    def compile_kernel(func: Any) -> Any:
        return _jit(func, lto=False, max_registers=MAX_REGISTERS)

    return compile_kernel


kernel_jit: Any = _kernel_decorator()


def linked_without_lto(kernel: Any) -> bool:
    """Whether ``kernel`` is compiled without link-time optimisation (its PTX is what runs).

    From its options, and from each compiled overload's code library where it has one.
    """
    if _simulated():
        return True
    options = getattr(kernel, "targetoptions", {})
    libraries = [getattr(overload, "_codelibrary", None) for overload in kernel.overloads.values()]
    return options.get("lto") is False and all(
        getattr(lib, "_lto", False) is False for lib in libraries if lib is not None
    )


# Paths per launch: bounds the device scratch (about 8 bytes × (3·steps + items) per path).
MAX_PATHS_PER_LAUNCH = 1 << 21


@device
def simulate_path(
    items,
    sector_index,
    item_keys,
    sector_keys,
    stream_keys,
    profile,
    inv_profile,
    scalars,
    n_liquidation_steps,
    aux,
    thresholds,
    pool0,
    path,
    t,
    events,
    pool,
    factor,
    final_log_v,
    p,
    out_min_ratio,
    out_default_step,
    out_ead,
    out_loss,
    out_flags,
    out_terminal,
    out_pool,
):
    """Simulate global path ``path`` of one loan; write row ``p`` of its outputs.

    The loan's arrays are those of :func:`stress_paths_cuda` (``stream_keys`` its seed and
    borrower key, ``inv_profile`` ``1/profile``) with its host constants (``aux``,
    ``thresholds``, ``pool0``: :func:`~valuation.kernels.cuda.prep.device_constants`); the
    scratch arrays are the thread's column ``t``.
    """
    n_items = items.shape[0]
    n_steps = profile.shape[0] - 1
    horizon = n_steps + n_liquidation_steps
    seed = stream_keys[0]
    borrower_key = stream_keys[1]
    threshold = scalars[DEFAULT_THRESHOLD]
    wrong_way = scalars[WRONG_WAY]
    wrong_way_c = scalars[WRONG_WAY_COMPLEMENT]
    sqrt_rho = scalars[SQRT_RHO]
    sqrt_1m_rho = scalars[SQRT_ONE_MINUS_RHO]
    draw_sector = sqrt_rho > 0.0
    draw_borrower = threshold > -math.inf
    use_factor = draw_borrower and wrong_way != 0.0
    store_pool = out_pool.shape[0] > 0
    store_terminal = out_terminal.shape[1] > 0

    for r in range(events.shape[0]):  # the thread's event cells start at zero
        events[r, t] = 0.0
    pool[0, t] = pool0
    for k in range(1, n_steps + 1):
        pool[k, t] = 0.0
        if use_factor:
            factor[k, t] = 0.0
    for i in range(n_items):
        key = item_keys[i]
        sector_key = sector_keys[sector_index[i]]
        expiry = int(items[i, EXPIRY_STEP])
        with_events = (
            items[i, JUMP_LAMBDA_DT] > 0.0 or items[i, REVOKE_P] > 0.0 or 1 <= expiry <= n_steps
        )
        flags = 0
        if with_events:
            flags = item_events(
                items, i, aux, thresholds, seed, key, path, n_steps, horizon, 1, n_steps, events, t
            )
        out_flags[p, i] = flags
        drift = items[i, LOG_DRIFT_STEP]
        sigma = items[i, SIGMA_SQRT_DT]
        weight = items[i, POOL_WEIGHT]
        level = items[i, LOG_V0]
        v = 0.0
        # The Philox block of steps k .. k + 3 (item and sector), drawn once at lane 0.
        e0 = e1 = e2 = e3 = s0 = s1 = s2 = s3 = np.uint64(0)
        for k in range(1, n_steps + 1):
            lane = (k - 1) % 4
            if lane == 0:
                block = np.uint64((k - 1) // 4)
                e0, e1, e2, e3 = philox4(seed, key, path, block)
                if draw_sector:
                    s0, s1, s2, s3 = philox4(seed, sector_key, path, block)
            eps = step_normal(e0, e1, e2, e3, lane)
            if draw_sector:
                common = step_normal(s0, s1, s2, s3, lane)
                shock = sqrt_rho * common + sqrt_1m_rho * eps
            else:
                shock = sqrt_1m_rho * eps
            jump = 0.0
            if with_events:
                jump = events[k - 1, t]
                events[k - 1, t] = 0.0
            level = level + (drift + sigma * shock + jump)
            v = exp_scalar(level)
            pool[k, t] += v
            if use_factor:
                factor[k, t] += weight * shock
        if store_terminal:
            out_terminal[p, i] = v
        final_log_v[i, t] = level

    min_ratio = pool[0, t] * inv_profile[0]
    if store_pool:
        out_pool[0, p] = np.float32(pool[0, t])
    for k in range(1, n_steps + 1):
        ratio = pool[k, t] * inv_profile[k]
        min_ratio = ratio if ratio < min_ratio else min_ratio
        if store_pool:
            out_pool[k, p] = np.float32(pool[k, t])
    out_min_ratio[p] = min_ratio

    d = -1
    if draw_borrower:
        b0 = b1 = b2 = b3 = np.uint64(0)
        for k in range(1, n_steps + 1):
            lane = (k - 1) % 4
            if lane == 0:
                b0, b1, b2, b3 = philox4(seed, borrower_key, path, np.uint64((k - 1) // 4))
            eta = step_normal(b0, b1, b2, b3, lane)
            if use_factor:
                latent = wrong_way * factor[k, t] + wrong_way_c * eta
            else:
                latent = wrong_way_c * eta
            if latent < threshold:
                d = k
                break
    out_default_step[p] = d
    if d < 0:
        out_ead[p] = 0.0
        out_loss[p] = 0.0
        return
    ead = scalars[AMOUNT] * profile[d]
    sale = d + n_liquidation_steps
    if sale <= n_steps:
        proceeds = scalars[LIQUIDATION_KEEP] * pool[sale, t]
    else:
        # pool_after_tenor: each item on from the tenor to the sale, one step at a time.
        after = 0.0
        for i in range(n_items):
            key = item_keys[i]
            item_events(
                items,
                i,
                aux,
                thresholds,
                seed,
                key,
                path,
                n_steps,
                horizon,
                n_steps + 1,
                sale,
                events,
                t,
            )
            log_v = final_log_v[i, t]
            for k in range(n_steps + 1, sale + 1):
                block = np.uint64((k - 1) // 4)
                lane = (k - 1) % 4
                eps = lane_normal(seed, key, path, block, lane)
                common = 0.0
                if sqrt_rho > 0.0:
                    common = lane_normal(seed, sector_keys[sector_index[i]], path, block, lane)
                shock = sqrt_rho * common + sqrt_1m_rho * eps
                later = events[k - n_steps - 1, t]
                events[k - n_steps - 1, t] = 0.0
                log_v += items[i, LOG_DRIFT_STEP] + items[i, SIGMA_SQRT_DT] * shock + later
            after += exp_scalar(log_v)
        proceeds = scalars[LIQUIDATION_KEEP] * after
    out_ead[p] = ead
    out_loss[p] = max(ead - proceeds, 0.0)


@kernel_jit
def _stress_kernel(
    items,
    sector_index,
    item_keys,
    sector_keys,
    stream_keys,
    profile,
    scalars,
    n_liquidation_steps,
    path_start,
    p_begin,
    p_end,
    aux,
    thresholds,
    inv_profile,
    pool0,
    events,
    pool,
    factor,
    final_log_v,
    out_min_ratio,
    out_default_step,
    out_ead,
    out_loss,
    out_flags,
    out_terminal,
    out_pool,
):
    """One thread per row ``p_begin + t`` of one loan's outputs (global path ``path_start + p``)."""
    t = threads.grid(1)
    p = p_begin + t
    if p >= p_end:
        return
    simulate_path(
        items,
        sector_index,
        item_keys,
        sector_keys,
        stream_keys,
        profile,
        inv_profile,
        scalars,
        n_liquidation_steps,
        aux,
        thresholds,
        pool0,
        np.uint64(path_start + p),
        t,
        events,
        pool,
        factor,
        final_log_v,
        p,
        out_min_ratio,
        out_default_step,
        out_ead,
        out_loss,
        out_flags,
        out_terminal,
        out_pool,
    )


@kernel_jit
def _book_kernel(
    items,
    sector_index,
    item_keys,
    sector_keys,
    stream_keys,
    profile,
    inv_profile,
    scalars,
    n_liquidation_steps,
    item_offsets,
    sector_offsets,
    aux,
    thresholds,
    pool0,
    path_start,
    n,
    events,
    pool,
    factor,
    final_log_v,
    out_min_ratio,
    out_default_step,
    out_ead,
    out_loss,
    out_flags,
    out_terminal,
    out_pool,
):
    """One thread per (loan, row): loan ``t // n``, row ``t % n`` (path ``path_start + row``).

    The loans' items (and their ``aux`` and ``thresholds`` rows) and sectors are concatenated,
    loan ``l`` holding rows ``item_offsets[l] .. item_offsets[l + 1] − 1`` and sectors
    ``sector_offsets[l] ..``; ``sector_index`` counts within the loan. Per-loan arrays
    (``stream_keys``, ``profile``, ``inv_profile``, ``scalars``, ``n_liquidation_steps``,
    ``pool0``) have a row per loan, the outputs a first axis per loan.
    """
    t = threads.grid(1)
    loan = t // n
    if loan >= scalars.shape[0]:
        return
    row = t - loan * n
    i0 = item_offsets[loan]
    i1 = item_offsets[loan + 1]
    s0 = sector_offsets[loan]
    s1 = sector_offsets[loan + 1]
    for i in range(i1 - i0, out_flags.shape[2]):  # the columns past the loan's items
        out_flags[loan, row, i] = 0
    simulate_path(
        items[i0:i1],
        sector_index[i0:i1],
        item_keys[i0:i1],
        sector_keys[s0:s1],
        stream_keys[loan],
        profile[loan],
        inv_profile[loan],
        scalars[loan],
        n_liquidation_steps[loan],
        aux[i0:i1],
        thresholds[i0:i1],
        pool0[loan],
        np.uint64(path_start + row),
        t,
        events,
        pool,
        factor,
        final_log_v,
        row,
        out_min_ratio[loan],
        out_default_step[loan],
        out_ead[loan],
        out_loss[loan],
        out_flags[loan],
        out_terminal[loan],
        out_pool[loan],
    )


_MARKER = "valuation7kernels4cuda"  # how the names of this package's functions appear in IR
_PATCHED: list[bool] = []


def forbid_contraction() -> None:
    """Have NVVM compile this package's kernels with ``-fma=0`` (no fused multiply-add).

    numba-cuda passes NVVM no ``fma`` option unless ``fastmath=True`` (which sets it to 1, with
    flush-to-zero and approximate division), so NVVM's default, contraction on, applies. This
    wraps numba-cuda's call of NVVM so that a compilation unit holding a function of this
    package (their mangled names contain ``valuation7kernels4cuda``) gets ``fma=0``; other
    CUDA code in the process is compiled as before. Idempotent; a no-op in the simulator.
    """
    if _PATCHED or _simulated():
        return
    from numba.cuda.cudadrv import nvvm

    compile_ir = getattr(nvvm, "compile_ir", None)
    if compile_ir is None:  # another numba-cuda: fma_count tells what came of it
        warnings.warn(
            "numba-cuda has no nvvm.compile_ir: the GPU kernels are compiled with NVVM's "
            "default contraction and may differ from the CPU in the last bits",
            RuntimeWarning,
            stacklevel=2,
        )
        return

    def compile_ir_without_contraction(llvmir: Any, **options: Any) -> Any:
        irs = [llvmir] if isinstance(llvmir, str) else llvmir
        if not any(_MARKER in str(ir) for ir in irs):
            return compile_ir(llvmir, **options)
        try:
            ptx = compile_ir(llvmir, **{**options, "fma": False})
            if isinstance(ptx, bytes) and "gen-lto" not in options:
                # A comment naming the package, for the linker (_forbid_ptxas_fusion).
                ptx = _PTX_TAG + ptx
            return ptx
        except Exception as exc:  # an NVVM that refuses the option: say so, compile anyway
            if "fma" not in str(exc).lower() and "option" not in str(exc).lower():
                raise
            warnings.warn(
                f"NVVM refused -fma=0 ({exc}); compiled with its default contraction",
                RuntimeWarning,
                stacklevel=2,
            )
            return compile_ir(llvmir, **options)

    nvvm.compile_ir = compile_ir_without_contraction
    _PATCHED.append(True)
    if os.environ.get("DPV_CUDA_PTXAS_FMAD", "") in ("", "0"):
        _forbid_ptxas_fusion()


_PTX_TAG = f"// {_MARKER}: compiled with -fma=0\n".encode()
# The number of unrounded f64 operations rewritten as .rn at the last link of this package's
# PTX (absent: the guard is off or nothing was linked yet). Read by the device script.
PTXAS_GUARD: dict[str, str] = {}


_UNROUNDED = re.compile(r"\b(mul|add|sub)\.f64\b")


def _forbid_ptxas_fusion() -> None:
    """Have the linker take this package's PTX with every ``f64`` mul, add and sub as ``.rn``.

    A PTX ``mul.f64`` or ``add.f64`` without a rounding mode may be fused by ``ptxas`` (its
    ``--fmad`` default); the ``.rn`` forms are the same IEEE operations, which it never fuses.
    NVVM's ``-fma=0`` should write only ``.rn`` ones; this makes sure, whatever the linker:
    PTX tagged by :func:`forbid_contraction` has any unrounded one rewritten before it is
    linked (:data:`PTXAS_GUARD` counts them).
    """
    from numba.cuda.cudadrv import driver

    linker = getattr(driver, "_Linker", None)
    if linker is None or not hasattr(linker, "add_ptx"):
        warnings.warn(
            "numba-cuda's linker is not the one expected: its PTX is linked as NVVM wrote it",
            RuntimeWarning,
            stacklevel=3,
        )
        return
    add_ptx = linker.add_ptx

    def add_ptx_rounded(self: Any, ptx: Any, *args: Any, **kwargs: Any) -> Any:
        text = ptx.decode() if isinstance(ptx, bytes) else ptx
        if isinstance(text, str) and text.startswith(_PTX_TAG.decode()):
            text, count = _UNROUNDED.subn(r"\1.rn.f64", text)
            PTXAS_GUARD["rewritten"] = str(count)
            ptx = text.encode() if isinstance(ptx, bytes) else text
        return add_ptx(self, ptx, *args, **kwargs)

    linker.add_ptx = add_ptx_rounded


def fma_count(kernel: Any) -> int:
    """Return the number of double-precision fused multiply-adds in ``kernel``'s PTX.

    Zero when :func:`forbid_contraction` took effect; ``-1`` in the simulator (no PTX). The
    kernel must have been compiled (launched once).
    """
    if _simulated():
        return -1
    try:  # the PTX the launch compiled (cached by compute capability): no second compile
        cached = [
            ptx
            for overload in kernel.overloads.values()
            for ptxes in overload._codelibrary._ptx_cache.values()
            for ptx in ptxes
        ]
    except AttributeError:  # another numba-cuda's internals
        cached = []
    texts = cached or list(kernel.inspect_asm().values())
    return sum(ptx.count("fma.rn.f64") for ptx in texts)


def blocks_for(n_threads: int) -> int:
    """Return how many blocks of :data:`THREADS_PER_BLOCK` threads cover ``n_threads``."""
    return (n_threads + THREADS_PER_BLOCK - 1) // THREADS_PER_BLOCK


forbid_contraction()


def launch_arguments(
    inputs: list[Any],
    constants: list[Any],
    n_items: int,
    n_steps: int,
    n_liquidation_steps: int,
    path_start: int,
    n: int,
    *,
    store_pool: bool,
    store_terminal: bool,
    use_factor: bool,
) -> tuple[list[Any], list[Any]]:
    """Return the stress kernel's arguments for ``n`` paths from ``path_start``, and its outputs.

    ``inputs``: the model's seven arrays on the device (``items`` … ``scalars``);
    ``constants``: ``aux``, ``thresholds`` and ``1/profile`` on the device and ``pool0``
    (:func:`~valuation.kernels.cuda.prep.device_constants`). The outputs (device arrays, in
    :func:`stress_paths_cuda`'s order) and the scratch are allocated here, uninitialised (each
    thread clears its own cells).
    """
    events = cuda.device_array((max(n_steps, n_liquidation_steps) + 1, n))
    scratch = [
        events,
        cuda.device_array((n_steps + 1, n)),
        cuda.device_array((n_steps + 1 if use_factor else 1, n)),
        cuda.device_array((max(n_items, 1), n)),
    ]
    outputs = [
        cuda.device_array(n),
        cuda.device_array(n, dtype=np.int64),
        cuda.device_array(n),
        cuda.device_array(n),
        cuda.device_array((n, n_items), dtype=np.uint8),
        cuda.device_array((n, n_items if store_terminal else 0)),
        cuda.device_array((n_steps + 1 if store_pool else 0, n), dtype=np.float32),
    ]
    args = [*inputs, n_liquidation_steps, path_start, 0, n, *constants, *scratch, *outputs]
    return args, outputs


def stress_paths_cuda(
    model: StressArrays, path_start: int, p_begin: int, p_end: int, out: PathOutputs
) -> None:
    """:func:`valuation.kernels.stress.stress_paths` on the GPU: the same arguments and bits.

    Fills rows ``p_begin .. p_end − 1`` of ``out`` (global path ``path_start + p``), in
    launches of at most :data:`MAX_PATHS_PER_LAUNCH` paths; the inputs are copied to the
    device once, each launch's outputs back to the host.
    """
    items, sector_index, item_keys, sector_keys, stream_keys, profile, scalars, _ = model
    n_liquidation_steps = int(model.n_liquidation_steps)
    (
        out_min_ratio,
        out_default_step,
        out_ead,
        out_loss,
        out_flags,
        out_terminal,
        out_pool,
    ) = out
    n_items = items.shape[0]
    n_steps = profile.shape[0] - 1
    horizon = n_steps + n_liquidation_steps
    aux, thresholds, pool0, _ = device_constants(items, horizon)
    inputs = [
        cuda.to_device(np.ascontiguousarray(a))
        for a in (items, sector_index, item_keys, sector_keys, stream_keys, profile, scalars)
    ]
    constants = [
        cuda.to_device(aux),
        cuda.to_device(thresholds),
        cuda.to_device(1.0 / np.ascontiguousarray(profile, dtype=np.float64)),
        pool0,
    ]
    store_pool = out_pool.shape[0] > 0
    store_terminal = out_terminal.shape[1] > 0
    for c0 in range(p_begin, p_end, MAX_PATHS_PER_LAUNCH):
        c1 = min(p_end, c0 + MAX_PATHS_PER_LAUNCH)
        n = c1 - c0
        args, outputs = launch_arguments(
            inputs,
            constants,
            n_items,
            n_steps,
            n_liquidation_steps,
            path_start + c0,
            n,
            store_pool=store_pool,
            store_terminal=store_terminal,
            use_factor=bool(scalars[DEFAULT_THRESHOLD] > -math.inf and scalars[WRONG_WAY] != 0.0),
        )
        _stress_kernel[blocks_for(n), THREADS_PER_BLOCK](*args)
        out_min_ratio[c0:c1] = outputs[0].copy_to_host()
        out_default_step[c0:c1] = outputs[1].copy_to_host()
        out_ead[c0:c1] = outputs[2].copy_to_host()
        out_loss[c0:c1] = outputs[3].copy_to_host()
        out_flags[c0:c1] = outputs[4].copy_to_host()
        if store_terminal:
            out_terminal[c0:c1] = outputs[5].copy_to_host()
        if store_pool:
            out_pool[:, c0:c1] = outputs[6].copy_to_host()
    cuda.synchronize()


__all__ = [
    "MAX_REGISTERS",
    "fma_count",
    "forbid_contraction",
    "launch_arguments",
    "linked_without_lto",
    "stress_paths_cuda",
]
