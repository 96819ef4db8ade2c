"""Pricing desk for data exchanges: quote listings with honest bands (``dpv price``).

Read an export (:func:`read_listings`), fit or load the listing model
(:func:`fit_listing_model`, :meth:`valuation.calibration_set.CalibrationSet.listing_model`) and
quote (:func:`quote_listings`); :func:`evaluate_pricing` measures the bands out of sample.
"""

from valuation.pricing.model import ListingPriceModel, fit_listing_model
from valuation.pricing.quote import Quotes, quote_listings
from valuation.pricing.reader import ListingBatch, read_listings

__all__ = [
    "ListingBatch",
    "ListingPriceModel",
    "Quotes",
    "fit_listing_model",
    "quote_listings",
    "read_listings",
]
