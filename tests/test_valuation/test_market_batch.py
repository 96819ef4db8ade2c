"""The market method values a batch exactly as it values each product alone.

The nearest-deal search is one query per group of products sharing a candidate pool and the
hedonic adjustments one prediction per batch; every product must still get the deals, the
order and the bits of its own per-product search (``dpv value`` of one product and ``dpv
revalue`` of a book give the same rows).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from valuation.calibration_set import load_calibration
from valuation.defaults import parameters
from valuation.methods.market_model import (
    MarketModel,
    feature_row,
    history_factors,
    market_estimates,
    model_feature_names,
    select_comparables,
    select_many,
)
from valuation.schema.product import Product

SAMPLE = Path(__file__).resolve().parents[2] / "valuation" / "data" / "sample" / "products.jsonl"
AS_OF = dt.date(2026, 6, 30)
COPIES = 1


@pytest.fixture(scope="module")
def market() -> MarketModel:
    model = load_calibration().market_model()
    assert isinstance(model, MarketModel) and model.deals is not None
    return model


@pytest.fixture(scope="module")
def params() -> dict:
    return parameters(dict(load_calibration().valuation_overrides))


@pytest.fixture(scope="module")
def book() -> list[Product]:
    """The sample's products, then copies of them under new ids (none of their own deals in
    the table, so they share candidate pools and are searched together, some groups with more
    products than candidate deals)."""
    with SAMPLE.open(encoding="utf-8") as handle:
        originals = [Product.model_validate_json(line) for line in handle]
    copies = [
        p.model_copy(update={"product_id": f"{p.product_id}-C{c}"})
        for c in range(1, COPIES + 1)
        for p in originals
    ]
    return originals + copies


def test_batched_selection_is_each_products_own(
    market: MarketModel, params: dict, book: list[Product]
) -> None:
    names = model_feature_names(market.hedonic)
    weights, life = params["quality_weights"], params["economic_life_years"]
    subjects = np.array([feature_row(p, AS_OF, names, weights, life) for p in book])
    batched = select_many(market, book, subjects, AS_OF, names)
    ties = 0
    for product, subject, got in zip(book, subjects, batched, strict=True):
        alone = select_comparables(market, product, subject, AS_OF, names)
        assert got[0] == alone[0], product.product_id
        assert got[1].tobytes() == alone[1].tobytes(), product.product_id
        assert got[2:] == alone[2:], product.product_id
        ties += int(np.any(np.diff(got[1]) == 0.0))
    # the book has deals at equal distance, whose order the search must keep
    assert ties > 0


def test_batched_estimates_are_each_products_own(
    market: MarketModel, params: dict, book: list[Product]
) -> None:
    weights, life = params["quality_weights"], params["economic_life_years"]
    batched = market_estimates(market, book, AS_OF, weights, life)
    sources = {e.source for e in batched}
    assert {"history", "model"} <= sources
    for product, got in list(zip(book, batched, strict=True))[::7]:
        (alone,) = market_estimates(market, [product], AS_OF, weights, life)
        # repr writes every float exactly (and NaN equal to itself)
        assert repr(got) == repr(alone), product.product_id


def test_history_factors_are_the_hedonic_models_own(
    market: MarketModel, params: dict, book: list[Product]
) -> None:
    """The batch's factors (deal paths computed once, only the moved trees walked) equal the
    hedonic model's ``adjustment_factors``, which predicts every moved row with LightGBM."""
    names = model_feature_names(market.hedonic)
    weights, life = params["quality_weights"], params["economic_life_years"]
    subjects = np.array([feature_row(p, AS_OF, names, weights, life) for p in book])
    selections = select_many(market, book, subjects, AS_OF, names)
    chosen = [j for j, s in enumerate(selections) if s[3] is None]
    assert len(chosen) > 20
    rows = [selections[j][0] for j in chosen]
    got = history_factors(market, subjects[chosen], rows, names)
    assert market.deals is not None
    order = [market.deals.feature_names.index(n) for n in names]
    for j, r, factors in zip(chosen, rows, got, strict=True):
        comparables = market.deals.features[np.ix_(r, order)]
        expected = market.hedonic.adjustment_factors(subjects[j], comparables)
        assert factors.tobytes() == np.asarray(expected).tobytes(), book[j].product_id
