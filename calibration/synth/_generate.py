"""Draw one block of the synthetic market: products, revenue, deals, events, listings, loans.

Products are generated in blocks of :data:`STREAM_BLOCK` consecutive products. Block ``b`` of a
market with seed ``s`` draws from its own stream, ``PCG64(SeedSequence(s, spawn_key=(b,)))``, so
a product's history depends only on the seed, the block it falls in and the block's size: the
files do not depend on how many blocks are generated or written together (``chunk_size``).

Everything is vectorised over the products of a block; the only per-row Python is the
formatting of the product JSON documents.

:func:`generate_block` calls one module per process, in a fixed order (the order of the draws
from the block's stream, which fixes the bytes written):

1. :mod:`._population` -- segments, holders, registration and launch;
2. :mod:`._revenue` -- latent revenue paths;
3. :mod:`._attributes` -- size, update frequency, coverage, quality;
4. :mod:`._costs` -- development cost items;
5. :mod:`._certificate` -- objection, revocation, renewal, lapse;
6. :mod:`._listings` (with :mod:`._asking`) -- exchange listings and trades;
7. :mod:`._deals` then :mod:`._royalty` -- OTC licences and exchange trades, prices, royalties;
8. :mod:`._loans` with :mod:`._value` -- loan terms, economic value, pledged loans;
9. :mod:`._unregistered` -- listings of unregistered products;
10. :func:`._certificate.ledger_hashes`, then the tables (no further draws).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calibration.synth._attributes import draw_attributes
from calibration.synth._certificate import draw_certificate, events_table, ledger_hashes
from calibration.synth._costs import costs_table, draw_costs
from calibration.synth._deals import deals_table, draw_deal_terms, draw_prices, sort_deals
from calibration.synth._draw import block_rng
from calibration.synth._jsonl import _product_jsonl
from calibration.synth._listings import draw_listings, listings_table
from calibration.synth._loans import draw_loan_terms, draw_loans, loans_table
from calibration.synth._params import (
    AMORTIZATIONS,
    EVENT_KINDS,
    HOLDER_KINDS,
    LICENSES,
    PRICE_MODES,
    REGIONS,
    STATUSES,
    TERRITORIES,
    Params,
    build_params,
)
from calibration.synth._population import draw_calendar, draw_population
from calibration.synth._products import product_ids, product_truth_table, products_table
from calibration.synth._revenue import draw_revenue_paths, revenue_table
from calibration.synth._royalty import draw_royalty_rates
from calibration.synth._unregistered import draw_unregistered
from calibration.synth._value import economic_value, event_log_shift, value_at_deals
from valuation.schema.product import CATEGORIES

STREAM_BLOCK = 4096
"""Products per random stream (and per written batch at most ``chunk_size``)."""


@dataclass
class Block:
    """The tables of one block: columns as NumPy arrays (dates as day numbers) and JSON lines."""

    products: dict[str, Any]
    product_truth: dict[str, Any]
    costs: dict[str, Any]
    revenue: dict[str, Any]
    deals: dict[str, Any]
    events: dict[str, Any]
    listings: dict[str, Any]
    loans: dict[str, Any]
    jsonl: str
    stats: dict[str, NDArray[Any]]


def generate_block(params: Params, seed: int, block: int, n: int) -> Block:
    """Generate products ``block*STREAM_BLOCK .. +n`` and all their history.

    Parameters
    ----------
    params
        The truth as arrays (:func:`build_params`).
    seed
        The market's seed.
    block
        The block index; the block's first product has global index ``block*STREAM_BLOCK``.
    n
        Products in this block (``STREAM_BLOCK`` except in the last block).

    Returns
    -------
    Block
        The block's tables, product documents and summary arrays.
    """
    rng = block_rng(seed, block)

    # --- draws, in stream order ---------------------------------------------------------------
    pop = draw_population(rng, params, n)
    cal = draw_calendar(rng, params, n)
    paths = draw_revenue_paths(rng, params, pop.category, pop.segment, cal.launch_year)
    attrs = draw_attributes(rng, params, n)
    costs = draw_costs(rng, params, paths.level, cal.launched, attrs.costs_missing)
    cert = draw_certificate(rng, params, cal.announced_end, cal.expires0)
    listings = draw_listings(
        rng, params, cal.announced_end, cert.end_day, pop.region, attrs.records, attrs.quality_score
    )
    deals = draw_deal_terms(
        rng,
        params,
        launched=cal.launched,
        end_day=cert.end_day,
        listed_on=listings.listed_on,
        listing_end=listings.listing_end,
        trades=listings.trades,
    )
    deals, royalty_true = draw_royalty_rates(
        rng, params, deals, category=pop.category, quality_score=attrs.quality_score
    )
    net_growth = params.seg_growth[pop.segment] - params.seg_decay[pop.segment]
    high_tech = pop.holder_high_tech[pop.holder_of]
    deal_value = value_at_deals(
        params.truth,
        deals.prod,
        deals.day,
        log_revenue=paths.log_rev,
        first_year=int(paths.years[0]),
        net_growth=net_growth,
        licensing_share=paths.licensing_share,
        royalty_rate=royalty_true,
        high_tech=high_tech,
        sector=pop.sector,
        category=pop.category,
        expires0=cal.expires0,
        expires=cert.expires,
    )
    life = np.array(
        [params.truth["valuation"]["economic_life_years"][c] for c in CATEGORIES], dtype=float
    )[pop.category]
    deals, price_effect = draw_prices(
        rng, params, deals, n_products=n, deal_value=deal_value, life_years=life[deals.prod]
    )
    deals, deal_rank = sort_deals(deals)
    loan_terms = draw_loan_terms(rng, params, cal.registered)
    hz = params.truth["hazards"]
    first_year = int(paths.years[0])
    log_rev = paths.log_rev + event_log_shift(
        paths.log_rev.shape,
        first_year,
        revoked=cert.revoked,
        revoked_day=cert.t_revocation,
        lapsed=cert.lapsed,
        lapse_day=cal.expires0,
        revoke_keep=1.0 - hz["revocation_loss"],
        lapse_keep=1.0 - hz["lapse_loss"],
    )
    paths = dataclasses.replace(paths, log_rev=log_rev)
    value = economic_value(
        params.truth,
        log_revenue=log_rev,
        first_year=first_year,
        net_growth=net_growth,
        licensing_share=paths.licensing_share,
        royalty_rate=royalty_true,
        high_tech=high_tech,
        sector=pop.sector,
        category=pop.category,
        status=cert.status,
        expires0=cal.expires0,
        expires=cert.expires,
        registered=cal.registered,
        as_of=params.as_of,
        appraisal_day=loan_terms.start,
    )
    loans = draw_loans(
        rng,
        params,
        loan_terms,
        appraised=value.appraised,
        launched=cal.launched,
        end_day=cert.end_day,
    )
    unreg = draw_unregistered(rng, params, n)
    ledger_hash = ledger_hashes(rng, n)

    # --- assemble: strings are built by Arrow kernels, never row by row in Python ------------
    ids = product_ids(pop, cal.registered, listings.topic, block=block, first=block * STREAM_BLOCK)
    pid = ids.product_id
    products = products_table(params, ids, pop, cal, attrs, cert, listings)
    product_truth = product_truth_table(
        ids,
        quality_score=attrs.quality_score,
        royalty_rate=royalty_true,
        price_effect=price_effect,
        economic_value=value.economic_value,
        listed=listings.listed,
        trades=listings.trades,
    )
    cost_rows = costs_table(costs, pid)
    revenue, rev_prod = revenue_table(params, paths, pid)
    listing_rows = listings_table(
        params,
        listings,
        unreg,
        sector=pop.sector,
        records=attrs.records,
        fields=attrs.fields,
        update_days=attrs.update_days,
        name=ids.name,
        product_id=pid,
        index_text=ids.index_text,
    )
    loan_rows = loans_table(
        loans,
        loan_terms,
        value.appraised,
        product_id=pid,
        holder_id=ids.holder_id,
        index_text=ids.index_text,
    )
    li = np.nonzero(listings.listed)[0]
    loan_idx = np.nonzero(loans.pledged)[0]
    stats = {
        "status": cert.status,
        "listing_mode": np.concatenate([listings.mode[li], unreg.mode]),
        "listing_price": np.concatenate([listings.asking[li], unreg.asking]),
        "loan_defaulted": loans.defaulted[loan_idx],
        "loan_amount": loans.amount[loan_idx],
    }
    jsonl = _product_jsonl(
        products=products,
        ledger_hash=ledger_hash,
        quality=attrs.quality,
        costs=cost_rows,
        cost_prod=costs.prod,
        revenue=revenue,
        rev_prod=rev_prod,
    )
    return Block(
        products=products,
        product_truth=product_truth,
        costs=cost_rows,
        revenue=revenue,
        deals=deals_table(deals, deal_rank, pid, ids.index_text),
        events=events_table(cert, cal.expires0, listings.delisted, listings.t_delist, pid),
        listings=listing_rows,
        loans=loan_rows,
        jsonl=jsonl,
        stats=stats,
    )


__all__ = [
    "STREAM_BLOCK",
    "Block",
    "Params",
    "block_rng",
    "build_params",
    "generate_block",
    "REGIONS",
    "HOLDER_KINDS",
    "LICENSES",
    "TERRITORIES",
    "PRICE_MODES",
    "EVENT_KINDS",
    "AMORTIZATIONS",
    "STATUSES",
]
