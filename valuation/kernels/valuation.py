"""Batch kernels of the three valuation methods and the reconciliation.

Pure functions over a structure of arrays: one product and a million products run through the
same code. The Python layer (:mod:`valuation.methods.inputs`) turns validated products into the
NamedTuples below; nothing here sees a pydantic object, a dict or a string.

Method index order everywhere: 0 income, 1 cost, 2 market (:data:`METHODS`).

Notes
-----
Income (all four forecasting modes reduce to one form). With year-0 base ``B``, after-tax
attributable fraction ``a``, growth ``g``, decay ``d``, discount rate ``k`` and a life of
``n = m + f`` years (``m`` whole years, ``f`` a fraction), the cash flow of year ``t`` is
``F_t = B·a·q0^t`` with ``q0 = (1+g)(1-d)``, discounted at ``t - τ`` (``τ = 1/2`` mid-year,
``0`` end-year). With ``q = q0/(1+k)``::

    V = B·a·[(1+k)^τ · q·(q^m − 1)/(q − 1) + f·q0^(m+1) / (1+k)^(m + f·(1 − τ))]

(the partial final year earns ``f`` of a year's cash flow, discounted at its middle ``m + f/2``
or its end ``m + f``), computed with one ``log1p`` per rate and ``expm1`` for the geometric
sum, so it is exact near ``q = 1``. The tax-amortisation benefit multiplies by
``1/(1 − T/L·AF(k, L))``. The tests check the closed form against an explicit year-by-year sum
and the published identities.

Weights. Each method's log-value standard deviation comes from the delta method: for income
``σ² = σ_a² + D²(σ_g²/(1+g)² + σ_d²/(1−d)²) + (D−τ)²σ_k²/(1+k)²`` where ``D`` is the
cash-flow duration in years; for cost from the index, return and quality uncertainty; for market
from the dispersion of the adjusted comparables over their effective number plus an elasticity
level term. The concluded value weights the available methods by inverse variance.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from valuation.kernels._jit import jit_inner, jit_parallel, prange
from valuation.kernels.certificate import certificate_income

METHODS: tuple[str, str, str] = ("income", "cost", "market")
N_METHODS = 3
_SIGMA_FLOOR = 1e-6
_SIGMA_CAP = 3.0


class IncomeInputs(NamedTuple):
    """Per-product arrays of the income method (shape ``(n,)`` each)."""

    base: np.ndarray  # year-0 amount: latest annual revenue, or incremental profit
    rate: np.ndarray  # after-tax share of `base` attributable to the data
    growth: np.ndarray
    decay: np.ndarray
    discount: np.ndarray
    life: np.ndarray  # remaining economic life in years (fractional)
    mid_year: np.ndarray  # 1.0 mid-year discounting, 0.0 end-year
    tab_tax: np.ndarray  # tax rate of the amortisation benefit; 0.0 = no TAB
    tab_life: np.ndarray  # tax amortisation life in years
    sd_rate: np.ndarray  # relative (log) sd of `rate`
    sd_growth: np.ndarray
    sd_decay: np.ndarray
    sd_discount: np.ndarray
    # the certificate as events of the value process (valuation.kernels.certificate)
    roll: np.ndarray  # years from the end of the base period to the valuation date
    hazard: np.ndarray  # revocation hazard per year while the certificate is alive
    revoke_keep: np.ndarray  # share of income kept after a revocation
    first_expiry: np.ndarray  # years to the next expiry (inf: none ahead)
    validity: np.ndarray  # years a renewal adds
    renew_p: np.ndarray  # renewal probability at each expiry
    lapse_keep: np.ndarray  # share of income kept after a lapse
    keep: np.ndarray  # share of value kept after events that have already happened (all methods)
    sd_life: np.ndarray  # log sd of the economic life (range only)
    sd_model: np.ndarray  # log sd of the method's error beyond its inputs (measured)


class CostInputs(NamedTuple):
    """Cost items in CSR layout plus per-product factors."""

    offsets: np.ndarray  # int64 (n+1,): items of product i are offsets[i]:offsets[i+1]
    amount: np.ndarray  # (m,)
    age_years: np.ndarray  # (m,) years from incurred to the valuation date (>= 0)
    index_rate: np.ndarray  # (m,) annual cost index change of the item
    indexed: np.ndarray  # (n,) 1.0 index items to the valuation date, 0.0 historical cost
    return_on_cost: np.ndarray  # (n,)
    quality_factor: np.ndarray  # (n,) K from the quality dimensions (1.0 if not used)
    remaining_life: np.ndarray  # (n,) years
    sd_index: np.ndarray  # (n,)
    sd_return: np.ndarray  # (n,)
    sd_quality: np.ndarray  # (n,)
    sd_model: np.ndarray  # (n,) log sd of the method's error beyond its inputs (measured)


class MarketInputs(NamedTuple):
    """Comparables in CSR layout plus per-product elasticities."""

    offsets: np.ndarray  # int64 (n+1,)
    log_price: np.ndarray  # (c,) log of each comparable's price (taken once, vectorised)
    log_fixed: np.ndarray  # (c,) log of rights, term, supply-demand and other factors
    log_quality_ratio: np.ndarray  # (c,) log(subject quality / comparable quality)
    log_volume_ratio: np.ndarray  # (c,) log(subject records / comparable records)
    years_ago: np.ndarray  # (c,) years from the comparable's date to the valuation date
    e_quality: np.ndarray  # (n,)
    e_volume: np.ndarray  # (n,)
    index_growth: np.ndarray  # (n,) price index growth per year
    sd_default: np.ndarray  # (n,) dispersion of one comparable when too few to measure
    sd_floor: np.ndarray  # (n,)
    sd_level: np.ndarray  # (n,) uncertainty of the elasticities, as a log level
    sd_model: np.ndarray  # (n,) log sd of the method's error beyond its inputs (measured)
    # A product without usable comparables may carry a model value instead (the calibration's
    # hedonic model): used when the product has no comparables in the CSR arrays.
    model_value: np.ndarray  # (n,) value from the price model (0 = none)
    model_sd: np.ndarray  # (n,) its log sd (from the model's conformal band)


class BatchOutputs(NamedTuple):
    """Caller-allocated outputs of :func:`value_batch`."""

    values: np.ndarray  # (n, 3) method values (0.0 where unavailable)
    sigmas: np.ndarray  # (n, 3) log-value sd of each method (0.0 where unavailable)
    weights: np.ndarray  # (n, 3) reconciliation weights (sum to 1 over available methods)
    concluded: np.ndarray  # (n,)


@jit_inner
def income_value(
    base: float,
    rate: float,
    growth: float,
    decay: float,
    discount: float,
    life: float,
    mid_year: float,
    tab_tax: float,
    tab_life: float,
) -> tuple[float, float]:
    """Return ``(value, duration)`` of the income method for one product.

    ``duration`` is the present-value weighted mean time index of the cash flows (years), used
    by the delta-method uncertainty. A non-positive cash flow or life gives ``(0, 0)``.
    ``life = inf`` is a growing perpetuity (requires ``q < 1``).
    """
    c = base * rate
    if c <= 0.0 or life <= 0.0:
        return 0.0, 0.0
    log_q0 = math.log((1.0 + growth) * (1.0 - decay))
    log_k = math.log1p(discount)
    log_q = log_q0 - log_k
    mid = mid_year > 0.0
    shift = math.sqrt(1.0 + discount) if mid else 1.0  # (1+k)^tau, tau = 1/2 mid-year
    if math.isinf(life):
        if log_q >= 0.0:
            return math.inf, math.inf
        em1 = math.expm1(log_q)  # q - 1
        pv = c * shift * (1.0 + em1) / -em1
        duration = -1.0 / em1
    else:
        m = math.floor(life)
        f = life - m
        if m == 0.0:
            s_full = 0.0
            t_full = 0.0
        elif log_q == 0.0:
            s_full = m
            t_full = m * (m + 1.0) * 0.5
        else:
            em1 = math.expm1(log_q)  # q - 1, exact near q = 1
            em1_m = math.expm1(m * log_q)  # q^m - 1
            q = 1.0 + em1
            s_full = q * em1_m / em1  # sum_{t=1}^m q^t
            if abs(log_q) * m < 1e-4:
                # mean time of the tilted uniform on 1..m: (m+1)/2 + L·(m²−1)/12 + O(L²m³)
                t_full = s_full * ((m + 1.0) * 0.5 + log_q * (m * m - 1.0) / 12.0)
            else:
                # sum t·q^t = q·(m·q^m·(q−1) − (q^m − 1))/(q − 1)², written without cancellation
                t_full = q * (m * (1.0 + em1_m) * em1 - em1_m) / (em1 * em1)
        pv_full = c * shift * s_full
        if f > 0.0:
            timing = m + (0.5 * f if mid else f)
            pv_part = c * f * math.exp((m + 1.0) * log_q0 - timing * log_k)
        else:
            pv_part = 0.0
        pv = pv_full + pv_part
        duration = (c * shift * t_full + (m + 1.0) * pv_part) / pv
    if tab_tax > 0.0:
        annuity = shift * (-math.expm1(-tab_life * log_k)) / discount
        pv = pv / (1.0 - tab_tax / tab_life * annuity)
    return pv, duration


@jit_inner
def income_sigma(
    growth: float,
    decay: float,
    discount: float,
    mid_year: float,
    duration: float,
    sd_rate: float,
    sd_growth: float,
    sd_decay: float,
    sd_discount: float,
) -> float:
    """Delta-method log-value sd of the income method."""
    tau = 0.5 if mid_year > 0.0 else 0.0
    a = duration * sd_growth / (1.0 + growth)
    b = duration * sd_decay / (1.0 - decay)
    c = (duration - tau) * sd_discount / (1.0 + discount)
    return math.sqrt(sd_rate * sd_rate + a * a + b * b + c * c)


@jit_inner
def cost_value(
    amount: np.ndarray,
    age_years: np.ndarray,
    index_rate: np.ndarray,
    start: int,
    stop: int,
    index_shift: float,
    indexed: float,
    return_on_cost: float,
    quality_factor: float,
    remaining_life: float,
) -> tuple[float, float]:
    """Return ``(value, amount-weighted age)`` of the cost method for one product's items.

    ``V = (1 + r)·K·Σ_i RC_i·R/(age_i + R)`` with ``RC_i = amount_i·(1 + index_i + shift)^age_i``
    (or ``amount_i`` when not indexed) and ``R`` the remaining life: each item keeps the share
    ``R/(age_i + R)`` of its usefulness (straight-line remaining-life obsolescence, item by
    item, so the value rises with every item's amount).
    """
    total = 0.0
    value = 0.0
    weighted_age = 0.0
    for j in range(start, stop):
        a = amount[j]
        age = age_years[j]
        total += a
        weighted_age += a * age
        if indexed > 0.0:
            a = a * math.exp(age * math.log1p(index_rate[j] + index_shift))
        value += a * remaining_life / (age + remaining_life)
    if total <= 0.0 or remaining_life <= 0.0:
        return 0.0, 0.0 if total <= 0.0 else weighted_age / total
    return value * (1.0 + return_on_cost) * quality_factor, weighted_age / total


@jit_inner
def cost_sigma(
    age: float,
    return_on_cost: float,
    quality_factor: float,
    indexed: float,
    sd_index: float,
    sd_return: float,
    sd_quality: float,
) -> float:
    """Delta-method log-value sd of the cost method."""
    a = age * sd_index if indexed > 0.0 else 0.0
    b = sd_return / (1.0 + return_on_cost)
    c = sd_quality / quality_factor if quality_factor > 0.0 else _SIGMA_CAP
    return min(math.sqrt(a * a + b * b + c * c), _SIGMA_CAP)


@jit_inner
def market_value(
    log_price: np.ndarray,
    log_fixed: np.ndarray,
    log_quality_ratio: np.ndarray,
    log_volume_ratio: np.ndarray,
    years_ago: np.ndarray,
    start: int,
    stop: int,
    e_quality: float,
    e_volume: float,
    index_growth: float,
    sd_default: float,
    sd_floor: float,
    sd_level: float,
) -> tuple[float, float]:
    """Return ``(value, log sd)`` of the market method for one product's comparables.

    Each price is multiplied by ``exp(e_q·log q-ratio + e_v·log volume-ratio + years·log(1+π)
    + log fixed factors)``; comparables are weighted by ``1/(1 + Σ|log factor|)`` (a comparable
    that needs less adjustment is more similar) and averaged.
    """
    if stop <= start:
        return 0.0, 0.0
    log_index = math.log1p(index_growth)
    sum_w = 0.0
    sum_w2 = 0.0
    sum_wp = 0.0
    sum_wl = 0.0
    sum_wll = 0.0
    for j in range(start, stop):
        fq = e_quality * log_quality_ratio[j]
        fv = e_volume * log_volume_ratio[j]
        fd = years_ago[j] * log_index
        ff = log_fixed[j]
        log_adjusted = log_price[j] + fq + fv + fd + ff
        w = 1.0 / (1.0 + abs(fq) + abs(fv) + abs(fd) + abs(ff))
        sum_w += w
        sum_w2 += w * w
        sum_wp += w * math.exp(log_adjusted)
        sum_wl += w * log_adjusted
        sum_wll += w * log_adjusted * log_adjusted
    value = sum_wp / sum_w
    n_eff = sum_w * sum_w / sum_w2
    if stop - start >= 3:
        mean = sum_wl / sum_w
        var = max(sum_wll / sum_w - mean * mean, 0.0)
        dispersion = max(math.sqrt(var), sd_floor)
    else:
        dispersion = sd_default
    sigma = math.sqrt(dispersion * dispersion / n_eff + sd_level * sd_level)
    return value, sigma


@jit_inner
def _weights(
    has_income: bool, has_cost: bool, has_market: bool, s0: float, s1: float, s2: float
) -> tuple[float, float, float]:
    p0 = 1.0 / max(s0, _SIGMA_FLOOR) ** 2 if has_income else 0.0
    p1 = 1.0 / max(s1, _SIGMA_FLOOR) ** 2 if has_cost else 0.0
    p2 = 1.0 / max(s2, _SIGMA_FLOOR) ** 2 if has_market else 0.0
    total = p0 + p1 + p2
    if total > 0.0:
        return p0 / total, p1 / total, p2 / total
    return 0.0, 0.0, 0.0


@jit_inner
def income_point(
    base: float,
    rate: float,
    growth: float,
    decay: float,
    discount: float,
    life: float,
    mid_year: float,
    tab_tax: float,
    tab_life: float,
    roll: float,
    hazard: float,
    revoke_keep: float,
    first_expiry: float,
    validity: float,
    renew_p: float,
    lapse_keep: float,
) -> float:
    """Return the income method's value under certificate events, with the optional TAB.

    The base is rolled from the end of its period to the valuation date at ``q0 = (1+g)(1-d)``
    (``roll`` years), then :func:`~valuation.kernels.certificate.certificate_income` takes the
    expectation over the certificate's events; the tax-amortisation benefit multiplies by
    ``1/(1 − T/L·AF(k, L))``.
    """
    cash = base * rate
    if cash <= 0.0 or life <= 0.0:
        return 0.0
    cash *= math.exp(roll * math.log((1.0 + growth) * (1.0 - decay)))
    pv = certificate_income(
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
    if tab_tax > 0.0:
        log_k = math.log1p(discount)
        shift = math.sqrt(1.0 + discount) if mid_year > 0.0 else 1.0
        annuity = shift * (-math.expm1(-tab_life * log_k)) / discount
        pv = pv / (1.0 - tab_tax / tab_life * annuity)
    return pv


@jit_parallel
def value_batch(
    has: np.ndarray, inc: IncomeInputs, cst: CostInputs, mkt: MarketInputs, out: BatchOutputs
) -> None:
    """Value every product: method values, their log sds, weights and the concluded value.

    ``has`` is a boolean ``(n, 3)`` array: which methods have their inputs. Outputs are
    written into ``out`` (caller-allocated, see :func:`allocate_outputs`). Each method's log
    sd is its delta-method input uncertainty combined with its measured model error
    (``sd_model``), and the weights are their inverse variances. ``inc.keep`` (events that
    have already happened to the certificate) scales every method's value.
    """
    # Every array is taken out of its tuple once, by plain assignment before the parallel loop
    # (range_batch keeps its own list, the same way). The two alternatives that would share one
    # list are wrong or slow on numba 0.68: reading the NamedTuples' fields inside the prange
    # loop loses writes (measured: 85 % of the outputs wrong; tests/test_valuation/
    # test_kernels.py fails), and handing the tuples to a per-product function costs a
    # reference-count round trip per array per product, which dominated the run time.
    base = inc.base
    rate = inc.rate
    growth = inc.growth
    decay = inc.decay
    discount = inc.discount
    life = inc.life
    mid_year = inc.mid_year
    tab_tax = inc.tab_tax
    tab_life = inc.tab_life
    sd_rate = inc.sd_rate
    sd_growth = inc.sd_growth
    sd_decay = inc.sd_decay
    sd_discount = inc.sd_discount
    roll = inc.roll
    hazard = inc.hazard
    revoke_keep = inc.revoke_keep
    first_expiry = inc.first_expiry
    validity = inc.validity
    renew_p = inc.renew_p
    lapse_keep = inc.lapse_keep
    keep = inc.keep
    sd_model_income = inc.sd_model
    c_offsets = cst.offsets
    amount = cst.amount
    age_years = cst.age_years
    index_rate = cst.index_rate
    indexed = cst.indexed
    return_on_cost = cst.return_on_cost
    quality_factor = cst.quality_factor
    remaining_life = cst.remaining_life
    sd_index = cst.sd_index
    sd_return = cst.sd_return
    sd_quality = cst.sd_quality
    sd_model_cost = cst.sd_model
    m_offsets = mkt.offsets
    log_price = mkt.log_price
    log_fixed = mkt.log_fixed
    log_quality_ratio = mkt.log_quality_ratio
    log_volume_ratio = mkt.log_volume_ratio
    years_ago = mkt.years_ago
    e_quality = mkt.e_quality
    e_volume = mkt.e_volume
    index_growth = mkt.index_growth
    sd_default = mkt.sd_default
    sd_floor = mkt.sd_floor
    sd_level = mkt.sd_level
    sd_model_market = mkt.sd_model
    model_value = mkt.model_value
    model_sd = mkt.model_sd
    values = out.values
    sigmas = out.sigmas
    weights = out.weights
    concluded = out.concluded
    for i in prange(has.shape[0]):
        v0 = 0.0
        s0 = 0.0
        if has[i, 0]:
            _, duration = income_value(
                base[i],
                rate[i],
                growth[i],
                decay[i],
                discount[i],
                life[i],
                mid_year[i],
                0.0,
                1.0,
            )
            v0 = keep[i] * income_point(
                base[i],
                rate[i],
                growth[i],
                decay[i],
                discount[i],
                life[i],
                mid_year[i],
                tab_tax[i],
                tab_life[i],
                roll[i],
                hazard[i],
                revoke_keep[i],
                first_expiry[i],
                validity[i],
                renew_p[i],
                lapse_keep[i],
            )
            s0 = income_sigma(
                growth[i],
                decay[i],
                discount[i],
                mid_year[i],
                duration,
                sd_rate[i],
                sd_growth[i],
                sd_decay[i],
                sd_discount[i],
            )
            s0 = math.sqrt(s0 * s0 + sd_model_income[i] * sd_model_income[i])
        v1 = 0.0
        s1 = 0.0
        if has[i, 1]:
            v1, age = cost_value(
                amount,
                age_years,
                index_rate,
                c_offsets[i],
                c_offsets[i + 1],
                0.0,
                indexed[i],
                return_on_cost[i],
                quality_factor[i],
                remaining_life[i],
            )
            v1 *= keep[i]
            s1 = cost_sigma(
                age,
                return_on_cost[i],
                quality_factor[i],
                indexed[i],
                sd_index[i],
                sd_return[i],
                sd_quality[i],
            )
            s1 = math.sqrt(s1 * s1 + sd_model_cost[i] * sd_model_cost[i])
        v2 = 0.0
        s2 = 0.0
        if has[i, 2]:
            if m_offsets[i + 1] > m_offsets[i]:
                v2, s2 = market_value(
                    log_price,
                    log_fixed,
                    log_quality_ratio,
                    log_volume_ratio,
                    years_ago,
                    m_offsets[i],
                    m_offsets[i + 1],
                    e_quality[i],
                    e_volume[i],
                    index_growth[i],
                    sd_default[i],
                    sd_floor[i],
                    sd_level[i],
                )
            else:
                v2 = model_value[i]
                s2 = model_sd[i]
            v2 *= keep[i]
            s2 = math.sqrt(s2 * s2 + sd_model_market[i] * sd_model_market[i])
        w0, w1, w2 = _weights(has[i, 0], has[i, 1], has[i, 2], s0, s1, s2)
        values[i, 0] = v0
        values[i, 1] = v1
        values[i, 2] = v2
        sigmas[i, 0] = s0
        sigmas[i, 1] = s1
        sigmas[i, 2] = s2
        weights[i, 0] = w0
        weights[i, 1] = w1
        weights[i, 2] = w2
        concluded[i] = w0 * v0 + w1 * v1 + w2 * v2


def allocate_outputs(n: int) -> BatchOutputs:
    """Allocate the outputs of :func:`value_batch` for ``n`` products."""
    return BatchOutputs(
        values=np.zeros((n, N_METHODS)),
        sigmas=np.zeros((n, N_METHODS)),
        weights=np.zeros((n, N_METHODS)),
        concluded=np.zeros(n),
    )


def tiny_batch() -> tuple[np.ndarray, IncomeInputs, CostInputs, MarketInputs]:
    """Return a one-product batch with every method available (for warm-up and doctests)."""
    one = np.ones(1)
    inc = IncomeInputs(
        base=one * 1000.0,
        rate=one * 0.2,
        growth=one * 0.05,
        decay=one * 0.1,
        discount=one * 0.15,
        life=one * 3.5,
        mid_year=one.copy(),
        tab_tax=one * 0.25,
        tab_life=one * 10.0,
        sd_rate=one * 0.1,
        sd_growth=one * 0.03,
        sd_decay=one * 0.03,
        sd_discount=one * 0.02,
        roll=one * 0.8,
        hazard=one * 0.015,
        revoke_keep=one * 0.2,
        first_expiry=one * 1.2,
        validity=one * 3.0,
        renew_p=one * 0.7,
        lapse_keep=one * 0.5,
        keep=one.copy(),
        sd_life=one * 0.2,
        sd_model=one * 0.4,
    )
    cst = CostInputs(
        offsets=np.array([0, 2], dtype=np.int64),
        amount=np.array([300.0, 200.0]),
        age_years=np.array([1.5, 0.5]),
        index_rate=np.array([0.04, -0.08]),
        indexed=one.copy(),
        return_on_cost=one * 0.1,
        quality_factor=one * 0.85,
        remaining_life=one * 3.0,
        sd_index=one * 0.02,
        sd_return=one * 0.03,
        sd_quality=one * 0.05,
        sd_model=one * 0.8,
    )
    mkt = MarketInputs(
        offsets=np.array([0, 1], dtype=np.int64),
        log_price=np.log(np.array([700.0])),
        log_fixed=np.array([0.1]),
        log_quality_ratio=np.array([0.05]),
        log_volume_ratio=np.array([-0.2]),
        years_ago=np.array([0.7]),
        e_quality=one.copy(),
        e_volume=one * 0.3,
        index_growth=one * 0.03,
        sd_default=one * 0.5,
        sd_floor=one * 0.1,
        sd_level=one * 0.15,
        sd_model=one * 0.6,
        model_value=one * 0.0,
        model_sd=one * 0.0,
    )
    return np.ones((1, 3), dtype=np.bool_), inc, cst, mkt


def income_values(inc: IncomeInputs) -> np.ndarray:
    """Return the income method's value of every product (``keep·income_point``) alone.

    Runs :func:`value_batch` with no cost items and no comparables, so that anything valued
    this way (the synthetic market's true economic value) goes through the valuation's own
    code.
    """
    n = inc.base.shape[0]
    has = np.zeros((n, N_METHODS), dtype=np.bool_)
    has[:, 0] = True
    empty = np.zeros(0)
    zeros = np.zeros(n)
    no_items = np.zeros(n + 1, dtype=np.int64)
    # per-item (cost) and per-comparable (market) arrays are empty; per-product ones zero
    csr = {"amount", "age_years", "index_rate", "log_price", "log_fixed"}
    csr |= {"log_quality_ratio", "log_volume_ratio", "years_ago"}

    def blank(fields: tuple[str, ...]) -> dict[str, np.ndarray]:
        return {f: no_items if f == "offsets" else (empty if f in csr else zeros) for f in fields}

    cst = CostInputs(**blank(CostInputs._fields))
    mkt = MarketInputs(**blank(MarketInputs._fields))
    out = allocate_outputs(n)
    value_batch(has, inc, cst, mkt, out)
    return out.values[:, 0].copy()


def neutral_income_fields(n: int) -> dict[str, np.ndarray]:
    """Return the certificate and model-error fields of :class:`IncomeInputs` at no effect.

    No revocation, no expiry ahead, nothing kept back, no roll-forward and no model error:
    with these the income method is the plain annuity of :func:`income_value`.
    """
    return {
        "roll": np.zeros(n),
        "hazard": np.zeros(n),
        "revoke_keep": np.ones(n),
        "first_expiry": np.full(n, np.inf),
        "validity": np.full(n, 3.0),
        "renew_p": np.ones(n),
        "lapse_keep": np.ones(n),
        "keep": np.ones(n),
        "sd_life": np.zeros(n),
        "sd_model": np.zeros(n),
    }


def neutral_market_fields(n: int) -> dict[str, np.ndarray]:
    """Return the model-error and price-model fields of :class:`MarketInputs` at no effect."""
    return {"sd_model": np.zeros(n), "model_value": np.zeros(n), "model_sd": np.zeros(n)}


def warmup() -> None:
    """Compile :func:`value_batch` for the production signature."""
    has, inc, cst, mkt = tiny_batch()
    out = allocate_outputs(1)
    value_batch(has, inc, cst, mkt, out)


__all__ = [
    "METHODS",
    "BatchOutputs",
    "CostInputs",
    "IncomeInputs",
    "MarketInputs",
    "allocate_outputs",
    "cost_value",
    "income_values",
    "income_point",
    "income_value",
    "neutral_income_fields",
    "neutral_market_fields",
    "market_value",
    "tiny_batch",
    "value_batch",
    "warmup",
]
