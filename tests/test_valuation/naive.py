"""Obviously correct, slow twins of the valuation kernels: plain loops, year by year.

The kernels use closed forms (geometric sums with expm1, one log per rate); these twins sum
the cash flows explicitly so that agreement proves the closed forms.
"""

from __future__ import annotations

import math

import numpy as np


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
        annuity = sum((1 + discount) ** -(t - tau) for t in range(1, int(tab_life) + 1))
        pv = pv / (1 - tab_tax / tab_life * annuity)
    return pv, duration


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


def value_naive(i, has, inc, cst, mkt):
    """Values, sigmas, weights and concluded value of product ``i`` of a batch."""
    values = [0.0, 0.0, 0.0]
    sigmas = [0.0, 0.0, 0.0]
    if has[i, 0]:
        v, dur = income_naive(*(getattr(inc, k)[i] for k in inc._fields[:9]))
        values[0] = v
        sigmas[0] = income_sigma_naive(
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
        values[1] = v
        sigmas[1] = cost_sigma_naive(
            age,
            cst.return_on_cost[i],
            cst.quality_factor[i],
            cst.indexed[i],
            cst.sd_index[i],
            cst.sd_return[i],
            cst.sd_quality[i],
        )
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
        values[2], sigmas[2] = market_naive(
            comps,
            mkt.e_quality[i],
            mkt.e_volume[i],
            mkt.index_growth[i],
            mkt.sd_default[i],
            mkt.sd_floor[i],
            mkt.sd_level[i],
        )
    precision = [1 / max(s, 1e-6) ** 2 if has[i, m] else 0.0 for m, s in enumerate(sigmas)]
    total = sum(precision)
    weights = [p / total if total > 0 else 0.0 for p in precision]
    concluded = sum(w * v for w, v in zip(weights, values, strict=True))
    return values, sigmas, weights, concluded
