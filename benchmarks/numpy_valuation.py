"""Plain vectorised NumPy twin of :func:`valuation.kernels.valuation.value_batch`.

The reference the benchmark compares the numba kernel against: the same formulas, evaluated
method by method over whole arrays (per product, or per cost item / comparable with CSR
segment sums), with no Python loop over products. Products without a method's inputs are
computed anyway and masked at the end, the way vectorised code usually does it. The income
method's certificate events (:func:`~valuation.kernels.certificate.certificate_income`) are
summed period by period: one pass per certificate period over all the products whose cash
flows still reach it, a few passes in all.

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


def geometric_sum_numpy(log_r: np.ndarray, first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Return ``Σ_{t=first}^{last} r^t`` elementwise (0 where ``last < first``), as the kernel."""
    n = last - first + 1.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s = np.exp(first * log_r) * np.expm1(n * log_r) / np.expm1(log_r)
    return np.where(last < first, 0.0, np.where(log_r == 0.0, n, s))


def certificate_numpy(
    cash: np.ndarray,
    log_q0: np.ndarray,
    log_k: np.ndarray,
    life: np.ndarray,
    mid: np.ndarray,
    inc: IncomeInputs,
    rows: np.ndarray,
) -> np.ndarray:
    """Return :func:`~valuation.kernels.certificate.certificate_income` of products ``rows``.

    ``cash``, ``log_q0``, ``log_k``, ``life`` and ``mid`` are already cut to ``rows`` (positive
    cash and finite positive life); the certificate's fields are taken from ``inc``. The
    certificate periods are walked for all products at once, one period per pass: each pass
    adds the period's two geometric sums (and the partial final year if it falls in the
    period), then keeps only the products whose cash flows reach past the period's end (a few
    passes: lives of ten years or so, a period of ``validity`` years).
    """
    hazard = inc.hazard[rows]
    validity = inc.validity[rows]
    renew_p = inc.renew_p[rows]
    lr = 1.0 - inc.revoke_keep[rows]
    ll = 1.0 - inc.lapse_keep[rows]
    log_q = log_q0 - log_k
    tau = np.where(mid, 0.5, 0.0)
    shift = np.exp(tau * log_k)  # (1+k)^τ
    m = np.floor(life)
    f = life - m
    part_time = m + np.where(mid, 0.5 * f, f)
    last_time = np.where(f > 0.0, part_time, m - tau)
    e_hazard_tau = np.exp(hazard * tau)
    part = f * np.exp((m + 1.0) * log_q0 - part_time * log_k)

    n = rows.shape[0]
    pv = np.zeros(n)
    # the state of the products still walking (``at`` indexes them into the arrays above)
    at = np.arange(n)
    reach = np.ones(n)
    start = np.zeros(n)
    surv_start = np.ones(n)
    revoked = np.zeros(n)
    lapsed = np.zeros(n)
    end = np.maximum(inc.first_expiry[rows], 0.0)
    part_done = f <= 0.0
    while at.shape[0]:
        a_lr, a_ll, a_tau, a_m, a_h = lr[at], ll[at], tau[at], m[at], hazard[at]
        alpha = 1.0 - a_lr * (revoked + reach * surv_start) - a_ll * lapsed
        beta = a_lr * reach
        # whole years t with start <= t - τ < end
        first_t = np.maximum(1.0, np.ceil(start + a_tau))
        open_end = np.isinf(end)
        with np.errstate(invalid="ignore"):
            last_t = np.where(open_end, a_m, np.minimum(a_m, np.ceil(end + a_tau) - 1.0))
        a_log_q = log_q[at]
        acc = pv[at] + alpha * geometric_sum_numpy(a_log_q, first_t, last_t)
        with_beta = (beta != 0.0) & (last_t >= first_t)
        tilted = geometric_sum_numpy(a_log_q - a_h, first_t, last_t)
        acc = np.where(with_beta, acc + beta * e_hazard_tau[at] * tilted, acc)
        a_part_time = part_time[at]
        in_part = ~part_done[at] & (a_part_time >= start) & (a_part_time < end)
        factor = alpha + beta * np.exp(-a_h * a_part_time)
        acc = np.where(in_part, acc + factor * part[at] / shift[at], acc)
        pv[at] = acc
        part_done[at[in_part]] = True
        # products whose last payment falls before this period's end are done
        go_on = ~(open_end | (end > last_time[at]))
        at = at[go_on]
        end, reach, surv_start = end[go_on], reach[go_on], surv_start[go_on]
        revoked, lapsed = revoked[go_on], lapsed[go_on]
        a_h, a_p, a_v = hazard[at], renew_p[at], validity[at]
        surv_end = np.exp(-a_h * end)
        revoked = revoked + reach * (surv_start - surv_end)
        lapsed = lapsed + reach * surv_end * (1.0 - a_p)
        reach = reach * a_p
        surv_start = surv_end
        start = end
        end = np.where(a_v <= 0.0, np.inf, end + a_v)
    return cash * shift * pv


def income_numpy(inc: IncomeInputs) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(value, log sd)`` of the income method for every product.

    The value is :func:`~valuation.kernels.valuation.income_point`'s (the base rolled forward,
    the certificate's events, the TAB) times ``keep``; the log sd is the delta method's, from
    the duration of the event-free cash flows, combined with the model error.
    """
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

    # duration of the event-free cash flows (income_value), for the delta-method sigma
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
            duration_inf = np.where(grows, np.inf, 1.0 / one_minus_q)
            duration = np.where(perpetual, duration_inf, duration)

    # the value under the certificate's events (income_point): an infinite life is worth inf
    finite = np.flatnonzero(valid & ~perpetual)
    cash = c[finite] * np.exp(inc.roll[finite] * log_q0[finite])
    pv = np.where(valid & perpetual, np.inf, 0.0)
    pv[finite] = certificate_numpy(
        cash, log_q0[finite], log_k[finite], life[finite], mid[finite], inc, finite
    )
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        tab = inc.tab_tax > 0.0
        annuity = shift * (-np.expm1(-inc.tab_life * log_k)) / inc.discount
        pv = np.where(tab, pv / (1.0 - inc.tab_tax / inc.tab_life * annuity), pv)

    value = inc.keep * np.where(valid, pv, 0.0)
    duration = np.where(valid, duration, 0.0)
    a = duration * inc.sd_growth / (1.0 + inc.growth)
    b = duration * inc.sd_decay / (1.0 - inc.decay)
    d = (duration - tau) * inc.sd_discount / (1.0 + inc.discount)
    sigma = np.sqrt(inc.sd_rate * inc.sd_rate + a * a + b * b + d * d)
    return value, with_model_error(sigma, inc.sd_model)


def with_model_error(sigma: np.ndarray, sd_model: np.ndarray) -> np.ndarray:
    """A method's log sd with its measured model error, ``sqrt(σ² + sd_model²)``."""
    return np.sqrt(sigma * sigma + sd_model * sd_model)


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
    return value, with_model_error(sigma, cst.sd_model)


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
    # no comparables: the price model's value and sd (0 where there is none)
    some = count > 0
    value = np.where(some, value, mkt.model_value)
    sigma = np.where(some, sigma, mkt.model_sd)
    return value, with_model_error(sigma, mkt.sd_model)


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
        # ``keep`` (certificate events that have already happened) scales every method; the
        # income method's value carries it already
        if j > 0:
            value = value * inc.keep
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
    "certificate_numpy",
    "cost_numpy",
    "geometric_sum_numpy",
    "income_numpy",
    "market_numpy",
    "segment_ids",
    "segment_sum",
    "value_batch_numpy",
    "with_model_error",
]
