"""Royalty rates: each product's true rate and the noisy, partly reported rates of its deals."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.typing import NDArray

from calibration.synth._deals import Deals
from calibration.synth._draw import _logistic, _segment_lookup
from calibration.synth._params import LICENSES, Params
from valuation.schema.product import CATEGORIES


def draw_royalty_rates(
    rng: np.random.Generator,
    params: Params,
    deals: Deals,
    *,
    category: NDArray[np.int64],
    quality_score: NDArray[np.float64],
) -> tuple[Deals, NDArray[np.float64]]:
    """Draw the products' true royalty rates and their deals' reported rates.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    deals
        The deals (unsorted).
    category, quality_score
        Per product: category index and quality score.

    Returns
    -------
    deals : Deals
        The deals with ``royalty`` and ``royalty_known`` set (never known for a transfer).
    royalty_true : numpy.ndarray
        Per product: its true royalty rate.
    """
    rr = params.truth["royalty_rate"]
    qt = params.truth["quality"]
    n = len(category)
    n_deals = len(deals.prod)
    royalty_effect = rr["product_sd"] * rng.standard_normal(n)
    royalty_base = (
        rr["intercept"]
        + _segment_lookup(rr["category"], CATEGORIES)[category]
        + rr["quality_score"] * (quality_score - qt["quality_center"])
        + royalty_effect
    )
    royalty_true = _logistic(royalty_base)
    deal_royalty = np.round(
        _logistic(
            royalty_base[deals.prod]
            + _segment_lookup(rr["license"], LICENSES)[deals.license]
            + rr["noise_sd"] * rng.standard_normal(n_deals)
        ),
        4,
    )
    royalty_known = (rng.random(n_deals) < rr["reported_share"]) & ~deals.is_transfer
    return replace(deals, royalty=deal_royalty, royalty_known=royalty_known), royalty_true
