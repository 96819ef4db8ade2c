"""Default of the borrower and the sale of the collateral after it.

:func:`default_steps` finds each path's first step with ``w F_k + √(1−w²) η_k < threshold``
(from the tail draws only, :func:`default_steps_from_tails`, when the threshold is far out);
:func:`settle_defaults` writes the exposure at default and the loss, running a defaulted path on
past the tenor to its sale when the sale falls after it (:func:`pool_after_tenor`, one path at a
time).
"""

from __future__ import annotations

import numpy as np

from valuation.kernels._jit import jit_inner, trailing_zeros
from valuation.kernels.layout import (
    AMOUNT,
    DEFAULT_THRESHOLD,
    LIQUIDATION_KEEP,
    LOG_DRIFT_STEP,
    SIGMA_SQRT_DT,
    SQRT_ONE_MINUS_RHO,
    SQRT_RHO,
    WRONG_WAY,
    WRONG_WAY_COMPLEMENT,
    PathOutputs,
    StressArrays,
)
from valuation.kernels.stress.events import item_events
from valuation.kernels.stress.exp_log import exp_scalar
from valuation.kernels.stress.normals import (
    _ONE64,
    _P_LOW,
    _ZERO64,
    inverse_normal_into,
    lane_normal,
)


@jit_inner
def default_steps_from_tails(
    borrower_u: np.ndarray,
    factor: np.ndarray,
    use_factor: bool,
    scalars: np.ndarray,
    default_cut: float,
    n_steps: int,
    nb: int,
    cand_f: np.ndarray,
    cand_i: np.ndarray,
    default_step: np.ndarray,
) -> None:
    """Set ``default_step[j]`` to the first step ``k`` with ``w F_k + √(1−w²) η_k < threshold``.

    The same decisions, bit for bit, as testing every step with the borrower's normals
    ``η_k = inverse_normal(u_k)`` (``borrower_u[k − 1, j]``, uniforms), without computing most
    of them: a draw in the central branch (``u ≥ 0.02425``) has ``η ≥`` :data:`_Z_CENTRAL_MIN`,
    so it can only default where ``w F_k < default_cut = threshold − √(1−w²)·_Z_CENTRAL_MIN``.
    Only the lanes of a step with ``u < 0.02425`` or a factor below that cut are candidates:
    listed step by step through a 64-bit mask (as in :func:`list_outside`), their normals
    computed in one :func:`inverse_normal_into` pass, then tested in the list's order, so the
    first default of a path is its earliest. ``cand_f`` (float64 ``(3, ≥ n_steps·nb + 1)``) and
    ``cand_i`` (int64 ``(4, ≥ n_steps·nb + 1)``) are scratch. ``default_step`` must hold −1 on
    entry; ``factor`` is read only when ``use_factor``. Exact for any parameters, fast when the
    cut is far below the factor's range (the caller's test).
    """
    threshold = scalars[DEFAULT_THRESHOLD]
    wrong_way = scalars[WRONG_WAY]
    wrong_way_c = scalars[WRONG_WAY_COMPLEMENT]
    every = 0.0 < default_cut  # without the factor its term is 0
    n_cand = np.int64(0)  # int64 from the start: a literal 0 makes numba type the calls twice
    for k in range(1, n_steps + 1):
        u = borrower_u[k - 1]
        fac = factor[k] if use_factor else u  # (not read without the factor)
        for g in range(0, nb, 64):
            mask = np.uint64(0)
            # Views from g on: indexing u[g + j] makes LLVM gather (it cannot tell g + j ≥ 0).
            ug = u[g:]
            if use_factor:
                fg = fac[g:]
                for j in range(min(64, nb - g)):
                    hit = (ug[j] < _P_LOW) | (wrong_way * fg[j] < default_cut)
                    mask |= np.uint64(hit) << np.uint64(j)
            else:
                for j in range(min(64, nb - g)):
                    mask |= np.uint64((ug[j] < _P_LOW) | every) << np.uint64(j)
            while mask != _ZERO64:
                j = g + trailing_zeros(mask)
                mask &= mask - _ONE64
                cand_f[0, n_cand] = u[j]
                cand_i[0, n_cand] = k
                cand_i[1, n_cand] = j
                n_cand += 1
    eta = cand_f[1]
    inverse_normal_into(cand_f[0], n_cand, eta, cand_i[2], cand_f[2], cand_i[3])
    for t in range(n_cand):
        j = cand_i[1, t]
        if default_step[j] >= 0:
            continue
        k = cand_i[0, t]
        if use_factor:
            latent = wrong_way * factor[k, j] + wrong_way_c * eta[t]
        else:
            latent = wrong_way_c * eta[t]
        if latent < threshold:
            default_step[j] = k


@jit_inner
def pool_after_tenor(
    items: np.ndarray,
    sector_index: np.ndarray,
    item_keys: np.ndarray,
    sector_keys: np.ndarray,
    seed: np.uint64,
    path: np.uint64,
    n_steps: int,
    sale: int,
    final_log_v: np.ndarray,
    sqrt_rho: float,
    sqrt_1m_rho: float,
    later_events: np.ndarray,
) -> float:
    """Run one path on from the tenor to step ``sale``; return the pooled value then.

    The same model and the same draws as :func:`stress_paths` (which stops at the tenor), one
    path and one step at a time: only defaulted paths whose sale falls after the tenor need it.
    """
    pool = 0.0
    for i in range(items.shape[0]):
        item = items[i]
        key = item_keys[i]
        later_events[: sale - n_steps, 0] = 0.0
        item_events(
            item,
            seed,
            key,
            path,
            n_steps,
            n_steps + later_events.shape[0] - 1,  # the horizon: tenor + liquidation
            n_steps + 1,
            sale,
            later_events,
            np.int64(0),  # not the literal 0: numba would compile a second item_events for it
        )
        log_v = final_log_v[i]
        for k in range(n_steps + 1, sale + 1):
            block = np.uint64((k - 1) // 4)
            lane = (k - 1) % 4
            eps = lane_normal(seed, key, path, block, lane)
            common = 0.0
            if sqrt_rho > 0.0:
                common = lane_normal(seed, sector_keys[sector_index[i]], path, block, lane)
            shock = sqrt_rho * common + sqrt_1m_rho * eps
            log_v += (
                item[LOG_DRIFT_STEP]
                + item[SIGMA_SQRT_DT] * shock
                + later_events[k - n_steps - 1, 0]
            )
        pool += exp_scalar(log_v)
    return pool


@jit_inner
def default_steps(
    borrower_z: np.ndarray,
    factor: np.ndarray,
    use_factor: bool,
    scalars: np.ndarray,
    default_cut: float,
    tails_only: bool,
    n_steps: int,
    nb: int,
    cand_f: np.ndarray,
    cand_i: np.ndarray,
    default_step: np.ndarray,
) -> None:
    """Set ``default_step[j]`` to path ``j``'s first step of default (it holds −1 on entry).

    Default at step ``k`` when ``w F_k + √(1−w²) η_k < threshold``, ``F_k`` in ``factor[k]``
    (read only when ``use_factor``). With ``tails_only``, ``borrower_z`` holds the borrower's
    uniforms and :func:`default_steps_from_tails` decides (``cand_f``, ``cand_i`` its scratch);
    otherwise ``borrower_z[k − 1]`` holds the normals and every step is tested, from the last
    to the first, without a branch.
    """
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
        return
    threshold = scalars[DEFAULT_THRESHOLD]
    wrong_way = scalars[WRONG_WAY]
    wrong_way_c = scalars[WRONG_WAY_COMPLEMENT]
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


@jit_inner
def settle_defaults(
    model: StressArrays,
    path0: np.uint64,
    c0: int,
    nb: int,
    pool: np.ndarray,
    final_log_v: np.ndarray,
    default_step: np.ndarray,
    later_events: np.ndarray,
    out: PathOutputs,
) -> None:
    """Write the default step, exposure at default and loss of paths ``path0 .. path0 + nb − 1``.

    Into rows ``c0 .. c0 + nb − 1`` of ``out``. ``EAD = amount · profile[d]`` at the step of
    default ``d``; the pool is sold ``n_liquidation_steps`` later for ``(1 − discount)`` of its
    value: ``pool[sale, j]`` within the tenor, else the value of :func:`pool_after_tenor` (from
    the items' log-values at the tenor, ``final_log_v[:, j]``; ``later_events`` its scratch).
    ``loss = max(EAD − proceeds, 0)``; both 0 without default.
    """
    amount = model.scalars[AMOUNT]
    liquidation_keep = model.scalars[LIQUIDATION_KEEP]
    n_steps = model.profile.shape[0] - 1
    for j in range(nb):
        p = c0 + j
        d = default_step[j]
        out.default_step[p] = d
        if d < 0:
            out.ead[p] = 0.0
            out.loss[p] = 0.0
            continue
        ead = amount * model.profile[d]
        sale = d + model.n_liquidation_steps
        if sale <= n_steps:
            proceeds = liquidation_keep * pool[sale, j]
        else:
            proceeds = liquidation_keep * pool_after_tenor(
                model.items,
                model.sector_index,
                model.item_keys,
                model.sector_keys,
                model.stream_keys[0],
                path0 + np.uint64(j),
                n_steps,
                sale,
                final_log_v[:, j],
                model.scalars[SQRT_RHO],
                model.scalars[SQRT_ONE_MINUS_RHO],
                later_events,
            )
        out.ead[p] = ead
        out.loss[p] = max(ead - proceeds, 0.0)
