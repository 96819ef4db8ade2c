"""Comparables selection: nearest neighbours in a standardised feature space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted, validate_data

from models._serialization import check_header, header, require
from models.exceptions import DataError

_FORMAT_VERSION = 1
_NAME = "ComparablesSelector"


@dataclass(frozen=True)
class Comparables:
    """The comparables of each query row, nearest first.

    Attributes
    ----------
    indices : ndarray of shape (n_queries, n_neighbors)
        Rows of the reference set (the ``X`` given to ``fit``).
    distances : ndarray of shape (n_queries, n_neighbors)
        Euclidean distances in the standardised (and feature-weighted) space.
    similarities : ndarray of shape (n_queries, n_neighbors)
        ``1 / (1 + distance)``: 1 for an identical product, falling towards 0.
    weights : ndarray of shape (n_queries, n_neighbors)
        Similarities normalised to sum to 1 per query row: the weights of the comparables'
        adjusted prices.
    """

    indices: NDArray[np.intp]
    distances: NDArray[np.float64]
    similarities: NDArray[np.float64]
    weights: NDArray[np.float64]


def standardise(
    X: NDArray[np.float64], mean: NDArray[np.float64], scale: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Return ``(X - mean) / scale`` column by column."""
    return (X - mean) / scale


def similarity_weights(
    distances: NDArray[np.float64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return ``(similarities, weights)`` of neighbour distances.

    Examples
    --------
    >>> s, w = similarity_weights(np.array([[0.0, 1.0]]))
    >>> s.tolist(), w.tolist()
    ([[1.0, 0.5]], [[0.6666666666666666, 0.3333333333333333]])
    """
    similarities = 1.0 / (1.0 + distances)
    return similarities, similarities / similarities.sum(axis=1, keepdims=True)


def nearest(
    reference: NDArray[np.float64], query: NDArray[np.float64], k: int
) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
    """Return ``(distances, indices)`` of the ``k`` nearest rows of ``reference`` to each query.

    What ``NearestNeighbors(algorithm="brute").fit(reference).kneighbors(query, k)`` returns,
    bit for bit: the same call of scikit-learn's pairwise reduction, without the estimator's
    validation (both arrays are C-ordered float64 here, checked by their callers).
    """
    from sklearn.metrics._pairwise_distances_reduction import ArgKmin

    if ArgKmin.is_usable_for(query, reference, "euclidean"):
        distances, indices = ArgKmin.compute(
            X=query,
            Y=reference,
            k=k,
            metric="euclidean",
            metric_kwargs={},
            strategy="auto",
            return_distance=True,
        )
        return distances, indices
    index = NearestNeighbors(algorithm="brute").fit(reference)
    distances, indices = index.kneighbors(query, n_neighbors=k)
    return distances, indices


def select_nearest(
    reference: NDArray[np.float64],
    query: NDArray[np.float64],
    n_neighbors: int = 5,
    feature_weights: NDArray[np.float64] | None = None,
) -> Comparables:
    """Return ``ComparablesSelector(...).fit(reference).select(query)``, bit for bit.

    For callers that search many small reference sets: the same standardisation, weights and
    search, without the estimator's checks. ``reference`` and ``query`` must be finite
    float64 arrays with the same columns; ``feature_weights`` non-negative, one per column.
    """
    mean = reference.mean(axis=0)
    sd = reference.std(axis=0)
    scale = np.where(sd > 0, sd, 1.0)
    weights = (
        np.ones(reference.shape[1])
        if feature_weights is None
        else np.sqrt(np.asarray(feature_weights, dtype=np.float64))
    )
    points = standardise(reference, mean, scale) * weights
    queries = np.ascontiguousarray(standardise(query, mean, scale) * weights)
    k = min(int(n_neighbors), int(points.shape[0]))
    distances, indices = nearest(points, queries, k)
    similarities, shares = similarity_weights(distances)
    return Comparables(indices, distances, similarities, shares)


class ComparablesSelector(BaseEstimator):
    """Select comparable products: nearest neighbours after standardising each feature.

    Parameters
    ----------
    n_neighbors : int, default=5
        Comparables returned per query.
    feature_weights : sequence of float or None, default=None
        Relative importance of each standardised feature in the distance (e.g. hedonic
        feature importances); equal weights by default.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_features,)
        Standardisation learned in ``fit`` (a constant column gets scale 1).
    reference_ : ndarray of shape (n_samples, n_features)
        The reference set, standardised and weighted.
    n_features_in_ : int
        Number of features seen in ``fit``.

    Examples
    --------
    >>> X = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 35.0]])
    >>> ComparablesSelector(n_neighbors=2).fit(X).select([[1.1, 11.0]]).indices.tolist()
    [[0, 1]]
    """

    def __init__(self, *, n_neighbors: int = 5, feature_weights: Any = None) -> None:
        self.n_neighbors = n_neighbors
        self.feature_weights = feature_weights

    def fit(self, X: ArrayLike, y: Any = None) -> ComparablesSelector:
        """Learn the standardisation and store the reference set.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Attributes of the candidate comparables.
        y : None
            Ignored.

        Returns
        -------
        self : ComparablesSelector
            The fitted selector.
        """
        X_arr = validate_data(self, X, dtype=np.float64)
        if int(self.n_neighbors) < 1:
            raise DataError(f"n_neighbors must be at least 1, got {self.n_neighbors!r}")
        self.mean_ = X_arr.mean(axis=0)
        scale = X_arr.std(axis=0)
        self.scale_ = np.where(scale > 0, scale, 1.0)
        self.reference_ = standardise(X_arr, self.mean_, self.scale_) * self._weights()
        return self

    def _weights(self) -> NDArray[np.float64]:
        if self.feature_weights is None:
            return np.ones(self.n_features_in_)
        weights = np.asarray(self.feature_weights, dtype=np.float64)
        if weights.shape != (self.n_features_in_,) or np.any(weights < 0):
            raise DataError(
                f"feature_weights must be {self.n_features_in_} non-negative numbers, "
                f"got {self.feature_weights!r}"
            )
        return np.sqrt(weights)  # weights multiply squared differences

    def _index(self) -> NearestNeighbors:
        # only a search of the reference rows among themselves needs scikit-learn's estimator
        index = getattr(self, "_index_cache", None)
        if index is None:
            index = NearestNeighbors(algorithm="brute").fit(self.reference_)
            self._index_cache = index
        return index

    def _query(self, X: ArrayLike | None) -> NDArray[np.float64] | None:
        check_is_fitted(self)
        if X is None:
            return None
        X_arr = validate_data(self, X, reset=False, dtype=np.float64)
        return standardise(X_arr, self.mean_, self.scale_) * self._weights()

    def kneighbors(
        self, X: ArrayLike | None = None, n_neighbors: int | None = None
    ) -> tuple[NDArray[np.float64], NDArray[np.intp]]:
        """Return ``(distances, indices)`` of the nearest reference rows, as in scikit-learn.

        With ``X=None`` each reference row's neighbours exclude itself.
        """
        query = self._query(X)
        k = min(int(self.n_neighbors if n_neighbors is None else n_neighbors), self._n_ref(X))
        if query is None:
            distances, indices = self._index().kneighbors(None, n_neighbors=k)
            return distances, indices
        return nearest(np.ascontiguousarray(self.reference_), np.ascontiguousarray(query), k)

    def _n_ref(self, X: ArrayLike | None) -> int:
        return int(self.reference_.shape[0]) - (1 if X is None else 0)

    def select(self, X: ArrayLike | None = None, n_neighbors: int | None = None) -> Comparables:
        """Return the comparables of each row of ``X`` with their similarity weights."""
        distances, indices = self.kneighbors(X, n_neighbors)
        similarities, weights = similarity_weights(distances)
        return Comparables(indices, distances, similarities, weights)

    def to_dict(self) -> dict[str, Any]:
        """Return the fitted selector as JSON-ready data (the reference set included)."""
        check_is_fitted(self)
        params = self.get_params()
        if params["feature_weights"] is not None:
            params["feature_weights"] = [float(w) for w in params["feature_weights"]]
        data = header(_NAME, _FORMAT_VERSION)
        data.update(
            {
                "params": params,
                "n_features_in": int(self.n_features_in_),
                "mean": self.mean_.tolist(),
                "scale": self.scale_.tolist(),
                "reference": self.reference_.tolist(),
            }
        )
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ComparablesSelector:
        """Rebuild a fitted selector from :meth:`to_dict` output."""
        check_header(data, _NAME, _FORMAT_VERSION)
        selector = cls(**require(data, "params", _NAME))
        selector.n_features_in_ = int(require(data, "n_features_in", _NAME))
        selector.mean_ = np.asarray(require(data, "mean", _NAME), dtype=np.float64)
        selector.scale_ = np.asarray(require(data, "scale", _NAME), dtype=np.float64)
        selector.reference_ = np.asarray(require(data, "reference", _NAME), dtype=np.float64)
        selector.reference_ = selector.reference_.reshape(-1, selector.n_features_in_)
        return selector
