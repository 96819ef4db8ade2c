"""The bare GBM yardstick of the stress benchmark: :func:`gbm_min_ratio`."""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels._jit import jit
from valuation.kernels.layout import CHUNK
from valuation.kernels.stress.diffusion import running_min_ratio
from valuation.kernels.stress.exp_log import exp_parts
from valuation.kernels.stress.normals import step_normals


@jit
def gbm_min_ratio(
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
    """Bare GBM reference: pooled value of the items, running min of value / profile.

    The same generator, blocks and vectorised loops as :func:`stress_paths` without jumps,
    events or default: the practical speed limit of the random stream (used by the
    benchmark). With ``sqrt_rho = 0`` the items are independent (one normal per item and
    step); otherwise each item's shock is ``√ρ·Z_sector + √(1−ρ)·ε`` (``sqrt_rho``,
    ``sqrt_1m_rho``) with the sectors' normals drawn as :func:`stress_paths` draws them
    (``sector_index``, ``sector_keys``): the stream of normals of the full model. Either way
    the result is, bit for bit, :func:`stress_paths`'s ``out_min_ratio`` for the same items
    without events or default (tested). Rows ``p_begin .. p_end − 1`` (global path
    ``path_start + p``).
    """
    n_items = log_v0.shape[0]
    n_steps = profile.shape[0] - 1
    n_rows = 4 * ((n_steps + 3) // 4)
    correlated = sqrt_rho > 0.0
    n_sectors = sector_keys.shape[0] if correlated else 0
    uniforms = np.empty((4, CHUNK))
    tail_x = np.empty(n_rows * CHUNK)
    tail_i = np.empty((2, n_rows * CHUNK), dtype=np.int64)
    item_z = np.empty((n_rows, CHUNK))
    sector_z = np.empty((n_sectors, n_rows, CHUNK))
    value = np.empty(CHUNK)
    bits = np.empty(CHUNK, dtype=np.int64)
    pool = np.empty((n_steps + 1, CHUNK))
    scale = bits.view(np.float64)
    level = np.empty(CHUNK)
    min_ratio = np.empty(CHUNK)
    pool0 = 0.0
    for i in range(n_items):
        pool0 += math.exp(log_v0[i])
    for c0 in range(p_begin, p_end, CHUNK):
        nb = min(CHUNK, p_end - c0)
        path0 = np.uint64(path_start + c0)
        pool[0, :nb] = pool0
        pool[1:, :nb] = 0.0
        for s in range(n_sectors):
            step_normals(
                seed, sector_keys[s], path0, nb, n_steps, uniforms, sector_z[s], tail_x, tail_i
            )
        for i in range(n_items):
            step_normals(seed, item_keys[i], path0, nb, n_steps, uniforms, item_z, tail_x, tail_i)
            drift = log_drift_step[i]
            sigma = sigma_sqrt_dt[i]
            level[:nb] = log_v0[i]
            if correlated:
                sector = sector_z[sector_index[i]]
                for k in range(1, n_steps + 1):
                    eps = item_z[k - 1]
                    common = sector[k - 1]
                    for j in range(nb):
                        shock = sqrt_rho * common[j] + sqrt_1m_rho * eps[j]
                        lv = level[j] + (drift + sigma * shock)
                        level[j] = lv
                        value[j], bits[j] = exp_parts(lv)
                    acc = pool[k]
                    for j in range(nb):
                        acc[j] += value[j] * scale[j]
            else:
                for k in range(1, n_steps + 1):
                    eps = item_z[k - 1]
                    for j in range(nb):
                        lv = level[j] + (drift + sigma * eps[j])
                        level[j] = lv
                        value[j], bits[j] = exp_parts(lv)
                    acc = pool[k]
                    for j in range(nb):
                        acc[j] += value[j] * scale[j]
        running_min_ratio(pool, profile, n_steps, nb, min_ratio)
        for j in range(nb):
            out_min_ratio[c0 + j] = min_ratio[j]
