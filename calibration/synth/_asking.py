"""Asking prices of exchange listings: placeholders and a weak hedonic signal under noise."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from calibration.synth._draw import _choice
from calibration.synth._params import PRICE_MODES, Params


def asking_prices(
    rng: np.random.Generator,
    params: Params,
    mode: NDArray[np.int64],
    exchange: NDArray[np.int64],
    records: NDArray[np.int64],
    quality_score: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Draw asking prices: placeholders, a weak hedonic signal under heavy noise, 0 = none."""
    ls = params.truth["listings"]
    n = len(mode)
    placeholder = (rng.random(n) < params.exchange_placeholder[exchange]) & (
        mode == PRICE_MODES.index("one_off")
    )
    placeholder_pick = _choice(rng, np.array(ls["placeholder_weights"]), n)
    lp = ls["price"]
    intercept = np.array([lp["intercept"].get(m, 0.0) for m in PRICE_MODES])[mode]
    noise_sd = np.array([lp["noise_sd"].get(m, 0.0) for m in PRICE_MODES])[mode]
    asking = np.exp(
        intercept
        + lp["log_records"] * np.log(np.maximum(records, 1) / 1e6)
        + lp["quality_score"] * (quality_score - params.truth["quality"]["quality_center"])
        + noise_sd * rng.standard_normal(n)
    )
    asking = np.where(
        placeholder, np.array(ls["placeholder_prices"])[placeholder_pick], np.round(asking, 2)
    )
    return np.where(mode == PRICE_MODES.index("negotiable"), 0.0, np.maximum(asking, 0.01))
