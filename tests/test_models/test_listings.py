"""Real exchange listings (DaDaDa): loader, placeholder detection, honest evaluation."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from models._listings import (
    MONOTONE_FEATURES,
    evaluate_listings,
    is_placeholder_price,
    listing_features,
    load_listings,
)
from models.exceptions import DataError

DATA = Path(__file__).resolve().parents[1] / "data" / "exchange-listings"
COVERAGE = 0.8


@pytest.fixture(scope="module")
def listings():
    return load_listings(DATA)


def test_loader_reads_every_exchange(listings):
    # counts of the committed files (see tests/data/exchange-listings/README.md)
    assert len(listings) == 714 + 792 + 447 + 512
    assert set(listings.exchange) == {
        "Beijing International Data Exchange",
        "Canton Data Exchange",
        "Shanghai Data Exchange",
        "Zhejiang Big Data Exchange",
    }
    priced = listings.subset(listings.priced)
    assert len(priced) == 726
    assert not np.any(priced.exchange == "Shanghai Data Exchange")  # all negotiation
    # 0 means unknown, never a size
    assert not np.any(listings.size_bytes == 0) and np.isnan(listings.size_bytes).any()


def test_placeholders_found_by_the_data_are_zhejiangs_one_off_defaults(listings):
    placeholder = listings.placeholder
    zhejiang = listings.exchange == "Zhejiang Big Data Exchange"
    one_off = listings.priced & (listings.price_mode == "one-off")
    # recall on the known placeholders: every Zhejiang one-off listing at 1000 or 5000
    known = zhejiang & one_off & np.isin(listings.price, [1000.0, 5000.0])
    assert known.sum() == 419 and np.all(placeholder[known])
    assert placeholder[zhejiang & one_off].mean() > 0.9  # the data README's claim
    # one Beijing one-off listing asks exactly 1000: six one-off prices are no evidence of a
    # default there, so it is not flagged
    beijing_1000 = one_off & (listings.price == 1000.0) & ~zhejiang
    assert beijing_1000.sum() == 1 and not placeholder[beijing_1000].any()
    # every other flagged point, with its count: per-call product families at one price
    others = placeholder & ~known
    keys = sorted(
        {
            (str(e)[:7], str(m), float(p))
            for e, m, p in zip(
                listings.exchange[others],
                listings.price_mode[others],
                listings.price[others],
                strict=True,
            )
        }
    )
    assert keys == [
        ("Beijing", "usage-based", 0.15),
        ("Zhejian", "usage-based", 0.3),
        ("Zhejian", "usage-based", 0.5),
        ("Zhejian", "usage-based", 5.0),
    ]
    assert others.sum() == 17 + 15 + 8 + 8
    # one provider's price list (Beijing's 60 listings at 0.09, one seller) is not a default
    at_009 = listings.priced & (listings.price == 0.09)
    assert at_009.sum() == 60 and not placeholder[at_009].any()
    # a per-call price of 1000 is not a one-off placeholder: the group decides
    flags = is_placeholder_price(
        np.array([1000.0] * 3),
        np.array(["Zhejiang Big Data Exchange"] * 3),
        np.array(["usage-based"] * 3),
    )
    assert not flags.any()


def test_features_are_numeric_with_nan_for_unknown(listings):
    features = listing_features(listings)
    assert features.X.shape == (len(listings), len(features.names))
    assert [features.names[i] for i in features.monotone_increasing] == list(MONOTONE_FEATURES)
    assert "exchange" not in " ".join(features.names)
    assert np.all(np.isfinite(features.X) | np.isnan(features.X))


def test_missing_columns_are_named(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("title,price\nx,1\n", encoding="utf-8")
    with pytest.raises(DataError, match="missing columns"):
        load_listings(bad)


def test_prices_in_another_currency_are_refused(tmp_path):
    source = (DATA / "guangzhou.csv").read_text(encoding="utf-8").splitlines()
    header = source[0].split(",")
    assert "currency" in header
    other = tmp_path / "usd.csv"
    other.write_text("\n".join([source[0], source[1].replace(",RMB,", ",USD,")]), "utf-8")
    with pytest.raises(DataError, match="line 2: currency 'USD' is not yuan"):
        load_listings(other)


@pytest.fixture(scope="module")
def kfold(listings):
    return evaluate_listings(listings, scheme="K-fold", coverage=COVERAGE, random_state=0)


def _tolerance(n: int, n_cal: int) -> float:
    # 4 binomial s.e. of the test points plus the calibration split's own s.e.
    return 4 * math.sqrt(COVERAGE * (1 - COVERAGE) * (1 / n + 1 / n_cal))


def test_band_coverage_holds_out_of_sample_without_and_with_placeholders(kfold):
    assert kfold.n_fit_rows == 259 and kfold.n_placeholders == 467
    n_cal = round(0.25 * 207)  # each fold fits on about 207 rows, a quarter calibrates
    without, with_ = kfold.model_without, kfold.model_with
    assert abs(without.coverage - COVERAGE) < _tolerance(without.n, n_cal)
    assert abs(with_.coverage - COVERAGE) < _tolerance(with_.n, n_cal)
    # the band does not 'cover' by sitting on the placeholder prices
    assert with_.strictly_inside > with_.coverage - 0.02
    # honest R²: price mode explains most of log price; beyond it, little (data README: 0-0.25)
    assert -0.1 < kfold.r2_within_mode < 0.3


def test_naive_band_covers_by_touching_tied_prices(kfold):
    # per-category empirical quantiles land on the repeated asking prices: closed-band coverage
    # looks nominal, strictly-inside coverage does not
    assert kfold.naive_without.strictly_inside < kfold.naive_without.coverage - 0.15


def test_grouped_scheme_holds_out_each_priced_exchange(listings):
    grouped = evaluate_listings(listings, coverage=COVERAGE, random_state=0)
    assert grouped.scheme == "grouped by exchange"  # the default: several exchanges priced
    names = [name for name, _, _ in grouped.per_fold]
    assert names == [
        "Beijing International Data Exchange",
        "Canton Data Exchange",
        "Zhejiang Big Data Exchange",
    ]
    # a held-out exchange's listings never enter its fit, placeholders never enter any fit
    assert [n_fit for _, n_fit, _ in grouped.per_fold] == [259 - 185, 259 - 14, 259 - 60]
    assert grouped.model_with.n == 726
