"""Hazard models for revocation, lapse/renewal and delisting, with right-censoring.

Durations are times at risk (in any unit; rates come out per that unit). A right-censored
subject contributes its exposure up to censoring and no event: dropping it, or counting its
censoring time as an event time, biases the rate.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2, norm
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from models._conformal import check_coverage
from models._serialization import check_header, header, require
from models.exceptions import MSG_NEGATIVE, DataError

_FORMAT_VERSION = 1
_NAME = "PoissonHazardRegressor"


def _check_non_negative(name: str, values: NDArray[np.float64]) -> None:
    bad = np.flatnonzero(~(np.isfinite(values) & (values >= 0.0)))
    if bad.size:
        raise DataError(MSG_NEGATIVE.format(name=name, value=float(values[bad[0]]), row=bad[0]))


def _interval_edges(breakpoints: ArrayLike) -> NDArray[np.float64]:
    cuts = np.asarray(breakpoints, dtype=np.float64).ravel()
    if cuts.size and (np.any(cuts <= 0) or np.any(np.diff(cuts) <= 0)):
        raise DataError(f"breakpoints must be positive and increasing, got {cuts.tolist()}")
    return np.concatenate([[0.0], cuts, [np.inf]])


def person_period(
    durations: ArrayLike, events: ArrayLike, breakpoints: ArrayLike = ()
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float64], NDArray[np.float64]]:
    """Split each subject's time at risk at ``breakpoints`` (the piecewise-exponential layout).

    Parameters
    ----------
    durations : array-like of shape (n_subjects,)
        Time from entry to event or censoring.
    events : array-like of shape (n_subjects,)
        1 if the event was observed at ``durations``, 0 if censored there.
    breakpoints : array-like
        Positive, increasing interval boundaries; ``()`` gives one constant hazard.

    Returns
    -------
    subject, interval : ndarray of int
        Subject and interval of each row (only intervals the subject reached).
    exposure : ndarray of float
        Time at risk in that interval.
    event : ndarray of float
        1 in the interval where an observed event happened, else 0.

    Examples
    --------
    >>> s, k, e, d = person_period([0.5, 2.5], [1, 0], breakpoints=[1.0, 2.0])
    >>> s.tolist(), k.tolist(), e.tolist(), d.tolist()
    ([0, 1, 1, 1], [0, 0, 1, 2], [0.5, 1.0, 1.0, 0.5], [1.0, 0.0, 0.0, 0.0])
    """
    time = np.asarray(durations, dtype=np.float64).ravel()
    observed = np.asarray(events, dtype=np.float64).ravel()
    _check_non_negative("durations", time)
    if time.shape != observed.shape or not np.all((observed == 0) | (observed == 1)):
        raise DataError("events must be 0/1 indicators, one per duration")
    edges = _interval_edges(breakpoints)
    starts, ends = edges[:-1], edges[1:]
    exposure = np.clip(time[:, None] - starts[None, :], 0.0, ends - starts)
    # a subject is at risk in interval k if it survived to its start (time > start), and the
    # first interval always counts, so a zero duration still appears with zero exposure
    reached = time[:, None] > starts[None, :]
    reached[:, 0] = True
    in_interval = (time[:, None] > starts) & (time[:, None] <= ends)
    in_interval[:, 0] |= time == 0.0
    subject, interval = np.nonzero(reached)
    event = (observed[:, None] * in_interval)[subject, interval]
    return subject, interval, exposure[subject, interval], event.astype(np.float64)


@dataclass(frozen=True)
class HazardTable:
    """Piecewise-constant hazard estimates, one row per interval.

    Attributes
    ----------
    starts, ends : ndarray
        Interval boundaries (the last ``end`` is ``inf``).
    events, exposure : ndarray
        Observed events and total time at risk per interval.
    rates : ndarray
        Maximum-likelihood hazard, ``events / exposure`` (NaN without exposure).
    lower, upper : ndarray
        Exact (Garwood) Poisson confidence limits of the rate.
    confidence : float
        Two-sided confidence level of ``lower`` and ``upper``.
    """

    starts: NDArray[np.float64]
    ends: NDArray[np.float64]
    events: NDArray[np.float64]
    exposure: NDArray[np.float64]
    rates: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    confidence: float


def poisson_rate_interval(
    events: ArrayLike, exposure: ArrayLike, confidence: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Return exact (Garwood) confidence limits of ``events / exposure``.

    Notes
    -----
    .. math::
        \Big[\tfrac{\chi^2_{2d}(\alpha/2)}{2E},\ \tfrac{\chi^2_{2d+2}(1-\alpha/2)}{2E}\Big]

    with :math:`d` events over exposure :math:`E`; the lower limit is 0 when :math:`d = 0`.

    Examples
    --------
    >>> lo, hi = poisson_rate_interval([0.0], [10.0])
    >>> float(lo[0]), round(float(hi[0]), 4)
    (0.0, 0.3689)
    """
    level = check_coverage(confidence)
    d = np.asarray(events, dtype=np.float64)
    e = np.asarray(exposure, dtype=np.float64)
    tail = (1.0 - level) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(d > 0, chi2.ppf(tail, 2.0 * np.maximum(d, 1e-300)) / (2.0 * e), 0.0)
        upper = chi2.ppf(1.0 - tail, 2.0 * d + 2.0) / (2.0 * e)
    return np.where(e > 0, lower, np.nan), np.where(e > 0, upper, np.nan)


def piecewise_constant_hazard(
    durations: ArrayLike,
    events: ArrayLike,
    breakpoints: ArrayLike = (),
    confidence: float = 0.95,
) -> HazardTable:
    r"""Estimate a piecewise-constant hazard by maximum likelihood under right-censoring.

    Notes
    -----
    With :math:`d_k` observed events and exposure :math:`E_k = \sum_i |[0, t_i] \cap I_k|` in
    interval :math:`I_k`, the likelihood is :math:`\prod_k \lambda_k^{d_k} e^{-\lambda_k E_k}`,
    maximised at :math:`\hat\lambda_k = d_k / E_k`. Censored subjects add exposure, never events.
    With no breakpoints this is the exponential model.

    Examples
    --------
    >>> table = piecewise_constant_hazard([1.0, 2.0, 3.0], [1, 0, 1])
    >>> float(table.rates[0])
    0.3333333333333333
    """
    _, interval, exposure, event = person_period(durations, events, breakpoints)
    edges = _interval_edges(breakpoints)
    n_intervals = edges.size - 1
    total_events = np.bincount(interval, weights=event, minlength=n_intervals)
    total_exposure = np.bincount(interval, weights=exposure, minlength=n_intervals)
    with np.errstate(divide="ignore", invalid="ignore"):
        rates = np.where(total_exposure > 0, total_events / total_exposure, np.nan)
    lower, upper = poisson_rate_interval(total_events, total_exposure, confidence)
    return HazardTable(
        edges[:-1],
        edges[1:],
        total_events.astype(np.float64),
        total_exposure.astype(np.float64),
        rates,
        lower,
        upper,
        confidence,
    )


def poisson_log_linear_fit(
    design: NDArray[np.float64],
    counts: NDArray[np.float64],
    exposure: NDArray[np.float64],
    weights: NDArray[np.float64],
    penalty: NDArray[np.float64],
    max_iter: int,
    tol: float,
) -> tuple[NDArray[np.float64], NDArray[np.float64], int, bool]:
    r"""Maximise a ridge-penalised Poisson log-likelihood with a log-exposure offset.

    Returns ``(coef, hessian, n_iter, converged)``; Newton steps with step halving.

    Notes
    -----
    :math:`\ell(\beta) = \sum_i w_i (y_i \eta_i - E_i e^{\eta_i}) - \tfrac12 \beta^\top P
    \beta` with :math:`\eta = X\beta`; gradient :math:`X^\top w (y - \mu) - P\beta`, negative
    Hessian :math:`X^\top \mathrm{diag}(w\mu) X + P`, :math:`\mu = E e^{\eta}`.
    """
    total_rate = np.sum(weights * counts) / np.sum(weights * exposure)
    coef = np.zeros(design.shape[1])
    log_exposure = np.log(np.where(exposure > 0, exposure, 1.0))

    def objective(beta: NDArray[np.float64]) -> float:
        eta = design @ beta
        mu = np.where(exposure > 0, np.exp(eta + log_exposure), 0.0)
        return float(np.sum(weights * (counts * eta - mu)) - 0.5 * beta @ penalty @ beta)

    # start from the pooled rate on the intercept (column 0 when there is one)
    if design.shape[1] and np.allclose(design[:, 0], 1.0) and total_rate > 0:
        coef[0] = np.log(total_rate)
    current = objective(coef)
    hessian = penalty.copy()
    for iteration in range(1, max_iter + 1):
        eta = design @ coef
        mu = np.where(exposure > 0, np.exp(eta + log_exposure), 0.0)
        gradient = design.T @ (weights * (counts - mu)) - penalty @ coef
        hessian = design.T @ (design * (weights * mu)[:, None]) + penalty
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        scale = 1.0
        while scale > 1e-10:
            candidate = coef + scale * step
            value = objective(candidate)
            if value >= current - 1e-12 * abs(current):
                break
            scale /= 2.0
        coef, current = candidate, value
        if np.max(np.abs(scale * step)) < tol:
            return coef, hessian, iteration, True
    return coef, hessian, max_iter, False


class PoissonHazardRegressor(RegressorMixin, BaseEstimator):
    r"""Constant-hazard regression: Poisson GLM of event counts with a log-exposure offset.

    Parameters
    ----------
    alpha : float, default=0.0
        Ridge penalty on the coefficients (not on the intercept). Needed (> 0) when a
        covariate pattern has no events, whose unpenalised MLE rate is 0 (log-rate -inf).
    fit_intercept : bool, default=True
        Fit a baseline log-rate.
    max_iter : int, default=100
        Newton iterations.
    tol : float, default=1e-10
        Convergence threshold on the largest coefficient step.

    Attributes
    ----------
    intercept_ : float
        Baseline log hazard.
    coef_ : ndarray of shape (n_features,)
        Log hazard ratios.
    covariance_ : ndarray of shape (n_params, n_params)
        Inverse of the (penalised) observed information, intercept first when fitted.
    n_iter_ : int
        Newton iterations used.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    For subject (or person-period row) :math:`i` with covariates :math:`x_i`, exposure
    :math:`E_i` and :math:`y_i` events, :math:`y_i \sim \mathrm{Poisson}(E_i
    e^{b_0 + x_i^\top b})`. This is exactly the exponential model with right-censoring
    (censored rows carry exposure and 0 events); with interval indicators from
    :func:`person_period` it is the piecewise-exponential (proportional hazards) model. With
    segment indicators only and ``alpha=0`` the fitted rate of each segment is its
    events / exposure.

    Examples
    --------
    >>> X = np.array([[0.0], [0.0], [1.0], [1.0]])
    >>> model = PoissonHazardRegressor().fit(X, [1, 1, 4, 2], exposure=[2.0, 2.0, 1.0, 2.0])
    >>> np.round(model.predict([[0.0], [1.0]]), 6).tolist()
    [0.5, 2.0]
    """

    def __init__(
        self,
        *,
        alpha: float = 0.0,
        fit_intercept: bool = True,
        max_iter: int = 100,
        tol: float = 1e-10,
    ) -> None:
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.max_iter = max_iter
        self.tol = tol

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.positive_only = True  # event counts
        return tags

    def _design(self, X_arr: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.fit_intercept:
            return np.hstack([np.ones((X_arr.shape[0], 1)), X_arr])
        return X_arr

    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        exposure: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
    ) -> PoissonHazardRegressor:
        """Fit the hazard model by penalised maximum likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Covariates (segment indicators, interval indicators, attributes).
        y : array-like of shape (n_samples,)
            Observed events per row (0 for a censored subject).
        exposure : array-like of shape (n_samples,), optional
            Time at risk per row; 1 by default.
        sample_weight : array-like of shape (n_samples,), optional
            Row weights (a weight of 2 counts the row twice).

        Returns
        -------
        self : PoissonHazardRegressor
            The fitted model.
        """
        X_arr, y_arr = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        _check_non_negative("events", y_arr)
        time = np.ones_like(y_arr) if exposure is None else np.asarray(exposure, dtype=np.float64)
        if time.shape != y_arr.shape:
            raise DataError(f"exposure has shape {time.shape}, expected {y_arr.shape}")
        _check_non_negative("exposure", time)
        weights = _check_sample_weight(sample_weight, X_arr, dtype=np.float64)
        if not float(self.alpha) >= 0.0:
            raise DataError(f"alpha must be non-negative, got {self.alpha!r}")
        design = self._design(X_arr)
        penalty = float(self.alpha) * np.eye(design.shape[1])
        if self.fit_intercept:
            penalty[0, 0] = 0.0
        coef, hessian, self.n_iter_, converged = poisson_log_linear_fit(
            design, y_arr, time, weights, penalty, int(self.max_iter), float(self.tol)
        )
        if not converged:
            warnings.warn(
                f"PoissonHazardRegressor did not converge in {self.max_iter} iterations; a "
                "covariate pattern without events needs alpha > 0",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.intercept_ = float(coef[0]) if self.fit_intercept else 0.0
        self.coef_ = coef[1:] if self.fit_intercept else coef
        self.covariance_ = np.linalg.pinv(hessian)
        return self

    def predict_log_rate(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return the log hazard rate per unit of exposure time."""
        check_is_fitted(self)
        X_arr = validate_data(self, X, reset=False, dtype=np.float64)
        return self.intercept_ + X_arr @ self.coef_

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return the hazard rate per unit of exposure time (expected events per unit)."""
        return np.exp(self.predict_log_rate(X))

    def predict_survival(self, X: ArrayLike, time: float) -> NDArray[np.float64]:
        """Return the probability of no event within ``time``, ``exp(-rate * time)``."""
        return np.exp(-self.predict(X) * float(time))

    def rate_interval(
        self, X: ArrayLike, confidence: float = 0.95
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return Wald confidence limits of the rate (normal on the log scale)."""
        check_is_fitted(self)
        X_arr = validate_data(self, X, reset=False, dtype=np.float64)
        design = self._design(X_arr)
        std = np.sqrt(np.einsum("ij,jk,ik->i", design, self.covariance_, design))
        z = norm.ppf(0.5 + check_coverage(confidence) / 2.0)
        log_rate = self.predict_log_rate(X_arr)
        return np.exp(log_rate - z * std), np.exp(log_rate + z * std)

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted model as JSON-ready data."""
        check_is_fitted(self)
        data = header(_NAME, _FORMAT_VERSION)
        data.update(
            {
                "params": self.get_params(),
                "n_features_in": int(self.n_features_in_),
                "intercept": float(self.intercept_),
                "coef": self.coef_.tolist(),
                "covariance": self.covariance_.tolist(),
            }
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PoissonHazardRegressor:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        check_header(data, _NAME, _FORMAT_VERSION)
        model = cls(**require(data, "params", _NAME))
        model.n_features_in_ = int(require(data, "n_features_in", _NAME))
        model.intercept_ = float(require(data, "intercept", _NAME))
        model.coef_ = np.asarray(require(data, "coef", _NAME), dtype=np.float64)
        model.covariance_ = np.asarray(require(data, "covariance", _NAME), dtype=np.float64)
        return model
