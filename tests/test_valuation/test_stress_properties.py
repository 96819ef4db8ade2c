"""Invariants of the stress engine (hypothesis, small example counts, common random numbers)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from valuation.risk.api import breach_probability, breach_thresholds, max_loan, simulate, stress
from valuation.risk.model import build_model
from valuation.schema.stress import StressRequest

FAST = settings(max_examples=12, deadline=None)


def _request(vol: float, drift: float, amount: float, **extra: Any) -> StressRequest:
    return StressRequest.model_validate(
        {
            "as_of": "2026-11-01",
            "loan": {"amount": amount, "tenor_months": 12, **extra.get("loan", {})},
            "collateral": [
                {
                    "id": "c1",
                    "value": 100.0,
                    "drift": drift,
                    "volatility": vol,
                    "jump_intensity": 1.0,
                    "jump_mean": -0.1,
                    "jump_volatility": 0.1,
                }
            ],
            "policy": {"target_breach_probability": extra.get("target", 0.05)},
            "simulation": {"paths": 4000, "seed": extra.get("seed", 8)},
            "scenarios": [],
        }
    )


def _thresholds(vol: float, drift: float, **extra: Any) -> np.ndarray:
    req = _request(vol, drift, 50.0, **extra)
    return breach_thresholds(simulate(build_model(req), 4000, store_pool=False), 0.7)


@FAST
@given(
    vol=st.floats(0.05, 0.8),
    drift=st.floats(-0.3, 0.3),
    low=st.floats(5.0, 90.0),
    step=st.floats(0.0, 40.0),
)
def test_breach_rises_with_loan(vol: float, drift: float, low: float, step: float):
    thresholds = _thresholds(vol, drift)
    assert breach_probability(thresholds, low) <= breach_probability(thresholds, low + step)


@FAST
@given(
    vol=st.floats(0.05, 0.6),
    bump=st.floats(0.05, 0.4),
    drift=st.floats(0.0, 0.2),
    amount=st.floats(20.0, 69.0),
)
def test_breach_rises_with_volatility(vol: float, bump: float, drift: float, amount: float):
    # Only for drift >= 0: with a strongly negative drift the value falls through the covenant
    # almost surely, and more volatility gives some paths a way to stay above it (breach 0.93 at
    # vol 0.125 against 0.91 at 0.375 for drift -0.19), so the property is false there.
    # Same seed: the two runs share their random numbers, so the paired difference has a small
    # standard error. Breach is monotone in volatility in distribution, not path by path, so a
    # handful of paths may go the other way: allow three paired standard errors.
    low = (_thresholds(vol, drift) < amount).astype(float)
    high = (_thresholds(vol + bump, drift) < amount).astype(float)
    diff = high - low
    assert diff.mean() >= -3.0 * diff.std() / math.sqrt(diff.size)


@FAST
@given(
    vol=st.floats(0.05, 0.8),
    drift=st.floats(-0.3, 0.3),
    target=st.floats(0.0, 0.6),
    seed=st.integers(0, 2**64 - 1),
)
def test_max_loan_is_exact(vol: float, drift: float, target: float, seed: int):
    thresholds = _thresholds(vol, drift, seed=seed)
    best = max_loan(thresholds, target)
    assert best is not None
    assert breach_probability(thresholds, best) <= target
    assert breach_probability(thresholds, float(np.nextafter(best, math.inf))) > target
    assert breach_probability(thresholds, best + 0.01) > target


@settings(max_examples=4, deadline=None)
@given(vol=st.floats(0.1, 0.6), target=st.floats(0.01, 0.3))
def test_max_loan_through_the_api(vol: float, target: float):
    """A request for the reported max loan breaches at most at the target; one ulp more, above."""
    first = stress(_request(vol, 0.0, 50.0, target=target))
    assert first.max_loan is not None
    at = stress(_request(vol, 0.0, first.max_loan, target=target))
    above = stress(_request(vol, 0.0, float(np.nextafter(first.max_loan, math.inf)), target=target))
    assert at.max_loan == first.max_loan
    assert at.breach_probability <= target < above.breach_probability


def test_max_loan_with_amortisation_uses_the_profile():
    """With an amortising loan the max loan is a quantile of min V/profile, not of min V."""
    req = _request(0.4, 0.0, 50.0, loan={"amortization": "linear", "annual_rate": 0.05})
    result = stress(req)
    assert result.max_loan is not None
    at = stress(
        req.model_copy(update={"loan": req.loan.model_copy(update={"amount": result.max_loan})})
    )
    assert at.breach_probability <= 0.05
    bullet = stress(_request(0.4, 0.0, 50.0, loan={"annual_rate": 0.05}))
    assert bullet.max_loan is not None and result.max_loan > bullet.max_loan  # fmt: skip


def test_max_loan_none_when_any_loan_qualifies():
    assert max_loan(np.array([1.0, 2.0]), 1.0) is None
    assert max_loan(np.array([3.0, 1.0, 2.0]), 0.0) == 1.0
    assert max_loan(np.array([3.0, 1.0, 2.0]), 1 / 3) == 2.0
