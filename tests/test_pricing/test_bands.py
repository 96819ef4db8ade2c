"""Listing bands out of sample: coverage where claimed, out_of_distribution where not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from valuation.calibration_set import load_calibration
from valuation.exceptions import CalibrationError
from valuation.pricing import fit_listing_model, quote_listings, read_listings
from valuation.pricing.evaluate import binomial_interval, evaluate_pricing
from valuation.pricing.model import ListingPriceModel, conformal_band

DATA = Path(__file__).resolve().parents[1] / "data" / "exchange-listings"


@pytest.fixture(scope="module")
def batch():
    return read_listings(DATA)[0]


def test_conformal_ranks_match_the_split_conformal_formula():
    # n = 19, 80 %: lower rank floor(20 * 0.1) = 2, upper rank ceil(20 * 0.9) = 18
    assert conformal_band(np.arange(19.0)) == (1.0, 9.0, 17.0)
    # exchangeable scores: the band covers a new draw at least 80 % of the time
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(2000):
        r = rng.standard_t(3, 30)
        lo, _, hi = conformal_band(r[:29])
        hits += lo <= r[29] <= hi
    assert 0.80 - 4 * np.sqrt(0.16 / 2000) < hits / 2000 < 0.80 + 1 / 30 + 4 * np.sqrt(0.16 / 2000)


def test_leave_one_exchange_out_flags_every_listing_it_cannot_cover(batch):
    report = evaluate_pricing(batch, "leave-one-exchange-out")
    exchanges = {g["exchange"] for g in report["groups"]}
    assert exchanges == {
        "Beijing International Data Exchange",
        "Canton Data Exchange",
        "Zhejiang Big Data Exchange",
    }
    for group in report["groups"]:
        # a held-out exchange is new to the model: no claim, every listing flagged
        assert group["n_claimed"] == 0
        assert group["n_out_of_distribution"] == group["n"]
        assert group["unclaimed_all_flagged"]
        assert group["naive"]["n"] == group["n"]  # the naive band is scored beside it
        assert "median_width" in group["model"] and np.isfinite(group["naive"]["median_width"])
    assert report["all"]["n"] == 257  # 259 fit rows less two token prices found in a fold


def test_within_exchange_claimed_coverage_is_honest(batch):
    report = evaluate_pricing(batch, "within-exchange")
    everything = report["all"]
    assert everything["unclaimed_all_flagged"]
    claimed = everything["claimed"]
    assert claimed["n"] >= 200
    assert 0.70 <= claimed["coverage"] <= 0.90
    for group in report["groups"]:
        assert group["unclaimed_all_flagged"]
        if group["n_claimed"]:
            c = group["claimed"]
            k = round(c["coverage"] * c["n"])
            lo, hi = binomial_interval(k, c["n"])
            assert lo <= 0.8 <= hi, group
            assert np.isfinite(c["median_width"])
    # the width is reported beside the naive per-category band of the same rows
    assert np.isfinite(everything["model"]["median_width"])
    assert np.isfinite(everything["naive"]["median_width"])


def test_saved_model_quotes_exactly_as_fitted_and_refuses_tampering(batch):
    cal = load_calibration()
    saved = cal.listing_model()
    assert saved is not None and "listing_model.json" in cal.manifest["files"]
    fitted = fit_listing_model(batch)
    assert fitted.sha256 == saved.sha256  # same listings and seed, same model
    a = quote_listings(batch, saved).columns
    b = quote_listings(batch, ListingPriceModel.from_dict(json.loads(fitted.to_json()))).columns
    np.testing.assert_array_equal(a["band_p50"], b["band_p50"])
    data = saved.to_dict()
    data["coverage"] = 0.5
    with pytest.raises(CalibrationError, match="sha256"):
        ListingPriceModel.from_dict(data)


def test_a_listing_of_an_unknown_exchange_is_flagged_and_claims_nothing(batch):
    model = load_calibration().listing_model()
    one = batch.subset(np.arange(len(batch)) == 0)
    one.exchange[:] = "Hainan Data Exchange"
    quote = quote_listings(one, model).row(0)
    assert "out_of_distribution" in quote["flags"]
    assert not quote["band"]["coverage_claimed"]
    assert any("not in the model's training data" in r for r in quote["reasons"])
    assert quote["band"]["out_of_distribution"] == "unseen_exchange"


def test_an_exchange_the_rule_was_not_written_for_has_its_placeholders_found(batch):
    # a model that never saw Zhejiang still finds its one-off defaults in its export
    not_zhejiang = batch.exchange != "Zhejiang Big Data Exchange"
    model = fit_listing_model(batch.subset(not_zhejiang))
    assert not any(k.startswith("Zhejiang") for k in model.data["placeholder_points"])
    zhejiang = batch.subset(~not_zhejiang)
    q = quote_listings(zhejiang, model).columns
    known = (zhejiang.price_mode == "one-off") & np.isin(zhejiang.price, [1000.0, 5000.0])
    flagged = np.array(["placeholder_price" in f for f in q["flags"]])
    assert known.sum() == 419 and flagged[known].all()
    assert set(q["out_of_distribution"][zhejiang.price > 0]) == {"unseen_exchange"}
