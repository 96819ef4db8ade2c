r"""Maximum-likelihood estimates of the stochastic processes behind the history.

* Revenue: annual log-growth increments of each product follow a Merton jump-diffusion
  (``truth.json`` conventions): :math:`x = \mu + \sigma\varepsilon + \sum_{k\le N} Y_k`,
  :math:`N \sim \mathrm{Poisson}(\lambda)`, :math:`Y \sim N(m, s^2)`, so
  :math:`x \sim \sum_n \mathrm{Pois}(n;\lambda)\,N(\mu + n m, \sigma^2 + n s^2)`.
* Certificate and listing hazards: constant intensities under right-censoring
  (:func:`models.piecewise_constant_hazard`), exposure from the dates.
* Recoveries of defaulted loans: a censored (Tobit) normal for the log of the collateral's
  realised value relative to its appraisal.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import optimize, special, stats

from calibration.history import History

DAYS_PER_YEAR = 365.25
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
    """

    estimate: dict[str, float]
    standard_error: dict[str, float]
    n_increments: int
    loglik: float


def net_growth(theta: NDArray[np.float64]) -> float:
    """Return ``log E[R_{t+1}/R_t] = mu + σ²/2 + λ(exp(m + s²/2) − 1)``."""
    mu, sigma, lam, m, s = (float(v) for v in theta)
    return mu + 0.5 * sigma * sigma + lam * math.expm1(m + 0.5 * s * s)


def fit_merton(x: NDArray[np.float64]) -> MertonFit:
    """Fit the Merton jump-diffusion to annual log-growth increments by maximum likelihood.

    Parameters
    ----------
    x
        Increments ``log R[t+1] − log R[t]`` of consecutive calendar years (at least 2).

    Returns
    -------
    MertonFit
        Estimates, standard errors (inverse observed information in the log-parameterisation,
        mapped by the delta method), the number of increments and the log-likelihood.

    Notes
    -----
    Positive parameters are optimised on the log scale (SLSQP with the analytic gradient;
    bounds keep the jump intensity in [1e-3, 1], :data:`MAX_JUMP_INTENSITY`, and the
    volatilities above 1e-3), from two starts: a moderate jump component and almost none;
    the better optimum wins. With a few dozen increments the jump part is weakly identified
    and its standard errors say so; ``net_growth`` is always well determined.
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
    return MertonFit(
        {k: float(v) for k, v in zip(names, values, strict=True)},
        {k: float(v) for k, v in zip(names, se, strict=True)},
        n,
        -float(best.fun),
    )


def revenue_increments(history: History) -> tuple[NDArray[np.str_], NDArray[np.float64]]:
    """Return the product id and log-growth of each pair of consecutive calendar years.

    Total revenue is ``licensing + services``; a pair is used when both years are reported,
    are consecutive and positive.
    """
    revenue = history["revenue"]
    pid = revenue["product_id"]
    year = revenue["period_end"].astype("datetime64[Y]").astype(np.int64)
    total = np.nan_to_num(revenue["licensing"]) + np.nan_to_num(revenue["services"])
    order = np.lexsort((year, pid))
    pid, year, total = pid[order], year[order], total[order]
    ok = (pid[1:] == pid[:-1]) & (year[1:] == year[:-1] + 1) & (total[1:] > 0) & (total[:-1] > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        increments = np.log(total[1:]) - np.log(total[:-1])
    return pid[1:][ok], increments[ok]


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


def fit_merton_pooled(samples: list[NDArray[np.float64]]) -> list[MertonFit]:
    """Fit Merton processes to several segments jointly, with one jump-size law for all.

    Parameters
    ----------
    samples
        Annual log-growth increments of each segment (each with at least 2).

    Returns
    -------
    list of MertonFit
        One per segment: its own drift, volatility and jump intensity, the shared jump mean
        and sd, with standard errors from the joint observed information.

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
    fits = []
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
            )
        )
    return fits


def fit_revenue_segments(
    history: History, segments: list[str], *, pooled_jumps: bool = True
) -> dict[str, MertonFit]:
    """Fit the revenue process of every segment (segments without 2 increments get NaN).

    With ``pooled_jumps`` (the default) the segments share one jump-size law
    (:func:`fit_merton_pooled`); otherwise each is fitted alone (:func:`fit_merton`).
    """
    pid, increments = revenue_increments(history)
    seg_map = segment_of(history)
    seg = np.array([seg_map.get(p, "") for p in pid.tolist()])
    samples = {name: increments[seg == name] for name in segments}
    if not pooled_jumps:
        return {name: fit_merton(x) for name, x in samples.items()}
    usable = [name for name in segments if samples[name].size >= 2]
    out = {name: fit_merton(samples[name]) for name in segments if name not in usable}
    if usable:
        out.update(zip(usable, fit_merton_pooled([samples[n] for n in usable]), strict=True))
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


def _add_months(days: NDArray[np.datetime64], months: int) -> NDArray[np.datetime64]:
    """Return the same day of month ``months`` later, clipped to the month's end."""
    month = days.astype("datetime64[M]")
    day_of_month = (days - month.astype("datetime64[D]")).astype(np.int64)
    target = month + months
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    return target.astype("datetime64[D]") + np.minimum(day_of_month, month_len - 1)


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
    first_expiry = _add_months(products["registered_on"], VALIDITY_MONTHS)
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


def years_between(a: dt.date, b: dt.date) -> float:
    """Return ``(b − a)`` in years of 365.25 days."""
    return (b - a).days / DAYS_PER_YEAR


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
    "merton_loglik_terms",
    "net_growth",
    "revenue_increments",
    "segment_of",
]
