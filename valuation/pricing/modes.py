"""Mislabelled price modes: "per call" prices that are package prices, re-read as one-off.

Sellers pick "per call" on an exchange's form and then enter the price of a package, a year of
service or a set of reports. Such a price is found two ways, and the listing is re-read as
one-off with the reason:

* **magnitude**: the price lies :data:`ORDERS_OF_MAGNITUDE` or more orders of magnitude above
  the median per-call price of its exchange (or, for an exchange with fewer than
  :data:`MIN_REFERENCE` per-call prices, of every exchange the model has seen);
* **text**: the title, or what the source says about the price (a display price such as
  ``1000元/年``), names a package, a year or a set (:data:`PACKAGE_PATTERN`).

The mirror image is a *token price*: a one-off sale of a data product for ¥0.01. A one-off price
:data:`ORDERS_OF_MAGNITUDE` or more orders of magnitude *below* the median one-off price of its
exchange (or of every exchange, as above) is flagged and, like a placeholder, never trained on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: A per-call price this many orders of magnitude above the reference median is a package.
ORDERS_OF_MAGNITUDE = 3.0
#: Per-call prices an exchange needs for its own median to be the reference.
MIN_REFERENCE = 10
#: Words that make a price a package, a year or a set (title and price text).
PACKAGE_PATTERN = re.compile(
    r"(包年|包月|年费|套餐|数据包|/\s*年|/\s*套|/\s*包|per\s+year|/\s*year|annual|package|"
    r"per\s+set|bundle)",
    re.IGNORECASE,
)
#: The same in a description: only a price unit (``元/年``), not any mention of a year.
UNIT_PATTERN = re.compile(r"元\s*/\s*(年|套|包)")


@dataclass(frozen=True)
class Relabel:
    """The outcome of the check for every listing.

    Attributes
    ----------
    price_mode : ndarray of str
        The mode the listing is quoted in (``one-off`` where re-read).
    relabelled : ndarray of bool
        Listings re-read from per call to one-off.
    reason : ndarray of str
        Why, in words ("" where not re-read).
    """

    price_mode: NDArray[np.str_]
    relabelled: NDArray[np.bool_]
    reason: NDArray[np.str_]


def per_call_medians(
    exchange: NDArray[np.str_], price_mode: NDArray[np.str_], price: NDArray[np.float64]
) -> dict[str, float]:
    """Return the median per-call price per exchange, and of all (key ``""``).

    Only exchanges with at least :data:`MIN_REFERENCE` per-call prices get their own median.
    """
    per_call = (price_mode == "usage-based") & (price > 0)
    medians: dict[str, float] = {}
    if np.any(per_call):
        medians[""] = float(np.median(price[per_call]))
    for name in sorted(set(exchange[per_call].tolist())):
        prices = price[per_call & (exchange == name)]
        if prices.size >= MIN_REFERENCE:
            medians[name] = float(np.median(prices))
    return medians


def relabel_price_modes(
    exchange: NDArray[np.str_],
    price_mode: NDArray[np.str_],
    price: NDArray[np.float64],
    title: NDArray[np.str_],
    description: NDArray[np.str_],
    price_text: NDArray[np.str_],
    reference: Mapping[str, float],
) -> Relabel:
    """Re-read per-call prices that are package prices as one-off.

    Parameters
    ----------
    exchange, price_mode, price, title, description, price_text
        The listings.
    reference
        Median per-call price per exchange and pooled (key ``""``), as
        :func:`per_call_medians` returns: the batch's own joined with the model's.
    """
    n = price.size
    mode = price_mode.copy()
    relabelled = np.zeros(n, dtype=bool)
    reason = np.full(n, "", dtype=object)
    pooled = reference.get("", math.nan)
    for i in np.flatnonzero((price_mode == "usage-based") & (price > 0)):
        text = f"{title[i]} {price_text[i]}"
        match = PACKAGE_PATTERN.search(text) or UNIT_PATTERN.search(str(description[i]))
        if match:
            reason[i] = f"per-call listing whose text says {match.group(0)!r}: a package price"
        else:
            median = reference.get(str(exchange[i]), pooled)
            if not (median > 0):
                continue
            orders = math.log10(float(price[i]) / median)
            if orders < ORDERS_OF_MAGNITUDE:
                continue
            whose = "its exchange's" if str(exchange[i]) in reference else "all exchanges'"
            reason[i] = (
                f"per-call price {float(price[i]):g} is {orders:.1f} orders of magnitude above "
                f"{whose} median per-call price {median:g}: a package price"
            )
        relabelled[i] = True
        mode[i] = "one-off"
    return Relabel(mode, relabelled, reason.astype(str))


def one_off_medians(
    exchange: NDArray[np.str_], price_mode: NDArray[np.str_], price: NDArray[np.float64]
) -> dict[str, float]:
    """Return the median one-off price per exchange, and of all (key ``""``).

    Only exchanges with at least :data:`MIN_REFERENCE` one-off prices get their own median.
    """
    return per_call_medians(exchange, np.where(price_mode == "one-off", "usage-based", ""), price)


def token_prices(
    exchange: NDArray[np.str_],
    price_mode: NDArray[np.str_],
    price: NDArray[np.float64],
    reference: Mapping[str, float],
) -> tuple[NDArray[np.bool_], NDArray[np.str_]]:
    """Flag one-off prices orders of magnitude below the reference median; with reasons.

    Parameters
    ----------
    exchange, price_mode, price
        The listings (``price_mode`` as quoted).
    reference
        Median one-off price per exchange and pooled (key ``""``), as
        :func:`one_off_medians` returns.
    """
    flags = np.zeros(price.size, dtype=bool)
    reason = np.full(price.size, "", dtype=object)
    pooled = reference.get("", math.nan)
    for i in np.flatnonzero((price_mode == "one-off") & (price > 0)).tolist():
        median = reference.get(str(exchange[i]), pooled)
        if not (median > 0):
            continue
        orders = math.log10(median / float(price[i]))
        if orders >= ORDERS_OF_MAGNITUDE:
            whose = "its exchange's" if str(exchange[i]) in reference else "all exchanges'"
            flags[i] = True
            reason[i] = (
                f"one-off price {float(price[i]):g} is {orders:.1f} orders of magnitude below "
                f"{whose} median one-off price {median:g}: a token price, not evidence"
            )
    return flags, reason.astype(str)


__all__ = [
    "MIN_REFERENCE",
    "ORDERS_OF_MAGNITUDE",
    "PACKAGE_PATTERN",
    "UNIT_PATTERN",
    "Relabel",
    "one_off_medians",
    "per_call_medians",
    "relabel_price_modes",
    "token_prices",
]
