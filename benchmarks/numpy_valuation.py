"""Plain vectorised NumPy twin of :func:`valuation.kernels.valuation.value_batch`.

The reference the benchmark compares the numba kernel against: the same formulas, evaluated
method by method over whole arrays (per product, or per cost item / comparable with CSR
segment sums), with no Python loop over products. Products without a method's inputs are
computed anyway and masked at the end, the way vectorised code usually does it.

Operation order and formulas follow the kernel (left-to-right sums and products, the same
cancellation-free duration), so the two agree to a few ulps; the only differences are the libm
(NumPy's SIMD ``exp``/``log`` against the scalar ones numba calls) and the fast-math flags of
the kernel. Like the kernel, it takes ``MarketInputs.log_price``: the ``log`` of the comparable
prices belongs to the input preparation, not to the valuation.
"""

from __future__ import annotations

import numpy as np

from valuation.kernels.valuation import (
    BatchOutputs,
    CostInputs,
    IncomeInputs,
    MarketInputs,
    allocate_outputs,
)

# These mirror the private constants of valuation/kernels/valuation.py (SIGMA_FLOOR,
# SIGMA_CAP); the benchmark's 1e-9 agreement check fails if they drift apart.
SIGMA_FLOOR = 1e-6  # smallest log sd a method is weighted with
SIGMA_CAP = 3.0  # largest cost-method log sd


def segment_ids(offsets: np.ndarray) -> np.ndarray:
    """Return the product index of every CSR element (``np.repeat`` of the row numbers)."""
    counts = np.diff(offsets)
    return np.repeat(np.arange(counts.shape[0]), counts)


def segment_sum(x: np.ndarray, offsets: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Sum ``x`` over each CSR segment; empty segments sum to 0.

    ``starts`` are the offsets of the non-empty segments only: ``np.add.reduceat`` over them
    sums exactly each non-empty segment (an empty one contributes nothing in between), in
    storage order, like the kernel's loop.
    """
    out = np.zeros(offsets.shape[0] - 1)
    if starts.shape[0]:
        nonempty = offsets[1:] > offsets[:-1]
        out[nonempty] = np.add.reduceat(x, starts)
    return out


def income_numpy(inc: IncomeInputs) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(value, log sd)`` of the income method for every product."""
    c = inc.base * inc.rate
    life = inc.life
    valid = (c > 0.0) & (life > 0.0)
    perpetual = np.isinf(life)
    mid = inc.mid_year > 0.0
    log_q0 = np.log((1.0 + inc.growth) * (1.0 - inc.decay))
    log_k = np.log1p(inc.discount)
    log_q = log_q0 - log_k
    tau = np.where(mid, 0.5, 0.0)
    shift = np.where(mid, np.sqrt(1.0 + inc.discount), 1.0)  # (1+k)^tau
    cs = c * shift

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        life_f = np.where(perpetual | ~valid, 0.0, life)
        m = np.floor(life_f)
        f = life_f - m
        em1 = np.expm1(log_q)  # q - 1, exact near q = 1
        em1_m = np.expm1(m * log_q)  # q^m - 1
        q = 1.0 + em1
        one_minus_q = -em1
        s_full = q * em1_m / em1
        near = np.abs(log_q) * m < 1e-4
        s_full = np.where(log_q == 0.0, m, s_full)
        t_near = s_full * ((m + 1.0) * 0.5 + log_q * (m * m - 1.0) / 12.0)
        # sum t·q^t = q·(m·q^m·(q−1) − (q^m − 1))/(q − 1)², without cancellation (as the kernel)
        t_far = q * (m * (1.0 + em1_m) * em1 - em1_m) / (em1 * em1)
        t_full = np.where(near, t_near, t_far)
        whole = m > 0.0
        s_full = np.where(whole, s_full, 0.0)
        t_full = np.where(whole, t_full, 0.0)
        timing = m + np.where(mid, 0.5 * f, f)
        pv_part = np.where(f > 0.0, c * f * np.exp((m + 1.0) * log_q0 - timing * log_k), 0.0)
        pv = cs * s_full + pv_part
        duration = (cs * t_full + (m + 1.0) * pv_part) / pv

        if perpetual.any():
            grows = log_q >= 0.0
            pv_inf = np.where(grows, np.inf, cs * q / one_minus_q)
            duration_inf = np.where(grows, np.inf, 1.0 / one_minus_q)
            pv = np.where(perpetual, pv_inf, pv)
            duration = np.where(perpetual, duration_inf, duration)

        tab = inc.tab_tax > 0.0
        annuity = shift * (-np.expm1(-inc.tab_life * log_k)) / inc.discount
        pv = np.where(tab, pv / (1.0 - inc.tab_tax / inc.tab_life * annuity), pv)

    value = np.where(valid, pv, 0.0)
    duration = np.where(valid, duration, 0.0)
    a = duration * inc.sd_growth / (1.0 + inc.growth)
    b = duration * inc.sd_decay / (1.0 - inc.decay)
    d = (duration - tau) * inc.sd_discount / (1.0 + inc.discount)
    sigma = np.sqrt(inc.sd_rate * inc.sd_rate + a * a + b * b + d * d)
    return value, sigma


def cost_numpy(cst: CostInputs) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(value, log sd)`` of the cost method for every product."""
    offsets = cst.offsets
    starts = offsets[:-1][offsets[1:] > offsets[:-1]]
    item_product = segment_ids(offsets)
    amount = cst.amount
    age_years = cst.age_years
    indexed = cst.indexed > 0.0
    remaining = cst.remaining_life[item_product]
    growth = np.exp(age_years * np.log1p(cst.index_rate))
    replaced = np.where(indexed[item_product], amount * growth, amount)
    kept = replaced * remaining / (age_years + remaining)

    total = segment_sum(amount, offsets, starts)
    weighted_age = segment_sum(amount * age_years, offsets, starts)
    kept_value = segment_sum(kept, offsets, starts)

    with np.errstate(divide="ignore", invalid="ignore"):
        age = np.where(total > 0.0, weighted_age / total, 0.0)
        value = kept_value * (1.0 + cst.return_on_cost) * cst.quality_factor
        value = np.where((total > 0.0) & (cst.remaining_life > 0.0), value, 0.0)
        a = np.where(indexed, age * cst.sd_index, 0.0)
        b = cst.sd_return / (1.0 + cst.return_on_cost)
        c = np.where(cst.quality_factor > 0.0, cst.sd_quality / cst.quality_factor, SIGMA_CAP)
    sigma = np.minimum(np.sqrt(a * a + b * b + c * c), SIGMA_CAP)
    return value, sigma


def market_numpy(mkt: MarketInputs) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(value, log sd)`` of the market method for every product."""
    offsets = mkt.offsets
    count = np.diff(offsets)
    starts = offsets[:-1][count > 0]
    comp_product = segment_ids(offsets)
    log_index = np.log1p(mkt.index_growth)

    fq = mkt.e_quality[comp_product] * mkt.log_quality_ratio
    fv = mkt.e_volume[comp_product] * mkt.log_volume_ratio
    fd = mkt.years_ago * log_index[comp_product]
    ff = mkt.log_fixed
    log_adjusted = mkt.log_price + fq + fv + fd + ff
    w = 1.0 / (1.0 + np.abs(fq) + np.abs(fv) + np.abs(fd) + np.abs(ff))
    w_log = w * log_adjusted

    sum_w = segment_sum(w, offsets, starts)
    sum_w2 = segment_sum(w * w, offsets, starts)
    sum_wp = segment_sum(w * np.exp(log_adjusted), offsets, starts)
    sum_wl = segment_sum(w_log, offsets, starts)
    sum_wll = segment_sum(w_log * log_adjusted, offsets, starts)

    with np.errstate(divide="ignore", invalid="ignore"):
        value = sum_wp / sum_w
        n_eff = sum_w * sum_w / sum_w2
        mean = sum_wl / sum_w
        var = np.maximum(sum_wll / sum_w - mean * mean, 0.0)
        dispersion = np.where(count >= 3, np.maximum(np.sqrt(var), mkt.sd_floor), mkt.sd_default)
        sigma = np.sqrt(dispersion * dispersion / n_eff + mkt.sd_level * mkt.sd_level)
    some = count > 0
    return np.where(some, value, 0.0), np.where(some, sigma, 0.0)


def value_batch_numpy(
    has: np.ndarray,
    inc: IncomeInputs,
    cst: CostInputs,
    mkt: MarketInputs,
    out: BatchOutputs | None = None,
) -> BatchOutputs:
    """Value every product like :func:`~valuation.kernels.valuation.value_batch`, in NumPy."""
    if out is None:
        out = allocate_outputs(has.shape[0])
    methods = (income_numpy(inc), cost_numpy(cst), market_numpy(mkt))
    for j, (value, sigma) in enumerate(methods):
        out.values[:, j] = np.where(has[:, j], value, 0.0)
        out.sigmas[:, j] = np.where(has[:, j], sigma, 0.0)
    floored = np.maximum(out.sigmas, SIGMA_FLOOR)
    precision = np.where(has, 1.0 / (floored * floored), 0.0)
    total = precision[:, 0] + precision[:, 1] + precision[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        weights = np.where(total[:, None] > 0.0, precision / total[:, None], 0.0)
    out.weights[:] = weights
    values = out.values
    out.concluded[:] = (
        weights[:, 0] * values[:, 0] + weights[:, 1] * values[:, 1] + weights[:, 2] * values[:, 2]
    )
    return out


__all__ = [
    "cost_numpy",
    "income_numpy",
    "market_numpy",
    "segment_ids",
    "segment_sum",
    "value_batch_numpy",
]
