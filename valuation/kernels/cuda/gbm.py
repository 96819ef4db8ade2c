"""The bare GBM yardstick on the GPU: :func:`valuation.kernels.stress.gbm_min_ratio`'s bits.

The same generator, normals and exponential as the full model, without jumps, events or
default: the practical speed limit of the random stream on the device, for the benchmark.
One thread per path; the items' log-values live in a per-thread array of at most
:data:`MAX_ITEMS` entries, and each step's pooled value is the sum over the items in order
(the CPU kernel's order).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import cuda

from valuation.kernels.cuda.paths import blocks_for, kernel_jit, threads_per_block
from valuation.kernels.cuda.primitives import block_normals, exp_scalar, philox4

MAX_ITEMS = 16
threads: Any = cuda  # see valuation.kernels.cuda.paths


@kernel_jit
def _gbm_kernel(
    log_v0,
    log_drift_step,
    sigma_sqrt_dt,
    item_keys,
    sector_index,
    sector_keys,
    sqrt_rho,
    sqrt_1m_rho,
    seed,
    inv_profile,
    pool0,
    path_start,
    n,
    out_min_ratio,
):
    t = threads.grid(1)
    if t >= n:
        return
    n_items = log_v0.shape[0]
    n_steps = inv_profile.shape[0] - 1
    path = np.uint64(path_start + t)
    correlated = sqrt_rho > 0.0
    n_sectors = sector_keys.shape[0] if correlated else 0
    level = cuda.local.array(MAX_ITEMS, np.float64)
    # Each item's and sector's normals of steps k .. k + 3, from one Philox block at lane 0.
    normals = cuda.local.array((MAX_ITEMS, 4), np.float64)
    sector_normals = cuda.local.array((MAX_ITEMS, 4), np.float64)
    for i in range(n_items):
        level[i] = log_v0[i]
    min_ratio = pool0 * inv_profile[0]
    for k in range(1, n_steps + 1):
        lane = (k - 1) % 4
        if lane == 0:
            block = np.uint64((k - 1) // 4)
            for i in range(n_items):
                w0, w1, w2, w3 = philox4(seed, item_keys[i], path, block)
                block_normals(w0, w1, w2, w3, normals[i])
            for s in range(n_sectors):
                w0, w1, w2, w3 = philox4(seed, sector_keys[s], path, block)
                block_normals(w0, w1, w2, w3, sector_normals[s])
        pool = 0.0
        for i in range(n_items):
            eps = normals[i, lane]
            if correlated:
                shock = sqrt_rho * sector_normals[sector_index[i], lane] + sqrt_1m_rho * eps
                lv = level[i] + (log_drift_step[i] + sigma_sqrt_dt[i] * shock)
            else:
                lv = level[i] + (log_drift_step[i] + sigma_sqrt_dt[i] * eps)
            level[i] = lv
            pool += exp_scalar(lv)
        ratio = pool * inv_profile[k]
        min_ratio = ratio if ratio < min_ratio else min_ratio
    out_min_ratio[t] = min_ratio


def gbm_min_ratio_cuda(
    log_v0: np.ndarray,
    log_drift_step: np.ndarray,
    sigma_sqrt_dt: np.ndarray,
    item_keys: np.ndarray,
    sector_index: np.ndarray,
    sector_keys: np.ndarray,
    sqrt_rho: float,
    sqrt_1m_rho: float,
    seed: np.uint64,
    profile: np.ndarray,
    path_start: int,
    p_begin: int,
    p_end: int,
    out_min_ratio: np.ndarray,
) -> None:
    """:func:`valuation.kernels.stress.gbm_min_ratio` on the GPU (at most 16 items)."""
    if log_v0.shape[0] > MAX_ITEMS or sector_keys.shape[0] > MAX_ITEMS:
        raise ValueError(f"the GPU yardstick takes at most {MAX_ITEMS} items and sectors")
    pool0 = 0.0
    for x in log_v0:
        pool0 += math.exp(float(x))
    n = p_end - p_begin
    d_out = cuda.device_array(n)
    _gbm_kernel[blocks_for(n), threads_per_block()](
        *(
            cuda.to_device(np.ascontiguousarray(a))
            for a in (log_v0, log_drift_step, sigma_sqrt_dt, item_keys, sector_index, sector_keys)
        ),
        float(sqrt_rho),
        float(sqrt_1m_rho),
        np.uint64(seed),
        cuda.to_device(1.0 / np.ascontiguousarray(profile, dtype=np.float64)),
        pool0,
        path_start + p_begin,
        n,
        d_out,
    )
    out_min_ratio[p_begin:p_end] = d_out.copy_to_host()


__all__ = ["MAX_ITEMS", "gbm_min_ratio_cuda"]
