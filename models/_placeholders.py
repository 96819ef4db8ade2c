r"""Placeholder asking prices found by the data: price points with more mass than a density allows.

An exchange's listing form often fills in a default price (¥1,000, ¥5,000) that the seller never
chose. Such a default shows up as one exact price carried by far more listings than a continuous
distribution of prices would put there. This module tests every distinct price of a group of
listings (one exchange, one price mode) for that excess.

Notes
-----
**Null model.** Log prices of a group have a continuous density :math:`f`; each seller writes
the price at some precision, so a written price :math:`v` with :math:`d` significant digits
stands for every price that rounds to it: the cell :math:`[v - u/2, v + u/2]` with :math:`u` the
unit of the last significant digit (¥1,000 → ¥500 to ¥1,500; ¥0.09 → ¥0.085 to ¥0.095). Under
the null the number of listings written as :math:`v` is binomial,

.. math:: K_v \sim \mathrm{Bin}(n, p_v), \qquad p_v = \int_{\text{cell}(v)} f,

so round prices (a wide cell) may carry many listings without being flagged, while an exact
price at fine precision may not.

**Density.** :math:`f` is a Gaussian kernel density of the log prices of the *other* listings
of the group (those not written as :math:`v`, nor at an already flagged point), with
Silverman's bandwidth (of the group's listings not yet flagged) floored at
:data:`MIN_BANDWIDTH`; leaving the point's own listings out stops a mass point from
explaining itself.

**Test.** :math:`v` is flagged when :math:`P(K \ge k_v) < \alpha / m` (Bonferroni over the
:math:`m` distinct prices of the group) and :math:`k_v \ge` :data:`MIN_COUNT`. Flagging repeats
with the flagged points removed from the density until nothing new is flagged. ``alpha`` is the
family-wise false-alarm rate per group under the null; the rate measured on simulated
continuous groups is stated in the tests and the README.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special, stats

#: Family-wise false-alarm rate per (exchange, price mode) group.
DEFAULT_ALPHA = 0.01
#: A mass point needs at least this many listings at one exact price.
MIN_COUNT = 3
#: Floor of the kernel bandwidth, natural-log units (prices within ~25% are neighbours).
MIN_BANDWIDTH = 0.25
#: Groups smaller than this are not tested (no density to compare with).
MIN_GROUP = 8


@dataclass(frozen=True)
class MassPoint:
    """A price point carrying more listings than the group's density allows.

    Attributes
    ----------
    price : float
        The exact price (CNY).
    count : int
        Listings of the group at that price.
    expected : float
        Listings expected there under the density of the other prices.
    p_value : float
        Binomial upper-tail probability of ``count`` or more.
    share : float
        ``count`` over the group's listings.
    """

    price: float
    count: int
    expected: float
    p_value: float
    share: float


def rounding_cell(price: float) -> tuple[float, float]:
    """Return the interval of prices that round to ``price`` at its written precision.

    Examples
    --------
    >>> rounding_cell(1000.0)
    (500.0, 1500.0)
    >>> [round(x, 6) for x in rounding_cell(0.09)]
    [0.085, 0.095]
    >>> rounding_cell(1980.0)
    (1975.0, 1985.0)
    """
    text = f"{price:.10g}"
    mantissa = text.split("e")[0]
    exponent = int(text.split("e")[1]) if "e" in text else 0
    if "." in mantissa:
        decimals = len(mantissa.split(".")[1].rstrip("0"))
        unit = 10.0 ** (exponent - decimals)
    else:
        digits = mantissa.lstrip("-")
        unit = 10.0 ** (len(digits) - len(digits.rstrip("0")) + exponent)
    return price - unit / 2.0, price + unit / 2.0


def _bandwidth(log_prices: NDArray[np.float64]) -> float:
    n = log_prices.size
    if n < 2:
        return MIN_BANDWIDTH
    sd = float(np.std(log_prices, ddof=1))
    q75, q25 = np.quantile(log_prices, [0.75, 0.25])
    spread = min(sd, float(q75 - q25) / 1.34) if q75 > q25 else sd
    return max(MIN_BANDWIDTH, 0.9 * spread * n ** (-0.2))


def find_mass_points(prices: ArrayLike, alpha: float = DEFAULT_ALPHA) -> tuple[MassPoint, ...]:
    """Return the price points of one group with more mass than a continuous density allows.

    Parameters
    ----------
    prices
        Positive asking prices of one group (one exchange, one price mode); others ignored.
    alpha
        Family-wise false-alarm rate of the group (Bonferroni over its distinct prices).

    Returns
    -------
    tuple of MassPoint
        Flagged points, most listings first.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = np.round(np.exp(rng.normal(8.0, 1.5, 200)), -1)
    >>> p[:30] = 1230.0
    >>> [m.price for m in find_mass_points(p)]
    [1230.0]
    """
    values = np.asarray(prices, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    n = values.size
    if n < MIN_GROUP:
        return ()
    distinct, counts = np.unique(values, return_counts=True)
    m = distinct.size
    log_distinct = np.log(distinct)
    cells = np.array([rounding_cell(v) for v in distinct.tolist()])
    cell_lo = np.log(np.maximum(cells[:, 0], distinct * 1e-6))
    cell_hi = np.log(cells[:, 1])
    flagged = np.zeros(m, dtype=bool)
    points: list[MassPoint] = []
    while True:
        base = ~flagged
        n_base = int(counts[base].sum())
        h = _bandwidth(np.repeat(log_distinct[base], counts[base]))
        candidates = np.flatnonzero(base & (counts >= MIN_COUNT))
        if candidates.size == 0:
            break
        p_cell = _cell_masses(
            log_distinct[base], counts[base], cell_lo[candidates], cell_hi[candidates], h
        )
        # leave the point's own listings out of the density it is compared with
        own = special.ndtr((cell_hi[candidates] - log_distinct[candidates]) / h) - special.ndtr(
            (cell_lo[candidates] - log_distinct[candidates]) / h
        )
        k = counts[candidates]
        n_others = n_base - k
        with np.errstate(invalid="ignore", divide="ignore"):
            p_cell = np.where(n_others > 0, (p_cell * n_base - k * own) / n_others, 1.0)
        p_cell = np.clip(p_cell, 0.0, 1.0)
        p_values = stats.binom.sf(k - 1, n, p_cell)
        hits = p_values < alpha / m
        if not np.any(hits):
            break
        for j in np.flatnonzero(hits).tolist():
            c = int(candidates[j])
            flagged[c] = True
            points.append(
                MassPoint(
                    float(distinct[c]),
                    int(k[j]),
                    float(n * p_cell[j]),
                    float(p_values[j]),
                    float(k[j]) / n,
                )
            )
    return tuple(sorted(points, key=lambda p: (-p.count, p.price)))


def _cell_masses(
    centres: NDArray[np.float64],
    weights: NDArray[np.int64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    h: float,
) -> NDArray[np.float64]:
    """Probability of each ``[lo, hi]`` under the weighted Gaussian kernel density."""
    out = np.empty(lo.size)
    total = float(weights.sum())
    for start in range(0, lo.size, 256):
        stop = start + 256
        upper = special.ndtr((hi[start:stop, None] - centres[None, :]) / h)
        lower = special.ndtr((lo[start:stop, None] - centres[None, :]) / h)
        out[start:stop] = (upper - lower) @ weights / total
    return out


#: A mass point whose listings come mostly (this share or more) from one provider is that
#: provider's price list, not a form default: real prices, kept as evidence.
PRICE_LIST_SHARE = 2.0 / 3.0


def flag_mass_points(
    price: ArrayLike,
    *groups: ArrayLike,
    provider: ArrayLike | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> tuple[NDArray[np.bool_], dict[tuple[str, ...], tuple[MassPoint, ...]]]:
    """Flag listings priced at a placeholder: a mass point of their group.

    Parameters
    ----------
    price
        Asking prices (non-positive or non-finite: never flagged).
    *groups
        Arrays of group keys (e.g. exchange, price mode), one entry per listing.
    provider
        Seller of each listing ("" where unknown). A mass point whose listings all have a
        known provider, :data:`PRICE_LIST_SHARE` or more of them the same one, is that
        provider's price list and is not flagged (it is still returned in ``points``, with
        ``placeholder`` False in :func:`classify`).
    alpha
        Family-wise false-alarm rate per group.

    Returns
    -------
    flags : ndarray of bool
        True where the listing's price is a placeholder of its group.
    points : dict
        Group key -> its placeholder mass points (groups without any are left out).
    """
    price_arr = np.asarray(price, dtype=np.float64)
    keys = list(zip(*(np.asarray(g).astype(str).tolist() for g in groups), strict=True))
    if not groups:
        keys = [()] * price_arr.size
    sellers = None if provider is None else np.asarray(provider).astype(str)
    flags = np.zeros(price_arr.size, dtype=bool)
    points: dict[tuple[str, ...], tuple[MassPoint, ...]] = {}
    index: dict[tuple[str, ...], list[int]] = {}
    for i, key in enumerate(keys):
        index.setdefault(key, []).append(i)
    for key in sorted(index):
        rows = np.asarray(index[key])
        found = [
            point
            for point in find_mass_points(price_arr[rows], alpha)
            if sellers is None or not is_price_list(sellers[rows][price_arr[rows] == point.price])
        ]
        if found:
            points[key] = tuple(found)
            flags[rows] = np.isin(price_arr[rows], [p.price for p in found])
    return flags, points


def is_price_list(providers: ArrayLike) -> bool:
    """Whether a mass point's listings are one provider's price list.

    True when every listing names its provider and one provider holds at least
    :data:`PRICE_LIST_SHARE` of them.

    Examples
    --------
    >>> [is_price_list(p) for p in (["a", "a", "a", "b"], ["a", "b", "c"], ["a", ""])]
    [True, False, False]
    """
    names = [str(p).strip() for p in np.asarray(providers).tolist()]
    if not names or any(not n for n in names):
        return False
    top = max(names.count(n) for n in set(names))
    return top >= PRICE_LIST_SHARE * len(names)


__all__ = [
    "DEFAULT_ALPHA",
    "MIN_BANDWIDTH",
    "MIN_COUNT",
    "MIN_GROUP",
    "PRICE_LIST_SHARE",
    "MassPoint",
    "find_mass_points",
    "flag_mass_points",
    "is_price_list",
    "rounding_cell",
]
