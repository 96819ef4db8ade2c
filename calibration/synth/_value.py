"""Economic value of a product: the engine's income method at the truth's parameters.

One economic model: the synthetic market's ``economic_value`` is computed by the same kernel
that values a product (:func:`valuation.kernels.valuation.income_values`), with the truth's
parameters in place of the estimates. See ``truth.json["conventions"]["economic_value"]``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calibration.synth._draw import _day, _year_of
from calibration.synth._params import STATUSES
from valuation.dates import DAYS_PER_YEAR
from valuation.kernels.valuation import IncomeInputs, income_values, neutral_income_fields
from valuation.schema.product import CATEGORIES, SECTORS

_REVOKED = STATUSES.index("revoked")
_EXPIRED = STATUSES.index("expired")
_OBJECTED = STATUSES.index("objected")


@dataclass(frozen=True)
class Value:
    """Per product: economic value at the as-of date and appraised value at the appraisal day.

    Attributes
    ----------
    economic_value
        Value at the as-of date (0 before registration).
    appraised
        Value at the appraisal day (the loan start), from that year's revenue.
    """

    economic_value: NDArray[np.float64]
    appraised: NDArray[np.float64]


def event_log_shift(
    log_rev_shape: tuple[int, int],
    first_year: int,
    *,
    revoked: NDArray[np.bool_],
    revoked_day: NDArray[np.float64],
    lapsed: NDArray[np.bool_],
    lapse_day: NDArray[np.int64],
    revoke_keep: float,
    lapse_keep: float,
) -> NDArray[np.float64]:
    """Return the log-revenue shift of the certificate's losses, from each event's year on.

    A revocation multiplies revenue by ``revoke_keep`` and a lapse by ``lapse_keep`` from the
    calendar year of the event on (``-inf`` where a loss is total: revenue 0).
    """
    n, n_years = log_rev_shape
    col = np.arange(n_years)[None, :]
    shift = np.zeros((n, n_years))
    with np.errstate(divide="ignore"):
        log_r, log_l = np.log(revoke_keep), np.log(lapse_keep)
    rev_col = np.where(
        revoked,
        _year_of(np.floor(np.where(revoked, revoked_day, 0)).astype(np.int64)) - first_year,
        n_years,
    )
    lap_col = np.where(lapsed, _year_of(lapse_day) - first_year, n_years)
    shift = np.where(col >= rev_col[:, None], log_r, shift)
    shift = np.where(col >= lap_col[:, None], shift + log_l, shift)
    return shift


def _discount(
    truth_val: dict[str, Any], sector: NDArray[np.int64], category: NDArray[np.int64]
) -> NDArray[np.float64]:
    beta = np.array([truth_val["sector_beta"][s] for s in SECTORS])
    premium = np.array([truth_val["data_premium"][c] for c in CATEGORIES])
    return (
        truth_val["risk_free_rate"]
        + truth_val["equity_risk_premium"] * beta[sector]
        + truth_val["size_premium"]
        + premium[category]
    )


def true_values(
    truth: dict[str, Any],
    *,
    log_revenue_base: NDArray[np.float64],
    base_end_day: NDArray[np.int64],
    value_day: NDArray[np.int64],
    net_growth: NDArray[np.float64],
    licensing_share: NDArray[np.float64],
    royalty_rate: NDArray[np.float64],
    high_tech: NDArray[np.bool_],
    sector: NDArray[np.int64],
    category: NDArray[np.int64],
    live: NDArray[np.bool_],
    expiry_day: NDArray[np.int64],
    objected: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """Value products by the engine's income kernel at the truth's parameters.

    Parameters
    ----------
    truth
        The truth dictionary (``valuation`` and ``hazards`` sections).
    log_revenue_base
        Per product: latent log revenue of the base year (losses of past events included).
    base_end_day, value_day
        Per product: the base year's last day and the valuation day.
    net_growth, licensing_share, royalty_rate, high_tech, sector, category
        Per product: the truth's growth of its segment, its revenue mix, its own royalty rate,
        its holder's high-tech status and its segment.
    live, expiry_day, objected
        Per product: whether the certificate is alive at the valuation day (events ahead), its
        next expiry, and whether it is under an objection.
    """
    val = truth["valuation"]
    hz = truth["hazards"]
    n = log_revenue_base.size
    margin = np.array([val["licensing_margin"][c] for c in CATEGORIES])[category]
    tax = np.where(high_tech, val["tax_rate_high_tech"], val["tax_rate"])
    share = margin * licensing_share + royalty_rate * (1.0 - licensing_share)
    life = np.array([val["economic_life_years"][c] for c in CATEGORIES], dtype=float)[category]
    fields = neutral_income_fields(n)
    revoke_keep = 1.0 - hz["revocation_loss"]
    fields.update(
        roll=(value_day - base_end_day) / DAYS_PER_YEAR,
        hazard=np.where(live, hz["revocation"], 0.0),
        revoke_keep=np.full(n, revoke_keep),
        first_expiry=np.where(live, np.maximum(expiry_day - value_day, 0) / DAYS_PER_YEAR, np.inf),
        validity=np.full(n, float(val["validity_years"])),
        renew_p=np.full(n, hz["renewal_probability"]),
        lapse_keep=np.full(n, 1.0 - hz["lapse_loss"]),
        keep=np.where(
            live & objected,
            1.0 - hz["objection_revocation_probability"] * hz["revocation_loss"],
            1.0,
        ),
    )
    with np.errstate(over="ignore"):
        base = np.exp(log_revenue_base)
    inc = IncomeInputs(
        base=base,
        rate=share * (1.0 - tax),
        growth=np.expm1(net_growth),
        decay=np.zeros(n),
        discount=_discount(val, sector, category),
        life=life,
        mid_year=np.full(n, 1.0 if val["mid_year"] else 0.0),
        tab_tax=np.zeros(n),
        tab_life=np.ones(n),
        sd_rate=np.zeros(n),
        sd_growth=np.zeros(n),
        sd_decay=np.zeros(n),
        sd_discount=np.zeros(n),
        **fields,
    )
    return income_values(inc)


def value_at_deals(
    truth: dict[str, Any],
    prod: NDArray[np.int64],
    day: NDArray[np.int64],
    *,
    log_revenue: NDArray[np.float64],
    first_year: int,
    net_growth: NDArray[np.float64],
    licensing_share: NDArray[np.float64],
    royalty_rate: NDArray[np.float64],
    high_tech: NDArray[np.bool_],
    sector: NDArray[np.int64],
    category: NDArray[np.int64],
    expires0: NDArray[np.int64],
    expires: NDArray[np.int64],
) -> NDArray[np.float64]:
    """Return each deal's product's economic value at the deal date (certificate alive).

    The base is the deal year's latent revenue (deals precede any revocation or lapse); the
    next expiry is the first one still ahead of the deal.
    """
    n_years = log_revenue.shape[1]
    col = np.clip(_year_of(day) - first_year, 0, n_years - 1)
    year_end = np.array([_day(f"{int(y)}-12-31") for y in range(first_year, first_year + n_years)])
    return true_values(
        truth,
        log_revenue_base=log_revenue[prod, col],
        base_end_day=year_end[col],
        value_day=day,
        net_growth=net_growth[prod],
        licensing_share=licensing_share[prod],
        royalty_rate=royalty_rate[prod],
        high_tech=high_tech[prod],
        sector=sector[prod],
        category=category[prod],
        live=np.ones(prod.size, dtype=bool),
        expiry_day=np.where(day < expires0[prod], expires0[prod], expires[prod]),
        objected=np.zeros(prod.size, dtype=bool),
    )


def economic_value(
    truth: dict[str, Any],
    *,
    log_revenue: NDArray[np.float64],
    first_year: int,
    net_growth: NDArray[np.float64],
    licensing_share: NDArray[np.float64],
    royalty_rate: NDArray[np.float64],
    high_tech: NDArray[np.bool_],
    sector: NDArray[np.int64],
    category: NDArray[np.int64],
    status: NDArray[np.int64],
    expires0: NDArray[np.int64],
    expires: NDArray[np.int64],
    registered: NDArray[np.int64],
    as_of: int,
    appraisal_day: NDArray[np.int64],
) -> Value:
    """Return the economic value at the as-of date and the appraised value at the loan start.

    ``log_revenue`` is the ``(n, years)`` latent log revenue *with* the certificate's losses;
    its last column is the as-of year. The value at the as-of date takes the as-of year's
    latent revenue as its base (a period ending 31 December); the appraisal takes the loan
    start year's, with the certificate alive and its expiry the first one still ahead.
    """
    n, n_years = log_revenue.shape
    as_of_year_end = _day(f"{int(first_year + n_years - 1)}-12-31")
    live = ~np.isin(status, [_REVOKED, _EXPIRED])
    common: dict[str, Any] = dict(
        net_growth=net_growth,
        licensing_share=licensing_share,
        royalty_rate=royalty_rate,
        high_tech=high_tech,
        sector=sector,
        category=category,
    )
    now = true_values(
        truth,
        log_revenue_base=log_revenue[:, -1],
        base_end_day=np.full(n, as_of_year_end),
        value_day=np.full(n, as_of),
        live=live,
        expiry_day=expires,
        objected=status == _OBJECTED,
        **common,
    )
    economic = np.where(registered <= as_of, now, 0.0)
    start_year = _year_of(appraisal_day)
    start_col = np.clip(start_year - first_year, 0, n_years - 1)
    start_end = np.array([_day(f"{int(y)}-12-31") for y in range(first_year, first_year + n_years)])
    appraised = true_values(
        truth,
        log_revenue_base=log_revenue[np.arange(n), start_col],
        base_end_day=start_end[start_col],
        value_day=appraisal_day,
        live=np.ones(n, dtype=bool),
        expiry_day=np.where(appraisal_day < expires0, expires0, expires),
        objected=np.zeros(n, dtype=bool),
        **common,
    )
    return Value(economic_value=economic, appraised=appraised)
