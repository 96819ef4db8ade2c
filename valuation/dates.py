"""Calendar arithmetic shared by valuation, pledges and calibration: one year, one month.

A year is :data:`DAYS_PER_YEAR` = 365.25 days (the Julian year: leap years on average) wherever
dpv turns a span of days into years (discounting, hazards, ages of comparables) or months
(:data:`DAYS_PER_MONTH`). Calendar months (a certificate's validity, an appraisal's age) move
the date itself: :func:`add_months` for one date, :func:`add_months_array` for NumPy day arrays,
both clipping the day to the end of a shorter month (31 January + 1 month = 28 or 29 February).
Plain Python and NumPy, no numba.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from numpy.typing import NDArray

DAYS_PER_YEAR = 365.25
DAYS_PER_MONTH = DAYS_PER_YEAR / 12.0


def years_between(start: dt.date, end: dt.date) -> float:
    """Return ``end − start`` in years of :data:`DAYS_PER_YEAR` days (negative if before).

    Examples
    --------
    >>> years_between(dt.date(2024, 1, 1), dt.date(2025, 1, 1))
    1.002053388090349
    """
    return (end - start).days / DAYS_PER_YEAR


def months_between(start: dt.date, end: dt.date) -> float:
    """Return ``end − start`` in months of :data:`DAYS_PER_MONTH` days (negative if before)."""
    return (end - start).days / DAYS_PER_MONTH


def add_months(date: dt.date, months: int) -> dt.date:
    """Return ``date`` moved by whole calendar months (the day clipped to the month's end).

    Examples
    --------
    >>> add_months(dt.date(2024, 1, 31), 1)
    datetime.date(2024, 2, 29)
    """
    index = date.year * 12 + date.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_first = dt.date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_first - dt.timedelta(days=1)).day
    return dt.date(year, month, min(date.day, last_day))


def add_months_array(
    days: NDArray[np.datetime64], months: NDArray[np.int64] | int
) -> NDArray[np.datetime64]:
    """:func:`add_months` of every date of a ``datetime64[D]`` array (``months`` broadcasts)."""
    month = days.astype("datetime64[M]")
    day_of_month = (days - month.astype("datetime64[D]")).astype(np.int64)
    target = month + np.asarray(months)
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    return target.astype("datetime64[D]") + np.minimum(day_of_month, month_len - 1)


__all__ = [
    "DAYS_PER_MONTH",
    "DAYS_PER_YEAR",
    "add_months",
    "add_months_array",
    "months_between",
    "years_between",
]
