"""Economic value of a product: royalty relief on its latent revenue."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from calibration.synth._draw import _year_of


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


def economic_value(
    *,
    royalty_rate: NDArray[np.float64],
    annuity: NDArray[np.float64],
    log_revenue: NDArray[np.float64],
    first_year: int,
    registered: NDArray[np.int64],
    as_of: int,
    appraisal_day: NDArray[np.int64],
) -> Value:
    """Value each product as royalty rate x segment annuity factor x current annual revenue.

    Parameters
    ----------
    royalty_rate
        Per product: its true royalty rate.
    annuity
        Per product: its segment's after-tax annuity factor (``params.seg_annuity[segment]``).
    log_revenue
        ``(n, years)`` latent log annual revenue; the last column is the as-of year.
    first_year
        The calendar year of the first column of ``log_revenue``.
    registered
        Per product: registration day (no value before it).
    as_of
        The as-of day.
    appraisal_day
        Per product: the day it is appraised (the loan start).

    Returns
    -------
    Value
        Economic value at the as-of date and appraised value.
    """
    n, n_years = log_revenue.shape
    value_factor = royalty_rate * annuity
    as_of_col = n_years - 1
    economic_value = np.where(
        registered <= as_of, value_factor * np.exp(log_revenue[:, as_of_col]), 0.0
    )
    start_col = np.clip(_year_of(appraisal_day) - first_year, 0, n_years - 1)
    appraised = value_factor * np.exp(log_revenue[np.arange(n), start_col])
    return Value(economic_value=economic_value, appraised=appraised)
