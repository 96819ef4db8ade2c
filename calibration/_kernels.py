"""The Merton log-likelihood kernel: one pass over the increments, value and gradient.

``merton_nll_grad_python`` is the plain-Python twin, ``merton_nll_grad`` the compiled kernel
(options from :mod:`valuation.kernels._jit`, the one module that owns them). The NumPy form in
:func:`calibration.processes._negloglik_and_grad_numpy` is the obviously correct reference the
tests compare both with.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from valuation.kernels._jit import jit


def merton_nll_grad_python(
    x: NDArray[np.float64],
    params: NDArray[np.float64],
    log_weight: NDArray[np.float64],
    grad_out: NDArray[np.float64],
) -> float:
    """Return the negative log-likelihood; write its gradient in ``z`` into ``grad_out``.

    Parameters
    ----------
    x
        Annual log-growth increments.
    params
        ``(mu, sigma, lambda, jump_mean, jump_sd)`` (natural scale).
    log_weight
        ``log Pois(n; lambda)`` for ``n = 0..K``.
    grad_out
        Length 5: receives the gradient with respect to
        ``z = (mu, log sigma, log lambda, jump_mean, log jump_sd)``.
    """
    mu = params[0]
    sigma = params[1]
    lam = params[2]
    m = params[3]
    s = params[4]
    k_max = log_weight.shape[0]
    var = np.empty(k_max)
    log_norm = np.empty(k_max)
    for n in range(k_max):
        var[n] = sigma * sigma + n * s * s
        log_norm[n] = log_weight[n] - 0.5 * math.log(2.0 * math.pi * var[n])
    comp = np.empty(k_max)
    total = 0.0
    g0 = 0.0
    g1 = 0.0
    g2 = 0.0
    g3 = 0.0
    g4 = 0.0
    for i in range(x.shape[0]):
        top = -np.inf
        for n in range(k_max):
            resid = x[i] - mu - n * m
            comp[n] = log_norm[n] - 0.5 * resid * resid / var[n]
            if comp[n] > top:
                top = comp[n]
        norm = 0.0
        for n in range(k_max):
            comp[n] = math.exp(comp[n] - top)
            norm += comp[n]
        total += top + math.log(norm)
        for n in range(k_max):
            r = comp[n] / norm
            resid = x[i] - mu - n * m
            scaled = resid / var[n]
            d_var = 0.5 * (scaled * scaled - 1.0 / var[n])
            g0 += r * scaled
            g1 += r * d_var
            g2 += r * (n / lam - 1.0)
            g3 += r * scaled * n
            g4 += r * d_var * n
    grad_out[0] = -g0
    grad_out[1] = -g1 * 2.0 * sigma * sigma
    grad_out[2] = -g2 * lam
    grad_out[3] = -g3
    grad_out[4] = -g4 * 2.0 * s * s
    return -total


merton_nll_grad = jit(merton_nll_grad_python)

__all__ = ["merton_nll_grad", "merton_nll_grad_python"]
