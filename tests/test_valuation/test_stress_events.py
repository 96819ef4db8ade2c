"""Jumps, certificate events, default and the loan: each against its exact law."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from valuation.kernels import stress as kernel
from valuation.risk import model as m
from valuation.risk.api import simulate, stress, summarise
from valuation.risk.model import build_model, exposure_profile
from valuation.schema.stress import StressRequest


def request(collateral: dict[str, Any], **overrides: Any) -> StressRequest:
    doc: dict[str, Any] = {
        "as_of": "2026-11-01",
        "loan": {"amount": 50.0, "tenor_months": 12},
        "collateral": [{"id": "c1", "value": 100.0, **collateral}],
        "simulation": {"paths": 50_000, "seed": 3},
    }
    for key, value in overrides.items():
        doc[key] = {**doc.get(key, {}), **value} if isinstance(value, dict) else value
    return StressRequest.model_validate(doc)


def within(sample_mean: float, expected: float, se: float, k: float = 4.0) -> bool:
    return abs(sample_mean - expected) <= k * se


def test_kernel_indices_match_model():
    for name in (
        "LOG_V0 LOG_DRIFT_STEP SIGMA_SQRT_DT JUMP_P0 JUMP_LAMBDA_DT JUMP_MEAN JUMP_VOL REVOKE_P "
        "REVOKE_KEEP EXPIRY_STEP RENEW_P LAPSE_KEEP POOL_WEIGHT AMOUNT MARGIN_CALL_LTV "
        "DEFAULT_THRESHOLD WRONG_WAY WRONG_WAY_COMPLEMENT LIQUIDATION_KEEP SQRT_RHO "
        "SQRT_ONE_MINUS_RHO"
    ).split():
        assert getattr(kernel, name) == getattr(m, name), name


@pytest.mark.parametrize(
    ("drift", "vol", "lam", "jump_mean", "jump_vol"),
    [(0.05, 0.2, 2.0, -0.1, 0.15), (0.0, 0.1, 0.5, -0.4, 0.2), (-0.1, 0.3, 6.0, 0.05, 0.05)],
)
def test_terminal_log_value_matches_merton(drift, vol, lam, jump_mean, jump_vol):
    req = request(
        {
            "drift": drift,
            "volatility": vol,
            "jump_intensity": lam,
            "jump_mean": jump_mean,
            "jump_volatility": jump_vol,
        },
        loan={"tenor_months": 24},
    )
    model = build_model(req)
    n = req.simulation.paths
    terminal = simulate(model, n, store_pool=False).terminal[:, 0]
    x = np.log(terminal / 100.0)
    years = 2.0
    kappa = math.exp(jump_mean + 0.5 * jump_vol**2) - 1.0
    mean = (drift - 0.5 * vol**2 - lam * kappa) * years + lam * years * jump_mean
    var = vol**2 * years + lam * years * (jump_mean**2 + jump_vol**2)
    centred = x - x.mean()
    var_se = math.sqrt(max(float(np.mean(centred**4)) - float(np.var(x)) ** 2, 0.0) / n)
    assert within(float(x.mean()), mean, math.sqrt(var / n))
    assert within(float(np.var(x)), var, var_se)
    # The drift convention: E[V_T] = V_0 e^{drift T} whatever the jumps.
    assert within(float(terminal.mean()), 100.0 * math.exp(drift * years), terminal.std() / n**0.5)


def test_revocation_share_and_loss():
    hazard, loss = 0.4, 0.6
    req = request({"revocation_hazard": hazard, "revocation_loss": loss}, loan={"tenor_months": 18})
    model = build_model(req)
    n = req.simulation.paths
    stats = simulate(model, n, store_pool=False)
    revoked = (stats.flags[:, 0] & kernel.FLAG_REVOKED) > 0
    expected = 1.0 - math.exp(-hazard * 1.5)
    assert within(revoked.mean(), expected, math.sqrt(expected * (1 - expected) / n))
    # No diffusion: a revoked item keeps exactly (1 - loss) of its value.
    np.testing.assert_allclose(stats.terminal[revoked, 0], 100.0 * (1 - loss), rtol=1e-12)
    np.testing.assert_allclose(stats.terminal[~revoked, 0], 100.0, rtol=1e-12)
    result = summarise("base", model, stats, 0.05, 0.99)
    assert result.revocation_probability == revoked.mean()


def test_expiry_lapse_and_renewal_frequencies():
    renewal, lapse_loss = 0.7, 0.5
    req = request(
        {"expiry_months": 5.5, "renewal_probability": renewal, "lapse_loss": lapse_loss},
    )
    model = build_model(req)
    assert model.items[0, m.EXPIRY_STEP] == 6.0
    n = req.simulation.paths
    stats = simulate(model, n, store_pool=True)
    flags = stats.flags[:, 0]
    assert np.all(flags & kernel.FLAG_EXPIRY_REACHED)
    lapsed = (flags & kernel.FLAG_LAPSED) > 0
    assert within(lapsed.mean(), 1 - renewal, math.sqrt(renewal * (1 - renewal) / n))
    np.testing.assert_allclose(stats.terminal[lapsed, 0], 100.0 * (1 - lapse_loss))
    np.testing.assert_allclose(stats.terminal[~lapsed, 0], 100.0)
    # The lapse happens at step 6, not before.
    assert np.all(stats.pool[5] == 100.0)
    np.testing.assert_allclose(stats.pool[6][lapsed], 100.0 * (1 - lapse_loss))


def test_expiry_after_tenor_is_not_counted():
    req = request({"expiry_months": 13, "renewal_probability": 0.0})
    stats = simulate(build_model(req), 1000, store_pool=False)
    assert not np.any(stats.flags)


def test_default_probability_and_deterministic_loss():
    pd, discount, amount = 0.3, 0.35, 80.0
    req = request(
        {},
        loan={"amount": amount, "tenor_months": 24},
        borrower={"annual_pd": pd},
        policy={"liquidation_discount": discount, "months_to_liquidate": 6, "confidence": 0.9},
    )
    result = stress(req)
    n = req.simulation.paths
    expected = 1 - (1 - pd) ** 2
    assert within(result.default_probability, expected, math.sqrt(expected * (1 - expected) / n))
    # No diffusion: every default loses 80 - 0.65 * 100 = 15.
    assert result.lgd == pytest.approx(15.0 / amount, rel=1e-12)
    assert result.expected_loss == pytest.approx(15.0 * result.default_probability, rel=1e-12)
    assert result.loss_var == pytest.approx(15.0)
    assert result.loss_es == pytest.approx(15.0)


def test_wrong_way_risk_raises_loss_not_default_rate():
    base = {"volatility": 0.4}
    kwargs: dict[str, Any] = {
        "loan": {"amount": 60.0, "tenor_months": 12},
        "policy": {"months_to_liquidate": 3},
    }
    results = {
        ww: stress(request(base, borrower={"annual_pd": 0.2, "wrong_way": ww}, **kwargs))
        for ww in (-0.8, 0.0, 0.8)
    }
    n = 50_000
    se = math.sqrt(0.2 * 0.8 / n)
    for result in results.values():
        assert within(result.default_probability, 0.2, se)
    assert results[0.8].expected_loss > 1.3 * results[0.0].expected_loss
    assert results[0.0].expected_loss > 1.3 * results[-0.8].expected_loss


def test_exposure_profiles():
    n, dt = 12, 1 / 12
    np.testing.assert_allclose(exposure_profile("bullet", 0.0, n, dt), 1.0)
    bullet = exposure_profile("bullet", 0.06, n, dt)
    assert bullet[0] == 1.0
    np.testing.assert_allclose(bullet[1:], 1.005)
    linear = exposure_profile("linear", 0.0, n, dt)
    np.testing.assert_allclose(linear[1:], 1.0 - np.arange(n) / n)
    np.testing.assert_allclose(exposure_profile("annuity", 0.0, n, dt), linear)
    annuity = exposure_profile("annuity", 0.12, n, dt)
    instalment = 0.01 / (1 - 1.01**-n)
    assert annuity[-1] == pytest.approx(instalment, rel=1e-12)
    assert np.all(np.diff(annuity[1:]) < 0)


def test_correlation_couples_items_in_a_sector():
    def terminal_corr(rho: float, sectors: tuple[str, str]) -> float:
        req = StressRequest.model_validate(
            {
                "as_of": "2026-11-01",
                "loan": {"amount": 50.0, "tenor_months": 12},
                "collateral": [
                    {"id": "a", "value": 50.0, "volatility": 0.3, "sector": sectors[0]},
                    {"id": "b", "value": 50.0, "volatility": 0.3, "sector": sectors[1]},
                ],
                "correlation": rho,
                "simulation": {"paths": 20_000, "seed": 5},
            }
        )
        t = simulate(build_model(req), 20_000, store_pool=False).terminal
        return float(np.corrcoef(np.log(t[:, 0]), np.log(t[:, 1]))[0, 1])

    se = 1 / math.sqrt(20_000)
    assert abs(terminal_corr(0.6, ("ai", "ai")) - 0.6) < 4 * se
    assert abs(terminal_corr(0.6, ("ai", "finance"))) < 4 * se
    assert abs(terminal_corr(0.0, ("ai", "ai"))) < 4 * se
