"""Recoveries: the liquidation fit recovers the identified quantity of a synthetic market.

The bundled sample and default-truth markets have almost no defaults (a 20k market ~7, all
fully recovered), so the recovery fit is otherwise never checked against truth. Here one
market of 20,000 products (seed 11, CSV) is generated from :func:`default_truth` with
every eligible product pledged (``pledge_probability`` 1, ``min_appraised_value`` 1 m),
``base_annual_pd`` 0.4 and pledge rates of 50-90% with no amount cap, so some 3,300 loans
default and about two thirds of them recover less than the exposure.

Recoveries identify only the distribution of ``X = log((1 − d)·exp(shock))`` with
``d ~ Beta(a, b)`` (the liquidation discount) and ``shock ~ N(μ, σ²)`` (the value at
default), censored where the recovery is capped at 1. The truth implies

* ``E[X] = ψ(b) − ψ(a + b) + μ`` and ``Var[X] = ψ₁(b) − ψ₁(a + b) + σ²``;
* ``E[(1 − d)·exp(shock)] = b/(a + b) · exp(μ + σ²/2)``.

:func:`calibration.processes.fit_recoveries` (as :func:`calibration.fit.fit_calibration`
calls it, on :func:`calibration.history.load_history`) reports ``mean_log`` and ``sd_log``
of ``X`` with standard errors; each must lie within 4 of its own standard errors of the
truth. ``X`` is not exactly normal (``log(1 − d)`` is skewed), so the censored-normal fit
converges to pseudo-true values ~0.005 (mean) and ~0.007 (sd) away from the moments above —
under 1 standard error at this size, so the 4-s.e. check keeps a margin of ~3. The same
estimate must be far (> 10 s.e.) from a wrong truth with a mean discount of 0.6.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy.special import digamma, polygamma

from calibration.history import load_history
from calibration.processes import RecoveryFit, fit_recoveries
from calibration.synth import default_truth, generate_market

N = 20_000
SEED = 11
Z = 4.0


def _truth() -> dict[str, Any]:
    truth = copy.deepcopy(default_truth())
    loans = truth["loans"]
    loans["pledge_probability"] = 1.0
    loans["min_appraised_value"] = 1.0e6
    loans["max_amount"] = 1.0e12
    loans["base_annual_pd"] = 0.4
    loans["pledge_rate"] = {"low": 0.5, "high": 0.9, "beta": [2.0, 2.0]}
    return truth


def _implied(beta: list[float], mean_log: float, sd_log: float) -> dict[str, float]:
    """Moments of ``log((1 − d)·exp(shock))`` and the mean of ``(1 − d)·exp(shock)``."""
    a, b = beta
    var = float(polygamma(1, b) - polygamma(1, a + b)) + sd_log**2
    return {
        "mean_log": float(digamma(b) - digamma(a + b)) + mean_log,
        "sd_log": math.sqrt(var),
        "ratio": b / (a + b) * math.exp(mean_log + 0.5 * sd_log**2),
    }


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> tuple[RecoveryFit, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("recoveries") / "m"
    generate_market(N, SEED, folder, "csv", truth=_truth())
    truth = json.loads((Path(folder) / "truth.json").read_text())
    return fit_recoveries(load_history(folder)), truth


def _ratio_se(fit: RecoveryFit) -> float:
    """Delta-method s.e. of ``exp(mean + sd²/2)``, bounded for any mean/sd covariance."""
    return fit.realised_value_ratio * (fit.mean_log_se + fit.sd_log * fit.sd_log_se)


def test_many_partial_recoveries(market: tuple[RecoveryFit, dict[str, Any]]) -> None:
    fit, truth = market
    assert truth["loans"]["base_annual_pd"] == 0.4  # the modified truth was written
    assert fit.n_defaults > 2_000
    assert 0.1 < fit.n_censored / fit.n_defaults < 0.6
    for se in (fit.mean_log_se, fit.sd_log_se):
        assert math.isfinite(se) and 0.0 < se < 0.02


def test_identified_quantity_within_4_standard_errors(
    market: tuple[RecoveryFit, dict[str, Any]],
) -> None:
    fit, truth = market
    loans = truth["loans"]
    vd = loans["value_at_default"]
    expected = _implied(loans["liquidation_discount"]["beta"], vd["mean_log"], vd["sd_log"])
    checks = (
        ("mean_log", fit.mean_log, fit.mean_log_se),
        ("sd_log", fit.sd_log, fit.sd_log_se),
        ("ratio", fit.realised_value_ratio, _ratio_se(fit)),
    )
    for name, estimate, se in checks:
        assert abs(estimate - expected[name]) <= Z * se, (
            f"{name}: estimate {estimate:.4f} (s.e. {se:.4f}) vs truth {expected[name]:.4f} "
            f"({fit.n_defaults} defaults, {fit.n_censored} capped)"
        )


def test_inconsistent_with_a_wrong_discount(
    market: tuple[RecoveryFit, dict[str, Any]],
) -> None:
    fit, truth = market
    vd = truth["loans"]["value_at_default"]
    wrong = _implied([6.0, 4.0], vd["mean_log"], vd["sd_log"])  # mean discount 0.6
    assert abs(fit.mean_log - wrong["mean_log"]) > 10.0 * fit.mean_log_se
    assert abs(fit.realised_value_ratio - wrong["ratio"]) > 10.0 * _ratio_se(fit)
