"""The stress model's path loop: :func:`stress_paths`.

Blocks of :data:`~valuation.kernels.layout.CHUNK` paths: the normals of every entity, then each
item's events and diffusion, then the running minimum, default and loss.
"""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels._jit import jit
from valuation.kernels.layout import (
    AMOUNT,
    CHUNK,
    DEFAULT_THRESHOLD,
    LIQUIDATION_KEEP,
    LOG_DRIFT_STEP,
    LOG_V0,
    POOL_WEIGHT,
    SIGMA_SQRT_DT,
    SQRT_ONE_MINUS_RHO,
    SQRT_RHO,
    WRONG_WAY,
    WRONG_WAY_COMPLEMENT,
)
from valuation.kernels.rng import uniforms_block
from valuation.kernels.stress.block_events import chunk_events, event_lists
from valuation.kernels.stress.default import default_steps_from_tails, pool_after_tenor
from valuation.kernels.stress.diffusion import advance_item, running_min_ratio
from valuation.kernels.stress.events import has_events
from valuation.kernels.stress.normals import _Z_CENTRAL_MIN, step_normals


@jit
def stress_paths(
    items: np.ndarray,
    sector_index: np.ndarray,
    item_keys: np.ndarray,
    sector_keys: np.ndarray,
    stream_keys: np.ndarray,
    profile: np.ndarray,
    scalars: np.ndarray,
    n_liquidation_steps: int,
    path_start: int,
    p_begin: int,
    p_end: int,
    out_min_ratio: np.ndarray,
    out_default_step: np.ndarray,
    out_ead: np.ndarray,
    out_loss: np.ndarray,
    out_flags: np.ndarray,
    out_terminal: np.ndarray,
    out_pool: np.ndarray,
) -> None:
    """Simulate the full stress model for rows ``p_begin .. p_end − 1`` of the outputs.

    Row ``p`` is global path ``path_start + p``. Disjoint row ranges may run on different
    threads at once (the kernel releases the GIL and writes only its own rows).

    Parameters
    ----------
    items, sector_index, item_keys, sector_keys, stream_keys, profile, scalars
        The arrays of a :class:`valuation.risk.model.StressModel`.
    n_liquidation_steps
        Steps from default to the sale of the collateral.
    path_start
        Global index of the path in row 0 (so that a run can be split into parts).
    p_begin, p_end
        The rows to simulate.
    out_min_ratio
        ``(paths,)``: ``min_k V_k / profile_k`` over ``k = 0..n_steps`` (pooled value).
    out_default_step
        ``(paths,)`` int64: the step of default within the tenor, −1 for none.
    out_ead, out_loss
        ``(paths,)``: exposure at default and loss (0 without default).
    out_flags
        ``(paths, n_items)`` uint8: bit 1 revoked, 2 expiry reached, 4 lapsed (within tenor).
    out_terminal
        ``(paths, n_items)``: each item's value at the end of the tenor, or ``(paths, 0)``.
    out_pool
        ``(n_steps + 1, paths)`` float32 pooled value per step, or ``(0, paths)`` to skip.

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
    n_items = items.shape[0]
    n_sectors = sector_keys.shape[0]
    n_steps = profile.shape[0] - 1
    n_rows = 4 * ((n_steps + 3) // 4)
    seed = stream_keys[0]
    borrower_key = stream_keys[1]
    amount = scalars[AMOUNT]
    threshold = scalars[DEFAULT_THRESHOLD]
    wrong_way = scalars[WRONG_WAY]
    wrong_way_c = scalars[WRONG_WAY_COMPLEMENT]
    liquidation_keep = scalars[LIQUIDATION_KEEP]
    sqrt_rho = scalars[SQRT_RHO]
    sqrt_1m_rho = scalars[SQRT_ONE_MINUS_RHO]
    store_pool = out_pool.shape[0] > 0
    store_terminal = out_terminal.shape[1] > 0
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
    # alone brings the latent variable near the threshold: see default_steps.
    default_cut = threshold - wrong_way_c * _Z_CENTRAL_MIN
    tails_only = draw_borrower and default_cut < -2.0 * abs(wrong_way)
    borrower_z = np.zeros((n_rows if draw_borrower else 0, CHUNK))
    cand_f = np.empty((3, n_steps * CHUNK + 1 if tails_only else 0))
    cand_i = np.empty((4, n_steps * CHUNK + 1 if tails_only else 0), dtype=np.int64)
    counts = np.empty(CHUNK, dtype=np.int64)
    # Events of an item: zeros but while an item with events is moved (its last row is the
    # spare of chunk_events). The jump lists are grown when a block needs more.
    events = np.zeros((n_steps + 1, CHUNK))
    room: int | np.int64 = 8 * CHUNK
    blocks, jump_u, jump_z, scratch = event_lists(room)
    horizon = n_steps + n_liquidation_steps
    value = np.empty(CHUNK)
    bits = np.empty(CHUNK, dtype=np.int64)
    pool = np.empty((n_steps + 1, CHUNK))
    factor = np.zeros((n_steps + 1 if use_factor else 0, CHUNK))
    final_log_v = np.empty((n_items, CHUNK))
    min_ratio = np.empty(CHUNK)
    default_step = np.empty(CHUNK, dtype=np.int64)
    later_events = np.zeros((n_liquidation_steps + 1, 1))

    pool0 = 0.0
    for i in range(n_items):
        pool0 += math.exp(items[i, LOG_V0])

    for c0 in range(p_begin, p_end, CHUNK):
        nb = min(CHUNK, p_end - c0)
        path0 = np.uint64(path_start + c0)
        if draw_sector:
            for s in range(n_sectors):
                step_normals(
                    seed, sector_keys[s], path0, nb, n_steps, uniforms, sector_z[s], tail_x, tail_i
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
            step_normals(seed, item_keys[i], path0, nb, n_steps, uniforms, item_z, tail_x, tail_i)
            with_events = has_events(item, n_steps)
            if with_events:
                while True:
                    n_blk = chunk_events(
                        item,
                        seed,
                        item_keys[i],
                        path0,
                        nb,
                        n_steps,
                        horizon,
                        uniforms,
                        events,
                        counts,
                        blocks,
                        jump_u,
                        jump_z,
                        scratch,
                    )
                    if n_blk >= 0:
                        break
                    events[:, :] = 0.0
                    room = -n_blk
                    blocks, jump_u, jump_z, scratch = event_lists(room)
            else:
                counts[:nb] = 0
            for j in range(nb):
                out_flags[c0 + j, i] = counts[j]
            sector = sector_z[sector_index[i]] if draw_sector else item_z
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
                    out_terminal[c0 + j, i] = value[j]
            if with_events:
                events[n_steps, :nb] = 0.0  # the spare row (advance_item cleared the others)

        running_min_ratio(pool, profile, n_steps, nb, min_ratio)
        if store_pool:
            for k in range(n_steps + 1):
                for j in range(nb):
                    out_pool[k, c0 + j] = np.float32(pool[k, j])
        default_step[:nb] = -1
        if tails_only:
            default_steps_from_tails(
                borrower_z,
                factor,
                use_factor,
                scalars,
                default_cut,
                n_steps,
                nb,
                cand_f,
                cand_i,
                default_step,
            )
        elif draw_borrower:
            for k in range(n_steps, 0, -1):
                eta = borrower_z[k - 1]
                if use_factor:
                    fac = factor[k]
                    for j in range(nb):
                        latent = wrong_way * fac[j] + wrong_way_c * eta[j]
                        default_step[j] = k if latent < threshold else default_step[j]
                else:
                    for j in range(nb):
                        latent = wrong_way_c * eta[j]
                        default_step[j] = k if latent < threshold else default_step[j]
        for j in range(nb):
            p = c0 + j
            out_min_ratio[p] = min_ratio[j]
            d = default_step[j]
            out_default_step[p] = d
            if d < 0:
                out_ead[p] = 0.0
                out_loss[p] = 0.0
                continue
            ead = amount * profile[d]
            sale = d + n_liquidation_steps
            if sale <= n_steps:
                proceeds = liquidation_keep * pool[sale, j]
            else:
                proceeds = liquidation_keep * pool_after_tenor(
                    items,
                    sector_index,
                    item_keys,
                    sector_keys,
                    seed,
                    path0 + np.uint64(j),
                    n_steps,
                    sale,
                    final_log_v[:, j],
                    sqrt_rho,
                    sqrt_1m_rho,
                    later_events,
                )
            out_ead[p] = ead
            out_loss[p] = max(ead - proceeds, 0.0)
