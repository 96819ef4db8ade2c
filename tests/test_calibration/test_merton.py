"""The Merton likelihood: compiled kernel = NumPy twin = a plain density sum; MLE on known data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from calibration._kernels import merton_nll_grad_python
from calibration.processes import (
    _negloglik_and_grad,
    _negloglik_and_grad_numpy,
    fit_merton,
    fit_merton_pooled,
    net_growth,
)


def _naive_nll(z: np.ndarray, x: np.ndarray) -> float:
    mu, sigma, lam, m, s = z[0], math.exp(z[1]), math.exp(z[2]), z[3], math.exp(z[4])
    density = sum(
        stats.poisson.pmf(n, lam) * stats.norm.pdf(x, mu + n * m, math.sqrt(sigma**2 + n * s**2))
        for n in range(9)
    )
    return -float(np.log(density).sum())


@pytest.mark.parametrize("seed", range(5))
def test_kernel_matches_numpy_twin_and_naive_density(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(rng.uniform(-0.2, 0.2), rng.uniform(0.1, 0.6), 300)
    z = np.array(
        [
            rng.uniform(-0.2, 0.2),
            math.log(rng.uniform(0.1, 0.6)),
            math.log(rng.uniform(0.01, 1.0)),
            rng.uniform(-0.6, 0.2),
            math.log(rng.uniform(0.05, 0.5)),
        ]
    )
    value, grad = _negloglik_and_grad(z, x)
    value_np, grad_np = _negloglik_and_grad_numpy(z, x)
    assert value == pytest.approx(value_np, rel=1e-12)
    np.testing.assert_allclose(grad, grad_np, rtol=1e-9, atol=1e-9)
    assert value == pytest.approx(_naive_nll(z, x), rel=1e-6)
    theta = np.array([z[0], math.exp(z[1]), math.exp(z[2]), z[3], math.exp(z[4])])
    n = np.arange(9.0)
    log_weight = n * math.log(theta[2]) - theta[2] - np.array([math.lgamma(k + 1) for k in n])
    grad_py = np.empty(5)
    assert merton_nll_grad_python(x, theta, log_weight, grad_py) == pytest.approx(value, rel=1e-12)
    # the gradient is the derivative of the value
    for j in range(5):
        e = np.zeros(5)
        e[j] = 1e-6
        numeric = (_negloglik_and_grad(z + e, x)[0] - _negloglik_and_grad(z - e, x)[0]) / 2e-6
        assert grad[j] == pytest.approx(numeric, rel=1e-5, abs=1e-5)


def test_pure_diffusion_is_recovered() -> None:
    """Without jumps, net growth is the mean increment plus σ²/2 (lognormal mean)."""
    rng = np.random.default_rng(3)
    x = rng.normal(0.05, 0.3, 20_000)
    fit = fit_merton(x)
    expected = 0.05 + 0.5 * 0.3**2
    assert abs(fit.estimate["net_growth"] - expected) < 4 * fit.standard_error["net_growth"]
    assert fit.estimate["volatility"] == pytest.approx(0.3, rel=0.05)


def test_pooled_fit_recovers_shared_jumps() -> None:
    rng = np.random.default_rng(11)
    truth = [(0.10, 0.35, 0.2), (0.02, 0.25, 0.1), (-0.03, 0.45, 0.3)]
    samples = []
    for mu, sigma, lam in truth:
        n = 8_000
        jumps = rng.poisson(lam, n)
        x = (
            mu
            + sigma * rng.standard_normal(n)
            + jumps * -0.35
            + np.sqrt(jumps) * 0.25 * (rng.standard_normal(n))
        )
        samples.append(x)
    fits = fit_merton_pooled(samples)
    for fit, (mu, sigma, lam) in zip(fits, truth, strict=True):
        assert fit.estimate["volatility"] == pytest.approx(sigma, rel=0.1)
        ng = net_growth(np.array([mu, sigma, lam, -0.35, 0.25]))
        assert abs(fit.estimate["net_growth"] - ng) < 4 * fit.standard_error["net_growth"]
    # The jump size is weakly identified from annual data (here the MLE prefers rarer, larger
    # jumps); what must hold is that the optimiser reaches at least the truth's likelihood.
    at_truth = sum(
        _negloglik_and_grad(
            np.array([mu, math.log(sigma), math.log(lam), -0.35, math.log(0.25)]), x
        )[0]
        for (mu, sigma, lam), x in zip(truth, samples, strict=True)
    )
    assert -sum(f.loglik for f in fits) <= at_truth + 1e-6
