"""Monte Carlo loan-to-value stress kernels (SPEC §6): pure functions over arrays.

The model's per-step constants come from :func:`valuation.risk.model.build_model`; the column
and scalar indices are the constants of :mod:`valuation.risk.model`. Outputs go into
caller-allocated per-path arrays, so memory is O(paths) (plus the optional pooled value per
step that feeds the fan-chart quantiles; see :func:`stress_paths`).

Random stream layout
--------------------
Every draw is a Philox block keyed by ``(seed, entity, path, block)``; a path never depends on
its thread or chunk, so results are bit-identical on any thread count and for any split of the
paths. Normals are the inverse normal CDF of each 32-bit word (:func:`fast_normals4`: four
normals per block). For step ``k = 1, 2, ...``:

* diffusion: entity = the item, sector or borrower; block ``(k − 1) // 4``, normal number
  ``(k − 1) % 4`` of that block (one block serves four steps);
* events of item ``i``: entity = the item, block ``EVENT_BLOCK + (k − 1) // 2`` serves two
  steps: words ``2j`` and ``2j + 1`` (``j = (k − 1) % 2``) decide the jump count (inverse
  Poisson CDF) and revocation; the jump-size normal comes from block ``JUMP_BLOCK + k``
  (word 0) and is drawn only when a jump occurs (the layout does not move when it is not drawn);
* certificate expiry of item ``i``: entity = the item, block ``EXPIRY_BLOCK``, word 0.
"""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels._jit import jit, jit_parallel, prange
from valuation.kernels.rng import philox4x32, uniform_from_word, uniforms4

# Column / scalar indices: must equal those in valuation.risk.model (a test checks).
LOG_V0 = 0
LOG_DRIFT_STEP = 1
SIGMA_SQRT_DT = 2
JUMP_P0 = 3
JUMP_LAMBDA_DT = 4
JUMP_MEAN = 5
JUMP_VOL = 6
REVOKE_P = 7
REVOKE_KEEP = 8
EXPIRY_STEP = 9
RENEW_P = 10
LAPSE_KEEP = 11
POOL_WEIGHT = 12

AMOUNT = 0
MARGIN_CALL_LTV = 1
DEFAULT_THRESHOLD = 2
WRONG_WAY = 3
WRONG_WAY_COMPLEMENT = 4
LIQUIDATION_KEEP = 5
SQRT_RHO = 6
SQRT_ONE_MINUS_RHO = 7

EVENT_BLOCK = 1 << 28
JUMP_BLOCK = 1 << 29
EXPIRY_BLOCK = 1 << 30
CHUNK = 256
MAX_JUMPS_PER_STEP = 64

FLAG_REVOKED = 1
FLAG_EXPIRY_REACHED = 2
FLAG_LAPSED = 4

_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)

# Acklam's rational approximation of the normal quantile (relative error < 1.15e-9).
_A0, _A1, _A2 = -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02
_A3, _A4, _A5 = 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00
_B0, _B1, _B2 = -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02
_B3, _B4 = 6.680131188771972e01, -1.328068155288572e01
_C0, _C1, _C2 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00
_C3, _C4, _C5 = -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00
_D0, _D1, _D2 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00
_D3 = 3.754408661907416e00
_P_LOW = 0.02425


@jit
def inverse_normal(u: float) -> float:
    """Return the standard normal quantile of ``u`` in (0, 1) (Acklam's approximation).

    Rational approximations in the centre and in the tails; relative error below 1.15e-9,
    far below any Monte Carlo error here, and about four times cheaper than Box-Muller's
    log, square root, sine and cosine.
    """
    if u < _P_LOW or u > 1.0 - _P_LOW:
        q = math.sqrt(-2.0 * math.log(u if u < 0.5 else 1.0 - u))
        z = (((((_C0 * q + _C1) * q + _C2) * q + _C3) * q + _C4) * q + _C5) / (
            (((_D0 * q + _D1) * q + _D2) * q + _D3) * q + 1.0
        )
        return z if u < 0.5 else -z
    q = u - 0.5
    r = q * q
    return (
        (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5)
        * q
        / (((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0)
    )


@jit
def fast_normals4(
    seed: np.uint64, entity: np.uint64, path: np.uint64, block: np.uint64
) -> tuple[float, float, float, float]:
    """Return four standard normals for ``(seed, entity, path, block)``: one per Philox word.

    The same Philox4x32-10 block as :func:`valuation.kernels.rng.uniforms4`, each 32-bit
    uniform mapped through :func:`inverse_normal` (tails cut at about ±6.3 σ).
    """
    w0, w1, w2, w3 = philox4x32(
        entity & _MASK32,
        entity >> _SHIFT32,
        path & _MASK32,
        block & _MASK32,
        seed & _MASK32,
        seed >> _SHIFT32,
    )
    return (
        inverse_normal(uniform_from_word(w0)),
        inverse_normal(uniform_from_word(w1)),
        inverse_normal(uniform_from_word(w2)),
        inverse_normal(uniform_from_word(w3)),
    )


@jit
def poisson_count(u: float, p0: float, lam: float) -> int:
    """Return the Poisson(``lam``) count whose CDF first exceeds ``u`` (``p0 = e^{-lam}``)."""
    k = 0
    prob = p0
    cdf = p0
    while u > cdf and k < MAX_JUMPS_PER_STEP:
        k += 1
        prob *= lam / k
        cdf += prob
    return k


@jit_parallel
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
    out_min_ratio: np.ndarray,
    out_default_step: np.ndarray,
    out_ead: np.ndarray,
    out_loss: np.ndarray,
    out_flags: np.ndarray,
    out_terminal: np.ndarray,
    out_pool: np.ndarray,
) -> None:
    """Simulate the full stress model path by path and write per-path statistics.

    Parameters
    ----------
    items, sector_index, item_keys, sector_keys, stream_keys, profile, scalars
        The arrays of a :class:`valuation.risk.model.StressModel`.
    n_liquidation_steps
        Steps from default to the sale of the collateral.
    path_start
        Global index of the first path (so that a run can be split into parts).
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
    ``log X_i += log_drift·dt + σ√dt·W + Σ jumps``; events multiply a separate factor
    ``m_i`` (revocation ``× (1 − loss)`` once; at expiry ``× (1 − lapse_loss)`` unless
    renewed), ``V_i = m_i·exp(log X_i)``. Default at the first ``k ≤ n_steps`` with
    ``w F_k + √(1−w²) η_k < threshold``; the pool is sold ``n_liquidation_steps`` later at
    ``(1 − discount)·V``, ``loss = max(EAD − proceeds, 0)``. Paths without default stop at
    the tenor, defaulted ones run on to the sale.

    The pooled value per step (float32, 4 bytes × paths × steps) is kept only because exact
    per-step quantiles need it; everything else streams. Pass a ``(0, paths)`` array to make
    the kernel O(paths).
    """
    n_paths = out_min_ratio.shape[0]
    n_items = items.shape[0]
    n_sectors = sector_keys.shape[0]
    n_steps = profile.shape[0] - 1
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
    n_chunks = (n_paths + CHUNK - 1) // CHUNK
    for chunk in prange(n_chunks):
        item_normals = np.empty((n_items, 4))
        sector_normals = np.zeros((n_sectors, 4))
        borrower_normals = np.zeros(4)
        # 0.5 never triggers an event whose probability is 0 (jump: u > 1; revocation: u < 0)
        event_uniforms = np.full((n_items, 4), 0.5)
        log_x = np.empty(n_items)
        mult = np.empty(n_items)
        revoked = np.empty(n_items, dtype=np.bool_)
        for p in range(chunk * CHUNK, min(n_paths, (chunk + 1) * CHUNK)):
            path = np.uint64(path_start + p)
            pool = 0.0
            for i in range(n_items):
                log_x[i] = items[i, LOG_V0]
                mult[i] = 1.0
                revoked[i] = False
                out_flags[p, i] = 0
                pool += math.exp(log_x[i])
            min_ratio = pool / profile[0]
            if store_pool:
                out_pool[0, p] = np.float32(pool)
            default_step = -1
            ead = 0.0
            loss = 0.0
            last_step = n_steps
            k = 1
            while k <= last_step:
                lane = (k - 1) % 4
                if lane == 0:
                    block = np.uint64((k - 1) // 4)
                    for s in range(n_sectors if draw_sector else 0):
                        z0, z1, z2, z3 = fast_normals4(seed, sector_keys[s], path, block)
                        sector_normals[s, 0] = z0
                        sector_normals[s, 1] = z1
                        sector_normals[s, 2] = z2
                        sector_normals[s, 3] = z3
                    for i in range(n_items):
                        z0, z1, z2, z3 = fast_normals4(seed, item_keys[i], path, block)
                        item_normals[i, 0] = z0
                        item_normals[i, 1] = z1
                        item_normals[i, 2] = z2
                        item_normals[i, 3] = z3
                    if draw_borrower:
                        z0, z1, z2, z3 = fast_normals4(seed, borrower_key, path, block)
                        borrower_normals[0] = z0
                        borrower_normals[1] = z1
                        borrower_normals[2] = z2
                        borrower_normals[3] = z3
                pair = (k - 1) % 2
                if pair == 0:
                    event_block = np.uint64(EVENT_BLOCK + (k - 1) // 2)
                    for i in range(n_items):
                        if items[i, JUMP_P0] >= 1.0 and items[i, REVOKE_P] <= 0.0:
                            continue  # no event can happen: the (reserved) draw is skipped
                        u0, u1, u2, u3 = uniforms4(seed, item_keys[i], path, event_block)
                        event_uniforms[i, 0] = u0
                        event_uniforms[i, 1] = u1
                        event_uniforms[i, 2] = u2
                        event_uniforms[i, 3] = u3
                pool = 0.0
                factor = 0.0
                for i in range(n_items):
                    shock = (
                        sqrt_rho * sector_normals[sector_index[i], lane]
                        + sqrt_1m_rho * item_normals[i, lane]
                    )
                    factor += items[i, POOL_WEIGHT] * shock
                    log_x[i] += items[i, LOG_DRIFT_STEP] + items[i, SIGMA_SQRT_DT] * shock
                    u_jump = event_uniforms[i, 2 * pair]
                    u_revoke = event_uniforms[i, 2 * pair + 1]
                    if u_jump > items[i, JUMP_P0]:
                        n_jumps = poisson_count(u_jump, items[i, JUMP_P0], items[i, JUMP_LAMBDA_DT])
                        size = fast_normals4(seed, item_keys[i], path, np.uint64(JUMP_BLOCK + k))[0]
                        log_x[i] += n_jumps * items[i, JUMP_MEAN] + (
                            items[i, JUMP_VOL] * math.sqrt(n_jumps) * size
                        )
                    if not revoked[i] and u_revoke < items[i, REVOKE_P]:
                        revoked[i] = True
                        mult[i] *= items[i, REVOKE_KEEP]
                        if k <= n_steps:
                            out_flags[p, i] |= FLAG_REVOKED
                    if k == items[i, EXPIRY_STEP] and not revoked[i]:
                        u_renew = uniforms4(seed, item_keys[i], path, np.uint64(EXPIRY_BLOCK))[0]
                        if k <= n_steps:
                            out_flags[p, i] |= FLAG_EXPIRY_REACHED
                        if u_renew >= items[i, RENEW_P]:
                            mult[i] *= items[i, LAPSE_KEEP]
                            if k <= n_steps:
                                out_flags[p, i] |= FLAG_LAPSED
                    pool += mult[i] * math.exp(log_x[i])
                if k <= n_steps:
                    ratio = pool / profile[k]
                    if ratio < min_ratio:
                        min_ratio = ratio
                    if store_pool:
                        out_pool[k, p] = np.float32(pool)
                    if default_step < 0:
                        latent = wrong_way * factor + wrong_way_c * borrower_normals[lane]
                        if latent < threshold:
                            default_step = k
                            ead = amount * profile[k]
                            last_step = max(n_steps, k + n_liquidation_steps)
                    if k == n_steps and store_terminal:
                        for i in range(n_items):
                            out_terminal[p, i] = mult[i] * math.exp(log_x[i])
                if default_step >= 0 and k == default_step + n_liquidation_steps:
                    loss = max(ead - liquidation_keep * pool, 0.0)
                k += 1
            out_min_ratio[p] = min_ratio
            out_default_step[p] = default_step
            out_ead[p] = ead
            out_loss[p] = loss


@jit_parallel
def gbm_min_ratio(
    log_v0: np.ndarray,
    log_drift_step: np.ndarray,
    sigma_sqrt_dt: np.ndarray,
    item_keys: np.ndarray,
    seed: np.uint64,
    profile: np.ndarray,
    path_start: int,
    out_min_ratio: np.ndarray,
) -> None:
    """Bare GBM reference: independent items, pooled value, running min of value / profile.

    The same generator and the same chunked loop as :func:`stress_paths` without jumps,
    events, correlation or default: the practical speed limit of the random stream (used by
    the benchmark).
    """
    n_paths = out_min_ratio.shape[0]
    n_items = log_v0.shape[0]
    n_steps = profile.shape[0] - 1
    n_chunks = (n_paths + CHUNK - 1) // CHUNK
    for chunk in prange(n_chunks):
        log_x = np.empty(n_items)
        item_normals = np.empty((n_items, 4))
        for p in range(chunk * CHUNK, min(n_paths, (chunk + 1) * CHUNK)):
            path = np.uint64(path_start + p)
            pool = 0.0
            for i in range(n_items):
                log_x[i] = log_v0[i]
                pool += math.exp(log_x[i])
            min_ratio = pool / profile[0]
            for k in range(1, n_steps + 1):
                lane = (k - 1) % 4
                if lane == 0:
                    block = np.uint64((k - 1) // 4)
                    for i in range(n_items):
                        z0, z1, z2, z3 = fast_normals4(seed, item_keys[i], path, block)
                        item_normals[i, 0] = z0
                        item_normals[i, 1] = z1
                        item_normals[i, 2] = z2
                        item_normals[i, 3] = z3
                pool = 0.0
                for i in range(n_items):
                    log_x[i] += log_drift_step[i] + sigma_sqrt_dt[i] * item_normals[i, lane]
                    pool += math.exp(log_x[i])
                ratio = pool / profile[k]
                if ratio < min_ratio:
                    min_ratio = ratio
            out_min_ratio[p] = min_ratio


def warmup() -> None:
    """Compile every kernel of this module on tiny inputs (``dpv warmup``)."""
    n_items, n_paths, n_steps = 2, 3, 5
    items = np.zeros((n_items, 13))
    items[:, JUMP_P0] = 0.9
    items[:, JUMP_LAMBDA_DT] = 0.1
    items[:, EXPIRY_STEP] = 2.0
    items[:, REVOKE_KEEP] = 1.0
    items[:, LAPSE_KEEP] = 1.0
    keys = np.arange(1, n_items + 1, dtype=np.uint64)
    profile = np.ones(n_steps + 1)
    scalars = np.zeros(8)
    scalars[DEFAULT_THRESHOLD] = -1.0
    scalars[WRONG_WAY_COMPLEMENT] = 1.0
    scalars[SQRT_ONE_MINUS_RHO] = 1.0
    for pool_steps in (n_steps + 1, 0):
        stress_paths(
            items,
            np.zeros(n_items, dtype=np.int64),
            keys,
            keys[:1].copy(),
            np.array([1, 2], dtype=np.uint64),
            profile,
            scalars,
            1,
            0,
            np.empty(n_paths),
            np.empty(n_paths, dtype=np.int64),
            np.empty(n_paths),
            np.empty(n_paths),
            np.empty((n_paths, n_items), dtype=np.uint8),
            np.empty((n_paths, n_items)),
            np.empty((pool_steps, n_paths), dtype=np.float32),
        )
    gbm_min_ratio(
        np.zeros(n_items),
        np.zeros(n_items),
        np.zeros(n_items),
        keys,
        np.uint64(1),
        profile,
        0,
        np.empty(n_paths),
    )


__all__ = ["FLAG_EXPIRY_REACHED", "FLAG_LAPSED", "FLAG_REVOKED", "gbm_min_ratio", "stress_paths"]
