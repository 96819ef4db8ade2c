"""Recovery: calibrated parameters land near the synthetic market's truth and tighten with size.

Markets from :func:`calibration.synth.generate_market` (seed 7) at 5,000 and 20,000 products.
Tolerances (stated here, checked key by key against truth.json):

* net growth and volatility of the larger segments (>= 5,000 annual increments at 20k
  products: ai/data_collection, ai/data_product) within 15% relative at 20k; net growth of
  every segment with >= 1,000 increments within 4 standard errors of the truth (the standard
  errors are honest) and volatility within 15%;
* hazards (objection, revocation, delisting) within 20% relative at 20k, 35% at 5k; renewal
  probability within 0.05;
* the increment-weighted mean absolute error of net growth and volatility over the six
  largest segments shrinks from 5k to 20k;
* out of time (fit before a cut-off a year before the end, score after): the hedonic 80%
  band covers 80% ± 5 points.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from calibration.fit import segments
from calibration.history import History, load_history
from calibration.processes import MertonFit, fit_hazards, fit_revenue_segments

pytestmark = pytest.mark.slow

SIZES = (5_000, 20_000)
LARGER = ("ai/data_collection", "ai/data_product")


@pytest.fixture(scope="module")
def markets(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[History, dict[str, Any]]]:
    import json

    from calibration.synth import generate_market

    out: dict[int, tuple[History, dict[str, Any]]] = {}
    for n in SIZES:
        folder = tmp_path_factory.mktemp(f"market{n}")
        generate_market(n, 7, folder / "m", "parquet")
        truth = json.loads((folder / "m" / "truth.json").read_text())
        out[n] = (load_history(folder / "m"), truth)
    return out


@pytest.fixture(scope="module")
def revenue_fits(
    markets: dict[int, tuple[History, dict[str, Any]]],
) -> dict[int, dict[str, MertonFit]]:
    return {n: fit_revenue_segments(h, segments()) for n, (h, _) in markets.items()}


def test_larger_segments_within_15_percent(
    markets: dict[int, tuple[History, dict[str, Any]]],
    revenue_fits: dict[int, dict[str, MertonFit]],
) -> None:
    truth = markets[20_000][1]["revenue"]["segments"]
    for name in LARGER:
        fit = revenue_fits[20_000][name]
        assert fit.n_increments >= 5_000
        for key in ("net_growth", "volatility"):
            rel = abs(fit.estimate[key] / truth[name][key] - 1.0)
            assert rel < 0.15, f"{name} {key}: {fit.estimate[key]:.4f} vs {truth[name][key]}"


def test_segments_with_data_within_their_standard_errors(
    markets: dict[int, tuple[History, dict[str, Any]]],
    revenue_fits: dict[int, dict[str, MertonFit]],
) -> None:
    truth = markets[20_000][1]["revenue"]["segments"]
    checked = 0
    for name, fit in revenue_fits[20_000].items():
        if fit.n_increments < 1_000:
            continue
        checked += 1
        se = fit.standard_error["net_growth"]
        assert abs(fit.estimate["net_growth"] - truth[name]["net_growth"]) < 4 * se, name
        assert abs(fit.estimate["volatility"] / truth[name]["volatility"] - 1) < 0.15, name
    assert checked >= 8


def _weighted_error(fits: dict[str, MertonFit], truth: dict[str, Any], key: str) -> float:
    largest = sorted(fits, key=lambda s: -fits[s].n_increments)[:6]
    w = np.array([fits[s].n_increments for s in largest], dtype=float)
    err = np.array([abs(fits[s].estimate[key] - truth[s][key]) for s in largest])
    return float(w @ err / w.sum())


def test_error_shrinks_as_the_sample_grows(
    markets: dict[int, tuple[History, dict[str, Any]]],
    revenue_fits: dict[int, dict[str, MertonFit]],
) -> None:
    truth = markets[20_000][1]["revenue"]["segments"]
    for key in ("net_growth", "volatility"):
        small = _weighted_error(revenue_fits[5_000], truth, key)
        large = _weighted_error(revenue_fits[20_000], truth, key)
        assert large < small, f"{key}: error {small:.4f} at 5k, {large:.4f} at 20k"
    # and the standard errors shrink about as 1/sqrt(n)
    ratio = (
        revenue_fits[5_000]["ai/data_product"].standard_error["net_growth"]
        / revenue_fits[20_000]["ai/data_product"].standard_error["net_growth"]
    )
    assert 1.5 < ratio < 2.7


@pytest.mark.parametrize(("size", "tolerance"), [(5_000, 0.35), (20_000, 0.20)])
def test_hazards(
    markets: dict[int, tuple[History, dict[str, Any]]], size: int, tolerance: float
) -> None:
    history, truth = markets[size]
    hazards = fit_hazards(history)
    for kind in ("objection", "revocation", "delisting"):
        rate = getattr(hazards, kind).rate
        assert abs(rate / truth["hazards"][kind] - 1) < tolerance, f"{kind}: {rate:.4f}"
    assert abs(hazards.renewal_probability - truth["hazards"]["renewal_probability"]) < 0.05


def test_out_of_time_interval_coverage(
    markets: dict[int, tuple[History, dict[str, Any]]],
) -> None:
    from calibration.backtest import backtest

    history, _ = markets[20_000]
    report = backtest(history)
    hedonic = report["hedonic"]
    assert hedonic["n"] > 5_000
    assert abs(hedonic["coverage"] - hedonic["coverage_nominal"]) <= 0.05
    assert hedonic["r2"] > 0.5
    # hazard calibration: observed events within 4 Poisson s.e. of the prediction
    for kind in ("objection", "revocation", "delisting"):
        d = report["hazards"][kind]
        assert abs(d["observed"] - d["predicted"]) < 4 * np.sqrt(d["predicted"]), kind
