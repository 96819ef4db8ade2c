"""Seeded random batches of kernel inputs, varied enough to reach every branch."""

from __future__ import annotations

import numpy as np

from valuation.kernels.valuation import CostInputs, IncomeInputs, MarketInputs


def certificate_fields(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random certificate events, roll-forward and model errors of the income method.

    Reaches every branch of ``certificate_income``: no hazard and no expiry ahead (the
    event-free annuity), an expiry now (``first_expiry = 0``) or on a quarter-year grid (payment
    times that fall exactly on an expiry), never renewed or always renewed, total and no loss.
    """
    first_expiry = np.select(
        [rng.random(n) < 0.15, rng.random(n) < 0.1, rng.random(n) < 0.3],
        [np.inf, 0.0, rng.integers(1, 25, n) / 4.0],
        rng.uniform(0.0, 6.0, n),
    )
    return {
        "roll": np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.0, 1.5, n)),
        "hazard": np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.0, 0.3, n)),
        "revoke_keep": rng.choice([0.0, 0.0, 0.3, 0.6, 1.0], n),
        "first_expiry": first_expiry,
        "validity": rng.choice([3.0, 3.0, 3.0, 1.0, 2.0, 1.5, 5.0], n),
        "renew_p": np.select(
            [rng.random(n) < 0.1, rng.random(n) < 0.1], [0.0, 1.0], rng.uniform(0.0, 1.0, n)
        ),
        "lapse_keep": np.select(
            [rng.random(n) < 0.1, rng.random(n) < 0.1], [0.0, 1.0], rng.uniform(0.0, 1.0, n)
        ),
        "keep": np.where(rng.random(n) < 0.25, rng.uniform(0.0, 1.0, n), 1.0),
        "sd_life": np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.0, 0.3, n)),
        "sd_model": np.where(rng.random(n) < 0.1, 0.0, rng.uniform(0.0, 1.0, n)),
    }


def random_batch(n: int, seed: int) -> tuple[np.ndarray, IncomeInputs, CostInputs, MarketInputs]:
    rng = np.random.default_rng(seed)
    # the fields added with the certificate's events (and the lives moved onto a grid) draw
    # from a stream of their own, so the draws of the others are the same as before
    extra = np.random.default_rng([seed, 1])
    has = rng.random((n, 3)) < 0.85
    life = np.where(
        rng.random(n) < 0.15, rng.integers(1, 8, n).astype(float), rng.uniform(0.1, 9.5, n)
    )
    life[rng.random(n) < 0.05] = 0.0
    on_grid = extra.random(n) < 0.1  # on a 1/8-year grid: payments that fall on an expiry
    life[on_grid] = extra.integers(1, 80, int(on_grid.sum())) / 8.0
    growth = rng.uniform(-0.3, 0.5, n)
    growth[rng.random(n) < 0.05] = 0.12  # q = 1 exactly when discount is also 0.12 and decay 0
    decay = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.0, 0.4, n))
    discount = np.where(growth == 0.12, 0.12, rng.uniform(0.05, 0.35, n))
    decay[growth == 0.12] = 0.0
    inc = IncomeInputs(
        base=rng.lognormal(14, 1.5, n),
        rate=rng.uniform(-0.05, 0.5, n),
        growth=growth,
        decay=decay,
        discount=discount,
        life=life,
        mid_year=(rng.random(n) < 0.6).astype(float),
        tab_tax=np.where(rng.random(n) < 0.3, rng.choice([0.15, 0.25], n), 0.0),
        tab_life=rng.integers(5, 16, n).astype(float),
        sd_rate=rng.uniform(0.05, 0.4, n),
        sd_growth=rng.uniform(0.01, 0.08, n),
        sd_decay=rng.uniform(0.0, 0.05, n),
        sd_discount=rng.uniform(0.01, 0.03, n),
        **certificate_fields(n, extra),
    )
    n_items = rng.integers(0, 7, n)
    m = int(n_items.sum())
    cst = CostInputs(
        offsets=np.concatenate([[0], np.cumsum(n_items)]).astype(np.int64),
        amount=np.where(rng.random(m) < 0.05, 0.0, rng.lognormal(13, 1.2, m)),
        age_years=rng.uniform(0, 6, m),
        index_rate=rng.choice([-0.08, 0.0, 0.02, 0.04], m),
        indexed=(rng.random(n) < 0.7).astype(float),
        return_on_cost=rng.uniform(0, 0.3, n),
        quality_factor=rng.uniform(0.3, 1.0, n),
        remaining_life=np.where(rng.random(n) < 0.05, 0.0, rng.uniform(0.2, 8, n)),
        sd_index=rng.uniform(0, 0.03, n),
        sd_return=rng.uniform(0, 0.05, n),
        sd_quality=rng.uniform(0, 0.15, n),
        sd_model=np.where(extra.random(n) < 0.1, 0.0, extra.uniform(0.0, 1.0, n)),
    )
    n_comps = rng.integers(0, 7, n)
    c = int(n_comps.sum())
    # about half the products without comparables have a value from the price model instead
    modelled = (n_comps == 0) & (extra.random(n) < 0.5)
    mkt = MarketInputs(
        offsets=np.concatenate([[0], np.cumsum(n_comps)]).astype(np.int64),
        log_price=rng.normal(14, 1.5, c),
        log_fixed=rng.normal(0.5, 0.6, c),
        log_quality_ratio=rng.normal(0, 0.2, c),
        log_volume_ratio=np.where(rng.random(c) < 0.3, 0.0, rng.normal(0, 1.0, c)),
        years_ago=rng.uniform(0, 3, c),
        e_quality=rng.uniform(0.5, 1.5, n),
        e_volume=rng.uniform(0.1, 0.5, n),
        index_growth=rng.uniform(-0.02, 0.06, n),
        sd_default=np.full(n, 0.5),
        sd_floor=np.full(n, 0.1),
        sd_level=np.full(n, 0.15),
        sd_model=np.where(extra.random(n) < 0.1, 0.0, extra.uniform(0.0, 1.0, n)),
        model_value=np.where(modelled, extra.lognormal(14, 1.5, n), 0.0),
        model_sd=np.where(modelled, extra.uniform(0.1, 0.8, n), 0.0),
    )
    has[:, 1] &= n_items > 0
    has[:, 2] &= (n_comps > 0) | modelled
    return has, inc, cst, mkt
