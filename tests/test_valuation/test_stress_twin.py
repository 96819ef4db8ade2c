"""The numba kernel against its NumPy twin, and reproducibility across threads and splits."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from valuation.risk.api import (
    PathStats,
    breach_probability,
    breach_thresholds,
    simulate,
    summarise,
)
from valuation.risk.model import build_model
from valuation.risk.numpy_twin import simulate_numpy
from valuation.risk.scenarios import NAMED_SCENARIOS
from valuation.schema.stress import StressRequest

FULL_MODEL: dict[str, Any] = {
    "as_of": "2026-11-01",
    "loan": {"amount": 60.0, "tenor_months": 24, "annual_rate": 0.06, "amortization": "annuity"},
    "collateral": [
        {
            "id": "c1",
            "value": 60.0,
            "sector": "ai",
            "drift": 0.02,
            "volatility": 0.35,
            "jump_intensity": 1.5,
            "jump_mean": -0.15,
            "jump_volatility": 0.2,
            "revocation_hazard": 0.1,
            "revocation_loss": 0.8,
            "expiry_months": 9,
            "renewal_probability": 0.8,
            "lapse_loss": 0.5,
        },
        {
            "id": "c2",
            "value": 30.0,
            "sector": "ai",
            "drift": -0.05,
            "volatility": 0.25,
            "jump_intensity": 0.5,
            "jump_mean": -0.3,
            "jump_volatility": 0.1,
            "revocation_hazard": 0.05,
            "revocation_loss": 1.0,
        },
        {"id": "c3", "value": 20.0, "sector": "finance", "volatility": 0.2},
    ],
    "correlation": 0.5,
    "borrower": {"annual_pd": 0.08, "wrong_way": 0.5},
    "policy": {"margin_call_ltv": 0.8, "months_to_liquidate": 6, "liquidation_discount": 0.3},
    "simulation": {"paths": 40_000, "seed": 99, "steps_per_year": 12},
}


def _close(a: np.ndarray, b: np.ndarray, k: float = 4.5) -> None:
    """Means of two independent samples agree within k combined standard errors."""
    se = math.sqrt(a.var() / a.size + b.var() / b.size)
    assert abs(a.mean() - b.mean()) <= k * se + 1e-12, (a.mean(), b.mean(), se)


def test_kernel_and_numpy_twin_agree_in_distribution():
    req = StressRequest.model_validate(FULL_MODEL)
    model = build_model(req)
    n = req.simulation.paths
    fast = simulate(model, n)
    twin = simulate_numpy(model, n, seed=12345)
    # Breach indicators at several loan sizes (the whole distribution of the min ratio).
    thr_fast = breach_thresholds(fast, 0.8)
    thr_twin = 0.8 * twin["min_ratio"]
    for amount in (30.0, 45.0, 60.0, 75.0):
        _close((thr_fast < amount).astype(float), (thr_twin < amount).astype(float))
    _close((fast.default_step >= 0).astype(float), (twin["default_step"] >= 0).astype(float))
    _close(fast.loss, twin["loss"])
    _close(fast.ead, twin["ead"])
    for bit in (1, 2, 4):
        for item in range(3):
            _close(
                ((fast.flags[:, item] & bit) > 0).astype(float),
                ((twin["flags"][:, item] & bit) > 0).astype(float),
            )
    for item in range(3):
        _close(np.log1p(fast.terminal[:, item]), np.log1p(twin["terminal"][:, item]))
    for step in (1, 9, 24):
        _close(fast.pool[step].astype(float), twin["pool"][step].astype(float))
    # Default timing, and the dependence between default and value (wrong-way risk).
    defaulted = fast.default_step >= 0
    defaulted_twin = twin["default_step"] >= 0
    _close(fast.default_step[defaulted].astype(float), twin["default_step"][defaulted_twin])
    _close(fast.terminal[defaulted].sum(axis=1), twin["terminal"][defaulted_twin].sum(axis=1))


def test_twin_detects_a_wrong_model():
    """The comparison has power: a twin run with a 10% higher volatility is told apart."""
    req = StressRequest.model_validate(FULL_MODEL)
    model = build_model(req)
    bumped = build_model(req, NAMED_SCENARIOS["market_freeze"])
    n = req.simulation.paths
    a = breach_thresholds(simulate(model, n), 0.8) < 60.0
    b = 0.8 * simulate_numpy(bumped, n)["min_ratio"] < 60.0
    with pytest.raises(AssertionError):
        _close(a.astype(float), b.astype(float))


def _assert_same(a: PathStats, b: PathStats) -> None:
    for name in PathStats.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_path_splits_are_bit_identical():
    req = StressRequest.model_validate(FULL_MODEL)
    model = build_model(req)
    whole = simulate(model, 3000)
    parts = PathStats.concatenate(
        [
            simulate(model, 1000),
            simulate(model, 777, path_start=1000),
            simulate(model, 1223, path_start=1777),
        ]
    )
    _assert_same(whole, parts)
    assert summarise("base", model, whole, 0.05, 0.99) == summarise(
        "base", model, parts, 0.05, 0.99
    )


def test_same_seed_same_result_and_seed_matters():
    req = StressRequest.model_validate(FULL_MODEL)
    model = build_model(req)
    _assert_same(simulate(model, 2000), simulate(model, 2000))
    other = build_model(
        req.model_copy(update={"simulation": req.simulation.model_copy(update={"seed": 1})})
    )
    first, second = simulate(other, 2000), simulate(model, 2000)
    assert not np.array_equal(first.min_ratio, second.min_ratio)


_SCRIPT = """
import hashlib, json, sys
import numpy as np
from valuation.kernels._jit import num_threads
from valuation.risk.api import simulate, stress
from valuation.risk.model import build_model
from valuation.schema.stress import StressRequest
req = StressRequest.model_validate(json.loads(sys.stdin.read()))
stats = simulate(build_model(req), req.simulation.paths)
digest = hashlib.sha256()
for name in ("min_ratio", "default_step", "ead", "loss", "flags", "terminal", "pool"):
    digest.update(np.ascontiguousarray(getattr(stats, name)).tobytes())
result = stress(req).model_dump(mode="json")
print(json.dumps({"threads": num_threads(), "digest": digest.hexdigest(), "result": result}))
"""


def test_bit_identical_on_one_and_two_threads():
    doc = {**FULL_MODEL, "simulation": {**FULL_MODEL["simulation"], "paths": 5000}}
    doc["scenarios"] = ["base", "market_freeze"]
    outputs = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads}
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            input=json.dumps(doc),
            capture_output=True,
            text=True,
            env=env,
            check=True,
            timeout=300,
        )
        outputs.append(json.loads(done.stdout))
    assert [o["threads"] for o in outputs] == [1, 2]
    assert outputs[0]["digest"] == outputs[1]["digest"]
    assert outputs[0]["result"] == outputs[1]["result"]


def test_bit_identical_on_another_instruction_set(tmp_path):
    """Compiled for plain x86-64 (SSE2, 2 doubles per vector) in an empty cache, the kernels give
    the bits they give on this machine's widest vectors (AVX-512 where present)."""
    doc = {**FULL_MODEL, "simulation": {**FULL_MODEL["simulation"], "paths": 3000}}
    outputs = []
    for extra in ({}, {"NUMBA_CPU_NAME": "generic", "DPV_CACHE_DIR": str(tmp_path)}):
        done = subprocess.run(
            [sys.executable, "-c", _SCRIPT],
            input=json.dumps(doc),
            capture_output=True,
            text=True,
            env={**os.environ, **extra},
            check=True,
            timeout=600,
        )
        outputs.append(json.loads(done.stdout))
    assert outputs[0]["digest"] == outputs[1]["digest"]
    assert outputs[0]["result"]["scenarios"] == outputs[1]["result"]["scenarios"]


def test_breach_probability_matches_kernel_ltv_monitoring():
    """The reported breach (loan > ltv · min V/profile) is the covenant LTV > margin call."""
    req = StressRequest.model_validate(FULL_MODEL)
    model = build_model(req)
    stats = simulate(model, 5000)
    exposure = 60.0 * model.profile[:, None]
    ltv_breach = np.any(exposure > 0.8 * stats.pool.astype(float) * (1 + 1e-6), axis=0)
    ltv_safe = np.all(exposure < 0.8 * stats.pool.astype(float) * (1 - 1e-6), axis=0)
    thr = breach_thresholds(stats, 0.8)
    assert np.all(thr[ltv_breach] < 60.0)
    assert np.all(thr[ltv_safe] >= 60.0)
    assert breach_probability(thr, 60.0) == pytest.approx(ltv_breach.mean(), abs=0.002)


def test_capped_fan_chart_changes_nothing_else(monkeypatch: pytest.MonkeyPatch):
    from valuation.risk import api

    doc = {**FULL_MODEL, "simulation": {**FULL_MODEL["simulation"], "paths": 6000}}
    full = api.stress(doc)
    monkeypatch.setattr(api, "MAX_FAN_CHART_ENTRIES", 2000 * 25)
    capped = api.stress(doc)
    assert capped.value_quantiles.paths == 2000
    assert full.value_quantiles.paths == 6000
    strip = {"value_quantiles"}
    assert capped.model_dump(exclude=strip) == full.model_dump(exclude=strip)
    assert capped.value_quantiles.values[3][0] == full.value_quantiles.values[3][0]
