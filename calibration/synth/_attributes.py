"""What the products contain: size, update frequency, coverage, quality and missing fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calibration.synth._draw import _choice, _logistic
from calibration.synth._params import Params
from valuation.schema.product import QUALITY_DIMENSIONS


@dataclass(frozen=True)
class Attributes:
    """The products' attributes and quality.

    Attributes
    ----------
    records, fields
        Per product: rows and columns of the data.
    update_days
        Per product: the update interval in days.
    coverage_years
        Per product: years of history covered.
    quality
        ``(n, len(QUALITY_DIMENSIONS))`` quality scores in [0, 1], rounded to 3 decimals.
    quality_score
        Per product: the weighted quality score.
    records_missing, fields_missing, quality_missing, costs_missing
        Per product: whether the item is left out of the product document.
    """

    records: NDArray[np.int64]
    fields: NDArray[np.int64]
    update_days: NDArray[np.int64]
    coverage_years: NDArray[np.int64]
    quality: NDArray[np.float64]
    quality_score: NDArray[np.float64]
    records_missing: NDArray[np.bool_]
    fields_missing: NDArray[np.bool_]
    quality_missing: NDArray[np.bool_]
    costs_missing: NDArray[np.bool_]


def update_frequency_p(at: dict[str, Any]) -> tuple[tuple[int, ...], NDArray[np.float64]]:
    """Return the update intervals (days) and their weights from ``truth["attributes"]``."""
    upd_keys = tuple(int(k) for k in at["update_frequency_days"])
    upd_p = np.array([at["update_frequency_days"][str(k)] for k in upd_keys])
    return upd_keys, upd_p


def draw_size(
    rng: np.random.Generator, at: dict[str, Any], n: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Draw log-normal record and field counts (records first, then fields).

    Parameters
    ----------
    rng
        The block's random stream.
    at
        ``truth["attributes"]``.
    n
        How many to draw.

    Returns
    -------
    records, fields : numpy.ndarray
        Whole numbers; fields at least 1.
    """
    records = np.round(
        np.exp(at["records_log_median"] + at["records_log_sd"] * rng.standard_normal(n))
    ).astype(np.int64)
    fields = np.maximum(
        1, np.round(np.exp(at["fields_log_median"] + at["fields_log_sd"] * rng.standard_normal(n)))
    ).astype(np.int64)
    return records, fields


def draw_attributes(rng: np.random.Generator, params: Params, n: int) -> Attributes:
    """Draw the products' attributes, quality and which items are missing.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    n
        Products in the block.

    Returns
    -------
    attributes : Attributes
        Size, update interval, coverage, quality and missing flags.
    """
    t = params.truth
    at = t["attributes"]
    records, fields = draw_size(rng, at, n)
    upd_keys, upd_p = update_frequency_p(at)
    update_days = np.array(upd_keys)[_choice(rng, upd_p, n)]
    lo, hi = at["coverage_years_range"]
    coverage_years = rng.integers(int(lo), int(hi) + 1, n)
    qt = t["quality"]
    common = qt["common_sd"] * rng.standard_normal(n)
    own = qt["own_sd"] * rng.standard_normal((n, len(QUALITY_DIMENSIONS)))
    quality = np.round(_logistic(qt["center_logit"] + common[:, None] + own), 3)
    quality_score = quality @ params.quality_weights
    miss = at["missing_share"]
    records_missing = rng.random(n) < miss["records"]
    fields_missing = rng.random(n) < miss["fields"]
    quality_missing = rng.random(n) < miss["quality"]
    costs_missing = rng.random(n) < miss["costs"]
    return Attributes(
        records=records,
        fields=fields,
        update_days=update_days,
        coverage_years=coverage_years,
        quality=quality,
        quality_score=quality_score,
        records_missing=records_missing,
        fields_missing=fields_missing,
        quality_missing=quality_missing,
        costs_missing=costs_missing,
    )
