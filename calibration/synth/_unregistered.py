"""Listings of unregistered products: no certificate, no product id, never traded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from calibration.synth._asking import asking_prices
from calibration.synth._attributes import draw_size, update_frequency_p
from calibration.synth._draw import _choice, _choice_rows, _day, _logistic
from calibration.synth._params import _COVERAGE, _TITLE_SUFFIX, _TOPICS, _UPDATE_DAYS, Params


@dataclass(frozen=True)
class UnregisteredListings:
    """Listings of unregistered products: no certificate, no product id, never traded.

    Attributes
    ----------
    extra
        Per listing: the index of the block product it is numbered after.
    exchange, mode, sector, category, topic, suffix, coverage
        Indices into the vocabularies.
    records, fields, quality
        Size and a quality score.
    unknown
        ``(m, 3)``: volume, size_bytes, fields shown as unknown.
    update
        Index into ``_UPDATE_LABELS``.
    date
        Listing day.
    asking
        Asking price (0 = none).
    """

    extra: NDArray[np.int64]
    exchange: NDArray[np.int64]
    mode: NDArray[np.int64]
    sector: NDArray[np.int64]
    category: NDArray[np.int64]
    topic: NDArray[np.int64]
    suffix: NDArray[np.int64]
    records: NDArray[np.int64]
    fields: NDArray[np.int64]
    quality: NDArray[np.float64]
    unknown: NDArray[np.bool_]
    update: NDArray[np.int64]
    coverage: NDArray[np.int64]
    date: NDArray[np.int64]
    asking: NDArray[np.float64]


def draw_unregistered(rng: np.random.Generator, params: Params, n: int) -> UnregisteredListings:
    """Draw the listings of unregistered products (on average a fixed share per product).

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
    UnregisteredListings
        The listings and their details.
    """
    t = params.truth
    ls = t["listings"]
    at = t["attributes"]
    qt = t["quality"]
    extra = np.nonzero(rng.random(n) < ls["unregistered_per_product"])[0]
    m = len(extra)
    x_region = _choice(rng, params.region_p, m)
    x_exchange = params.region_exchange[x_region]
    x_mode = _choice_rows(rng, params.exchange_mode_p[x_exchange])
    x_sector = _choice(rng, params.sector_p, m)
    x_category = _choice(rng, params.category_p, m)
    x_topic = rng.integers(0, len(_TOPICS), m)
    x_suffix = rng.integers(0, len(_TITLE_SUFFIX), m)
    x_records, x_fields = draw_size(rng, at, m)
    x_quality = _logistic(qt["center_logit"] + qt["common_sd"] * rng.standard_normal(m))
    x_unknown = rng.random((m, 3)) < params.exchange_unknown[x_exchange]
    _, upd_p = update_frequency_p(at)
    x_update = _choice(rng, upd_p, m)
    x_update[rng.random(m) < params.exchange_no_update[x_exchange]] = len(_UPDATE_DAYS)
    x_coverage = rng.integers(0, len(_COVERAGE), m)
    x_start = _day(ls["unregistered_from"])
    x_date = x_start + np.floor(rng.random(m) * (params.as_of - x_start)).astype(np.int64)
    x_asking = asking_prices(rng, params, x_mode, x_exchange, x_records, x_quality)
    return UnregisteredListings(
        extra=extra,
        exchange=x_exchange,
        mode=x_mode,
        sector=x_sector,
        category=x_category,
        topic=x_topic,
        suffix=x_suffix,
        records=x_records,
        fields=x_fields,
        quality=x_quality,
        unknown=x_unknown,
        update=x_update,
        coverage=x_coverage,
        date=x_date,
        asking=x_asking,
    )
