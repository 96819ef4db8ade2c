"""Placeholder prices and mislabelled price modes, found by the data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from models._placeholders import DEFAULT_ALPHA, find_mass_points, rounding_cell
from valuation.pricing.model import placeholder_flags
from valuation.pricing.modes import per_call_medians, relabel_price_modes
from valuation.pricing.reader import batch_from_rows, read_listings

DATA = Path(__file__).resolve().parents[1] / "data" / "exchange-listings"


def _written(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Prices as sellers write them: 2 or 3 significant digits."""
    digits = rng.integers(2, 4, x.size)
    unit = 10.0 ** (np.floor(np.log10(x)) - digits + 1)
    return np.round(np.round(x / unit) * unit, 10)


def test_rounding_cell_is_the_written_precision():
    assert rounding_cell(5000.0) == (4500.0, 5500.0)
    assert rounding_cell(12816.0) == (12815.5, 12816.5)
    lo, hi = rounding_cell(0.3)
    assert math.isclose(lo, 0.25) and math.isclose(hi, 0.35)


def test_false_alarm_rate_and_recall_on_synthetic_exports():
    # 300 groups of continuous (log-normal) prices written at 2-3 significant digits: under
    # this null the family-wise false-alarm rate per group is at most alpha = 1%; then the same
    # groups with one planted mass point at a price drawn from the group (5%-40% of listings)
    rng = np.random.default_rng(20261204)
    groups, false_alarms, found, flagged_extra = 300, 0, 0, 0
    for _ in range(groups):
        n = int(rng.integers(30, 400))
        mu, sd = rng.normal(5.0, 3.0), rng.uniform(0.8, 2.5)
        prices = _written(np.exp(rng.normal(mu, sd, n)), rng)
        false_alarms += bool(find_mass_points(prices))
        k = max(3, int(rng.uniform(0.05, 0.4) * n))
        planted = _written(np.exp(rng.normal(mu, sd, 1)), rng)[0]
        prices[:k] = planted
        points = [p.price for p in find_mass_points(prices)]
        found += planted in points
        flagged_extra += len([p for p in points if p != planted])
    # 300 null groups at alpha=1%: 3 expected at most; 9 is beyond the binomial 99.9% quantile
    assert false_alarms <= 9, false_alarms
    assert found / groups >= 0.9, found / groups
    assert flagged_extra <= 9
    assert DEFAULT_ALPHA == 0.01


def test_placeholders_of_the_shipped_files_recall_and_false_alarms():
    batch, _ = read_listings(DATA)
    flags, points = placeholder_flags(batch)
    known = {"Zhejiang Big Data Exchange|one-off": [1000.0, 5000.0]}
    # recall: both known placeholder points, every listing at them
    for key, prices in known.items():
        assert set(prices) <= set(points[key])
    zj = (batch.exchange == "Zhejiang Big Data Exchange") & (batch.price_mode == "one-off")
    at_known = zj & np.isin(batch.price, [1000.0, 5000.0])
    assert at_known.sum() == 419 and flags[at_known].all()
    # false alarms against the known list: 4 other points (per-call product families) among
    # the distinct prices tested
    others = {(k, p) for k, ps in points.items() for p in ps} - {
        (k, p) for k, ps in known.items() for p in ps
    }
    assert len(others) == 4
    assert int(flags.sum()) == 419 + 17 + 15 + 8 + 8


def test_per_call_package_prices_are_relabelled_with_reasons():
    batch, _ = read_listings(DATA / "zhejiang.csv")
    ref = per_call_medians(batch.exchange, batch.price_mode, batch.price)
    out = relabel_price_modes(
        batch.exchange,
        batch.price_mode,
        batch.price,
        batch.title,
        batch.description,
        batch.price_text,
        ref,
    )
    assert sorted(batch.price[out.relabelled].tolist()) == [
        1000.0,
        1000.0,
        1000.0,
        2000.0,
        150000.0,
    ]
    assert set(out.price_mode[out.relabelled]) == {"one-off"}
    assert all(
        "orders of magnitude above its exchange's median" in r for r in out.reason[out.relabelled]
    )


@pytest.mark.parametrize(
    ("title", "relabelled"),
    [
        ("企业风险数据包年服务", True),
        ("carrier data annual package", True),
        ("企业风险评分", False),
    ],
)
def test_text_saying_package_or_year_relabels(title, relabelled):
    row = {"exchange": "X", "price": "3", "price_mode": "usage-based", "title": title}
    batch = batch_from_rows([(2, row)])
    out = relabel_price_modes(
        batch.exchange,
        batch.price_mode,
        batch.price,
        batch.title,
        batch.description,
        batch.price_text,
        {"": 3.0},
    )
    assert bool(out.relabelled[0]) is relabelled
    if relabelled:
        assert "package price" in out.reason[0]


def test_token_one_off_prices_are_flagged_and_not_trained_on():
    from valuation.pricing.model import training_rows
    from valuation.pricing.modes import one_off_medians, token_prices

    batch, _ = read_listings(DATA / "zhejiang.csv")
    fit, relabel, _not_evidence, medians = training_rows(batch)
    placeholder, _ = placeholder_flags(batch)
    evidence = (batch.price > 0) & ~placeholder
    assert medians == one_off_medians(
        batch.exchange[evidence], relabel.price_mode[evidence], batch.price[evidence]
    )
    assert 3000.0 <= medians["Zhejiang Big Data Exchange"] <= 10000.0
    token, reason = token_prices(batch.exchange, relabel.price_mode, batch.price, medians)
    assert sorted(batch.price[token].tolist()) == [0.01, 0.02]
    assert all("orders of magnitude below" in r for r in reason[token])
    assert not fit[token].any()
