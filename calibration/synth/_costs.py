"""Development cost items: how many, which kinds, how much and when, per product."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from calibration.synth._arrow import _labels, _take
from calibration.synth._params import Params
from valuation.schema.product import COST_ITEMS


@dataclass(frozen=True)
class CostItems:
    """Cost item rows, sorted by product, day and kind.

    Attributes
    ----------
    prod
        Per row: the product's index in the block.
    kind
        Per row: index into ``COST_ITEMS``.
    amount
        Per row: the amount (whole CNY).
    day
        Per row: the day it was incurred.
    """

    prod: NDArray[np.int64]
    kind: NDArray[np.int64]
    amount: NDArray[np.int64]
    day: NDArray[np.int64]


def draw_costs(
    rng: np.random.Generator,
    params: Params,
    level: NDArray[np.float64],
    launched: NDArray[np.int64],
    costs_missing: NDArray[np.bool_],
) -> CostItems:
    """Draw each product's cost items: distinct kinds, a total tied to revenue, split by shares.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    level
        Per product: log revenue of the first revenue year (the total cost scales with it).
    launched
        Per product: launch day (costs fall in the two years before it).
    costs_missing
        Per product: no cost items at all.

    Returns
    -------
    CostItems
        The rows, sorted by product, day and kind.
    """
    ct = params.truth["costs"]
    n = len(level)
    n_items = rng.integers(int(ct["items_min"]), int(ct["items_max"]) + 1, n)
    n_items = np.where(costs_missing, 0, n_items)
    gumbel = np.log(params.cost_weights)[None, :] + rng.gumbel(size=(n, len(COST_ITEMS)))
    order = np.argsort(-gumbel, axis=1, kind="stable")
    take = np.arange(len(COST_ITEMS))[None, :] < n_items[:, None]
    total_cost = np.exp(
        level + ct["total_to_revenue_log_median"] + ct["total_log_sd"] * rng.standard_normal(n)
    )
    share_raw = rng.gamma(1.0, 1.0, (n, len(COST_ITEMS))) * take
    share = share_raw / np.maximum(share_raw.sum(axis=1, keepdims=True), 1e-300)
    cost_day_raw = launched[:, None] - np.floor(rng.random((n, len(COST_ITEMS))) * 730).astype(
        np.int64
    )
    cost_prod = np.repeat(np.arange(n), n_items)
    # `take` is a prefix mask per row: the j-th item of product i is the kind order[i, j].
    cost_kind = order[take]
    cost_amount = np.round(total_cost[cost_prod] * share[take]).astype(np.int64)
    cost_day = cost_day_raw[take]
    srt = np.lexsort((cost_kind, cost_day, cost_prod))
    return CostItems(
        prod=cost_prod[srt], kind=cost_kind[srt], amount=cost_amount[srt], day=cost_day[srt]
    )


def costs_table(costs: CostItems, product_id: pa.Array) -> dict[str, Any]:
    """Return the ``costs`` table: ``product_id, item, amount, incurred_on``."""
    return {
        "product_id": _take(product_id, costs.prod),
        "item": _labels(costs.kind, COST_ITEMS),
        "amount": costs.amount.astype(np.float64),
        "incurred_on": costs.day,
    }
