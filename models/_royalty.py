"""Royalty-rate / revenue-share model: ridge regression on the logit of the rate."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit
from scipy.stats import norm
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from models._conformal import check_coverage
from models._serialization import check_header, header, require
from models.exceptions import MSG_RATE_RANGE, DataError

_FORMAT_VERSION = 1
_NAME = "RoyaltyRateModel"


def ridge_with_intercept(
    X: NDArray[np.float64], target: NDArray[np.float64], alpha: float
) -> tuple[float, NDArray[np.float64]]:
    """Return ``(intercept, coef)`` minimising ``|target - b0 - X b|^2 + alpha |b|^2``.

    The intercept is not penalised. Solved as an augmented least-squares problem, which is
    stable for collinear dummies (a full set of segment indicators plus the intercept).

    Examples
    --------
    >>> X = np.array([[0.0], [1.0], [2.0]])
    >>> b0, b = ridge_with_intercept(X, np.array([1.0, 3.0, 5.0]), alpha=0.0)
    >>> round(b0, 10), np.round(b, 10).tolist()
    (1.0, [2.0])
    """
    n_samples, n_features = X.shape
    design = np.hstack([np.ones((n_samples, 1)), X])
    penalty = np.hstack([np.zeros((n_features, 1)), np.sqrt(alpha) * np.eye(n_features)])
    solution, *_ = np.linalg.lstsq(
        np.vstack([design, penalty]), np.concatenate([target, np.zeros(n_features)]), rcond=None
    )
    return float(solution[0]), solution[1:]


def check_rates(y: NDArray[np.float64]) -> None:
    """Raise a :class:`DataError` naming the first rate outside (0, 1)."""
    bad = np.flatnonzero(~((y > 0.0) & (y < 1.0)))
    if bad.size:
        raise DataError(MSG_RATE_RANGE.format(value=float(y[bad[0]]), row=int(bad[0])))


class RoyaltyRateModel(RegressorMixin, BaseEstimator):
    r"""Royalty rate (or revenue share) of a licence, from deal attributes.

    Parameters
    ----------
    alpha : float, default=1.0
        Ridge penalty on the coefficients of the logit model (the intercept is free).

    Attributes
    ----------
    intercept_ : float
        Logit of the pooled rate.
    coef_ : ndarray of shape (n_features,)
        Logit-scale effects of the features.
    residual_std_ : float
        Standard deviation of the logit residuals (for :meth:`predict_interval`).
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    Rates live in (0, 1), so the model is linear in :math:`\operatorname{logit}(r)` and
    predicts :math:`\operatorname{expit}(b_0 + x^\top b)`. Features are *not* standardised:
    with segments coded as 0/1 indicators, the ridge penalty shrinks each segment's effect to
    zero, so a segment with few deals is pulled towards the pooled rate and an unseen segment
    (all its indicators 0) gets the pooled rate — the partial pooling of a random-effects
    model, with ``alpha`` playing the ratio of noise to between-segment variance.

    Examples
    --------
    >>> X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    >>> model = RoyaltyRateModel(alpha=0.1).fit(X, [0.2, 0.22, 0.1, 0.12])
    >>> bool(0.1 < model.predict([[0.0, 0.0]])[0] < 0.22)
    True
    """

    def __init__(self, *, alpha: float = 1.0) -> None:
        self.alpha = alpha

    def fit(self, X: ArrayLike, y: ArrayLike) -> RoyaltyRateModel:
        """Fit the logit-ridge model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Deal attributes (segment indicators, exclusivity, term, ...).
        y : array-like of shape (n_samples,)
            Royalty rates, each strictly between 0 and 1.

        Returns
        -------
        self : RoyaltyRateModel
            The fitted model.
        """
        X_arr, y_arr = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        check_rates(y_arr)
        if not float(self.alpha) >= 0.0:
            raise DataError(f"alpha must be non-negative, got {self.alpha!r}")
        target = logit(y_arr)
        self.intercept_, self.coef_ = ridge_with_intercept(X_arr, target, float(self.alpha))
        residuals = target - self.intercept_ - X_arr @ self.coef_
        self.residual_std_ = float(np.sqrt(np.mean(residuals**2)))
        return self

    def predict_logit(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return the predicted logit of the rate."""
        check_is_fitted(self)
        X_arr = validate_data(self, X, reset=False, dtype=np.float64)
        return self.intercept_ + X_arr @ self.coef_

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return the predicted royalty rate, in (0, 1)."""
        return np.asarray(expit(self.predict_logit(X)), dtype=np.float64)

    def predict_interval(
        self, X: ArrayLike, coverage: float = 0.8
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return a band of rates from normal logit residuals (a plug-in, not conformal)."""
        half = norm.ppf(0.5 + check_coverage(coverage) / 2.0) * self.residual_std_
        centre = self.predict_logit(X)
        return expit(centre - half), expit(centre + half)

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
                "residual_std": float(self.residual_std_),
            }
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RoyaltyRateModel:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        check_header(data, _NAME, _FORMAT_VERSION)
        model = cls(**require(data, "params", _NAME))
        model.n_features_in_ = int(require(data, "n_features_in", _NAME))
        model.intercept_ = float(require(data, "intercept", _NAME))
        model.coef_ = np.asarray(require(data, "coef", _NAME), dtype=np.float64)
        model.residual_std_ = float(require(data, "residual_std", _NAME))
        return model
