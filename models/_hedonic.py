"""Hedonic price model: LightGBM on log price with monotone constraints and CQR bands."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from models._conformal import (
    check_coverage,
    conformal_quantile,
    conformalize_interval,
    cqr_conformity_scores,
)
from models._serialization import check_header, header, require
from models.exceptions import MSG_UNKNOWN_FEATURE, DataError, SerializationError

_FORMAT_VERSION = 1
_NAME = "HedonicPriceModel"
MSG_LIGHTGBM_MAJOR = (
    "HedonicPriceModel was saved with LightGBM {saved}; this is LightGBM {running} "
    "(the major version is part of the model text format)"
)


def _major(version: str) -> str:
    return version.split(".", 1)[0]


def monotone_constraint_vector(
    monotone_increasing: Sequence[int | str],
    n_features: int,
    feature_names: Sequence[str] | None = None,
) -> list[int]:
    """Return LightGBM's per-feature constraint vector (1 = non-decreasing, 0 = free).

    Parameters
    ----------
    monotone_increasing
        Column indices, or column names when ``feature_names`` is given.
    n_features
        Number of columns of X.
    feature_names
        Column names of X, if it had any.

    Examples
    --------
    >>> monotone_constraint_vector([2, "size"], 4, ["a", "size", "c", "d"])
    [0, 1, 1, 0]
    """
    constraints = [0] * n_features
    names = list(feature_names) if feature_names is not None else None
    for feature in monotone_increasing:
        if isinstance(feature, str):
            if names is None or feature not in names:
                raise DataError(MSG_UNKNOWN_FEATURE.format(feature=feature, columns=names))
            index = names.index(feature)
        else:
            index = int(feature)
            if not 0 <= index < n_features:
                raise DataError(
                    MSG_UNKNOWN_FEATURE.format(feature=feature, columns=list(range(n_features)))
                )
        constraints[index] = 1
    return constraints


def adjustment_factors(
    predict_log_price: Callable[[NDArray[np.float64]], NDArray[np.float64]],
    subject: ArrayLike,
    comparables: ArrayLike,
    columns: Sequence[int] | None = None,
) -> NDArray[np.float64]:
    r"""Return hedonic adjustment factors of comparables towards a subject, one per attribute.

    Parameters
    ----------
    predict_log_price
        A fitted model's log-price prediction, ``X -> log price``.
    subject
        The subject's feature row, shape ``(n_features,)``.
    comparables
        The comparables' feature rows, shape ``(n_comparables, n_features)``.
    columns
        Attributes to adjust (column indices); all columns by default.

    Returns
    -------
    ndarray of shape (n_comparables, len(columns))
        ``factors[i, k]`` multiplies comparable ``i``'s price to move its attribute
        ``columns[k]`` to the subject's value.

    Notes
    -----
    With :math:`f` the log-price model and :math:`x^{(j \leftarrow s)}` the comparable's row
    with attribute :math:`j` set to the subject's value,

    .. math:: a_{ij} = \exp\big(f(x_i^{(j \leftarrow s)}) - f(x_i)\big).

    A factor is 1 where the attribute already matches. Factors are one attribute at a time:
    their product is not the full-move ratio when the model has interactions.
    """
    moved, n_columns = adjustment_design(subject, comparables, columns)
    return factors_from_log_prices(predict_log_price(moved), n_columns)


def adjustment_design(
    subject: ArrayLike, comparables: ArrayLike, columns: Sequence[int] | None = None
) -> tuple[NDArray[np.float64], int]:
    """Return the rows :func:`adjustment_factors` predicts and the number of attributes moved.

    The comparables' rows, then one block of them per attribute with that attribute set to the
    subject's value: shape ``((len(columns) + 1) * n_comparables, n_features)``. Several
    subjects' designs can be stacked into one prediction call (each row's prediction is its
    own) and split back for :func:`factors_from_log_prices`.
    """
    subject_row = np.asarray(subject, dtype=np.float64).ravel()
    comps = np.atleast_2d(np.asarray(comparables, dtype=np.float64))
    if comps.shape[1] != subject_row.size:
        raise DataError(
            f"subject has {subject_row.size} features but comparables have {comps.shape[1]}"
        )
    cols = list(range(subject_row.size)) if columns is None else [int(c) for c in columns]
    n_comps = comps.shape[0]
    moved = np.tile(comps, (len(cols) + 1, 1))
    for k, col in enumerate(cols, start=1):
        moved[k * n_comps : (k + 1) * n_comps, col] = subject_row[col]
    return moved, len(cols)


def factors_from_log_prices(log_prices: ArrayLike, n_columns: int) -> NDArray[np.float64]:
    """Return the factors of :func:`adjustment_factors` from the log prices of its design."""
    blocks = np.asarray(log_prices, dtype=np.float64).reshape(n_columns + 1, -1)
    return np.exp(blocks[1:] - blocks[0]).T


def pinball_objective(
    alpha: float,
) -> Callable[[NDArray[np.float64], Any], tuple[NDArray[np.float64], NDArray[np.float64]]]:
    r"""Return a LightGBM custom objective for the ``alpha`` quantile (pinball loss).

    LightGBM refuses monotone constraints with its built-in ``quantile`` objective, because
    that objective re-sets leaf values to residual quantiles after each tree and so could break
    them. This objective keeps the plain gradient step (gradient of the pinball loss, unit
    hessian), so the constraints hold for the band edges too.

    Notes
    -----
    For the loss :math:`\rho_\alpha(y - f) = \max(\alpha (y - f), (\alpha - 1)(y - f))` the
    gradient in :math:`f` is :math:`\mathbb 1\{y < f\} - \alpha`; the hessian is taken as 1.
    """

    def objective(
        predictions: NDArray[np.float64], dataset: Any
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        labels = dataset.get_label()
        gradient = np.where(labels < predictions, 1.0 - alpha, -alpha)
        return gradient, np.ones_like(gradient)

    return objective


class HedonicPriceModel(RegressorMixin, BaseEstimator):
    r"""Hedonic price model: LightGBM on log price, monotone constraints, conformal bands.

    Parameters
    ----------
    monotone_increasing : sequence of int or str, default=()
        Features along which the predicted price may not fall (quality, records, exclusivity):
        column indices, or names (of ``feature_names``, or of X's columns when X is a data
        frame). The same constraints bind the point model and both band edges.
    feature_names : sequence of str or None, default=None
        Names of the columns of a plain array X, so that ``monotone_increasing`` can name
        them. (Not passed to LightGBM, which refuses names with JSON punctuation.)
    coverage : float, default=0.8
        Nominal coverage the quantile models are fitted for (quantiles
        ``(1 - coverage) / 2`` and ``(1 + coverage) / 2``); the default of
        :meth:`predict_interval`.
    calibration_fraction : float, default=0.25
        Share of the rows held out to calibrate the band (split conformal).
    n_estimators : int, default=200
        Boosting rounds of each LightGBM model.
    learning_rate : float, default=0.05
        Shrinkage of each boosting round.
    num_leaves : int, default=15
        Maximum leaves per tree.
    min_child_samples : int, default=10
        Minimum rows per leaf.
    reg_lambda : float, default=1.0
        L2 penalty on leaf values.
    residual_folds : int, default=3
        Folds of the training split used to cross-fit the residuals the quantile models learn
        from (out-of-fold residuals show the spread a new listing will see; in-sample
        residuals of a boosted model are too small, worst where the noise is large). 0 or 1
        uses in-sample residuals.
    random_state : int, RandomState or None, default=None
        Seeds the calibration split and LightGBM.
    n_jobs : int, default=1
        LightGBM threads. Training is deterministic for a given value.

    Attributes
    ----------
    point_booster_ : lightgbm.Booster
        Mean of log price, fitted on all rows (what :meth:`predict` returns).
    centre_booster_ : lightgbm.Booster
        Mean of log price fitted on the training split only: the centre the band is built
        around (the calibration rows must stay unseen by everything that shapes the band).
    lower_booster_, upper_booster_ : lightgbm.Booster
        Lower and upper quantiles of the residual from the centre, fitted on the training
        split (pinball loss, see :func:`pinball_objective`), each relative to its offset.
    lower_offset_, upper_offset_ : float
        Sample quantiles of the training residuals the two quantile boosters start from.
    conformity_scores_ : ndarray
        Sorted CQR scores of the calibration split (log units).
    monotone_constraints_ : list of int
        LightGBM's per-feature constraint vector.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Notes
    -----
    ``y`` is the **log** price. :meth:`predict` returns the conditional mean of log price (the
    log of the median price when log errors are symmetric); :meth:`predict_price` returns its
    exponential. Bands are conformalised quantile regression (:mod:`models._conformal`):

    1. the rows are split at random into a training part and a calibration part
       (``calibration_fraction``);
    2. on the training part, a centre model (mean log price) and two quantile models of its
       cross-fitted residuals give the base band
       :math:`[c(x) + q_{lo}(x),\ c(x) + q_{hi}(x)]`, adaptive to heteroscedastic noise;
    3. on the calibration part, the CQR scores give one constant correction per nominal
       level, so a nominal 80% band covers at least 80% of new *exchangeable* listings.

    The monotone constraints bind the centre and both quantile models, and the correction is
    a constant, so the band edges are monotone too. Coverage is marginal, not conditional,
    and needs exchangeability: listings of an exchange the model never saw can break it.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(400, 2))
    >>> y = 2.0 * X[:, 0] + rng.normal(scale=0.3, size=400)
    >>> model = HedonicPriceModel(monotone_increasing=(0,), random_state=0).fit(X, y)
    >>> lo, hi = model.predict_interval(X[:3])
    >>> bool(np.all(lo <= hi))
    True
    """

    _FORMAT_VERSION: ClassVar[int] = _FORMAT_VERSION

    def __init__(
        self,
        *,
        monotone_increasing: Sequence[int | str] = (),
        feature_names: Sequence[str] | None = None,
        coverage: float = 0.8,
        calibration_fraction: float = 0.25,
        n_estimators: int = 200,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 10,
        reg_lambda: float = 1.0,
        residual_folds: int = 3,
        random_state: int | np.random.RandomState | None = None,
        n_jobs: int = 1,
    ) -> None:
        self.monotone_increasing = monotone_increasing
        self.feature_names = feature_names
        self.coverage = coverage
        self.calibration_fraction = calibration_fraction
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.residual_folds = residual_folds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # LightGBM routes missing values; 0-as-unknown -> NaN
        return tags

    def _column_names(self, n_features: int) -> list[str] | None:
        from_data = getattr(self, "feature_names_in_", None)
        if self.feature_names is None:
            return None if from_data is None else [str(n) for n in from_data]
        names = [str(n) for n in self.feature_names]
        if len(names) != n_features:
            raise DataError(f"feature_names has {len(names)} names but X has {n_features} columns")
        if from_data is not None and names != [str(n) for n in from_data]:
            raise DataError("feature_names differ from the column names of X")
        return names

    def _lgb_params(self, objective: Any, seed: int, **extra: Any) -> dict[str, Any]:
        return {
            "objective": objective,
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_data_in_leaf": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "monotone_constraints": self.monotone_constraints_,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.n_jobs,
            "seed": seed,
            "verbosity": -1,
            # small data sets: keep every feature available to every leaf-size setting
            "feature_pre_filter": False,
            **extra,
        }

    def _train(
        self,
        params: dict[str, Any],
        X: NDArray[Any],
        y: NDArray[Any],
        init_score: float | None = None,
    ) -> Any:
        import lightgbm as lgb  # heavy import, only when fitting

        dataset = lgb.Dataset(
            X,
            label=y,
            init_score=None if init_score is None else np.full(y.shape[0], init_score),
            params=params,
            free_raw_data=True,
        )
        return lgb.train(params, dataset, num_boost_round=self.n_estimators)

    def _train_quantile(
        self, alpha: float, seed: int, X: NDArray[Any], residual: NDArray[Any]
    ) -> tuple[Any, float]:
        # The quantile boosters model the residual from the centre model: the pinball
        # gradient has unit hessian and moves leaves slowly, so starting from the centre
        # leaves them only the spread to learn. A custom objective has no boost-from-average:
        # start from the sample quantile and keep that offset beside the booster (it is not
        # part of LightGBM's model text).
        offset = float(np.quantile(residual, alpha))
        params = self._lgb_params(pinball_objective(alpha), seed)
        return self._train(params, X, residual, init_score=offset), offset

    def fit(self, X: ArrayLike, y: ArrayLike) -> HedonicPriceModel:
        """Fit the point model, the two quantile models and the conformal correction.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Listing or deal attributes; NaN marks a missing value.
        y : array-like of shape (n_samples,)
            Log price.

        Returns
        -------
        self : HedonicPriceModel
            The fitted model.
        """
        X_arr, y_arr = validate_data(
            self, X, y, ensure_all_finite="allow-nan", dtype=np.float64, y_numeric=True
        )
        coverage = check_coverage(self.coverage)
        n_samples = X_arr.shape[0]
        if n_samples < 2:
            raise DataError(f"n_samples = {n_samples}: need 2 to hold out a calibration split")
        if not 0.0 < self.calibration_fraction < 1.0:
            raise DataError(
                f"calibration_fraction must lie in (0, 1), got {self.calibration_fraction!r}"
            )
        self.monotone_constraints_ = monotone_constraint_vector(
            self.monotone_increasing, X_arr.shape[1], self._column_names(X_arr.shape[1])
        )
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        order = rng.permutation(n_samples)
        n_cal = min(max(1, round(self.calibration_fraction * n_samples)), n_samples - 1)
        cal, train = np.sort(order[:n_cal]), np.sort(order[n_cal:])

        alpha = (1.0 - coverage) / 2.0
        self.point_booster_ = self._train(self._lgb_params("regression", seed), X_arr, y_arr)
        self.centre_booster_ = self._train(
            self._lgb_params("regression", seed), X_arr[train], y_arr[train]
        )
        residual = self._residuals(X_arr[train], y_arr[train], seed, rng)
        self.lower_booster_, self.lower_offset_ = self._train_quantile(
            alpha, seed, X_arr[train], residual
        )
        self.upper_booster_, self.upper_offset_ = self._train_quantile(
            1.0 - alpha, seed, X_arr[train], residual
        )
        lower, upper = self._base_band(X_arr[cal])
        self.conformity_scores_ = np.sort(cqr_conformity_scores(y_arr[cal], lower, upper))
        return self

    def _residuals(
        self,
        X: NDArray[np.float64],
        y: NDArray[np.float64],
        seed: int,
        rng: np.random.RandomState,
    ) -> NDArray[np.float64]:
        folds = int(self.residual_folds)
        if folds < 2 or y.shape[0] < 2 * folds:
            return y - self.centre_booster_.predict(X)
        fold_of = rng.permutation(y.shape[0]) % folds
        residual = np.empty_like(y)
        for fold in range(folds):
            held_out = fold_of == fold
            booster = self._train(self._lgb_params("regression", seed), X[~held_out], y[~held_out])
            residual[held_out] = y[held_out] - booster.predict(X[held_out])
        return residual

    def _base_band(self, X: NDArray[np.float64]) -> tuple[NDArray[Any], NDArray[Any]]:
        centre = self.centre_booster_.predict(X)
        return (
            centre + self.lower_booster_.predict(X) + self.lower_offset_,
            centre + self.upper_booster_.predict(X) + self.upper_offset_,
        )

    def _check_X(self, X: ArrayLike) -> NDArray[np.float64]:
        check_is_fitted(self)
        return validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)

    def predict(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return the predicted log price (conditional mean of log price)."""
        X_arr = self._check_X(X)
        return np.asarray(self.point_booster_.predict(X_arr), dtype=np.float64)

    def predict_price(self, X: ArrayLike) -> NDArray[np.float64]:
        """Return the predicted price, ``exp`` of :meth:`predict` (a median price)."""
        return np.exp(self.predict(X))

    def predict_interval(
        self, X: ArrayLike, coverage: float | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return the conformal band ``(lo, hi)`` of log price.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Attributes.
        coverage : float, optional
            Nominal coverage; the fitted ``coverage`` by default. Any level is valid (the
            conformal guarantee does not depend on the base quantiles), tightest at the
            fitted one. Unbounded (``inf``) when the calibration split is too small for it.

        Returns
        -------
        lo, hi : ndarray of shape (n_samples,)
            Band edges in log units, ``lo <= hi``.
        """
        X_arr = self._check_X(X)
        level = self.coverage if coverage is None else coverage
        correction = conformal_quantile(self.conformity_scores_, level)
        lower, upper = self._base_band(X_arr)
        return conformalize_interval(lower, upper, correction)

    def predict_price_interval(
        self, X: ArrayLike, coverage: float | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Return the conformal band of the price, ``exp`` of :meth:`predict_interval`."""
        lo, hi = self.predict_interval(X, coverage)
        return np.exp(lo), np.exp(hi)

    def adjustment_factors(
        self, subject: ArrayLike, comparables: ArrayLike, columns: Sequence[int] | None = None
    ) -> NDArray[np.float64]:
        """Return price factors moving each comparable's attributes to the subject's.

        See :func:`models.adjustment_factors`; ``factors[i, k]`` is the ratio of predicted
        prices when attribute ``columns[k]`` of comparable ``i`` takes the subject's value.
        """
        check_is_fitted(self)
        return adjustment_factors(self.predict, subject, comparables, columns)

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted model as JSON-ready data (LightGBM text models inside)."""
        check_is_fitted(self)
        params = self.get_params()
        params["monotone_increasing"] = list(self.monotone_increasing)
        if self.feature_names is not None:
            params["feature_names"] = [str(n) for n in self.feature_names]
        if not isinstance(self.random_state, int | type(None)):
            params["random_state"] = None  # a RandomState object has no JSON form
        import lightgbm as lgb

        data = header(_NAME, _FORMAT_VERSION)
        data.update(
            {
                "lightgbm_version": lgb.__version__,
                "params": params,
                "n_features_in": int(self.n_features_in_),
                "feature_names_in": (
                    [str(n) for n in self.feature_names_in_]
                    if hasattr(self, "feature_names_in_")
                    else None
                ),
                "monotone_constraints": list(self.monotone_constraints_),
                "conformity_scores": [float(s) for s in self.conformity_scores_],
                "point_model": self.point_booster_.model_to_string(),
                "centre_model": self.centre_booster_.model_to_string(),
                "lower_offset": float(self.lower_offset_),
                "upper_offset": float(self.upper_offset_),
                "lower_model": self.lower_booster_.model_to_string(),
                "upper_model": self.upper_booster_.model_to_string(),
            }
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HedonicPriceModel:
        """Rebuild a fitted model from :meth:`to_dict` output."""
        import lightgbm as lgb

        check_header(data, _NAME, _FORMAT_VERSION)
        saved = str(require(data, "lightgbm_version", _NAME))
        if _major(saved) != _major(lgb.__version__):
            raise SerializationError(
                MSG_LIGHTGBM_MAJOR.format(saved=saved, running=lgb.__version__)
            )
        params = dict(require(data, "params", _NAME))
        params["monotone_increasing"] = tuple(params.get("monotone_increasing", ()))
        if params.get("feature_names") is not None:
            params["feature_names"] = tuple(params["feature_names"])
        model = cls(**params)
        model.n_features_in_ = int(require(data, "n_features_in", _NAME))
        names = data.get("feature_names_in")
        if names is not None:
            model.feature_names_in_ = np.asarray(names, dtype=object)
        model.monotone_constraints_ = [int(c) for c in require(data, "monotone_constraints", _NAME)]
        model.conformity_scores_ = np.asarray(
            require(data, "conformity_scores", _NAME), dtype=np.float64
        )
        model.lower_offset_ = float(require(data, "lower_offset", _NAME))
        model.upper_offset_ = float(require(data, "upper_offset", _NAME))
        model.point_booster_ = lgb.Booster(model_str=require(data, "point_model", _NAME))
        model.centre_booster_ = lgb.Booster(model_str=require(data, "centre_model", _NAME))
        model.lower_booster_ = lgb.Booster(model_str=require(data, "lower_model", _NAME))
        model.upper_booster_ = lgb.Booster(model_str=require(data, "upper_model", _NAME))
        return model
