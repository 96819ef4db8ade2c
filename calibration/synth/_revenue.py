"""Latent annual revenue: a jump-diffusion in log revenue per product, and the reported rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from calibration.synth._arrow import _take
from calibration.synth._draw import _day, _segment_lookup
from calibration.synth._params import Params
from valuation.schema.product import CATEGORIES


@dataclass(frozen=True)
class RevenuePaths:
    """Latent log revenue per product and calendar year.

    Attributes
    ----------
    years
        The calendar years of the columns (first revenue year .. as-of year).
    launch_col
        Per product: the column of its launch year (revenue is flat before it).
    level
        Per product: the log revenue of the first column.
    log_rev
        ``(n, len(years))`` log annual revenue.
    licensing_share
        Per product: the share of revenue from licensing (the rest is services).
    """

    years: NDArray[np.int64]
    launch_col: NDArray[np.int64]
    level: NDArray[np.float64]
    log_rev: NDArray[np.float64]
    licensing_share: NDArray[np.float64]


def draw_revenue_paths(
    rng: np.random.Generator,
    params: Params,
    category: NDArray[np.int64],
    segment: NDArray[np.int64],
    launch_year: NDArray[np.int64],
) -> RevenuePaths:
    """Draw each product's latent log-revenue path and its licensing share.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    category, segment
        Per product: category and segment indices.
    launch_year
        Per product: the calendar year of its launch.

    Returns
    -------
    RevenuePaths
        The paths, flat up to the launch year, then growing by segment increments with jumps.
    """
    rv = params.truth["revenue"]
    n = len(category)
    years = params.revenue_years
    n_years = len(years)
    launch_col = launch_year - years[0]
    cat_shift = _segment_lookup(rv["category_level_shift"], CATEGORIES)[category]
    level = rv["initial_log_median"] + cat_shift + rv["initial_log_sd"] * rng.standard_normal(n)
    eps = rng.standard_normal((n, n_years - 1))
    n_jumps = rng.poisson(params.seg_jump_intensity[segment][:, None], (n, n_years - 1))
    z = rng.standard_normal((n, n_years - 1))
    inc = (
        params.seg_mu[segment][:, None]
        + params.seg_volatility[segment][:, None] * eps
        + n_jumps * params.seg_jump_mean[segment][:, None]
        + np.sqrt(n_jumps) * params.seg_jump_sd[segment][:, None] * z
    )
    step_col = np.arange(1, n_years)[None, :]
    inc = np.where(step_col > launch_col[:, None], inc, 0.0)
    log_rev = level[:, None] + np.concatenate([np.zeros((n, 1)), np.cumsum(inc, axis=1)], axis=1)
    licensing_share = rng.beta(rv["licensing_share_beta"][0], rv["licensing_share_beta"][1], n)
    return RevenuePaths(
        years=years,
        launch_col=launch_col,
        level=level,
        log_rev=log_rev,
        licensing_share=licensing_share,
    )


def revenue_table(
    params: Params, paths: RevenuePaths, product_id: pa.Array
) -> tuple[dict[str, Any], NDArray[np.int64]]:
    """Return the reported revenue rows: launch year .. last reported year, per product.

    Parameters
    ----------
    params
        The truth as arrays.
    paths
        The latent revenue paths.
    product_id
        Per product: its identifier.

    Returns
    -------
    table : dict
        ``product_id, period_end, licensing, services`` (sorted by product, then year).
    owner : numpy.ndarray
        Per row: the product's index in the block.
    """
    years = paths.years
    rep_cols = params.last_reported_year - years[0] + 1
    rev_mask = np.arange(rep_cols)[None, :] >= paths.launch_col[:, None]
    rev_prod, rev_col = np.nonzero(rev_mask)
    rev_total = np.round(np.exp(paths.log_rev[rev_prod, rev_col]))
    rev_lic = np.round(rev_total * paths.licensing_share[rev_prod])
    rev_srv = rev_total - rev_lic
    rev_end = np.array([_day(f"{int(y)}-12-31") for y in years])[rev_col]
    table = {
        "product_id": _take(product_id, rev_prod),
        "period_end": rev_end,
        "licensing": rev_lic,
        "services": rev_srv,
    }
    return table, rev_prod
