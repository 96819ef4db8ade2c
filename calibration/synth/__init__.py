"""A synthetic data-product market with known truth.

:func:`generate_market` draws products, revenue histories, licensing deals and exchange trades,
certificate events, exchange listings and pledged loans from explicit ground-truth parameters
(:func:`default_truth`) and writes them, with ``truth.json``, to a folder. ``dpv synth`` is its
command line; ``python -m calibration.synth`` regenerates the bundled sample
(``valuation/data/sample``, 2,000 products, CSV).

Files written (tables as ``.csv`` or ``.parquet``; dates ISO, amounts CNY, rates decimals):

``products.jsonl``
    One Product document (SPEC §4) per line: identity, holder, certificate, attributes with
    the six quality dimensions, cost items, annual revenue.
``products``
    The same products flat, with ``segment`` (``sector/category``), ``region``,
    ``launched_on``, ``listed_on`` and ``exchange`` (empty when not listed).
``product_truth``
    Latent values per product, for checking models: quality score, the product's true
    royalty rate, its hedonic price effect, its economic value at the as-of date, listed,
    number of exchange trades.
``costs``
    ``product_id, item, amount, incurred_on``.
``revenue``
    ``product_id, period_end, licensing, services`` (calendar years up to the last full one).
``deals``
    ``deal_id, product_id, date, price, license, term_months`` (empty for a transfer),
    ``territory, royalty_rate`` (empty when not reported), ``listing_id`` (set for exchange
    trades, empty for over-the-counter licences).
``events``
    ``product_id, date, kind`` (objection, revocation, renewal, lapse, delisting).
``listings``
    ``listing_id, exchange, title, category, price, price_mode, volume, size_bytes, fields,
    update_frequency, coverage, date, product_id`` (empty for listings of unregistered
    products). Price 0 = no price; volume, size_bytes, fields 0 = unknown (as in the source).
``loans``
    ``loan_id, product_id, borrower, amount, start, tenor_months, annual_rate, amortization,
    appraised_value, pledge_rate, annual_pd, outcome, default_date, exposure_at_default,
    recovery`` (recovery as a fraction of the exposure at default).
``truth.json``
    Every parameter under named keys, the ``conventions`` that define them, the ``anchors``
    of their magnitudes, the run record (``generator``), rows per table and summary totals.
"""

from calibration.synth._truth import AS_OF, default_truth, segment_keys
from calibration.synth._write import FORMATS, TABLES, SynthResult, generate_market

__all__ = [
    "AS_OF",
    "FORMATS",
    "TABLES",
    "SynthResult",
    "default_truth",
    "generate_market",
    "segment_keys",
]
