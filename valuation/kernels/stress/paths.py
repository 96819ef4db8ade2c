"""The stress model's path loop: :func:`stress_paths`.

Blocks of :data:`~valuation.kernels.layout.CHUNK` paths: the normals of the sectors and the
borrower, then each item's events (:mod:`~valuation.kernels.stress.block_events`) and diffusion
(:mod:`~valuation.kernels.stress.diffusion`), then the running minimum of the pooled value,
default and the loss (:mod:`~valuation.kernels.stress.default`).
"""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels._jit import jit
from valuation.kernels.layout import (
    CHUNK,
    DEFAULT_THRESHOLD,
    LOG_DRIFT_STEP,
    LOG_V0,
    POOL_WEIGHT,
    SIGMA_SQRT_DT,
    SQRT_ONE_MINUS_RHO,
    SQRT_RHO,
    WRONG_WAY,
    WRONG_WAY_COMPLEMENT,
    PathOutputs,
    StressArrays,
)
from valuation.kernels.rng import uniforms_block
from valuation.kernels.stress.block_events import block_item_events, event_lists
from valuation.kernels.stress.default import default_steps, settle_defaults
from valuation.kernels.stress.diffusion import advance_item, running_min_ratio
from valuation.kernels.stress.events import has_events
from valuation.kernels.stress.normals import _Z_CENTRAL_MIN, step_normals


@jit
def stress_paths(
    model: StressArrays, path_start: int, p_begin: int, p_end: int, out: PathOutputs
) -> None:
    """Simulate the full stress model for rows ``p_begin .. p_end − 1`` of the outputs.

    Row ``p`` is global path ``path_start + p``. Disjoint row ranges may run on different
    threads at once (the kernel releases the GIL and writes only its own rows).

    Parameters
    ----------
    model
        The model's arrays (:attr:`valuation.risk.model.StressModel.arrays`).
    path_start
        Global index of the path in row 0 (so that a run can be split into parts).
    p_begin, p_end
        The rows to simulate.
    out
        The outputs, caller-allocated (:class:`~valuation.kernels.layout.PathOutputs`); pass
        ``terminal`` with no columns and ``pool`` with no rows to skip them.

    Notes
    -----
    Per step ``k`` and item ``i``, with ``W = √ρ Z_sector + √(1−ρ) ε_i``:
    ``log V_i += log_drift·dt + σ√dt·W + Σ jumps``, plus ``log(1 − loss)`` at revocation and
    ``log(1 − lapse_loss)`` at a lapsed expiry; the pool is ``Σ_i V_i``. Default at the first
    ``k ≤ n_steps`` with ``w F_k + √(1−w²) η_k < threshold`` (``F_k = Σ_i weight_i W_i``); the
    pool is sold ``n_liquidation_steps`` later at ``(1 − discount)·V``,
    ``loss = max(EAD − proceeds, 0)``. Paths without default stop at the tenor; a defaulted one
    whose sale falls after it runs on, path by path, to the sale.

    The pooled value per step (float32, 4 bytes × paths × steps) is kept only because exact
    per-step quantiles need it; everything else streams. Pass a ``(0, paths)`` array to make
    the kernel O(paths).
    """
    items = model.items
    scalars = model.scalars
    n_items = items.shape[0]
    n_sectors = model.sector_keys.shape[0]
    n_steps = model.profile.shape[0] - 1
    n_rows = 4 * ((n_steps + 3) // 4)
    seed = model.stream_keys[0]
    borrower_key = model.stream_keys[1]
    threshold = scalars[DEFAULT_THRESHOLD]
    wrong_way = scalars[WRONG_WAY]
    wrong_way_c = scalars[WRONG_WAY_COMPLEMENT]
    sqrt_rho = scalars[SQRT_RHO]
    sqrt_1m_rho = scalars[SQRT_ONE_MINUS_RHO]
    store_pool = out.pool.shape[0] > 0
    store_terminal = out.terminal.shape[1] > 0
    # Draws that cannot change the result are skipped; their counters stay reserved.
    draw_sector = sqrt_rho > 0.0
    draw_borrower = threshold > -math.inf
    use_factor = draw_borrower and wrong_way != 0.0

    uniforms = np.empty((4, CHUNK))
    tail_x = np.empty(n_rows * CHUNK)
    tail_i = np.empty((2, n_rows * CHUNK), dtype=np.int64)
    item_z = np.empty((n_rows, CHUNK))
    sector_z = np.zeros((n_sectors if draw_sector else 0, n_rows, CHUNK))
    # Default can only come from a tail draw of the borrower's normal unless the factor term
    # alone brings the latent variable near the threshold: see default_steps_from_tails.
    default_cut = threshold - wrong_way_c * _Z_CENTRAL_MIN
    tails_only = draw_borrower and default_cut < -2.0 * abs(wrong_way)
    borrower_z = np.zeros((n_rows if draw_borrower else 0, CHUNK))
    cand_f = np.empty((3, n_steps * CHUNK + 1 if tails_only else 0))
    cand_i = np.empty((4, n_steps * CHUNK + 1 if tails_only else 0), dtype=np.int64)
    counts = np.empty(CHUNK, dtype=np.int64)
    # Events of an item: zeros but while an item with events is moved (its last row is the
    # spare of chunk_events). The jump lists are grown when a block needs more.
    events = np.zeros((n_steps + 1, CHUNK))
    lists = event_lists(8 * CHUNK)
    horizon = n_steps + model.n_liquidation_steps
    value = np.empty(CHUNK)
    bits = np.empty(CHUNK, dtype=np.int64)
    pool = np.empty((n_steps + 1, CHUNK))
    factor = np.zeros((n_steps + 1 if use_factor else 0, CHUNK))
    final_log_v = np.empty((n_items, CHUNK))
    min_ratio = np.empty(CHUNK)
    default_step = np.empty(CHUNK, dtype=np.int64)
    later_events = np.zeros((model.n_liquidation_steps + 1, 1))

    pool0 = 0.0
    for i in range(n_items):
        pool0 += math.exp(items[i, LOG_V0])

    for c0 in range(p_begin, p_end, CHUNK):
        nb = min(CHUNK, p_end - c0)
        path0 = np.uint64(path_start + c0)
        if draw_sector:
            for s in range(n_sectors):
                step_normals(
                    seed,
                    model.sector_keys[s],
                    path0,
                    nb,
                    n_steps,
                    uniforms,
                    sector_z[s],
                    tail_x,
                    tail_i,
                )
        if tails_only:
            for b in range(n_rows // 4):
                uniforms_block(
                    seed, borrower_key, path0, nb, np.uint64(b), borrower_z[4 * b : 4 * b + 4]
                )
        elif draw_borrower:
            step_normals(
                seed, borrower_key, path0, nb, n_steps, uniforms, borrower_z, tail_x, tail_i
            )
        pool[0, :nb] = pool0
        pool[1:, :nb] = 0.0
        if use_factor:
            factor[:, :nb] = 0.0
        for i in range(n_items):
            item = items[i]
            key = model.item_keys[i]
            step_normals(seed, key, path0, nb, n_steps, uniforms, item_z, tail_x, tail_i)
            with_events = has_events(item, n_steps)
            if with_events:
                lists = block_item_events(
                    item, seed, key, path0, nb, n_steps, horizon, uniforms, events, counts, lists
                )
            else:
                counts[:nb] = 0
            for j in range(nb):
                out.flags[c0 + j, i] = counts[j]
            sector = sector_z[model.sector_index[i]] if draw_sector else item_z
            level = final_log_v[i]
            level[:nb] = item[LOG_V0]
            advance_item(
                level,
                item_z,
                sector,
                events,
                factor,
                pool,
                value,
                bits,
                n_steps,
                nb,
                item[LOG_DRIFT_STEP],
                item[SIGMA_SQRT_DT],
                item[POOL_WEIGHT],
                sqrt_rho,
                sqrt_1m_rho,
                draw_sector,
                use_factor,
            )
            if store_terminal:
                for j in range(nb):
                    out.terminal[c0 + j, i] = value[j]
            if with_events:
                events[n_steps, :nb] = 0.0  # the spare row (advance_item cleared the others)

        running_min_ratio(pool, model.profile, n_steps, nb, min_ratio)
        if store_pool:
            for k in range(n_steps + 1):
                for j in range(nb):
                    out.pool[k, c0 + j] = np.float32(pool[k, j])
        default_step[:nb] = -1
        if draw_borrower:
            default_steps(
                borrower_z,
                factor,
                use_factor,
                scalars,
                default_cut,
                tails_only,
                n_steps,
                nb,
                cand_f,
                cand_i,
                default_step,
            )
        for j in range(nb):
            out.min_ratio[c0 + j] = min_ratio[j]
        settle_defaults(model, path0, c0, nb, pool, final_log_v, default_step, later_events, out)
