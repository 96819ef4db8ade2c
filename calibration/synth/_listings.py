"""Exchange listings of registered products, and the listings table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from calibration.synth._arrow import _cat_arrays, _concat, _labels, _take
from calibration.synth._asking import asking_prices
from calibration.synth._draw import _choice_rows, _exp_days, _years
from calibration.synth._params import (
    _COVERAGE,
    _FORM_CN,
    _LISTING_CATEGORY,
    _SECTOR_CN,
    _TITLE_SUFFIX,
    _TOPICS,
    _UPDATE_DAYS,
    _UPDATE_LABELS,
    PRICE_MODES,
    Params,
)
from calibration.synth._unregistered import UnregisteredListings
from valuation.schema.product import CATEGORIES, SECTORS


@dataclass(frozen=True)
class Listings:
    """Per product: its exchange listing (drawn for every product, used where ``listed``).

    Attributes
    ----------
    listed_on, listed
        Listing day and whether the product is listed (by the as-of date, while certified).
    t_delist, delisted, listing_end
        Potential delisting day, whether it happened, and the end of the listed period.
    exchange, mode
        Indices into ``params.exchange_names`` and ``PRICE_MODES``.
    unknown
        ``(n, 3)``: volume, size_bytes, fields shown as unknown.
    no_update
        The listing gives no update frequency.
    asking
        Asking price (0 = none).
    trades
        Number of exchange trades while listed.
    title_suffix, topic, coverage_pick
        Indices into ``_TITLE_SUFFIX``, ``_TOPICS`` (also the product's name) and ``_COVERAGE``.
    """

    listed_on: NDArray[np.int64]
    listed: NDArray[np.bool_]
    t_delist: NDArray[np.float64]
    delisted: NDArray[np.bool_]
    listing_end: NDArray[np.float64]
    exchange: NDArray[np.int64]
    mode: NDArray[np.int64]
    unknown: NDArray[np.bool_]
    no_update: NDArray[np.bool_]
    asking: NDArray[np.float64]
    trades: NDArray[np.int64]
    title_suffix: NDArray[np.int64]
    topic: NDArray[np.int64]
    coverage_pick: NDArray[np.int64]


def draw_listings(
    rng: np.random.Generator,
    params: Params,
    announced_end: NDArray[np.int64],
    end_day: NDArray[np.float64],
    region: NDArray[np.int64],
    records: NDArray[np.int64],
    quality_score: NDArray[np.float64],
) -> Listings:
    """Draw each product's listing, delisting, listing details and number of trades.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    announced_end
        Per product: end of the announcement period (listing follows it).
    end_day
        Per product: last day of the certificate.
    region
        Per product: its holder's region (which picks the exchange).
    records, quality_score
        Per product: size and quality (asking prices depend on them).

    Returns
    -------
    Listings
        The listing of every product (meaningful where ``listed``).
    """
    ls = params.truth["listings"]
    hz = params.truth["hazards"]
    as_of = params.as_of
    n = len(announced_end)
    listed_on = announced_end + np.floor(rng.exponential(ls["listing_delay_days_mean"], n)).astype(
        np.int64
    )
    listed = (rng.random(n) < ls["listed_share"]) & (listed_on <= as_of) & (listed_on < end_day)
    t_delist = listed_on + _exp_days(rng, hz["delisting"], n)
    delisted = listed & (t_delist <= as_of)
    listing_end = np.where(delisted, t_delist, float(as_of))
    exchange = params.region_exchange[region]
    mode = _choice_rows(rng, params.exchange_mode_p[exchange])
    unknown = rng.random((n, 3)) < params.exchange_unknown[exchange]
    no_update = rng.random(n) < params.exchange_no_update[exchange]
    asking = asking_prices(rng, params, mode, exchange, records, quality_score)
    listed_years = _years(np.maximum(listing_end - listed_on, 0.0))
    trades = rng.poisson(ls["trade_rate_per_year"] * listed_years)
    trades = np.where(listed, trades, 0)
    title_suffix = rng.integers(0, len(_TITLE_SUFFIX), n)
    topic = rng.integers(0, len(_TOPICS), n)
    coverage_pick = rng.integers(0, len(_COVERAGE), n)
    return Listings(
        listed_on=listed_on,
        listed=listed,
        t_delist=t_delist,
        delisted=delisted,
        listing_end=listing_end,
        exchange=exchange,
        mode=mode,
        unknown=unknown,
        no_update=no_update,
        asking=asking,
        trades=trades,
        title_suffix=title_suffix,
        topic=topic,
        coverage_pick=coverage_pick,
    )


def listing_ids(index_text: pa.Array) -> pa.Array:
    """Return the listing identifiers of registered products (``L`` + padded index)."""
    return _concat("L", index_text)


def _size_bytes(records: NDArray[np.int64], fields: NDArray[np.int64]) -> NDArray[np.float64]:
    return np.exp2(np.round(np.log2(np.maximum(records * fields * 16.0, 1024.0))))


def listings_table(
    params: Params,
    reg: Listings,
    unreg: UnregisteredListings,
    *,
    sector: NDArray[np.int64],
    records: NDArray[np.int64],
    fields: NDArray[np.int64],
    update_days: NDArray[np.int64],
    name: pa.Array,
    product_id: pa.Array,
    index_text: pa.Array,
) -> dict[str, Any]:
    """Return the ``listings`` table: listed registered products, then unregistered listings.

    Parameters
    ----------
    params
        The truth as arrays.
    reg, unreg
        Listings of registered and of unregistered products.
    sector, records, fields, update_days
        Per product: sector index, size and update interval.
    name, product_id, index_text
        Per product: name, identifier and zero-padded global index.

    Returns
    -------
    dict
        The table's columns.
    """
    li = np.nonzero(reg.listed)[0]
    x = unreg
    size_bytes = _size_bytes(records, fields).astype(np.int64)
    update_label = np.searchsorted(np.array(_UPDATE_DAYS), update_days)
    update_label[reg.no_update] = len(_UPDATE_DAYS)
    x_size = _size_bytes(x.records, x.fields)
    x_title = _concat(
        _labels(x.sector, [_SECTOR_CN[s] for s in SECTORS]),
        _labels(x.topic, _TOPICS),
        _labels(x.category, [_FORM_CN[c] for c in CATEGORIES]),
        _labels(x.suffix, _TITLE_SUFFIX),
    )
    unknown = reg.unknown
    return {
        "listing_id": _cat_arrays(
            _take(listing_ids(index_text), li), _concat("LU", _take(index_text, x.extra))
        ),
        "exchange": _labels(np.concatenate([reg.exchange[li], x.exchange]), params.exchange_names),
        "title": _cat_arrays(
            _concat(_take(name, li), _labels(reg.title_suffix[li], _TITLE_SUFFIX)), x_title
        ),
        "category": _labels(
            np.concatenate([sector[li], x.sector]), [_LISTING_CATEGORY[s] for s in SECTORS]
        ),
        "price": np.concatenate([reg.asking[li], x.asking]),
        "price_mode": _labels(np.concatenate([reg.mode[li], x.mode]), PRICE_MODES),
        "volume": np.concatenate(
            [np.where(unknown[li, 0], 0, records[li]), np.where(x.unknown[:, 0], 0, x.records)]
        ),
        "size_bytes": np.concatenate(
            [
                np.where(unknown[li, 1], 0, size_bytes[li]),
                np.where(x.unknown[:, 1], 0, x_size).astype(np.int64),
            ]
        ),
        "fields": np.concatenate(
            [np.where(unknown[li, 2], 0, fields[li]), np.where(x.unknown[:, 2], 0, x.fields)]
        ),
        "update_frequency": _labels(np.concatenate([update_label[li], x.update]), _UPDATE_LABELS),
        "coverage": _labels(np.concatenate([reg.coverage_pick[li], x.coverage]), _COVERAGE),
        "date": np.concatenate([reg.listed_on[li], x.date]),
        "product_id": _cat_arrays(_take(product_id, li), pa.nulls(len(x.extra), pa.string())),
    }
