"""The market method without explicit comparables: the calibration's hedonic price model.

A product known only by its attributes (category, sector, records, fields, quality, revenue)
has no comparables of its own. The calibration's hedonic model
(:class:`models.HedonicPriceModel`, fitted on the deal history) prices it as an **outright
transfer** in its home territory at the valuation date: the point prediction is the median
price, and the model's conformal band (80 % by default) becomes the method's log-value
uncertainty, ``σ = (log hi − log lo) / (2·z_0.9)``. The result says that the value came from the
model and gives the band.

The feature row follows the names the model was fitted with (``feature_names`` of its
parameters, the columns of ``calibration.fit.HEDONIC_FEATURES``): a feature the product does
not state is NaN, which LightGBM routes by its learned default direction.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from valuation.schema.product import CATEGORIES, QUALITY_DIMENSIONS, SECTORS, Product

# Ranks the calibration uses for the licence and territory features (calibration.history and
# calibration.fit): an outright transfer, in the home territory.
TRANSFER_RANK = 2.0
HOME_TERRITORY_RANK = 1.0
_Z90 = 1.2815515655446004  # standard normal 0.9 quantile


def _latest_revenue(product: Product, as_of: dt.date) -> float:
    rows = sorted((r for r in product.revenue if r.period_end <= as_of), key=lambda r: r.period_end)
    return rows[-1].total if rows else math.nan


def _quality(product: Product, weights: dict[str, float]) -> float:
    q = product.attributes.quality
    if q is None:
        return math.nan
    total = sum(weights[d] for d in QUALITY_DIMENSIONS)
    return sum(weights[d] * getattr(q, d) for d in QUALITY_DIMENSIONS) / total


def feature_row(
    product: Product, as_of: dt.date, names: Sequence[str], quality_weights: dict[str, float]
) -> list[float]:
    """Return the hedonic feature row of ``product`` as an outright transfer at ``as_of``."""
    attrs = product.attributes
    revenue = _latest_revenue(product, as_of)

    def log_or_nan(x: float | None, scale: float) -> float:
        return math.log(x / scale) if x is not None and x > 0 else math.nan

    known = {
        "category": float(CATEGORIES.index(product.category)),
        "sector": float(SECTORS.index(product.sector)),
        "license_rank": TRANSFER_RANK,
        "territory_rank": HOME_TERRITORY_RANK,
        "log_records": log_or_nan(attrs.records, 1e6),
        "log_fields": log_or_nan(attrs.fields, 10.0),
        "quality_score": _quality(product, quality_weights),
        "log_term_months": 0.0,  # a transfer is priced with the 12-month reference term
        "log_revenue": log_or_nan(revenue, 1e6),
        "years_since_2024": (as_of - dt.date(2024, 1, 1)).days / 365.25,
    }
    return [known.get(name, math.nan) for name in names]


def model_feature_names(model: Any) -> list[str]:
    """Return the feature names a fitted hedonic model expects, in order."""
    names = getattr(model, "feature_names", None)
    if names is None:
        raise ValueError("the hedonic model carries no feature_names")
    return [str(n) for n in names]


def hedonic_values(
    model: Any,
    products: Sequence[Product],
    as_of: dt.date,
    quality_weights: dict[str, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Price each product with the hedonic model.

    Returns
    -------
    value, sigma, lo, hi : ndarray of shape (n,)
        Median outright-transfer price, its log sd from the conformal band, and the band's
        edges in CNY.
    """
    if not products:
        empty = np.zeros(0)
        return empty, empty, empty, empty
    names = model_feature_names(model)
    X = np.array([feature_row(p, as_of, names, quality_weights) for p in products], dtype=float)
    point = np.asarray(model.predict(X), dtype=np.float64)
    lo, hi = model.predict_interval(X)
    sigma = (np.asarray(hi) - np.asarray(lo)) / (2.0 * _Z90)
    return np.exp(point), sigma, np.exp(lo), np.exp(hi)


__all__ = ["feature_row", "hedonic_values", "model_feature_names"]
