"""Deals: over-the-counter licences and exchange trades, their terms and hedonic prices."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from calibration.synth._arrow import _concat, _labels, _pad, _take
from calibration.synth._draw import _choice, _probs, _segment_lookup, _years
from calibration.synth._listings import listing_ids
from calibration.synth._params import LICENSES, TERRITORIES, Params


@dataclass(frozen=True)
class Deals:
    """Deal rows (OTC licences first, then exchange trades, until :func:`sort_deals`).

    Attributes
    ----------
    prod
        Per deal: the product's index in the block.
    day
        Per deal: the deal day.
    license
        Per deal: index into ``LICENSES``.
    term
        Per deal: term in months (meaningless for a transfer).
    is_transfer
        Per deal: the licence is an outright transfer.
    territory
        Per deal: index into ``TERRITORIES`` (``CN`` for exchange trades).
    on_exchange
        Per deal: an exchange trade (else over the counter).
    price
        Per deal: the price (whole CNY, at least 1); empty until :func:`draw_prices`.
    royalty
        Per deal: the royalty rate (4 decimals); empty until royalty rates are drawn.
    royalty_known
        Per deal: the royalty rate is reported.
    """

    prod: NDArray[np.int64]
    day: NDArray[np.int64]
    license: NDArray[np.int64]
    term: NDArray[np.int64]
    is_transfer: NDArray[np.bool_]
    territory: NDArray[np.int64]
    on_exchange: NDArray[np.bool_]
    price: NDArray[np.float64]
    royalty: NDArray[np.float64]
    royalty_known: NDArray[np.bool_]


def draw_deal_terms(
    rng: np.random.Generator,
    params: Params,
    *,
    launched: NDArray[np.int64],
    end_day: NDArray[np.float64],
    listed_on: NDArray[np.int64],
    listing_end: NDArray[np.float64],
    trades: NDArray[np.int64],
) -> Deals:
    """Draw OTC licences (while certified) and place exchange trades; draw their terms.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    launched, end_day
        Per product: launch day and last day of the certificate (the OTC window).
    listed_on, listing_end
        Per product: the listed period (the exchange window).
    trades
        Per product: number of exchange trades.

    Returns
    -------
    Deals
        Products, days, licence, term and territory; prices and royalties still empty.
    """
    dl = params.truth["deals"]
    n = len(launched)
    otc_years = _years(np.maximum(end_day - launched, 0))
    otc = rng.poisson(dl["otc_rate_per_year"] * otc_years)
    deal_prod = np.concatenate([np.repeat(np.arange(n), otc), np.repeat(np.arange(n), trades)])
    n_otc = int(otc.sum())
    n_deals = len(deal_prod)
    on_exchange = np.arange(n_deals) >= n_otc
    w_start = np.where(on_exchange, listed_on[deal_prod], launched[deal_prod]).astype(np.float64)
    w_end = np.where(on_exchange, listing_end[deal_prod], end_day[deal_prod])
    deal_day = np.floor(w_start + rng.random(n_deals) * (w_end - w_start)).astype(np.int64)
    deal_day = np.minimum(deal_day, params.as_of)
    license_ = _choice(rng, _probs(dl["license_shares"], LICENSES), n_deals)
    term_keys = tuple(int(k) for k in dl["term_months_shares"])
    term_p = np.array([dl["term_months_shares"][str(k)] for k in term_keys])
    term = np.array(term_keys)[_choice(rng, term_p, n_deals)]
    is_transfer = license_ == LICENSES.index("transfer")
    territory = _choice(rng, _probs(dl["territory_shares"], TERRITORIES), n_deals)
    territory = np.where(on_exchange, TERRITORIES.index("CN"), territory)
    empty = np.empty(0)
    return Deals(
        prod=deal_prod,
        day=deal_day,
        license=license_,
        term=term,
        is_transfer=is_transfer,
        territory=territory,
        on_exchange=on_exchange,
        price=empty,
        royalty=empty,
        royalty_known=empty.astype(bool),
    )


def draw_prices(
    rng: np.random.Generator,
    params: Params,
    deals: Deals,
    *,
    n_products: int,
    deal_value: NDArray[np.float64],
    life_years: NDArray[np.float64],
) -> tuple[Deals, NDArray[np.float64]]:
    """Draw each product's price effect and price its deals from their economic value.

    A transfer sells the asset for its life at its value; a licence of ``term`` months costs
    ``rights_factor[license] × (term / life)^term_elasticity`` of it (the engine's market
    conventions, ``truth.json["conventions"]["hedonic"]``); then the territory, the product's
    effect and the deal's noise.

    Parameters
    ----------
    rng
        The block's random stream.
    params
        The truth as arrays.
    deals
        The deals (unsorted).
    n_products
        Products in the block.
    deal_value
        Per deal: the product's economic value at the deal date.
    life_years
        Per deal: the product's economic life in years.

    Returns
    -------
    deals : Deals
        The deals with ``price`` set.
    price_effect : numpy.ndarray
        Per product: its latent price effect (log scale).
    """
    hd = params.truth["hedonic"]
    d = deals
    price_effect = hd["product_sd"] * rng.standard_normal(n_products)
    rights = np.log([hd["rights_factor"][k] for k in LICENSES])[d.license]
    term_factor = hd["log_term_months"] * np.log(d.term / (12.0 * life_years))
    with np.errstate(divide="ignore"):
        log_price = (
            np.log(deal_value)
            + np.where(d.is_transfer, 0.0, rights + term_factor)
            + _segment_lookup(hd["territory"], TERRITORIES)[d.territory]
            + price_effect[d.prod]
            + hd["noise_sd"] * rng.standard_normal(len(d.prod))
        )
    deal_price = np.maximum(np.round(np.exp(log_price)), 1.0)
    return replace(deals, price=deal_price), price_effect


def sort_deals(deals: Deals) -> tuple[Deals, NDArray[np.int64]]:
    """Sort deals by product, day and OTC-before-exchange; number them within each product.

    Returns
    -------
    deals : Deals
        The sorted deals.
    rank : numpy.ndarray
        Per deal: its position among the product's deals (from 0).
    """
    d = deals
    srt = np.lexsort((d.on_exchange, d.day, d.prod))
    out = Deals(
        prod=d.prod[srt],
        day=d.day[srt],
        license=d.license[srt],
        term=d.term[srt],
        is_transfer=d.is_transfer[srt],
        territory=d.territory[srt],
        on_exchange=d.on_exchange[srt],
        price=d.price[srt],
        royalty=d.royalty[srt],
        royalty_known=d.royalty_known[srt],
    )
    rank = np.arange(len(out.prod)) - np.searchsorted(out.prod, out.prod, side="left")
    return out, rank


def deals_table(
    deals: Deals, rank: NDArray[np.int64], product_id: pa.Array, index_text: pa.Array
) -> dict[str, Any]:
    """Return the ``deals`` table from sorted deals.

    Parameters
    ----------
    deals, rank
        The sorted deals and their rank within each product (:func:`sort_deals`).
    product_id, index_text
        Per product: its identifier and zero-padded global index.

    Returns
    -------
    dict
        The table's columns.
    """
    d = deals
    return {
        "deal_id": _concat("D", _take(index_text, d.prod), "-", _pad(rank, 3)),
        "product_id": _take(product_id, d.prod),
        "date": d.day,
        "price": d.price,
        "license": _labels(d.license, LICENSES),
        "term_months": (d.term, d.is_transfer),
        "territory": _labels(d.territory, TERRITORIES),
        "royalty_rate": (d.royalty, ~d.royalty_known),
        "listing_id": (_take(listing_ids(index_text), d.prod), ~d.on_exchange),
    }
