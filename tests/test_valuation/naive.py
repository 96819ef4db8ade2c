"""Obviously correct, slow twins of the valuation kernels: plain loops, year by year.

The kernels use closed forms (geometric sums with expm1, one log per rate, the certificate's
events summed per certificate period); these twins sum the cash flows explicitly, and take the
certificate's expected multiplier at each payment time by walking its expiries one by one, so
that agreement proves the closed forms.
"""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels.stress import fast_normals4

# IncomeInputs fields of the certificate's events, in certificate_income's argument order
CERTIFICATE_FIELDS = (
    "hazard",
    "revoke_keep",
    "first_expiry",
    "validity",
    "renew_p",
    "lapse_keep",
)


def income_naive(base, rate, growth, decay, discount, life, mid_year, tab_tax, tab_life):
    c = base * rate
    if c <= 0 or life <= 0:
        return 0.0, 0.0
    tau = 0.5 if mid_year > 0 else 0.0
    m = math.floor(life)
    f = life - m
    flows = []  # (time index, present value)
    for t in range(1, m + 1):
        cash = c * ((1 + growth) * (1 - decay)) ** t
        flows.append((t, cash / (1 + discount) ** (t - tau)))
    if f > 0:
        cash = f * c * ((1 + growth) * (1 - decay)) ** (m + 1)
        when = m + (f / 2 if mid_year > 0 else f)
        flows.append((m + 1, cash / (1 + discount) ** when))
    pv = sum(v for _, v in flows)
    duration = sum(t * v for t, v in flows) / pv
    if tab_tax > 0:
        pv = pv / (1 - tab_tax / tab_life * tab_annuity_naive(discount, mid_year, tab_life))
    return pv, duration


def tab_annuity_naive(discount, mid_year, tab_life):
    """Annuity factor of the tax amortisation: ``tab_life`` whole years, same timing."""
    tau = 0.5 if mid_year > 0 else 0.0
    return sum((1 + discount) ** -(t - tau) for t in range(1, int(tab_life) + 1))


def expiries_naive(first_expiry, validity, until):
    """Return the certificate's expiry times at or before ``until``.

    The first at ``max(first_expiry, 0)``, then one every ``validity`` years (added one at a
    time, as the kernel walks them); none after the first when ``validity <= 0``.
    """
    times = []
    e = max(first_expiry, 0.0)
    while not math.isinf(e) and e <= until:
        times.append(e)
        if validity <= 0:
            break
        e = e + validity
    return times


def multiplier_naive(s, hazard, revoke_keep, first_expiry, validity, renew_p, lapse_keep):
    """Return ``E[M(s)]``, the expected income multiplier at time ``s`` (the docstring's model).

    Walk the certificate periods ``[e_(j-1), e_j)`` up to ``s``: the certificate reaches period
    ``j`` through ``j - 1`` renewals (probability ``renew_p^(j-1)``), is revoked inside it at
    hazard ``h`` while alive, and at its end lapses with probability ``1 - renew_p`` if still
    alive. An expiry at exactly ``s`` has already happened at ``s``.
    """
    reach = 1.0  # P(renewed at every expiry so far)
    revoked = 0.0  # P(revoked by s)
    lapsed = 0.0  # P(lapsed by s)
    start = 0.0
    for e in expiries_naive(first_expiry, validity, s):
        revoked += reach * (math.exp(-hazard * start) - math.exp(-hazard * e))
        lapsed += reach * math.exp(-hazard * e) * (1 - renew_p)
        reach *= renew_p
        start = e
    revoked += reach * (math.exp(-hazard * start) - math.exp(-hazard * s))
    return 1 - (1 - revoke_keep) * revoked - (1 - lapse_keep) * lapsed


def payments_naive(cash, growth, decay, life, mid_year):
    """Return ``(time, amount)`` of every cash flow: whole years, then the partial final year."""
    tau = 0.5 if mid_year > 0 else 0.0
    m = math.floor(life)
    f = life - m
    q0 = (1 + growth) * (1 - decay)
    flows = [(t - tau, cash * q0**t) for t in range(1, m + 1)]
    if f > 0:
        flows.append((m + (f / 2 if mid_year > 0 else f), f * cash * q0 ** (m + 1)))
    return flows


def certificate_income_naive(
    cash,
    growth,
    decay,
    discount,
    life,
    mid_year,
    hazard,
    revoke_keep,
    first_expiry,
    validity,
    renew_p,
    lapse_keep,
):
    """Twin of :func:`valuation.kernels.certificate.certificate_income`, year by year."""
    if cash <= 0 or life <= 0:
        return 0.0
    if math.isinf(life):
        return math.inf
    events = (hazard, revoke_keep, first_expiry, validity, renew_p, lapse_keep)
    return sum(
        amount * multiplier_naive(s, *events) / (1 + discount) ** s
        for s, amount in payments_naive(cash, growth, decay, life, mid_year)
    )


def income_point_naive(
    base,
    rate,
    growth,
    decay,
    discount,
    life,
    mid_year,
    tab_tax,
    tab_life,
    roll,
    hazard,
    revoke_keep,
    first_expiry,
    validity,
    renew_p,
    lapse_keep,
):
    """Twin of :func:`valuation.kernels.valuation.income_point`: rolled base, events, TAB."""
    cash = base * rate
    if cash <= 0 or life <= 0:
        return 0.0
    cash *= ((1 + growth) * (1 - decay)) ** roll
    pv = certificate_income_naive(
        cash,
        growth,
        decay,
        discount,
        life,
        mid_year,
        hazard,
        revoke_keep,
        first_expiry,
        validity,
        renew_p,
        lapse_keep,
    )
    if tab_tax > 0:
        pv = pv / (1 - tab_tax / tab_life * tab_annuity_naive(discount, mid_year, tab_life))
    return pv


def income_sigma_naive(growth, decay, discount, mid_year, duration, sd_rate, sd_g, sd_d, sd_k):
    tau = 0.5 if mid_year > 0 else 0.0
    return math.sqrt(
        sd_rate**2
        + (duration * sd_g / (1 + growth)) ** 2
        + (duration * sd_d / (1 - decay)) ** 2
        + ((duration - tau) * sd_k / (1 + discount)) ** 2
    )


def cost_naive(amounts, ages, index_rates, indexed, ret, quality, remaining):
    total = sum(amounts)
    if total <= 0:
        return 0.0, 0.0
    age = sum(a * t for a, t in zip(amounts, ages, strict=True)) / total
    if remaining <= 0:
        return 0.0, age
    value = 0.0
    for a, t, i in zip(amounts, ages, index_rates, strict=True):
        replacement = a * (1 + i) ** t if indexed > 0 else a
        value += replacement * remaining / (t + remaining)
    return value * (1 + ret) * quality, age


def cost_sigma_naive(age, ret, quality, indexed, sd_index, sd_ret, sd_quality):
    a = age * sd_index if indexed > 0 else 0.0
    c = sd_quality / quality if quality > 0 else 3.0
    return min(math.sqrt(a**2 + (sd_ret / (1 + ret)) ** 2 + c**2), 3.0)


def market_naive(comps, e_quality, e_volume, index_growth, sd_default, sd_floor, sd_level):
    """`comps`: list of (price, log_fixed, log_q_ratio, log_v_ratio, years_ago)."""
    if not comps:
        return 0.0, 0.0
    adjusted, weights, logs = [], [], []
    for price, fixed, lq, lv, years in comps:
        factors = [e_quality * lq, e_volume * lv, years * math.log(1 + index_growth), fixed]
        log_adjusted = math.log(price) + sum(factors)
        logs.append(log_adjusted)
        adjusted.append(math.exp(log_adjusted))
        weights.append(1 / (1 + sum(abs(x) for x in factors)))
    w = np.array(weights)
    value = float(np.dot(w, adjusted) / w.sum())
    n_eff = w.sum() ** 2 / (w**2).sum()
    if len(comps) >= 3:
        mean = float(np.dot(w, logs) / w.sum())
        var = float(np.dot(w, (np.array(logs) - mean) ** 2) / w.sum())
        dispersion = max(math.sqrt(var), sd_floor)
    else:
        dispersion = sd_default
    return value, math.sqrt(dispersion**2 / n_eff + sd_level**2)


def with_model_error(sigma, sd_model):
    """A method's log sd: its input uncertainty and its measured model error, independent."""
    return math.sqrt(sigma**2 + sd_model**2)


def income_args(i, inc):
    """Arguments of :func:`income_point_naive` for product ``i``."""
    names = (*inc._fields[:9], "roll", *CERTIFICATE_FIELDS)
    return [float(getattr(inc, k)[i]) for k in names]


def value_naive(i, has, inc, cst, mkt):
    """Values, sigmas, weights and concluded value of product ``i`` of a batch.

    Income: ``keep ×`` the year-by-year income under certificate events; its sigma comes from
    the duration of the event-free cash flows. Cost and market are scaled by ``keep`` too; the
    market method falls back on the price model without comparables. Every sigma carries the
    method's model error.
    """
    keep = inc.keep[i]
    values = [0.0, 0.0, 0.0]
    sigmas = [0.0, 0.0, 0.0]
    if has[i, 0]:
        _, dur = income_naive(*(getattr(inc, k)[i] for k in inc._fields[:7]), 0.0, 1.0)
        values[0] = keep * income_point_naive(*income_args(i, inc))
        sigma = income_sigma_naive(
            inc.growth[i],
            inc.decay[i],
            inc.discount[i],
            inc.mid_year[i],
            dur,
            inc.sd_rate[i],
            inc.sd_growth[i],
            inc.sd_decay[i],
            inc.sd_discount[i],
        )
        sigmas[0] = with_model_error(sigma, inc.sd_model[i])
    if has[i, 1]:
        sl = slice(cst.offsets[i], cst.offsets[i + 1])
        v, age = cost_naive(
            list(cst.amount[sl]),
            list(cst.age_years[sl]),
            list(cst.index_rate[sl]),
            cst.indexed[i],
            cst.return_on_cost[i],
            cst.quality_factor[i],
            cst.remaining_life[i],
        )
        values[1] = keep * v
        sigma = cost_sigma_naive(
            age,
            cst.return_on_cost[i],
            cst.quality_factor[i],
            cst.indexed[i],
            cst.sd_index[i],
            cst.sd_return[i],
            cst.sd_quality[i],
        )
        sigmas[1] = with_model_error(sigma, cst.sd_model[i])
    if has[i, 2]:
        sl = slice(mkt.offsets[i], mkt.offsets[i + 1])
        comps = list(
            zip(
                np.exp(mkt.log_price[sl]),
                mkt.log_fixed[sl],
                mkt.log_quality_ratio[sl],
                mkt.log_volume_ratio[sl],
                mkt.years_ago[sl],
                strict=True,
            )
        )
        if comps:
            v, sigma = market_naive(
                comps,
                mkt.e_quality[i],
                mkt.e_volume[i],
                mkt.index_growth[i],
                mkt.sd_default[i],
                mkt.sd_floor[i],
                mkt.sd_level[i],
            )
        else:  # no comparables: the calibration's price model
            v, sigma = mkt.model_value[i], mkt.model_sd[i]
        values[2] = keep * v
        sigmas[2] = with_model_error(sigma, mkt.sd_model[i])
    precision = [1 / max(s, 1e-6) ** 2 if has[i, m] else 0.0 for m, s in enumerate(sigmas)]
    total = sum(precision)
    weights = [p / total if total > 0 else 0.0 for p in precision]
    concluded = sum(w * v for w, v in zip(weights, values, strict=True))
    return values, sigmas, weights, concluded


def range_naive(i, has, inc, cst, mkt, point, entity, seed, n_samples):
    """P10/P50/P90 of each method and of the conclusion for product ``i``, shape ``(4, 3)``.

    Sample ``s`` draws its twelve normals from ``fast_normals4(seed, entity[i], s, block)``, blocks
    0, 1, 2: ``z0..z3`` rate, growth, decay, discount; ``z4..z6`` cost index, return, quality;
    ``z7`` the market's input sd; ``z8`` the economic life (log-normal); ``z9, z10, z11`` the
    income, cost and market model errors. The market samples around its point value with its
    point sigma less the model error (sampled apart); weights are the point valuation's.
    """
    key = np.uint64(entity[i])
    sl = slice(cst.offsets[i], cst.offsets[i + 1])
    items = (list(cst.amount[sl]), list(cst.age_years[sl]), list(cst.index_rate[sl]))
    args = income_args(i, inc)
    keep = inc.keep[i]
    s_mkt = math.sqrt(max(point.sigmas[i, 2] ** 2 - mkt.sd_model[i] ** 2, 0.0))
    samples = np.zeros((4, n_samples))
    for s in range(n_samples):
        z = [
            x
            for block in range(3)
            for x in fast_normals4(np.uint64(seed), key, np.uint64(s), np.uint64(block))
        ]
        if has[i, 0]:
            drawn = list(args)
            drawn[1] = inc.rate[i] * math.exp(inc.sd_rate[i] * z[0])
            drawn[2] = max(inc.growth[i] + inc.sd_growth[i] * z[1], -0.95)
            drawn[3] = min(max(inc.decay[i] + inc.sd_decay[i] * z[2], 0.0), 0.95)
            drawn[4] = max(inc.discount[i] + inc.sd_discount[i] * z[3], 0.001)
            drawn[5] = inc.life[i] * math.exp(inc.sd_life[i] * z[8])
            v = keep * income_point_naive(*drawn)
            samples[0, s] = v * math.exp(inc.sd_model[i] * z[9])
        if has[i, 1]:
            amounts, ages, rates = items
            v, _ = cost_naive(
                amounts,
                ages,
                [r + cst.sd_index[i] * z[4] for r in rates],
                cst.indexed[i],
                max(cst.return_on_cost[i] + cst.sd_return[i] * z[5], 0.0),
                min(max(cst.quality_factor[i] + cst.sd_quality[i] * z[6], 0.0), 1.0),
                cst.remaining_life[i],
            )
            samples[1, s] = v * keep * math.exp(cst.sd_model[i] * z[10])
        if has[i, 2]:
            samples[2, s] = point.values[i, 2] * math.exp(s_mkt * z[7] + mkt.sd_model[i] * z[11])
        samples[3, s] = float(np.dot(point.weights[i], samples[:3, s]))
    return np.quantile(samples, [0.1, 0.5, 0.9], axis=1).T
