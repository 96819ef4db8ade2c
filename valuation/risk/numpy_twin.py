"""A plain NumPy implementation of the full stress model, for tests and benchmarks.

It reads the same :class:`~valuation.risk.model.StressModel` as the numba kernel and writes the
same per-path statistics, but is written the obvious way (vectorised over paths, one step at a
time) and draws from NumPy's own generator, so it shares no code and no random numbers with the
kernel: the two agree in distribution, not path by path.
"""

from __future__ import annotations

import numpy as np

from valuation.kernels.layout import FLAG_EXPIRY_REACHED, FLAG_LAPSED, FLAG_REVOKED
from valuation.risk import model as m


def simulate_numpy(
    model: m.StressModel, paths: int, *, seed: int | None = None, store_pool: bool = True
) -> dict[str, np.ndarray]:
    """Simulate ``paths`` paths of ``model``; return the per-path arrays the kernel writes.

    Parameters
    ----------
    model
        The stress model.
    paths
        Number of paths.
    seed
        Seed of NumPy's generator (default: the model's seed).
    store_pool
        Keep the pooled value per step (for quantiles).
    """
    rng = np.random.default_rng(model.seed if seed is None else seed)
    items, sc = model.items, model.scalars
    n_items, n_steps, n_liq = items.shape[0], model.n_steps, model.n_liquidation_steps
    n_sectors = len(model.sectors)
    log_x = np.tile(items[:, m.LOG_V0], (paths, 1))
    mult = np.ones((paths, n_items))
    revoked = np.zeros((paths, n_items), dtype=bool)
    flags = np.zeros((paths, n_items), dtype=np.uint8)
    pool = np.exp(log_x).sum(axis=1)
    min_ratio = pool / model.profile[0]
    pool_path = np.zeros((n_steps + 1 if store_pool else 0, paths), dtype=np.float32)
    if store_pool:
        pool_path[0] = pool
    default_step = np.full(paths, -1, dtype=np.int64)
    ead = np.zeros(paths)
    loss = np.zeros(paths)
    terminal = np.zeros((paths, n_items))
    lam_dt = items[:, m.JUMP_LAMBDA_DT]
    for k in range(1, n_steps + n_liq + 1):
        sector_z = rng.standard_normal((paths, n_sectors))
        shock = sc[m.SQRT_RHO] * sector_z[:, model.sector_index] + sc[
            m.SQRT_ONE_MINUS_RHO
        ] * rng.standard_normal((paths, n_items))
        n_jumps = rng.poisson(lam_dt, size=(paths, n_items))
        jump = n_jumps * items[:, m.JUMP_MEAN] + items[:, m.JUMP_VOL] * np.sqrt(
            n_jumps
        ) * rng.standard_normal((paths, n_items))
        log_x += items[:, m.LOG_DRIFT_STEP] + items[:, m.SIGMA_SQRT_DT] * shock + jump
        revoke_now = ~revoked & (rng.random((paths, n_items)) < items[:, m.REVOKE_P])
        revoked |= revoke_now
        mult = np.where(revoke_now, mult * items[:, m.REVOKE_KEEP], mult)
        at_expiry = (items[:, m.EXPIRY_STEP] == k) & ~revoked
        lapse_now = at_expiry & (rng.random((paths, n_items)) >= items[:, m.RENEW_P])
        mult = np.where(lapse_now, mult * items[:, m.LAPSE_KEEP], mult)
        pool = (mult * np.exp(log_x)).sum(axis=1)
        if k <= n_steps:
            flags |= np.where(revoke_now, FLAG_REVOKED, 0).astype(np.uint8)
            flags |= np.where(at_expiry, FLAG_EXPIRY_REACHED, 0).astype(np.uint8)
            flags |= np.where(lapse_now, FLAG_LAPSED, 0).astype(np.uint8)
            min_ratio = np.minimum(min_ratio, pool / model.profile[k])
            if store_pool:
                pool_path[k] = pool
            factor = shock @ items[:, m.POOL_WEIGHT]
            latent = sc[m.WRONG_WAY] * factor + sc[m.WRONG_WAY_COMPLEMENT] * rng.standard_normal(
                paths
            )
            new_default = (default_step < 0) & (latent < sc[m.DEFAULT_THRESHOLD])
            default_step[new_default] = k
            ead[new_default] = sc[m.AMOUNT] * model.profile[k]
            if k == n_steps:
                terminal = mult * np.exp(log_x)
        sold = (default_step >= 0) & (default_step + n_liq == k)
        loss[sold] = np.maximum(ead[sold] - sc[m.LIQUIDATION_KEEP] * pool[sold], 0.0)
    return {
        "min_ratio": min_ratio,
        "default_step": default_step,
        "ead": ead,
        "loss": loss,
        "flags": flags,
        "terminal": terminal,
        "pool": pool_path,
    }


__all__ = ["simulate_numpy"]
