"""Loans pledged on products: terms, amounts, default hazard, exposure and recovery."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from calibration.synth._arrow import _concat, _labels, _take
from calibration.synth._draw import _choice, _logistic, _probs
from calibration.synth._params import AMORTIZATIONS, Params
from valuation.dates import DAYS_PER_MONTH, DAYS_PER_YEAR


@dataclass(frozen=True)
class LoanTerms:
    """Per product: the tenor and start of a potential pledged loan.

    Attributes
    ----------
    tenor, tenor_days
        Tenor in months and in days.
    start_lo, start_hi
        The window the start is drawn from (empty when ``start_hi <= start_lo``).
    start
        The start day.
    """

    tenor: NDArray[np.int64]
    tenor_days: NDArray[np.int64]
    start_lo: NDArray[np.int64]
    start_hi: NDArray[np.int64]
    start: NDArray[np.int64]


@dataclass(frozen=True)
class Loans:
    """Per product: a potential pledged loan and its outcome (a loan where ``pledged``).

    Attributes
    ----------
    pledged
        Whether the product backs a loan.
    amount, annual_rate, amortization
        Principal, annual rate and index into ``AMORTIZATIONS``.
    pledge_rate, annual_pd
        Amount over appraised value, and the annual default probability it implies.
    t_default, defaulted
        Days from start to default, and whether that falls within the tenor.
    ead, recovery
        Exposure at default and recovery as a fraction of it.
    """

    pledged: NDArray[np.bool_]
    amount: NDArray[np.float64]
    annual_rate: NDArray[np.float64]
    amortization: NDArray[np.int64]
    pledge_rate: NDArray[np.float64]
    annual_pd: NDArray[np.float64]
    t_default: NDArray[np.float64]
    defaulted: NDArray[np.bool_]
    ead: NDArray[np.float64]
    recovery: NDArray[np.float64]


def draw_loan_terms(
    rng: np.random.Generator, params: Params, registered: NDArray[np.int64]
) -> LoanTerms:
    """Draw each product's loan tenor and a start day after registration.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    registered
        Per product: registration day.

    Returns
    -------
    LoanTerms
        Tenor and start (the loan must end by the as-of date).
    """
    ln = params.truth["loans"]
    n = len(registered)
    tenor_keys = tuple(int(k) for k in ln["tenor_months_shares"])
    tenor_p = np.array([ln["tenor_months_shares"][str(k)] for k in tenor_keys])
    tenor = np.array(tenor_keys)[_choice(rng, tenor_p, n)]
    tenor_days = np.round(tenor * DAYS_PER_YEAR / 12.0).astype(np.int64)
    start_lo = registered + 30
    start_hi = params.as_of - tenor_days
    loan_start = np.floor(start_lo + rng.random(n) * (start_hi - start_lo)).astype(np.int64)
    return LoanTerms(
        tenor=tenor, tenor_days=tenor_days, start_lo=start_lo, start_hi=start_hi, start=loan_start
    )


def draw_loans(
    rng: np.random.Generator,
    params: Params,
    terms: LoanTerms,
    *,
    appraised: NDArray[np.float64],
    launched: NDArray[np.int64],
    end_day: NDArray[np.float64],
) -> Loans:
    """Draw which products back a loan, the loans' amounts and rates, defaults and recoveries.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    terms
        Tenor and start per product.
    appraised
        Per product: appraised value at the loan start.
    launched, end_day
        Per product: launch day and last day of the certificate (the start must fall between).

    Returns
    -------
    Loans
        The loans, for every product (meaningful where ``pledged``).
    """
    ln = params.truth["loans"]
    n = len(appraised)
    tenor, tenor_days = terms.tenor, terms.tenor_days
    loan_start, start_lo, start_hi = terms.start, terms.start_lo, terms.start_hi
    pledged = (
        (start_hi > start_lo)
        & (loan_start >= launched)
        & (loan_start < end_day)
        & (appraised >= ln["min_appraised_value"])
        # a loan capped at max_amount would fall below the lowest pledge rate: no such pledge
        & (appraised * ln["pledge_rate"]["low"] <= ln["max_amount"])
        & (rng.random(n) < ln["pledge_probability"])
    )
    prl = ln["pledge_rate"]
    pledge_draw = prl["low"] + (prl["high"] - prl["low"]) * rng.beta(
        prl["beta"][0], prl["beta"][1], n
    )
    step = float(ln["amount_rounding"])
    amount = np.minimum(np.round(pledge_draw * appraised / step) * step, ln["max_amount"])
    amount = np.maximum(amount, step)
    pledge_rate = np.where(pledged, amount / np.maximum(appraised, 1.0), 0.5)
    logit_pd = math.log(ln["base_annual_pd"] / (1.0 - ln["base_annual_pd"]))
    annual_pd = _logistic(logit_pd + ln["pledge_rate_slope"] * (pledge_rate - 0.5))
    t_default = rng.exponential(1.0, n) / -np.log1p(-annual_pd) * DAYS_PER_YEAR
    defaulted = t_default < tenor_days
    lo_r, hi_r = ln["annual_rate_range"]
    annual_rate = np.round((lo_r + (hi_r - lo_r) * rng.random(n)) / 0.0005) * 0.0005
    amort = _choice(rng, _probs(ln["amortization_shares"], AMORTIZATIONS), n)
    months_paid = np.floor(t_default / DAYS_PER_MONTH)
    i_m = annual_rate / 12.0
    growth_n = (1.0 + i_m) ** tenor
    growth_m = (1.0 + i_m) ** np.minimum(months_paid, tenor)
    ead = np.select(
        [amort == AMORTIZATIONS.index("bullet"), amort == AMORTIZATIONS.index("linear")],
        [amount, amount * (1.0 - np.minimum(months_paid, tenor) / tenor)],
        amount * (growth_n - growth_m) / (growth_n - 1.0),
    )
    ead = np.maximum(np.round(ead), 1.0)
    lq = ln["liquidation_discount"]
    discount = rng.beta(lq["beta"][0], lq["beta"][1], n)
    vd = ln["value_at_default"]
    value_at_default = appraised * np.exp(vd["mean_log"] + vd["sd_log"] * rng.standard_normal(n))
    recovery = np.round(np.minimum(1.0, value_at_default * (1.0 - discount) / ead), 4)
    return Loans(
        pledged=pledged,
        amount=amount,
        annual_rate=annual_rate,
        amortization=amort,
        pledge_rate=pledge_rate,
        annual_pd=annual_pd,
        t_default=t_default,
        defaulted=defaulted,
        ead=ead,
        recovery=recovery,
    )


def loans_table(
    loans: Loans,
    terms: LoanTerms,
    appraised: NDArray[np.float64],
    *,
    product_id: pa.Array,
    holder_id: pa.Array,
    index_text: pa.Array,
) -> dict[str, Any]:
    """Return the ``loans`` table: one row per pledged product.

    Parameters
    ----------
    loans, terms
        The loans and their terms, per product.
    appraised
        Per product: appraised value at the loan start.
    product_id, holder_id, index_text
        Per product: identifier, holder (the borrower) and zero-padded global index.

    Returns
    -------
    dict
        The table's columns.
    """
    loan_idx = np.nonzero(loans.pledged)[0]
    default_day = terms.start + np.floor(loans.t_default).astype(np.int64)
    d_l = loans.defaulted[loan_idx]
    return {
        "loan_id": _concat("LN", _take(index_text, loan_idx)),
        "product_id": _take(product_id, loan_idx),
        "borrower": _take(holder_id, loan_idx),
        "amount": loans.amount[loan_idx],
        "start": terms.start[loan_idx],
        "tenor_months": terms.tenor[loan_idx],
        "annual_rate": np.round(loans.annual_rate[loan_idx], 4),
        "amortization": _labels(loans.amortization[loan_idx], AMORTIZATIONS),
        "appraised_value": np.round(appraised[loan_idx]),
        "pledge_rate": np.round(loans.pledge_rate[loan_idx], 4),
        "annual_pd": np.round(loans.annual_pd[loan_idx], 6),
        "outcome": _labels(d_l.astype(np.int64), ("repaid", "defaulted")),
        "default_date": (default_day[loan_idx], ~d_l),
        "exposure_at_default": (loans.ead[loan_idx], ~d_l),
        "recovery": (loans.recovery[loan_idx], ~d_l),
    }
