r"""Split-conformal calibration of prediction intervals (conformalised quantile regression).

Plain functions over arrays; :class:`models.HedonicPriceModel` orchestrates them. Written here
on purpose (no MAPIE): the whole method is a few lines.

Notes
-----
Conformalised quantile regression (Romano, Patterson and Candès, 2019): given lower and upper
quantile predictions :math:`\hat q_{lo}, \hat q_{hi}` fitted on a training split, the
conformity score of a held-out calibration point is

.. math:: E_i = \max(\hat q_{lo}(x_i) - y_i,\; y_i - \hat q_{hi}(x_i)).

With :math:`n` calibration scores and nominal coverage :math:`1-\alpha`, the correction
:math:`Q` is the :math:`\lceil (n+1)(1-\alpha) \rceil`-th smallest score, and
:math:`[\hat q_{lo}(x) - Q, \hat q_{hi}(x) + Q]` covers a new exchangeable point with
probability at least :math:`1-\alpha` (and less than :math:`1-\alpha + 1/(n+1)` when the
scores have no ties). The guarantee holds for *any* base interval, so one set of calibration
scores serves every nominal coverage; the base quantiles only decide how tight the band is.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from models.exceptions import MSG_COVERAGE, ModelsError


def check_coverage(coverage: float) -> float:
    """Return ``coverage`` as a float, or raise if it is not strictly inside (0, 1)."""
    value = float(coverage)
    if not 0.0 < value < 1.0:
        raise ModelsError(MSG_COVERAGE.format(value=coverage))
    return value


def cqr_conformity_scores(y: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> NDArray[np.float64]:
    """Return the CQR conformity scores ``max(lower - y, y - upper)``.

    A negative score means the point lies inside the base band by that margin.

    Examples
    --------
    >>> cqr_conformity_scores([1.0, 5.0], [0.0, 0.0], [2.0, 2.0]).tolist()
    [-1.0, 3.0]
    """
    y_arr = np.asarray(y, dtype=np.float64)
    lower_arr = np.asarray(lower, dtype=np.float64)
    upper_arr = np.asarray(upper, dtype=np.float64)
    return np.maximum(lower_arr - y_arr, y_arr - upper_arr)


def conformal_quantile(scores: ArrayLike, coverage: float) -> float:
    r"""Return the split-conformal correction for nominal ``coverage``.

    The :math:`\lceil (n+1)\,\mathrm{coverage} \rceil`-th smallest score; ``inf`` when there
    are too few scores for that rank (the only honest band is then unbounded).

    Examples
    --------
    >>> conformal_quantile(np.arange(1.0, 10.0), 0.8)
    8.0
    >>> conformal_quantile([0.5, 1.0], 0.8)
    inf
    """
    level = check_coverage(coverage)
    ordered = np.sort(np.asarray(scores, dtype=np.float64).ravel())
    n = ordered.size
    # a small tolerance keeps (n+1)*level from rounding up past an exact integer (9*0.8=7.2...)
    rank = math.ceil((n + 1) * level - 1e-9)
    if rank > n:
        return math.inf
    return float(ordered[rank - 1])


def conformalize_interval(
    lower: ArrayLike, upper: ArrayLike, correction: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Widen (or, for a negative correction, narrow) a base band by ``correction``.

    Quantile models fitted separately can cross; the result is re-ordered so that
    ``lo <= hi`` always holds.
    """
    lo = np.asarray(lower, dtype=np.float64) - correction
    hi = np.asarray(upper, dtype=np.float64) + correction
    return np.minimum(lo, hi), np.maximum(lo, hi)


def interval_coverage(y: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Return the share of ``y`` inside the closed band ``[lower, upper]``."""
    y_arr = np.asarray(y, dtype=np.float64)
    inside = (np.asarray(lower) <= y_arr) & (y_arr <= np.asarray(upper))
    return float(np.mean(inside)) if y_arr.size else math.nan


def strictly_inside_share(y: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """Return the share of ``y`` strictly inside ``(lower, upper)`` (endpoints excluded)."""
    y_arr = np.asarray(y, dtype=np.float64)
    inside = (np.asarray(lower) < y_arr) & (y_arr < np.asarray(upper))
    return float(np.mean(inside)) if y_arr.size else math.nan


def coverage_standard_error(coverage: float, n: int) -> float:
    """Return the binomial standard error of an empirical coverage over ``n`` points."""
    level = check_coverage(coverage)
    return math.sqrt(level * (1.0 - level) / max(n, 1))
