"""Product identifiers and the ``products`` and ``product_truth`` tables."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from calibration.synth._arrow import _concat, _labels, _pad, _text
from calibration.synth._attributes import Attributes
from calibration.synth._certificate import CertificateHistory
from calibration.synth._draw import _year_of
from calibration.synth._listings import Listings
from calibration.synth._params import (
    _CATEGORY_CODE,
    _FORM_CN,
    _REGION_CODE,
    _SECTOR_CN,
    _TOPICS,
    HOLDER_KINDS,
    REGIONS,
    STATUSES,
    Params,
)
from calibration.synth._population import Calendar, Population
from valuation.schema.product import CATEGORIES, QUALITY_DIMENSIONS, SECTORS


@dataclass(frozen=True)
class ProductIds:
    """Per product: the text identifiers shared by the tables.

    Attributes
    ----------
    index_text
        The global product index, zero-padded to 7 digits.
    product_id, certificate_number, holder_id, name
        Identifier, certificate number, holder's credit code and display name.
    segment_names
        ``sector/category``.
    """

    index_text: pa.Array
    product_id: pa.Array
    certificate_number: pa.Array
    holder_id: pa.Array
    name: pa.Array
    segment_names: pa.Array


def product_ids(
    pop: Population,
    registered: NDArray[np.int64],
    topic: NDArray[np.int64],
    *,
    block: int,
    first: int,
) -> ProductIds:
    """Build the products' identifiers and names.

    Parameters
    ----------
    pop
        Segments and holders.
    registered
        Per product: registration day (its year enters the identifiers).
    topic
        Per product: index into ``_TOPICS`` (part of the name).
    block, first
        The block index and the global index of its first product.

    Returns
    -------
    ProductIds
        The identifiers.
    """
    n = len(registered)
    region_names = _labels(pop.region, REGIONS)
    year_text = _text(_year_of(registered))
    index_text = _pad(np.arange(first, first + n, dtype=np.int64), 7)
    cat_code = _labels(pop.category, [_CATEGORY_CODE[c] for c in CATEGORIES])
    holder_pool = _concat(
        "91",
        _labels(pop.holder_region, [_REGION_CODE[r] for r in REGIONS]),
        f"{block:06d}",
        _pad(np.arange(pop.n_holders), 6),
    )
    return ProductIds(
        index_text=index_text,
        product_id=_concat(region_names, "-", cat_code, "-", year_text, "-", index_text),
        certificate_number=_concat(region_names, "DIP-", year_text, "-", index_text),
        holder_id=holder_pool.take(pa.array(pop.holder_of)),
        name=_concat(
            _labels(pop.sector, [_SECTOR_CN[x] for x in SECTORS]),
            _labels(topic, _TOPICS),
            _labels(pop.category, [_FORM_CN[c] for c in CATEGORIES]),
        ),
        segment_names=_labels(pop.segment, [f"{x}/{c}" for x in SECTORS for c in CATEGORIES]),
    )


def products_table(
    params: Params,
    ids: ProductIds,
    pop: Population,
    cal: Calendar,
    attrs: Attributes,
    cert: CertificateHistory,
    listings: Listings,
) -> dict[str, Any]:
    """Return the flat ``products`` table (the product documents plus segment and listing).

    Parameters
    ----------
    params
        The truth as arrays.
    ids
        The identifiers.
    pop, cal, attrs, cert, listings
        The products' segments and holders, dates, attributes, certificates and listings.

    Returns
    -------
    dict
        The table's columns; ``(values, missing)`` pairs for nullable ones.
    """
    listed = listings.listed
    return {
        "product_id": ids.product_id,
        "name": ids.name,
        "category": _labels(pop.category, CATEGORIES),
        "sector": _labels(pop.sector, SECTORS),
        "segment": ids.segment_names,
        "region": _labels(pop.region, REGIONS),
        "holder_id": ids.holder_id,
        "holder_kind": _labels(pop.holder_kind[pop.holder_of], HOLDER_KINDS),
        "high_tech": pop.holder_high_tech[pop.holder_of],
        "certificate_number": ids.certificate_number,
        "registered_on": cal.registered,
        "expires_on": cert.expires,
        "status": _labels(cert.status, STATUSES),
        "launched_on": cal.launched,
        "records": (attrs.records, attrs.records_missing),
        "fields": (attrs.fields, attrs.fields_missing),
        "update_frequency_days": attrs.update_days,
        "coverage_years": attrs.coverage_years,
        **{
            f"quality_{q}": (attrs.quality[:, j], attrs.quality_missing)
            for j, q in enumerate(QUALITY_DIMENSIONS)
        },
        "listed_on": (listings.listed_on, ~listed),
        "exchange": (_labels(listings.exchange, params.exchange_names), ~listed),
    }


def product_truth_table(
    ids: ProductIds,
    *,
    quality_score: NDArray[np.float64],
    royalty_rate: NDArray[np.float64],
    price_effect: NDArray[np.float64],
    economic_value: NDArray[np.float64],
    listed: NDArray[np.bool_],
    trades: NDArray[np.int64],
) -> dict[str, Any]:
    """Return the ``product_truth`` table: the latent values per product."""
    return {
        "product_id": ids.product_id,
        "segment": ids.segment_names,
        "quality_score": np.round(quality_score, 6),
        "royalty_rate": np.round(royalty_rate, 6),
        "price_effect": np.round(price_effect, 6),
        "economic_value": np.round(economic_value),
        "listed": listed,
        "trades": trades,
    }
