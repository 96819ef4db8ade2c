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
:func:`~valuation.kernels.cuda._numba_internals.forbid_contraction` (called at import) compiles
the kernels with ``-fma=0``, and :data:`kernel_jit` links them without link-time optimisation
(with it, nvJitLink would compile NVVM's IR again and contract by its own default), so the PTX
holds ``mul.rn.f64`` and ``add.rn.f64``, which ``ptxas`` never fuses, and is what runs;
:func:`fma_count` counts the fused ones left in a kernel's PTX (zero). As a second guard, any
``mul.f64``, ``add.f64`` or ``sub.f64`` without a rounding mode in this package's PTX (which
``ptxas`` would be free to fuse) is linked as its ``.rn`` form, the same IEEE operation;
``DPV_CUDA_PTXAS_FMAD=1`` links the PTX as NVVM wrote it, to measure what the guard changes.
Both lean on numba-cuda internals, kept in :mod:`valuation.kernels.cuda._numba_internals`.

Arguments
---------
Both kernels and :func:`simulate_path` take the named groups of
:mod:`valuation.kernels.cuda.arguments` (model, device constants, scratch, outputs); the book
kernel's model, constants and outputs have a row per loan, from which it builds one loan's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from valuation.kernels.cuda._numba_internals import forbid_contraction, lto_settings, simulated
from valuation.kernels.cuda.arguments import DeviceConstants, allocate_scratch
from valuation.kernels.cuda.prep import device_constants
from valuation.kernels.cuda.primitives import (
    block_normals,
    device,
    exp_scalar,
    item_events,
    lane_normal,
    philox4,
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
    path_output_shapes,
)

THREADS_PER_BLOCK = 128
"""Threads per block of every launch on a GPU."""
SIMULATOR_THREADS_PER_BLOCK = 8
"""Threads per block under numba's CUDA simulator (tests only). The simulator runs a block's
threads as Python threads that take turns at a lock around every device-function call; with a
few tens of them the turns cost orders of magnitude (20 paths of 60 months with jumps: 1.2 s in
blocks of 8, 307 s in one block of 32). The block size changes no result: a path's draws are
keyed by its index."""


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
    ``a·b + c`` into fused multiply-adds whatever NVVM was told (``forbid_contraction``),
    and the PTX one can inspect is not what runs. ``cuda.jit(func, lto=False, ...)`` is the
    form that passes the option on: the decorator factory ``cuda.jit(lto=False)`` drops it
    (numba-cuda 0.30). Plain ``cuda.jit`` in the simulator.
    """
    if simulated():
        return _jit

    def compile_kernel(func: Any) -> Any:
        return _jit(func, lto=False, max_registers=MAX_REGISTERS)

    return compile_kernel


kernel_jit: Any = _kernel_decorator()


def linked_without_lto(kernel: Any) -> bool:
    """Whether ``kernel`` is compiled without link-time optimisation (its PTX is what runs).

    From its options, and from each compiled overload's code library
    (:func:`~valuation.kernels.cuda._numba_internals.lto_settings`).
    """
    if simulated():
        return True
    declared, compiled = lto_settings(kernel)
    return declared is False and all(flag is False for flag in compiled)


# Paths per launch: bounds the device scratch (about 8 bytes × (3·steps + items) per path).
MAX_PATHS_PER_LAUNCH = 1 << 21


@device
def simulate_path(model, constants, path, t, scratch, p, out):
    """Simulate global path ``path`` of one loan; write row ``p`` of its outputs ``out``.

    ``model`` is the loan's :class:`~valuation.kernels.layout.StressArrays` on the device,
    ``constants`` its :class:`~valuation.kernels.cuda.arguments.DeviceConstants`, ``out`` its
    :class:`~valuation.kernels.layout.PathOutputs`; the thread's scratch is column ``t`` of
    ``scratch`` (:class:`~valuation.kernels.cuda.arguments.Scratch`).
    """
    items = model.items
    sector_index = model.sector_index
    item_keys = model.item_keys
    sector_keys = model.sector_keys
    stream_keys = model.stream_keys
    profile = model.profile
    scalars = model.scalars
    n_liquidation_steps = model.n_liquidation_steps
    aux = constants.aux
    thresholds = constants.thresholds
    inv_profile = constants.inv_profile
    pool0 = constants.pool0
    events = scratch.events
    pool = scratch.pool
    factor = scratch.factor
    final_log_v = scratch.final_log_v
    out_min_ratio = out.min_ratio
    out_default_step = out.default_step
    out_ead = out.ead
    out_loss = out.loss
    out_flags = out.flags
    out_terminal = out.terminal
    out_pool = out.pool
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
    # The normals of the current block of four steps: an item's (the borrower's after the
    # items) and its sector's, in the thread's local memory.
    item_normals = cuda.local.array(4, np.float64)
    sector_normals = cuda.local.array(4, np.float64)

    # The thread's scratch cells are indexed by unsigned row and column: numba adds the axis
    # length to a negative signed index, address arithmetic a hot loop need not repeat.
    col = np.uint64(t)
    for r in range(events.shape[0]):  # the thread's event cells start at zero
        events[np.uint64(r), col] = 0.0
    pool[np.uint64(0), col] = pool0
    for k in range(1, n_steps + 1):
        pool[np.uint64(k), col] = 0.0
        if use_factor:
            factor[np.uint64(k), col] = 0.0
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
        for k in range(1, n_steps + 1):
            lane = (k - 1) % 4
            if lane == 0:  # the normals of steps k .. k + 3 (item and sector), one block each
                block = np.uint64((k - 1) // 4)
                e0, e1, e2, e3 = philox4(seed, key, path, block)
                block_normals(e0, e1, e2, e3, item_normals)
                if draw_sector:
                    s0, s1, s2, s3 = philox4(seed, sector_key, path, block)
                    block_normals(s0, s1, s2, s3, sector_normals)
            eps = item_normals[lane]
            if draw_sector:
                shock = sqrt_rho * sector_normals[lane] + sqrt_1m_rho * eps
            else:
                shock = sqrt_1m_rho * eps
            jump = 0.0
            row = np.uint64(k)
            if with_events:
                cell = row - np.uint64(1)
                jump = events[cell, col]
                events[cell, col] = 0.0
            level = level + (drift + sigma * shock + jump)
            v = exp_scalar(level)
            pool[row, col] += v
            if use_factor:
                factor[row, col] += weight * shock
        if store_terminal:
            out_terminal[p, i] = v
        final_log_v[np.uint64(i), col] = level

    total = pool[np.uint64(0), col]
    min_ratio = total * inv_profile[0]
    if store_pool:
        out_pool[0, p] = np.float32(total)
    for k in range(1, n_steps + 1):
        total = pool[np.uint64(k), col]
        ratio = total * inv_profile[k]
        min_ratio = ratio if ratio < min_ratio else min_ratio
        if store_pool:
            out_pool[k, p] = np.float32(total)
    out_min_ratio[p] = min_ratio

    d = -1
    if draw_borrower:
        for k in range(1, n_steps + 1):
            lane = (k - 1) % 4
            if lane == 0:
                b0, b1, b2, b3 = philox4(seed, borrower_key, path, np.uint64((k - 1) // 4))
                block_normals(b0, b1, b2, b3, item_normals)
            eta = item_normals[lane]
            if use_factor:
                latent = wrong_way * factor[np.uint64(k), col] + wrong_way_c * eta
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
        proceeds = scalars[LIQUIDATION_KEEP] * pool[np.uint64(sale), col]
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
            log_v = final_log_v[np.uint64(i), col]
            for k in range(n_steps + 1, sale + 1):
                block = np.uint64((k - 1) // 4)
                lane = (k - 1) % 4
                eps = lane_normal(seed, key, path, block, lane)
                common = 0.0
                if sqrt_rho > 0.0:
                    common = lane_normal(seed, sector_keys[sector_index[i]], path, block, lane)
                shock = sqrt_rho * common + sqrt_1m_rho * eps
                row = np.uint64(k - n_steps - 1)
                later = events[row, col]
                events[row, col] = 0.0
                log_v += items[i, LOG_DRIFT_STEP] + items[i, SIGMA_SQRT_DT] * shock + later
            after += exp_scalar(log_v)
        proceeds = scalars[LIQUIDATION_KEEP] * after
    out_ead[p] = ead
    out_loss[p] = max(ead - proceeds, 0.0)


@kernel_jit
def _stress_kernel(model, path_start, p_begin, p_end, constants, scratch, out):
    """One thread per row ``p_begin + t`` of one loan's outputs (global path ``path_start + p``)."""
    t = threads.grid(1)
    p = p_begin + t
    if p >= p_end:
        return
    simulate_path(model, constants, np.uint64(path_start + p), t, scratch, p, out)


@kernel_jit
def _book_kernel(loans, item_offsets, sector_offsets, constants, path_start, n, scratch, out):
    """One thread per (loan, row): loan ``t // n``, row ``t % n`` (path ``path_start + row``).

    The loans' items (and their ``aux`` and ``thresholds`` rows) and sectors are concatenated,
    loan ``l`` holding rows ``item_offsets[l] .. item_offsets[l + 1] − 1`` and sectors
    ``sector_offsets[l] ..``; ``sector_index`` counts within the loan. The other fields of
    ``loans`` and ``constants`` have a row per loan, the outputs a first axis per loan.
    """
    t = threads.grid(1)
    loan = t // n
    if loan >= loans.scalars.shape[0]:
        return
    row = t - loan * n
    i0 = item_offsets[loan]
    i1 = item_offsets[loan + 1]
    s0 = sector_offsets[loan]
    s1 = sector_offsets[loan + 1]
    for i in range(i1 - i0, out.flags.shape[2]):  # the columns past the loan's items
        out.flags[loan, row, i] = 0
    # The loan's rows of the book's arrays (the order of these lines changes no value, only
    # the registers NVVM numbers the addresses in).
    items = loans.items[i0:i1]
    sector_index = loans.sector_index[i0:i1]
    item_keys = loans.item_keys[i0:i1]
    sector_keys = loans.sector_keys[s0:s1]
    stream_keys = loans.stream_keys[loan]
    profile = loans.profile[loan]
    inv_profile = constants.inv_profile[loan]
    scalars = loans.scalars[loan]
    n_liquidation_steps = loans.n_liquidation_steps[loan]
    aux = constants.aux[i0:i1]
    thresholds = constants.thresholds[i0:i1]
    pool0 = constants.pool0[loan]
    path = np.uint64(path_start + row)
    rows = PathOutputs(
        out.min_ratio[loan],
        out.default_step[loan],
        out.ead[loan],
        out.loss[loan],
        out.flags[loan],
        out.terminal[loan],
        out.pool[loan],
    )
    model = StressArrays(
        items,
        sector_index,
        item_keys,
        sector_keys,
        stream_keys,
        profile,
        scalars,
        n_liquidation_steps,
    )
    own = DeviceConstants(aux, thresholds, inv_profile, pool0)
    simulate_path(model, own, path, t, scratch, row, rows)


def fma_count(kernel: Any) -> int:
    """Return the number of double-precision fused multiply-adds in ``kernel``'s PTX.

    Zero when :func:`~valuation.kernels.cuda._numba_internals.forbid_contraction` took effect;
    ``-1`` in the simulator (no PTX). The kernel must have been compiled (launched once):
    ``inspect_asm`` returns the PTX the launch compiled for the current device, cached.
    """
    if simulated():
        return -1
    return sum(ptx.count("fma.rn.f64") for ptx in kernel.inspect_asm().values())


def threads_per_block() -> int:
    """Return the threads per block of a launch.

    :data:`THREADS_PER_BLOCK` on a GPU, :data:`SIMULATOR_THREADS_PER_BLOCK` under the simulator.
    """
    return SIMULATOR_THREADS_PER_BLOCK if simulated() else THREADS_PER_BLOCK


def blocks_for(n_threads: int) -> int:
    """Return how many blocks of :func:`threads_per_block` threads cover ``n_threads``."""
    size = threads_per_block()
    return (n_threads + size - 1) // size


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
) -> tuple[list[Any], Any]:
    """Return the stress kernel's arguments for ``n`` paths from ``path_start``, and its outputs.

    ``inputs``: the model's seven arrays on the device (``items`` … ``scalars``);
    ``constants``: ``aux``, ``thresholds`` and ``1/profile`` on the device and ``pool0``
    (:func:`~valuation.kernels.cuda.prep.device_constants`). The outputs (a
    :class:`~valuation.kernels.layout.PathOutputs` of device arrays) and the scratch are
    allocated here, uninitialised (each thread clears its own cells).
    """
    model = StressArrays._make([*inputs, n_liquidation_steps])
    scratch = allocate_scratch(
        max(n_steps, n_liquidation_steps) + 1,
        n_steps,
        n_steps + 1 if use_factor else 1,
        n_items,
        n,
    )
    shapes = path_output_shapes(
        n, n_items, n_steps, store_terminal=store_terminal, store_pool=store_pool
    )
    outputs: Any = PathOutputs(  # of device arrays
        **{name: cuda.device_array(shape, dtype=dtype) for name, (shape, dtype) in shapes.items()}
    )
    args = [model, path_start, 0, n, DeviceConstants(*constants), scratch, outputs]
    return args, outputs


def stress_paths_cuda(
    model: StressArrays, path_start: int, p_begin: int, p_end: int, out: PathOutputs
) -> None:
    """:func:`valuation.kernels.stress.stress_paths` on the GPU: the same arguments and bits.

    Fills rows ``p_begin .. p_end − 1`` of ``out`` (global path ``path_start + p``), in
    launches of at most :data:`MAX_PATHS_PER_LAUNCH` paths; the inputs are copied to the
    device once, each launch's outputs back to the host.
    """
    items, _, _, _, _, profile, scalars, _ = model
    n_liquidation_steps = int(model.n_liquidation_steps)
    n_items = items.shape[0]
    n_steps = profile.shape[0] - 1
    horizon = n_steps + n_liquidation_steps
    aux, thresholds, pool0, _ = device_constants(items, horizon)
    inputs = [cuda.to_device(np.ascontiguousarray(a)) for a in model[:7]]
    constants = [
        cuda.to_device(aux),
        cuda.to_device(thresholds),
        cuda.to_device(1.0 / np.ascontiguousarray(profile, dtype=np.float64)),
        pool0,
    ]
    store_pool = out.pool.shape[0] > 0
    store_terminal = out.terminal.shape[1] > 0
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
        _stress_kernel[blocks_for(n), threads_per_block()](*args)
        out.min_ratio[c0:c1] = outputs.min_ratio.copy_to_host()
        out.default_step[c0:c1] = outputs.default_step.copy_to_host()
        out.ead[c0:c1] = outputs.ead.copy_to_host()
        out.loss[c0:c1] = outputs.loss.copy_to_host()
        out.flags[c0:c1] = outputs.flags.copy_to_host()
        if store_terminal:
            out.terminal[c0:c1] = outputs.terminal.copy_to_host()
        if store_pool:
            out.pool[:, c0:c1] = outputs.pool.copy_to_host()
    cuda.synchronize()


__all__ = [
    "MAX_REGISTERS",
    "SIMULATOR_THREADS_PER_BLOCK",
    "THREADS_PER_BLOCK",
    "blocks_for",
    "fma_count",
    "launch_arguments",
    "linked_without_lto",
    "simulate_path",
    "stress_paths_cuda",
    "threads_per_block",
]
