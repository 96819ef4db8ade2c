"""The diffusion of the items through the steps of a block of paths, and the running minimum.

:func:`advance_item` moves one item's log-value through all steps (shock, drift, events, the
exponential and the pooled value); :func:`running_min_ratio` gives the pathwise minimum of
pooled value over exposure that the breach probability and the max loan are read from.
"""

from __future__ import annotations

import numpy as np

from valuation.kernels._jit import jit_inner
from valuation.kernels.stress.exp_log import exp_parts


@jit_inner
def running_min_ratio(
    pool: np.ndarray, profile: np.ndarray, n_steps: int, nb: int, min_ratio: np.ndarray
) -> None:
    """Write ``min_k pool[k, j] / profile[k]`` over steps ``0..n_steps`` into ``min_ratio[:nb]``.

    The pathwise statistic the breach probability and the exact max loan are read from.
    """
    for j in range(nb):
        min_ratio[j] = pool[0, j] / profile[0]
    for k in range(1, n_steps + 1):
        pk = pool[k]
        den = profile[k]
        for j in range(nb):
            ratio = pk[j] / den
            min_ratio[j] = ratio if ratio < min_ratio[j] else min_ratio[j]


@jit_inner
def advance_item(
    level: np.ndarray,
    item_z: np.ndarray,
    sector: np.ndarray,
    jumps: np.ndarray,
    factor: np.ndarray,
    pool: np.ndarray,
    value: np.ndarray,
    bits: np.ndarray,
    n_steps: int,
    nb: int,
    drift: float,
    sigma: float,
    weight: float,
    sqrt_rho: float,
    sqrt_1m_rho: float,
    draw_sector: bool,
    use_factor: bool,
) -> None:
    """Move one item's log-value ``level[:nb]`` through steps ``1..n_steps`` of a block.

    Per step ``k``: the shock ``√ρ·sector[k − 1] + √(1−ρ)·item_z[k − 1]`` (no sector term
    when ``draw_sector`` is false), the drift and the events ``jumps[k − 1]`` added to the
    level, its exponential added to ``pool[k]`` (``value`` keeps the last step's), and
    ``weight``·shock to ``factor[k]`` when ``use_factor``; ``bits`` is scratch. Each event
    cell read is set back to 0 (a store in the vectorised loop: cheaper than clearing the few
    cells :func:`chunk_events` wrote, which are scattered), so rows ``0 .. n_steps − 1`` of
    ``jumps`` hold zeros for lanes ``< nb`` on return. The
    exponential (:func:`exp_parts`) is computed in the loop that moves the level, and scaled
    and pooled in a second one: two passes over a step's lanes, all in the first-level cache.
    """
    scale = bits.view(np.float64)
    for k in range(1, n_steps + 1):
        eps = item_z[k - 1]
        common = sector[k - 1]
        jump = jumps[k - 1]
        if draw_sector and use_factor:
            fac = factor[k]
            for j in range(nb):
                shock = sqrt_rho * common[j] + sqrt_1m_rho * eps[j]
                lv = level[j] + (drift + sigma * shock + jump[j])
                jump[j] = 0.0
                level[j] = lv
                value[j], bits[j] = exp_parts(lv)
                fac[j] += weight * shock
        elif draw_sector:
            for j in range(nb):
                shock = sqrt_rho * common[j] + sqrt_1m_rho * eps[j]
                lv = level[j] + (drift + sigma * shock + jump[j])
                jump[j] = 0.0
                level[j] = lv
                value[j], bits[j] = exp_parts(lv)
        elif use_factor:
            fac = factor[k]
            for j in range(nb):
                shock = sqrt_1m_rho * eps[j]
                lv = level[j] + (drift + sigma * shock + jump[j])
                jump[j] = 0.0
                level[j] = lv
                value[j], bits[j] = exp_parts(lv)
                fac[j] += weight * shock
        else:
            for j in range(nb):
                shock = sqrt_1m_rho * eps[j]
                lv = level[j] + (drift + sigma * shock + jump[j])
                jump[j] = 0.0
                level[j] = lv
                value[j], bits[j] = exp_parts(lv)
        acc = pool[k]
        for j in range(nb):
            v = value[j] * scale[j]
            value[j] = v
            acc[j] += v
