r"""Maximum-likelihood estimates of the stochastic processes behind the history.

* Revenue: annual log-growth increments of each product follow a Merton jump-diffusion
  (``truth.json`` conventions): :math:`x = \mu + \sigma\varepsilon + \sum_{k\le N} Y_k`,
  :math:`N \sim \mathrm{Poisson}(\lambda)`, :math:`Y \sim N(m, s^2)`, so
  :math:`x \sim \sum_n \mathrm{Pois}(n;\lambda)\,N(\mu + n m, \sigma^2 + n s^2)`;
  increments from a certificate's lapse or revocation on are left out (they carry its revenue
  loss); 95% intervals are profile-likelihood intervals (:func:`merton_intervals`,
  :func:`pooled_merton_intervals`), the Hessian standard errors are kept beside them.
* Certificate and listing hazards: constant intensities under right-censoring
  (:func:`models.piecewise_constant_hazard`), exposure from the dates.
* Recoveries of defaulted loans: a censored (Tobit) normal for the log of the collateral's
  realised value relative to its appraisal.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special, stats

from calibration.history import History
from valuation.dates import DAYS_PER_YEAR, add_months_array

ANNOUNCEMENT_DAYS = 15
VALIDITY_MONTHS = 36
# Poisson mixture truncated at 8 jumps a year: P(N > 8) < 1.1e-6 at the largest intensity
# allowed (1 a year), far below the sampling error of any likelihood here.
_MAX_JUMPS = 8
_Z95 = float(stats.norm.ppf(0.975))
# Jumps are rare shocks (at most one a year on average): above that a jump component is
# indistinguishable from extra diffusion in annual data and the MLE wanders along the ridge.
MAX_JUMP_INTENSITY = 1.0
_PROBE_SIZE = 4000
_POOLED_PROBE = 600
MERTON_NAMES = ("mu", "volatility", "jump_intensity", "jump_mean", "jump_sd")
POOLED_PARAMETERS = ("jump_mean", "jump_sd")
"""The parameters :func:`fit_merton_pooled` shares across segments (one jump-size law)."""


# ---------------------------------------------------------------------------------------------
# revenue: Merton jump-diffusion on annual log growth
# ---------------------------------------------------------------------------------------------


def merton_loglik_terms(x: NDArray[np.float64], theta: NDArray[np.float64]) -> NDArray[np.float64]:
    """Return the log density of each increment under Merton parameters.

    Parameters
    ----------
    x
        Annual log-growth increments.
    theta
        ``(mu, volatility, jump_intensity, jump_mean, jump_sd)``.

    Notes
    -----
    The Poisson mixture is truncated at 8 jumps a year (omitted mass below 1.1e-6 for
    intensities up to 1).
    """
    mu, sigma, lam, m, s = (float(v) for v in theta)
    n = np.arange(_MAX_JUMPS + 1, dtype=np.float64)
    log_weight = n * math.log(lam) - lam - special.gammaln(n + 1.0) if lam > 0 else None
    var = sigma * sigma + n * s * s
    if log_weight is None:
        log_weight = np.where(n == 0, 0.0, -np.inf)
    resid = x[:, None] - (mu + n * m)[None, :]
    comp = log_weight[None, :] - 0.5 * (np.log(2.0 * np.pi * var)[None, :] + resid**2 / var)
    return np.asarray(special.logsumexp(comp, axis=1), dtype=np.float64)


def _to_natural(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.array([z[0], math.exp(z[1]), math.exp(z[2]), z[3], math.exp(z[4])])


def _negloglik(z: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    return _negloglik_and_grad(z, x)[0]


def _negloglik_and_grad(
    z: NDArray[np.float64], x: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64]]:
    """Negative log-likelihood and its gradient in ``z = (mu, log σ, log λ, m, log s)``.

    The compiled kernel (:mod:`calibration._kernels`); the NumPy twin is
    :func:`_negloglik_and_grad_numpy`.
    """
    from calibration._kernels import merton_nll_grad

    theta = _to_natural(z)
    n = np.arange(_MAX_JUMPS + 1, dtype=np.float64)
    log_weight = n * math.log(theta[2]) - theta[2] - special.gammaln(n + 1.0)
    grad = np.empty(5)
    value = float(merton_nll_grad(x, theta, log_weight, grad))
    if not math.isfinite(value):
        return 1e300, np.zeros(5)
    return value, grad


def _negloglik_and_grad_numpy(
    z: NDArray[np.float64], x: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64]]:
    """NumPy twin of :func:`_negloglik_and_grad` (the reference the kernel is tested against)."""
    mu, sigma, lam, m, s = _to_natural(z)
    n = np.arange(_MAX_JUMPS + 1, dtype=np.float64)
    var = sigma * sigma + n * s * s
    log_weight = n * math.log(lam) - lam - special.gammaln(n + 1.0)
    resid = x[:, None] - (mu + n * m)[None, :]
    scaled = resid / var
    comp = (log_weight - 0.5 * np.log(2.0 * np.pi * var))[None, :] - 0.5 * resid * scaled
    top = comp.max(axis=1, keepdims=True)
    resp = np.exp(comp - top)
    norm = resp.sum(axis=1, keepdims=True)
    value = -float((top + np.log(norm)).sum())
    if not math.isfinite(value):
        return 1e300, np.zeros(5)
    resp /= norm  # posterior probability of n jumps
    d_var = 0.5 * (scaled * scaled - 1.0 / var)  # d log comp / d var_n
    grad = np.array(
        [
            float((resp * scaled).sum()),
            float((resp * d_var).sum()) * 2.0 * sigma * sigma,
            float((resp * (n / lam - 1.0)).sum()) * lam,
            float((resp * scaled * n).sum()),
            float((resp * d_var * n).sum()) * 2.0 * s * s,
        ]
    )
    return value, -grad


def _numerical_hessian(f: Any, z: NDArray[np.float64], step: float = 1e-4) -> NDArray[np.float64]:
    k = z.size
    h = np.empty((k, k))
    f0 = f(z)
    for i in range(k):
        for j in range(i, k):
            ei = np.zeros(k)
            ej = np.zeros(k)
            ei[i] = step
            ej[j] = step
            if i == j:
                h[i, i] = (f(z + ei) - 2.0 * f0 + f(z - ei)) / step**2
            else:
                h[i, j] = h[j, i] = (
                    f(z + ei + ej) - f(z + ei - ej) - f(z - ei + ej) + f(z - ei - ej)
                ) / (4.0 * step**2)
    return h


def _hessian_from_gradient(
    grad: Any, z: NDArray[np.float64], step: float = 1e-5
) -> NDArray[np.float64]:
    """Central differences of the analytic gradient, symmetrised."""
    k = z.size
    h = np.empty((k, k))
    for i in range(k):
        e = np.zeros(k)
        e[i] = step
        h[i] = (grad(z + e) - grad(z - e)) / (2.0 * step)
    return 0.5 * (h + h.T)


def _damped_cholesky(
    hess: NDArray[np.float64],
) -> tuple[NDArray[np.float64], float] | None:
    """Cholesky factor of ``H + damping·diag(|H|)`` and the damping, raised until it exists."""
    scale = np.diag(np.maximum(np.abs(np.diag(hess)), 1e-12))
    for damping in (0.0, 1e-8, 1e-6, 1e-4, 1e-2, 1.0, 100.0):
        try:
            chol = np.linalg.cholesky(hess + damping * scale)
        except np.linalg.LinAlgError:
            continue
        return np.asarray(chol, dtype=np.float64), damping
    return None


def _newton_polish(
    objective: Any,
    hessian: Any,
    z: NDArray[np.float64],
    bounds: list[tuple[float, float]],
    max_iter: int = 20,
) -> NDArray[np.float64] | None:
    """Refine a near-optimal ``z`` by damped Newton steps inside the bounds.

    Parameters held at a bound by their gradient are frozen; the rest take the Newton step
    (Levenberg-damped where the Hessian is not positive definite, halved until the objective
    falls). Returns None when no step helps, so that the caller falls back to L-BFGS-B.
    """
    lower = np.array([b[0] for b in bounds])
    upper = np.array([b[1] for b in bounds])
    value, grad = objective(z)
    for _ in range(max_iter):
        at_lower = (z <= lower + 1e-9) & (grad > 0)
        at_upper = (z >= upper - 1e-9) & (grad < 0)
        free = ~(at_lower | at_upper)
        if not free.any():
            return z
        hess = hessian(z)[np.ix_(free, free)]
        factor = _damped_cholesky(hess)
        if factor is None:
            return None
        chol, damping = factor
        step = np.zeros_like(z)
        step[free] = -np.linalg.solve(chol.T, np.linalg.solve(chol, grad[free]))
        decrement = -float(grad @ step)
        if decrement < 1e-10 * max(1.0, abs(value)):
            # converged only where the plain Newton step is tiny (a damped one can be tiny
            # far from the optimum)
            return z if damping == 0.0 else None
        scale = 1.0
        for _halving in range(30):
            trial = np.clip(z + scale * step, lower, upper)
            trial_value, trial_grad = objective(trial)
            if trial_value <= value:
                break
            scale *= 0.5
        else:
            return None
        z, value, grad = trial, trial_value, trial_grad
    return None


def _pooled_hessian(
    segment_grads: Any, z: NDArray[np.float64], g: int, step: float = 1e-5
) -> NDArray[np.float64]:
    """Hessian of the pooled likelihood from 10 gradient evaluations.

    Segment k depends only on its own three parameters and the two shared ones, so the
    Hessian is block-arrow shaped: moving parameter j of *every* segment at once changes each
    segment's gradient through its own block only, and moving a shared parameter gives the
    shared column. Central differences of the analytic gradients, symmetrised.
    """
    size = 3 * g + 2
    hess = np.zeros((size, size))
    for j in range(3):
        e = np.zeros(size)
        e[j : 3 * g : 3] = step
        diff = (segment_grads(z + e) - segment_grads(z - e)) / (2.0 * step)  # (g, 5)
        for k in range(g):
            hess[3 * k : 3 * k + 3, 3 * k + j] = diff[k, :3]
    for j in range(2):
        e = np.zeros(size)
        e[3 * g + j] = step
        diff = (segment_grads(z + e) - segment_grads(z - e)) / (2.0 * step)
        column = np.concatenate([diff[:, :3].ravel(), diff[:, 3:].sum(axis=0)])
        hess[:, 3 * g + j] = column
        hess[3 * g + j, : 3 * g] = column[: 3 * g]
    return 0.5 * (hess + hess.T)


@dataclass(frozen=True)
class MertonFit:
    """The MLE of one segment's revenue process.

    Attributes
    ----------
    estimate : dict
        ``mu, volatility, jump_intensity, jump_mean, jump_sd, net_growth``.
    standard_error : dict
        Standard errors of the same keys (observed information, delta method); NaN where the
        information matrix is singular.
    n_increments : int
        Annual increments used.
    loglik : float
        Maximised log-likelihood.
    interval : dict
        95% profile-likelihood intervals ``(lower, upper)`` of ``net_growth, volatility,
        jump_intensity, jump_mean, jump_sd`` (see :func:`fit_merton` and
        :func:`fit_merton_pooled`); an interval may end at a parameter's bound. Empty when
        not computed or fewer than 2 increments.
    pooled : tuple of str
        The parameters shared with other segments (estimated jointly; their interval is the
        shared parameter's), empty for a segment fitted alone.
    """

    estimate: dict[str, float]
    standard_error: dict[str, float]
    n_increments: int
    loglik: float
    interval: dict[str, tuple[float, float]] = field(default_factory=dict)
    pooled: tuple[str, ...] = ()


def net_growth(theta: NDArray[np.float64]) -> float:
    """Return ``log E[R_{t+1}/R_t] = mu + σ²/2 + λ(exp(m + s²/2) − 1)``."""
    mu, sigma, lam, m, s = (float(v) for v in theta)
    return mu + 0.5 * sigma * sigma + lam * math.expm1(m + 0.5 * s * s)


def fit_merton(x: NDArray[np.float64], *, intervals: bool = True) -> MertonFit:
    """Fit the Merton jump-diffusion to annual log-growth increments by maximum likelihood.

    Parameters
    ----------
    x
        Increments ``log R[t+1] − log R[t]`` of consecutive calendar years (at least 2).
    intervals
        Compute the 95% profile-likelihood intervals (:func:`merton_intervals`).

    Returns
    -------
    MertonFit
        Estimates, standard errors (inverse observed information in the log-parameterisation,
        mapped by the delta method), profile-likelihood intervals, the number of increments
        and the log-likelihood.

    Notes
    -----
    Positive parameters are optimised on the log scale (SLSQP with the analytic gradient;
    bounds keep the jump intensity in [1e-3, 1], :data:`MAX_JUMP_INTENSITY`, and the
    volatilities above 1e-3), from two starts: a moderate jump component and almost none;
    the better optimum wins. With a few dozen increments the jump part is weakly identified:
    its Hessian standard errors are then unreliable (tiny at a bound), and the intervals to
    report are the profile-likelihood ones; ``net_growth`` is always well determined.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    if n < 2:
        nan = float("nan")
        est = dict.fromkeys((*MERTON_NAMES, "net_growth"), nan)
        if n == 1:
            est["net_growth"] = float(x[0])
        return MertonFit(est, dict.fromkeys(est, nan), n, nan)
    mean = float(x.mean())
    sd = max(float(x.std()), 1e-2)
    bounds = [
        (mean - 5.0 * sd, mean + 5.0 * sd),
        (math.log(1e-3), math.log(5.0)),
        (math.log(1e-3), math.log(MAX_JUMP_INTENSITY)),
        (-3.0, 3.0),
        (math.log(1e-3), math.log(3.0)),
    ]
    starts = [
        np.array([mean + 0.05, math.log(0.85 * sd), math.log(0.15), -0.3, math.log(0.25)]),
        np.array([mean, math.log(sd), math.log(0.01), -0.3, math.log(0.25)]),
    ]
    # Large segments: choose the start on an evenly spaced subsample, then polish on all data
    # from there (the same optimum, a fraction of the likelihood evaluations).
    probe = x[:: max(1, n // _PROBE_SIZE)] if n > 2 * _PROBE_SIZE else x

    def solve(z0: NDArray[np.float64], data: NDArray[np.float64]) -> Any:
        return optimize.minimize(
            _negloglik_and_grad,
            z0,
            args=(data,),
            jac=True,
            method="SLSQP",
            bounds=bounds,
            options={"maxiter": 300},
        )

    best = min((solve(z0, probe) for z0 in starts), key=lambda r: float(r.fun))
    if probe is not x:
        best = solve(np.asarray(best.x, dtype=np.float64), x)
    z = np.asarray(best.x, dtype=np.float64)
    theta = _to_natural(z)
    hess = _hessian_from_gradient(lambda v: _negloglik_and_grad(v, x)[1], z)
    # delta method: Jacobian of (natural params, net growth) with respect to z
    jac = np.zeros((6, 5))
    jac[0, 0] = 1.0
    jac[1, 1] = theta[1]
    jac[2, 2] = theta[2]
    jac[3, 3] = 1.0
    jac[4, 4] = theta[4]
    eps = 1e-6
    for k in range(5):
        dz = np.zeros(5)
        dz[k] = eps
        jac[5, k] = (net_growth(_to_natural(z + dz)) - net_growth(_to_natural(z - dz))) / (2 * eps)
    try:
        cov_z = np.linalg.inv(hess)
        cov = jac @ cov_z @ jac.T
        diag = np.diag(cov)
        se = np.where(diag > 0, np.sqrt(np.abs(diag)), np.nan)
    except np.linalg.LinAlgError:
        se = np.full(6, np.nan)
    names = (*MERTON_NAMES, "net_growth")
    values = (*theta.tolist(), net_growth(theta))
    estimate = {k: float(v) for k, v in zip(names, values, strict=True)}
    return MertonFit(
        estimate,
        {k: float(v) for k, v in zip(names, se, strict=True)},
        n,
        -float(best.fun),
        _covering(merton_intervals(x, estimate), estimate) if intervals else {},
    )


CERTIFICATE_LOSS_EVENTS = ("lapse", "revocation")
"""Events after which a product's revenue carries a one-off loss (not part of the process)."""


def revenue_increments(history: History) -> tuple[NDArray[np.str_], NDArray[np.float64]]:
    """Return the product id and log-growth of each pair of consecutive calendar years.

    Total revenue is ``licensing + services``; a pair is used when both years are reported,
    are consecutive and positive.

    Notes
    -----
    A lapse or revocation of the product's certificate cuts its revenue by the lapse or
    revocation loss from the calendar year of the event on (``truth.json`` conventions,
    ``event_losses``): a deliberate drop that is not a draw of the revenue process. So for a
    product with a ``lapse`` or ``revocation`` event (the ``events`` table), the increments
    that end in the calendar year of its first such event and in every later year are left
    out; its increments before that year are kept.
    """
    revenue = history["revenue"]
    pid = revenue["product_id"]
    year = revenue["period_end"].astype("datetime64[Y]").astype(np.int64)
    total = np.nan_to_num(revenue["licensing"]) + np.nan_to_num(revenue["services"])
    order = np.lexsort((year, pid))
    pid, year, total = pid[order], year[order], total[order]
    ok = (pid[1:] == pid[:-1]) & (year[1:] == year[:-1] + 1) & (total[1:] > 0) & (total[:-1] > 0)
    ok &= year[1:] < _first_loss_year(history, pid[1:])
    with np.errstate(divide="ignore", invalid="ignore"):
        increments = np.log(total[1:]) - np.log(total[:-1])
    return pid[1:][ok], increments[ok]


def _first_loss_year(history: History, ids: NDArray[np.str_]) -> NDArray[np.int64]:
    """Per id: the calendar year (since 1970) of its first lapse or revocation, else a maximum."""
    never = np.iinfo(np.int64).max
    events = history["events"]
    dates = events["date"]
    mask = np.isin(events["kind"], CERTIFICATE_LOSS_EVENTS) & ~np.isnat(dates)
    if not mask.any() or ids.size == 0:
        return np.full(ids.size, never, dtype=np.int64)
    ev_ids = events["product_id"][mask]
    ev_year = dates[mask].astype("datetime64[Y]").astype(np.int64)
    order = np.lexsort((ev_year, ev_ids))
    ev_ids, ev_year = ev_ids[order], ev_year[order]
    first = np.ones(ev_ids.size, dtype=bool)
    first[1:] = ev_ids[1:] != ev_ids[:-1]
    ev_ids, ev_year = ev_ids[first], ev_year[first]  # the earliest per product
    pos = np.clip(np.searchsorted(ev_ids, ids), 0, ev_ids.size - 1)
    return np.where(ev_ids[pos] == ids, ev_year[pos], never)


def segment_of(history: History) -> dict[str, str]:
    """Return ``product_id -> 'sector/category'``."""
    products = history["products"]
    return {
        p: f"{s}/{c}"
        for p, s, c in zip(
            products["product_id"].tolist(),
            products["sector"].tolist(),
            products["category"].tolist(),
            strict=True,
        )
    }


def fit_merton_pooled(
    samples: list[NDArray[np.float64]], *, intervals: bool = True
) -> list[MertonFit]:
    """Fit Merton processes to several segments jointly, with one jump-size law for all.

    Parameters
    ----------
    samples
        Annual log-growth increments of each segment (each with at least 2).
    intervals
        Compute the 95% profile-likelihood intervals (:func:`pooled_merton_intervals`).

    Returns
    -------
    list of MertonFit
        One per segment: its own drift, volatility and jump intensity, the shared jump mean
        and sd (``pooled`` names them), with standard errors from the joint observed
        information and profile-likelihood intervals.

    Notes
    -----
    The log-likelihood is the sum of the segments' Poisson mixtures (:func:`fit_merton`)
    with ``(jump_mean, jump_sd)`` shared. A regulatory or market shock hits products of any
    segment alike, while its frequency differs by sector; sharing the size law is what makes
    the jump part identifiable in small segments (alone, a segment's jumps trade off against
    its volatility along a flat ridge of the likelihood).
    """
    g = len(samples)
    bounds: list[tuple[float, float]] = []
    z0: list[float] = []
    for x in samples:
        mean = float(x.mean())
        sd = max(float(x.std()), 1e-2)
        bounds += [
            (mean - 5.0 * sd, mean + 5.0 * sd),
            (math.log(1e-3), math.log(5.0)),
            (math.log(1e-3), math.log(MAX_JUMP_INTENSITY)),
        ]
        z0 += [mean + 0.05, math.log(0.85 * sd), math.log(0.15)]
    bounds += [(-3.0, 3.0), (math.log(1e-3), math.log(3.0))]
    z0 += [-0.3, math.log(0.25)]

    def full(z: NDArray[np.float64], k: int) -> NDArray[np.float64]:
        return np.array([z[3 * k], z[3 * k + 1], z[3 * k + 2], z[-2], z[-1]])

    def parts(
        z: NDArray[np.float64], data: list[NDArray[np.float64]]
    ) -> tuple[float, NDArray[np.float64]]:
        """Total value and each segment's gradient in its own five parameters."""
        total = 0.0
        grads = np.empty((len(data), 5))
        for k, x in enumerate(data):
            value, grads[k] = _negloglik_and_grad(full(z, k), x)
            total += value
        return total, grads

    def objective(
        z: NDArray[np.float64], data: list[NDArray[np.float64]]
    ) -> tuple[float, NDArray[np.float64]]:
        total, grads = parts(z, data)
        return total, np.concatenate([grads[:, :3].ravel(), grads[:, 3:].sum(axis=0)])

    def solve(z_start: NDArray[np.float64], data: list[NDArray[np.float64]]) -> Any:
        return optimize.minimize(
            objective,
            z_start,
            args=(data,),
            jac=True,
            method="L-BFGS-B",
            bounds=bounds,
            options={"maxiter": 3000, "maxfun": 6000},
        )

    # Warm start on an evenly spaced subsample of each large segment, then polish on all data.
    probe = [x[:: max(1, x.size // _POOLED_PROBE)] for x in samples]
    z = np.asarray(solve(np.array(z0), probe).x, dtype=np.float64)
    polished = _newton_polish(
        lambda v: objective(v, samples),
        lambda v: _pooled_hessian(lambda u: parts(u, samples)[1], v, g),
        z,
        bounds,
    )
    z = polished if polished is not None else np.asarray(solve(z, samples).x, dtype=np.float64)
    hess = _pooled_hessian(lambda v: parts(v, samples)[1], z, g)
    try:
        cov_all = np.linalg.pinv(hess)
    except np.linalg.LinAlgError:
        cov_all = np.full(hess.shape, np.nan)
    fits: list[MertonFit] = []
    for k, x in enumerate(samples):
        idx = [3 * k, 3 * k + 1, 3 * k + 2, z.size - 2, z.size - 1]
        zk = z[idx]
        theta = _to_natural(zk)
        cov_z = cov_all[np.ix_(idx, idx)]
        jac = np.diag([1.0, theta[1], theta[2], 1.0, theta[4]])
        jac = np.vstack([jac, np.zeros(5)])
        eps = 1e-6
        for j in range(5):
            dz = np.zeros(5)
            dz[j] = eps
            jac[5, j] = (net_growth(_to_natural(zk + dz)) - net_growth(_to_natural(zk - dz))) / (
                2 * eps
            )
        diag = np.diag(jac @ cov_z @ jac.T)
        se = np.where(diag > 0, np.sqrt(np.abs(diag)), np.nan)
        names = (*MERTON_NAMES, "net_growth")
        values = (*theta.tolist(), net_growth(theta))
        fits.append(
            MertonFit(
                {n: float(v) for n, v in zip(names, values, strict=True)},
                {n: float(v) for n, v in zip(names, se, strict=True)},
                int(x.size),
                -float(_negloglik_and_grad(zk, x)[0]),
                pooled=POOLED_PARAMETERS,
            )
        )
    if not intervals:
        return fits
    found = pooled_merton_intervals(samples, [f.estimate for f in fits])
    return [
        dataclasses.replace(f, interval=_covering(i, f.estimate))
        for f, i in zip(fits, found, strict=True)
    ]


def _covering(
    intervals: dict[str, tuple[float, float]], estimate: dict[str, float]
) -> dict[str, tuple[float, float]]:
    """Return the intervals widened, where needed, to hold the point estimates.

    The profile is computed in its own coordinates from the polished MLE, so an end can fall
    a rounding error short of an estimate (or, in a flat likelihood, the optimiser's estimate
    can sit off the polished optimum).
    """
    return {k: (min(lo, estimate[k]), max(hi, estimate[k])) for k, (lo, hi) in intervals.items()}


# ---------------------------------------------------------------------------------------------
# revenue: profile-likelihood intervals
# ---------------------------------------------------------------------------------------------

PROFILE_DROP = 0.5 * float(stats.chi2.ppf(0.95, 1))
"""Fall of the log-likelihood that bounds a 95% profile interval: ``chi2(1, 0.95) / 2``."""
_N_JUMPS = np.arange(_MAX_JUMPS + 1, dtype=np.float64)
_LOG_FACTORIAL = special.gammaln(_N_JUMPS + 1.0)
# Profile coordinates p = (net_growth, log volatility, jump_intensity, jump_mean, jump_sd²) and
# their bounds (the MLE's; net growth replaces the drift, which is then free). The jump
# intensity and variance are used on their natural scale: on the log scale the likelihood is
# flat next to their lower bounds (its slope there is λ·∂/∂λ, s²·∂/∂s²), so an optimiser stops
# at the bound even where the likelihood rises away from it.
_PROFILE_LOWER = np.array([-np.inf, math.log(1e-3), 1e-3, -3.0, 1e-6])
_PROFILE_UPPER = np.array([np.inf, math.log(5.0), MAX_JUMP_INTENSITY, 3.0, 9.0])
# smallest and largest first step of the search for an interval's end, per coordinate
_MIN_STEP = np.array([0.005, 0.01, 0.01, 0.02, 0.002])
_MAX_STEP = np.array([0.5, 0.5, 0.25, 0.5, 0.5])
_GRID_NODES = 9  # per axis of the (jump mean, jump variance) grid of the pooled profiles
_INTERVAL_KEYS = ("net_growth", "volatility", "jump_intensity", "jump_mean", "jump_sd")


def _profile_point(estimate: dict[str, float]) -> NDArray[np.float64]:
    """Return the profile coordinates of an estimate (clipped into the bounds)."""
    p = np.array(
        [
            estimate["net_growth"],
            math.log(estimate["volatility"]),
            estimate["jump_intensity"],
            estimate["jump_mean"],
            estimate["jump_sd"] ** 2,
        ]
    )
    return np.clip(p, _PROFILE_LOWER, _PROFILE_UPPER)


def _natural_interval(i: int, lo: float, hi: float) -> tuple[float, float]:
    """Return an interval of profile coordinate ``i`` on the reported parameter's scale."""
    if i == 1:
        return math.exp(lo), math.exp(hi)
    if i == 4:
        return math.sqrt(lo), math.sqrt(hi)
    return lo, hi


def _profile_nll(
    x: NDArray[np.float64], p: NDArray[np.float64]
) -> tuple[float, NDArray[np.float64]]:
    """Return the negative log-likelihood of ``x`` and its gradient in profile coordinates.

    ``p = (net_growth, log σ, λ, m, s²)``; the drift is ``net_growth − σ²/2 − λ(e^{m+s²/2} − 1)``.
    """
    from calibration._kernels import merton_nll_grad

    ng, log_sigma, lam, m, q = p.tolist()
    sigma = math.exp(log_sigma)
    kappa = math.expm1(m + 0.5 * q)
    mu = ng - 0.5 * sigma * sigma - lam * kappa
    gz = np.empty(5)
    value = float(
        merton_nll_grad(
            x,
            np.array([mu, sigma, lam, m, math.sqrt(q)]),
            _N_JUMPS * math.log(lam) - (lam + _LOG_FACTORIAL),
            gz,
        )
    )
    g_mu, g_sigma, g_lam, g_m, g_s = gz.tolist()
    if not math.isfinite(value + g_mu + g_sigma + g_lam + g_m + g_s):
        return 1e300, np.zeros(5)
    jump_growth = lam * (kappa + 1.0)
    grad = np.array(
        [
            g_mu,
            g_sigma - g_mu * sigma * sigma,
            g_lam / lam - g_mu * kappa,
            g_m - g_mu * jump_growth,
            g_s / (2.0 * q) - 0.5 * g_mu * jump_growth,
        ]
    )
    return value, grad


def _fd_hessian(
    grad: Any,
    x: NDArray[np.float64],
    upper: NDArray[np.float64],
    g0: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Return forward differences of ``grad`` (steps relative to each coordinate), symmetrised."""
    g0 = grad(x) if g0 is None else g0
    hess = np.empty((x.size, x.size))
    for j in range(x.size):
        h = 1e-6 * max(abs(float(x[j])), 1e-2)
        if x[j] + h > upper[j]:
            h = -h
        e = x.copy()
        e[j] += h
        hess[:, j] = (grad(e) - g0) / h
    return 0.5 * (hess + hess.T)


def _box_newton(
    fun: Any,
    x0: NDArray[np.float64],
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
    max_iter: int = 40,
    hessian: Any = None,
) -> tuple[NDArray[np.float64], float]:
    """Minimise a smooth function inside a box by projected Newton steps.

    ``fun`` returns the value and the gradient; the Hessian is ``hessian(x)`` or a forward
    difference of the gradient, over the coordinates not held at a bound by their gradient
    (Levenberg-damped where it is not positive definite); a step is halved until the value
    falls. Returns the point and its value.
    """
    x = np.clip(np.asarray(x0, dtype=np.float64), lower, upper)
    f, g = fun(x)
    for _ in range(max_iter):
        free = ~(((x <= lower) & (g > 0)) | ((x >= upper) & (g < 0)))
        idx = np.flatnonzero(free)
        if idx.size == 0:
            break
        if hessian is not None:
            hess = hessian(x)[np.ix_(idx, idx)]
        else:

            def sub_grad(
                y: NDArray[np.float64],
                idx: NDArray[np.intp] = idx,
                base: NDArray[np.float64] = x,
            ) -> NDArray[np.float64]:
                z = base.copy()
                z[idx] = y
                return np.asarray(fun(z)[1][idx])

            hess = _fd_hessian(sub_grad, x[idx], upper[idx], g[idx])
        factor = _damped_cholesky(hess)
        if factor is None:
            break
        inv_chol = np.linalg.inv(factor[0])
        step = np.zeros_like(x)
        step[idx] = -inv_chol.T @ (inv_chol @ g[idx])
        if -float(g @ step) < 1e-9:
            break
        scale = 1.0
        for _halving in range(40):
            trial = np.clip(x + scale * step, lower, upper)
            f_trial, g_trial = fun(trial)
            if f_trial < f:
                break
            scale *= 0.5
        else:
            break
        done = f - f_trial < 1e-10
        x, f, g = trial, f_trial, g_trial
        if done:
            break
        if scale == 1.0:  # the last Hessian predicts no further gain: spare a new one
            half = inv_chol @ g[idx]
            if float(half @ half) < 1e-9:
                break
    return x, float(f)


def _interval_end(
    deviation: Any,
    start: float,
    step: float,
    bound: float,
    *,
    growth: float = 4.0,
    max_eval: int = 16,
) -> float:
    """Return where the profile deviation first reaches :data:`PROFILE_DROP` from ``start``.

    ``deviation(v)`` is the fall of the profile log-likelihood at ``v`` (0 at ``start``, the
    MLE). The walk takes a first step ``step``, then extrapolates the signed root
    ``r = sqrt(2·deviation)`` (close to linear in a well-chosen coordinate), each step at most
    ``growth`` times the last, until the deviation passes the drop; then it narrows the bracket
    by regula falsi on ``r``. Returns ``bound`` when the deviation stays below the drop up to
    the bound (or the last point tried when ``max_eval`` runs out first).
    """
    target = math.sqrt(2.0 * PROFILE_DROP)
    a, ra = start, 0.0
    width = step
    evals = 0
    while True:
        b = a + width
        if (b - bound) * step >= 0:
            b = bound
        rb = math.sqrt(2.0 * deviation(b))
        evals += 1
        if rb >= target:
            break
        if b == bound or evals >= max_eval:
            return b
        last = abs(b - a)
        guess = 1.15 * (target - rb) * last / (rb - ra) if rb > ra + 1e-9 else growth * last
        width = math.copysign(min(max(guess, 0.25 * last), growth * last), step)
        a, ra = b, rb
    # bracket: ra < target <= rb; regula falsi on r (Illinois: halve a stale end's excess)
    stale = 0
    while evals < max_eval and rb - ra > 0.05:
        v = a + (target - ra) * (b - a) / (rb - ra)
        rv = math.sqrt(2.0 * deviation(v))
        evals += 1
        if abs(rv - target) < 0.02:
            return v
        if rv < target:
            a, ra = v, rv
            if stale == -1:
                rb = target + 0.5 * (rb - target)
            stale = -1
        else:
            b, rb = v, rv
            if stale == 1:
                ra = target - 0.5 * (target - ra)
            stale = 1
    return a + (target - ra) * (b - a) / (rb - ra)


class _Profile:
    """The deviation of one coordinate's profile, followed from the MLE by continuation.

    ``solve(start, v)`` returns the optimum (full point, value) with the coordinate fixed at
    ``v``, from ``start``: the solution at the solved value nearest to ``v`` on the MLE's side
    (so the walk follows the MLE's mode of the likelihood); ``extra(point, value, v)`` may
    offer a better one. The deviation is the fall from the reference (the MLE's value),
    floored at 0 where the walk meets a higher likelihood.
    """

    def __init__(
        self,
        solve: Any,
        index: int,
        reference: float,
        p_hat: NDArray[np.float64],
        extra: Any = None,
    ) -> None:
        self.solve = solve
        self.index = index
        self.reference = reference
        self.centre = float(p_hat[index])
        self.solved: dict[float, NDArray[np.float64]] = {self.centre: p_hat}
        self.extra = extra

    def __call__(self, v: float) -> float:
        inner = [u for u in self.solved if (u - self.centre) * (v - u) >= 0]
        near = min(inner or list(self.solved), key=lambda u: abs(u - v))
        p, f = self.solve(self.solved[near], v)
        if self.extra is not None:
            p, f = self.extra(p, f, v)
        self.solved[v] = p
        return max(f - self.reference, 0.0)

    def interval(
        self, step: float, lower: float, upper: float, growth: float = 4.0
    ) -> tuple[float, float]:
        """Return the 95% interval of the coordinate, searched from the MLE by ``step``."""
        return (
            _interval_end(self, self.centre, -step, lower, growth=growth),
            _interval_end(self, self.centre, step, upper, growth=growth),
        )


def _first_steps(hess: NDArray[np.float64], coords: NDArray[np.intp]) -> NDArray[np.float64]:
    """Return Wald-sized first steps (1.96 standard errors) of profile ``coords``, clipped.

    ``hess`` is the Hessian of the negative log-likelihood in the profile coordinates;
    ``coords`` names the profile coordinate (0-4) of each of its rows.
    """
    try:
        var = np.abs(np.diag(np.linalg.pinv(hess)))
    except np.linalg.LinAlgError:
        var = np.full(hess.shape[0], np.nan)
    se = np.sqrt(np.where(np.isfinite(var), var, 0.0))
    return np.clip(_Z95 * se, _MIN_STEP[coords], _MAX_STEP[coords])


def _fixed_solver(
    fun: Any, index: int, lower: NDArray[np.float64], upper: NDArray[np.float64]
) -> Any:
    """Return ``solve(start, v)``: minimise ``fun`` over every coordinate but ``index`` = v."""
    keep = np.arange(lower.size) != index

    def solve(start: NDArray[np.float64], v: float) -> tuple[NDArray[np.float64], float]:
        def sub(y: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
            p = np.empty(lower.size)
            p[keep] = y
            p[index] = v
            value, grad = fun(p)
            return value, grad[keep]

        y, value = _box_newton(sub, start[keep], lower[keep], upper[keep])
        p = np.empty(lower.size)
        p[keep] = y
        p[index] = v
        return p, value

    return solve


def merton_intervals(
    x: NDArray[np.float64], estimate: dict[str, float]
) -> dict[str, tuple[float, float]]:
    """Return 95% profile-likelihood intervals of one segment's parameters (fitted alone).

    Parameters
    ----------
    x
        The segment's annual log-growth increments.
    estimate
        Its MLE (:func:`fit_merton`).

    Returns
    -------
    dict
        ``net_growth, volatility, jump_intensity, jump_mean, jump_sd -> (lower, upper)``.

    Notes
    -----
    The interval of a parameter is the set of its values whose profile log-likelihood (the
    others re-optimised, inside their bounds) is within :data:`PROFILE_DROP` (``chi2(1,
    0.95)/2 = 1.92``) of the MLE's; it ends at a bound where the profile stays above that.

    Why profile likelihood. The Hessian (Wald) interval ``estimate ± 1.96 se`` assumes a
    quadratic log-likelihood; the jump part of annual data is weakly identified and its
    likelihood is nothing like that: flat up to a bound (a jump intensity at 1e-3 gets a tiny
    standard error although intensities of 0.1-0.2 fit almost as well), skewed, often bimodal
    (rare large jumps against frequent smaller ones). The profile follows the likelihood
    itself, does not depend on the parameterisation, and respects the bounds (an interval can
    end at one). A parametric bootstrap with percentile intervals was the alternative: it
    costs hundreds of refits of the whole pooled model (each as long as the calibration's
    revenue stage) against a few hundred small optimisations here, and its percentiles
    inherit the estimator's pile-up at a bound. The chi-square calibration of the drop is
    asymptotic; for the weakly identified jump law it holds only roughly, which is why the
    synthetic-market tests measure coverage.

    Computation: ``(net_growth, log σ, λ, m, s²)`` coordinates (net growth replaces the drift,
    so its interval is a coordinate's); each end is found by stepping out from the MLE and
    regula falsi on the signed root of the deviation; each trial value is optimised (projected
    Newton) from the solution at the nearest solved value on the MLE's side, so the profile
    follows the MLE's mode of the likelihood; where it meets a higher likelihood the
    deviation counts as 0 (inside).
    """
    lower, upper = _PROFILE_LOWER, _PROFILE_UPPER

    def fun(p: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        return _profile_nll(x, p)

    p_hat, f_hat = _box_newton(fun, _profile_point(estimate), lower, upper)
    steps = _first_steps(_fd_hessian(lambda p: fun(p)[1], p_hat, upper), np.arange(5))
    out: dict[str, tuple[float, float]] = {}
    for i, key in enumerate(_INTERVAL_KEYS):
        profile = _Profile(_fixed_solver(fun, i, lower, upper), i, f_hat, p_hat)
        lo, hi = profile.interval(float(steps[i]), float(lower[i]), float(upper[i]))
        out[key] = _natural_interval(i, lo, hi)
    return out


def _block_arrow_hessian(segment_grads: Any, z: NDArray[np.float64], g: int) -> NDArray[np.float64]:
    """Return the Hessian of a pooled objective (3 own coordinates a segment, 2 shared).

    As :func:`_pooled_hessian`, with forward differences and a step per coordinate
    proportional to its size (the jump intensity and variance may sit at 1e-3 and 1e-6).
    """
    size = 3 * g + 2
    h = 1e-6 * np.maximum(np.abs(z), 1e-2)
    base = segment_grads(z)
    hess = np.zeros((size, size))
    for j in range(3):
        e = np.zeros(size)
        e[j : 3 * g : 3] = h[j : 3 * g : 3]
        diff = (segment_grads(z + e) - base) / h[j : 3 * g : 3, None]
        for k in range(g):
            hess[3 * k : 3 * k + 3, 3 * k + j] = diff[k, :3]
    for j in range(2):
        e = np.zeros(size)
        e[3 * g + j] = h[3 * g + j]
        diff = (segment_grads(z + e) - base) / h[3 * g + j]
        column = np.concatenate([diff[:, :3].ravel(), diff[:, 3:].sum(axis=0)])
        hess[:, 3 * g + j] = column
        hess[3 * g + j, : 3 * g] = column[: 3 * g]
    return 0.5 * (hess + hess.T)


def _conditional_fit(
    x: NDArray[np.float64], own: NDArray[np.float64], shared: NDArray[np.float64]
) -> tuple[NDArray[np.float64], float]:
    """Return a segment's own optimum ``(net_growth, log σ, λ)`` and NLL at fixed ``(m, s²)``."""

    def fun(a: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        value, grad = _profile_nll(x, np.concatenate([a, shared]))
        return value, grad[:3]

    return _box_newton(fun, own, _PROFILE_LOWER[:3], _PROFILE_UPPER[:3])


def _minimise_1d(h: Any, u0: float, step: float, lo: float, hi: float) -> float:
    """Return a local minimiser of ``h`` (value and derivative) on ``[lo, hi]`` near ``u0``.

    Walks downhill from ``u0`` (steps growing by a secant on the derivative) until the
    derivative changes sign or the value rises, then narrows the bracket by safeguarded
    secant steps on the derivative.
    """
    a = min(max(u0, lo), hi)
    fa, da = h(a)
    if da == 0.0:
        return a
    s = -math.copysign(step, da)
    for _ in range(40):
        b = min(max(a + s, lo), hi)
        if b == a:
            return a
        fb, db = h(b)
        if db * da <= 0.0 or fb > fa:
            break
        if da != db and (db / (da - db)) > 0:
            grow = min(max(db / (da - db), 1.0), 4.0)
        else:
            grow = 2.0
        s = (b - a) * grow
        a, fa, da = b, fb, db
    else:
        return a
    best_u, best_f = (a, fa) if fa <= fb else (b, fb)
    for _ in range(30):
        if db * da < 0.0:
            c = b - db * (b - a) / (db - da)
            lo_c, hi_c = sorted((a, b))
            margin = 0.05 * (hi_c - lo_c)
            c = min(max(c, lo_c + margin), hi_c - margin)
        else:  # the value rose without a sign change: a maximum in between; bisect
            c = 0.5 * (a + b)
        fc, dc = h(c)
        if fc < best_f:
            best_u, best_f = c, fc
        if abs(dc * (b - a)) < 1e-6 or abs(b - a) < 1e-9 * max(1.0, abs(c)):
            break
        if dc * da > 0.0 and fc <= fa:
            a, fa, da = c, fc, dc
        else:
            b, fb, db = c, fc, dc
    return best_u


def _shared_solver(samples: list[NDArray[np.float64]], axis: int, step: float) -> Any:
    """Return ``solve(start, v)`` for the profile of shared coordinate ``axis`` (0: m, 1: s²).

    With it held at ``v``, the other shared coordinate is optimised in one dimension: at each
    trial value every segment's own parameters are re-optimised (they separate), and the
    derivative is the sum of the segments' (envelope theorem). Points are full vectors
    ``(own₁, …, own_g, m, s²)``.
    """
    g = len(samples)
    other = 1 - axis
    lo, hi = float(_PROFILE_LOWER[3 + other]), float(_PROFILE_UPPER[3 + other])

    def solve(start: NDArray[np.float64], v: float) -> tuple[NDArray[np.float64], float]:
        own = start[: 3 * g].reshape(g, 3).copy()
        shared = start[-2:].copy()
        shared[axis] = v

        def h(u: float) -> tuple[float, float]:
            shared[other] = u
            total, slope = 0.0, 0.0
            for k, x in enumerate(samples):
                own[k], value = _conditional_fit(x, own[k], shared)
                total += value
                slope += float(_profile_nll(x, np.concatenate([own[k], shared]))[1][3 + other])
            return total, slope

        u = _minimise_1d(h, float(start[-2 + other]), step, lo, hi)
        value = h(u)[0]
        return np.concatenate([own.ravel(), shared]), value

    return solve


@dataclass(frozen=True)
class _SharedGrid:
    """Each segment's conditional optimum on a grid of the shared ``(m, s²)``."""

    m_nodes: NDArray[np.float64]
    q_nodes: NDArray[np.float64]
    value: NDArray[np.float64]  # (g, n, n): the segment's NLL minimised over its own parameters
    own: NDArray[np.float64]  # (g, n, n, 3): the minimising own parameters

    @property
    def total(self) -> NDArray[np.float64]:
        """Return ``F(m, s²)``, the pooled NLL with every segment's own parameters optimal."""
        return np.asarray(self.value.sum(axis=0))

    def node(self, k: int, a: int, b: int) -> NDArray[np.float64]:
        """Return segment ``k``'s five profile coordinates at node ``(a, b)``."""
        return np.concatenate([self.own[k, a, b], [self.m_nodes[a], self.q_nodes[b]]])

    def lower(self) -> NDArray[np.float64]:
        """Return a segment's lower bounds with ``(m, s²)`` held inside the grid."""
        return np.concatenate([_PROFILE_LOWER[:3], [self.m_nodes[0], self.q_nodes[0]]])

    def upper(self) -> NDArray[np.float64]:
        """Return a segment's upper bounds with ``(m, s²)`` held inside the grid."""
        return np.concatenate([_PROFILE_UPPER[:3], [self.m_nodes[-1], self.q_nodes[-1]]])


def _grid_axis(lo: float, hi: float, lower: float, upper: float) -> NDArray[np.float64]:
    """Return nodes spanning ``[lo, hi]`` with a node of margin each side, inside the bounds."""
    pad = (hi - lo) / (_GRID_NODES - 3)
    return np.linspace(max(lo - pad, lower), min(hi + pad, upper), _GRID_NODES)


def _shared_grid(
    samples: list[NDArray[np.float64]],
    z_hat: NDArray[np.float64],
    m_nodes: NDArray[np.float64],
    q_nodes: NDArray[np.float64],
) -> _SharedGrid:
    """Return every segment's conditional optimum on the grid, by continuation from the MLE.

    Nodes are visited outward from the one nearest the MLE, where each segment starts from its
    MLE; elsewhere from its optimum at the visited neighbour one step closer.
    """
    n, g = _GRID_NODES, len(samples)
    value = np.empty((g, n, n))
    own = np.empty((g, n, n, 3))
    a0 = int(np.argmin(np.abs(m_nodes - z_hat[-2])))
    b0 = int(np.argmin(np.abs(q_nodes - z_hat[-1])))
    order = sorted(
        ((a, b) for a in range(n) for b in range(n)),
        key=lambda ab: abs(ab[0] - a0) + abs(ab[1] - b0),
    )
    for a, b in order:
        if (a, b) == (a0, b0):
            starts = z_hat[: 3 * g].reshape(g, 3)
        elif a != a0:
            starts = own[:, a - int(np.sign(a - a0)), b]
        else:
            starts = own[:, a, b - int(np.sign(b - b0))]
        shared = np.array([m_nodes[a], q_nodes[b]])
        for k, x in enumerate(samples):
            own[k, a, b], value[k, a, b] = _conditional_fit(x, starts[k], shared)
    return _SharedGrid(m_nodes, q_nodes, value, own)


def _segment_intervals(
    samples: list[NDArray[np.float64]],
    grid: _SharedGrid,
    k: int,
    start: NDArray[np.float64],
    reference: float,
) -> dict[str, tuple[float, float]]:
    """Return the profile intervals of segment ``k``'s own parameters under pooled jumps.

    The other segments enter through ``F₋ₖ(m, s²)``, their optimal NLL at each ``(m, s²)``,
    tabulated on the grid and interpolated by a bicubic spline; ``(m, s²)`` stays inside the
    grid. ``reference`` is the pooled MLE's NLL. A trial value is optimised from the nearest
    solved value on the MLE's side and, where a grid node in the joint region (the segment's
    own optimum there, with the trial value) promises a higher likelihood, from that node too.
    """
    from scipy.interpolate import RectBivariateSpline

    x = samples[k]
    rest = grid.total - grid.value[k]
    spline = RectBivariateSpline(grid.m_nodes, grid.q_nodes, rest)
    lower, upper = grid.lower(), grid.upper()
    region = np.argwhere(grid.total - reference <= PROFILE_DROP + 0.5)
    region_points = np.array([grid.node(k, a, b) for a, b in region]).reshape(-1, 5)
    region_rest = np.array([rest[a, b] for a, b in region])

    def fun(w: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        value, grad = _profile_nll(x, w)
        m, q = float(w[3]), float(w[4])
        grad[3] += float(spline(m, q, dx=1, grid=False))
        grad[4] += float(spline(m, q, dy=1, grid=False))
        return value + float(spline(m, q, grid=False)), grad

    w_hat, phi_hat = _box_newton(fun, start, lower, upper)
    steps = _first_steps(_fd_hessian(lambda w: fun(w)[1], w_hat, upper), np.arange(5))
    out: dict[str, tuple[float, float]] = {}
    for i in range(3):
        solve = _fixed_solver(fun, i, lower, upper)

        def extra(
            p: NDArray[np.float64], f: float, v: float, i: int = i, solve: Any = solve
        ) -> tuple[NDArray[np.float64], float]:
            best, best_value = None, f - 1e-3
            for w0, rest_ab in zip(region_points, region_rest, strict=True):
                w = w0.copy()
                w[i] = v
                value = _profile_nll(x, w)[0] + rest_ab
                if value < best_value:
                    best, best_value = w, value
            if best is None:
                return p, f
            p2, f2 = solve(best, v)
            return (p2, f2) if f2 < f else (p, f)

        profile = _Profile(solve, i, phi_hat, w_hat, extra)
        lo, hi = profile.interval(float(steps[i]), float(lower[i]), float(upper[i]))
        out[_INTERVAL_KEYS[i]] = _natural_interval(i, lo, hi)
    return out


def pooled_merton_intervals(
    samples: list[NDArray[np.float64]], estimates: list[dict[str, float]]
) -> list[dict[str, tuple[float, float]]]:
    """Return 95% profile-likelihood intervals of the pooled revenue fit, one dict a segment.

    Parameters
    ----------
    samples
        Each segment's increments (at least 2 each).
    estimates
        Each segment's MLE (:func:`fit_merton_pooled`).

    Returns
    -------
    list of dict
        ``net_growth, volatility, jump_intensity, jump_mean, jump_sd -> (lower, upper)``; the
        last two are the pooled parameters' (the same for every segment).

    Notes
    -----
    Profile likelihood, for the reasons given in :func:`merton_intervals`: the interval of a
    parameter is where its profile log-likelihood, every other parameter of every segment
    re-optimised inside the bounds, is within :data:`PROFILE_DROP` (1.92) of the MLE's. For
    fixed pooled jump mean and variance ``(m, s²)`` the segments separate, which makes the
    profiles cheap:

    * ``m`` and ``s²``: exact profiles; at a trial value the other shared parameter is
      optimised in one dimension, every segment's own parameters re-optimised at each step.
    * A segment's net growth, volatility and jump intensity: the other segments enter only
      through ``F₋ₖ(m, s²)``, the sum of their NLLs minimised over their own parameters. Any
      point within the drop has its ``(m, s²)`` inside the joint region whose bounding box is
      the product of the two shared intervals; ``F₋ₖ`` is tabulated on a 9 × 9 grid over that
      box (a node of margin each side) and interpolated by a bicubic spline, so a profile
      point is a four-parameter optimisation on the segment's own increments. The grid and
      its spline are the one approximation. Checked against exact profiles (every parameter
      of every segment re-optimised from several starts): a jump intensity's ends in a large
      segment fell within 0.04 of the 1.92 drop; in segments of a few dozen increments,
      where an end lies where many small jumps stand in for the diffusion and ``F`` bends
      sharply, an end can be off by more (a volatility's lower end at 0.054 where the exact
      profile gives about 0.075).

    The likelihood of the jump part can have several modes (rare large jumps of one size,
    frequent smaller ones; at the intensity's upper bound, jumps that stand in for the
    diffusion). The profiles follow the MLE's mode by continuation (each trial value starts
    from its solved neighbour, the grid from the MLE's node outward), taking a neighbouring
    mode where the walk meets it; far modes are not searched.
    """
    g = len(samples)
    z_hat = np.concatenate(
        [*(_profile_point(e)[:3] for e in estimates), _profile_point(estimates[0])[3:]]
    )
    # the MLE, polished in these coordinates (each segment's own parameters)
    f_hat = 0.0
    for k, x in enumerate(samples):
        z_hat[3 * k : 3 * k + 3], value = _conditional_fit(x, z_hat[3 * k : 3 * k + 3], z_hat[-2:])
        f_hat += value

    def segment_grads(z: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.array(
            [
                _profile_nll(x, np.concatenate([z[3 * k : 3 * k + 3], z[-2:]]))[1]
                for k, x in enumerate(samples)
            ]
        )

    coords = np.concatenate([np.tile([0, 1, 2], g), [3, 4]])
    steps = _first_steps(_block_arrow_hessian(segment_grads, z_hat, g), coords)[-2:]
    shared = []
    for axis in (0, 1):
        solve = _shared_solver(samples, axis, 0.25 * float(steps[1 - axis]))
        profile = _Profile(solve, 3 * g + axis, f_hat, z_hat)
        # short steps: each trial value continues from the last (the jump law is multimodal)
        shared.append(
            profile.interval(
                0.5 * float(steps[axis]),
                float(_PROFILE_LOWER[3 + axis]),
                float(_PROFILE_UPPER[3 + axis]),
                growth=2.0,
            )
        )
    m_nodes = _grid_axis(*shared[0], float(_PROFILE_LOWER[3]), float(_PROFILE_UPPER[3]))
    q_nodes = _grid_axis(*shared[1], float(_PROFILE_LOWER[4]), float(_PROFILE_UPPER[4]))
    grid = _shared_grid(samples, z_hat, m_nodes, q_nodes)
    out = []
    for k in range(g):
        start = np.clip(
            np.concatenate([z_hat[3 * k : 3 * k + 3], z_hat[-2:]]), grid.lower(), grid.upper()
        )
        intervals = _segment_intervals(samples, grid, k, start, f_hat)
        intervals["jump_mean"] = shared[0]
        intervals["jump_sd"] = _natural_interval(4, *shared[1])
        out.append(intervals)
    return out


def fit_revenue_segments(
    history: History,
    segments: list[str],
    *,
    pooled_jumps: bool = True,
    intervals: bool = True,
) -> dict[str, MertonFit]:
    """Fit the revenue process of every segment (segments without 2 increments get NaN).

    With ``pooled_jumps`` (the default) the segments share one jump-size law
    (:func:`fit_merton_pooled`); otherwise each is fitted alone (:func:`fit_merton`). The
    increments are :func:`revenue_increments` (those from a certificate's lapse or revocation
    on are left out); ``intervals`` computes the 95% profile-likelihood intervals.
    """
    pid, increments = revenue_increments(history)
    seg_map = segment_of(history)
    seg = np.array([seg_map.get(p, "") for p in pid.tolist()])
    samples = {name: increments[seg == name] for name in segments}
    if not pooled_jumps:
        return {name: fit_merton(x, intervals=intervals) for name, x in samples.items()}
    usable = [name for name in segments if samples[name].size >= 2]
    out = {name: fit_merton(samples[name]) for name in segments if name not in usable}
    if usable:
        fits = fit_merton_pooled([samples[n] for n in usable], intervals=intervals)
        out.update(zip(usable, fits, strict=True))
    return {name: out[name] for name in segments}


# ---------------------------------------------------------------------------------------------
# hazards
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HazardEstimate:
    """A constant hazard: events, exposure (years), rate and its 95% interval."""

    events: int
    exposure_years: float
    rate: float
    lower: float
    upper: float

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "events": self.events,
            "exposure_years": self.exposure_years,
            "rate": self.rate,
            "ci95": [self.lower, self.upper],
        }


def _constant_hazard(durations: NDArray[np.float64], events: NDArray[np.bool_]) -> HazardEstimate:
    from models import piecewise_constant_hazard

    keep = durations > 0
    if not keep.any():
        nan = float("nan")
        return HazardEstimate(0, 0.0, nan, nan, nan)
    table = piecewise_constant_hazard(durations[keep], events[keep].astype(np.float64))
    return HazardEstimate(
        int(table.events[0]),
        float(table.exposure[0]),
        float(table.rates[0]),
        float(table.lower[0]),
        float(table.upper[0]),
    )


def _event_dates(history: History, ids: NDArray[np.str_], kind: str) -> NDArray[np.datetime64]:
    events = history["events"]
    mask = events["kind"] == kind
    lookup = dict(zip(events["product_id"][mask].tolist(), events["date"][mask], strict=True))
    nat = np.datetime64("NaT", "D")
    return np.array([lookup.get(p, nat) for p in ids.tolist()], dtype="datetime64[D]")


def _years(a: NDArray[Any], b: NDArray[Any]) -> NDArray[np.float64]:
    return (b - a).astype(np.float64) / DAYS_PER_YEAR


@dataclass(frozen=True)
class HazardResults:
    """Certificate and listing hazards with the renewal probability."""

    objection: HazardEstimate
    revocation: HazardEstimate
    delisting: HazardEstimate
    renewals: int
    lapses: int

    @property
    def renewal_probability(self) -> float:
        """Renewals over certificates that reached expiry."""
        total = self.renewals + self.lapses
        return self.renewals / total if total else float("nan")

    def renewal_interval(self) -> tuple[float, float]:
        """Wilson 95% interval of the renewal probability."""
        total = self.renewals + self.lapses
        if not total:
            return (float("nan"), float("nan"))
        p = self.renewal_probability
        z2 = _Z95**2
        centre = (p + z2 / (2 * total)) / (1 + z2 / total)
        half = _Z95 * math.sqrt(p * (1 - p) / total + z2 / (4 * total**2)) / (1 + z2 / total)
        return (centre - half, centre + half)


def fit_hazards(history: History) -> HazardResults:
    """Estimate objection, revocation and delisting hazards and the renewal probability.

    Notes
    -----
    Exposure follows the conventions of the synthetic market (``truth.json``): objection and
    revocation are at risk from the end of the 15-day announcement to the earliest of the
    as-of date, the lapse at the first expiry (36 months after registration) and the
    revocation (an objection after a revocation is impossible); delisting from the listing
    date to the as-of date. A product that has not reached its exposure start adds nothing.
    The renewal probability is renewals over renewals plus lapses (binomial, Wilson interval).
    """
    products = history["products"]
    ids = products["product_id"]
    as_of = np.datetime64(history.as_of, "D")
    start = products["registered_on"] + np.timedelta64(ANNOUNCEMENT_DAYS, "D")
    lapse = _event_dates(history, ids, "lapse")
    revocation = _event_dates(history, ids, "revocation")
    objection = _event_dates(history, ids, "objection")
    first_expiry = add_months_array(products["registered_on"], VALIDITY_MONTHS)
    alive_end = np.where(np.isnat(lapse), as_of, np.minimum(first_expiry, as_of))
    revoked = ~np.isnat(revocation) & (revocation <= alive_end)
    rev_end = np.where(revoked, revocation, alive_end)
    objected = ~np.isnat(objection) & (objection <= rev_end)
    obj_end = np.where(objected, objection, rev_end)
    revocation_h = _constant_hazard(_years(start, rev_end), revoked)
    objection_h = _constant_hazard(_years(start, obj_end), objected)
    if "listed_on" in products:
        listed_on = products["listed_on"]
        listed = ~np.isnat(listed_on)
        delist = _event_dates(history, ids, "delisting")
        delisted = listed & ~np.isnat(delist) & (delist <= as_of)
        end = np.where(delisted, delist, as_of)
        delisting_h = _constant_hazard(_years(listed_on[listed], end[listed]), delisted[listed])
    else:
        nan = float("nan")
        delisting_h = HazardEstimate(0, 0.0, nan, nan, nan)
    kinds = history["events"]["kind"]
    return HazardResults(
        objection_h,
        revocation_h,
        delisting_h,
        int(np.count_nonzero(kinds == "renewal")),
        int(np.count_nonzero(kinds == "lapse")),
    )


# ---------------------------------------------------------------------------------------------
# liquidation: recoveries of defaulted loans
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecoveryFit:
    """Censored-normal fit of ``log((1 − discount)·V_default / appraised)``.

    ``mean_log`` and ``sd_log`` (with standard errors) are what recoveries identify; the
    implied liquidation discount assumes the collateral kept its appraised value on average
    (no value shock), the only way to split the product.
    """

    n_defaults: int
    n_censored: int
    mean_log: float
    sd_log: float
    mean_log_se: float
    sd_log_se: float

    @property
    def realised_value_ratio(self) -> float:
        """``E[(1 − discount)·V_default / appraised]`` under the fitted lognormal."""
        return math.exp(self.mean_log + 0.5 * self.sd_log**2)

    @property
    def implied_liquidation_discount(self) -> float:
        """``1 − realised_value_ratio``: the discount if value at default equals appraisal."""
        return 1.0 - self.realised_value_ratio


def fit_recoveries(history: History) -> RecoveryFit:
    """Fit the recoveries of defaulted loans (Tobit: a recovery of 1 is censored above).

    Notes
    -----
    ``recovery = min(1, V_d (1 − d) / EAD)``, so ``y = log(recovery · EAD / appraised)`` is
    ``log((1 − d)·V_d / appraised)`` where the recovery is below 1, and at least that where
    it is capped. Only the distribution of ``(1 − d)·exp(shock)`` is identified.
    """
    nan = float("nan")
    if "loans" not in history.tables:
        return RecoveryFit(0, 0, nan, nan, nan, nan)
    loans = history["loans"]
    dflt = (loans["outcome"] == "defaulted") & np.isfinite(loans["recovery"])
    rec = loans["recovery"][dflt]
    ead = loans["exposure_at_default"][dflt]
    appraised = loans["appraised_value"][dflt]
    ok = (rec > 0) & (ead > 0) & (appraised > 0)
    rec, ead, appraised = rec[ok], ead[ok], appraised[ok]
    n = rec.size
    if n < 3:
        return RecoveryFit(n, 0, nan, nan, nan, nan)
    y = np.log(rec * ead / appraised)
    censored = rec >= 1.0 - 1e-9

    def negll(p: NDArray[np.float64]) -> float:
        mean, log_sd = float(p[0]), float(p[1])
        sd = math.exp(log_sd)
        z = (y - mean) / sd
        ll = np.where(censored, stats.norm.logsf(z), stats.norm.logpdf(z) - log_sd)
        return -float(ll.sum())

    start = np.array([float(y.mean()), math.log(max(float(y.std()), 0.05))])
    res = optimize.minimize(negll, start, method="BFGS")
    hess = _numerical_hessian(negll, np.asarray(res.x, dtype=np.float64))
    try:
        cov = np.linalg.inv(hess)
        mean_se = math.sqrt(max(cov[0, 0], 0.0))
        sd_se = math.exp(float(res.x[1])) * math.sqrt(max(cov[1, 1], 0.0))
    except np.linalg.LinAlgError:
        mean_se = sd_se = nan
    return RecoveryFit(
        n,
        int(censored.sum()),
        float(res.x[0]),
        math.exp(float(res.x[1])),
        mean_se,
        sd_se,
    )


def ci95(estimate: float, se: float) -> list[float]:
    """Return the normal 95% interval ``estimate ± 1.96·se``."""
    return [estimate - _Z95 * se, estimate + _Z95 * se]


__all__ = [
    "HazardEstimate",
    "HazardResults",
    "MertonFit",
    "RecoveryFit",
    "ci95",
    "fit_hazards",
    "fit_merton",
    "fit_merton_pooled",
    "fit_recoveries",
    "fit_revenue_segments",
    "merton_intervals",
    "merton_loglik_terms",
    "net_growth",
    "pooled_merton_intervals",
    "revenue_increments",
    "segment_of",
]
