"""RoyaltyRateModel, ComparablesSelector and the split-conformal functions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.special import expit

from models import (
    ComparablesSelector,
    RoyaltyRateModel,
    conformal_quantile,
    cqr_conformity_scores,
    interval_coverage,
    select_nearest,
    strictly_inside_share,
)
from models.exceptions import DataError


def royalty_deals(rng: np.random.Generator, n: int = 600):
    """Segments with logit effects; one continuous attribute (exclusive licence flag)."""
    segment = rng.integers(0, 4, size=n)
    exclusive = rng.integers(0, 2, size=n).astype(float)
    segment_effect = np.array([0.4, -0.3, 0.0, -0.1])
    logit_rate = -1.2 + segment_effect[segment] + 0.6 * exclusive
    rate = expit(logit_rate + rng.normal(scale=0.3, size=n))
    X = np.column_stack([np.eye(4)[segment], exclusive])
    return X, rate


def test_royalty_model_recovers_logit_effects_and_stays_in_unit_interval():
    X, rate = royalty_deals(np.random.default_rng(1))
    model = RoyaltyRateModel(alpha=1e-3).fit(X, rate)
    predictions = model.predict(X)
    assert np.all((predictions > 0) & (predictions < 1))
    assert model.coef_[4] == pytest.approx(0.6, abs=0.1)  # exclusivity premium, logit scale
    differences = model.coef_[:4] - model.coef_[2]
    np.testing.assert_allclose(differences, [0.4, -0.3, 0.0, -0.1], atol=0.1)
    assert model.residual_std_ == pytest.approx(0.3, rel=0.15)


def test_unseen_segment_gets_the_pooled_rate_and_small_segments_shrink():
    X, rate = royalty_deals(np.random.default_rng(2))
    model = RoyaltyRateModel(alpha=5.0).fit(X, rate)
    unseen = model.predict_logit([[0, 0, 0, 0, 0.5]])[0]
    seen = model.predict_logit(np.column_stack([np.eye(4), np.full(4, 0.5)]))
    assert seen.min() < unseen < seen.max()
    # shrinkage: a stronger penalty pulls every segment towards the unseen (pooled) value
    strong = RoyaltyRateModel(alpha=500.0).fit(X, rate)
    seen_strong = strong.predict_logit(np.column_stack([np.eye(4), np.full(4, 0.5)]))
    unseen_strong = strong.predict_logit([[0, 0, 0, 0, 0.5]])[0]
    assert np.ptp(seen_strong - unseen_strong) < np.ptp(seen - unseen)


def test_royalty_rates_outside_unit_interval_are_refused_by_row():
    with pytest.raises(DataError, match=r"got 1\.0 at row 2"):
        RoyaltyRateModel().fit([[0.0], [1.0], [2.0]], [0.2, 0.3, 1.0])


def test_royalty_interval_and_round_trip():
    X, rate = royalty_deals(np.random.default_rng(3))
    model = RoyaltyRateModel().fit(X, rate)
    lo, hi = model.predict_interval(X, coverage=0.8)
    assert 0.7 < interval_coverage(rate, lo, hi) < 0.9
    restored = RoyaltyRateModel.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_comparables_ignore_units_after_standardisation():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(200, 3))
    query = rng.normal(size=(10, 3))
    base = ComparablesSelector(n_neighbors=4).fit(X).select(query)
    scale = np.array([1e6, 1.0, 1e-3])  # records in units, fields, quality in per-mille...
    rescaled = ComparablesSelector(n_neighbors=4).fit(X * scale).select(query * scale)
    np.testing.assert_array_equal(base.indices, rescaled.indices)
    np.testing.assert_allclose(base.distances, rescaled.distances, rtol=1e-9)


def test_comparable_weights_and_similarities():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    selector = ComparablesSelector(n_neighbors=3).fit(X)
    result = selector.select([[0.0, 0.0]])
    assert result.indices[0, 0] == 0 and result.similarities[0, 0] == 1.0
    np.testing.assert_allclose(result.weights.sum(axis=1), 1.0)
    assert np.all(np.diff(result.weights[0]) <= 0)  # nearer comparables weigh more
    # without X, each reference row's comparables exclude itself
    _, indices = selector.kneighbors(n_neighbors=2)
    assert not np.any(indices == np.arange(4)[:, None])


def test_feature_weights_change_the_neighbourhood():
    X = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    by_first = ComparablesSelector(n_neighbors=1, feature_weights=[0.0, 1.0]).fit(X)
    assert by_first.select([[1.0, 0.0]]).indices[0, 0] in (0, 1)
    by_second = ComparablesSelector(n_neighbors=1, feature_weights=[1.0, 0.0]).fit(X)
    assert by_second.select([[1.0, 1.0]]).indices[0, 0] == 1
    with pytest.raises(DataError, match="feature_weights"):
        ComparablesSelector(feature_weights=[1.0]).fit(X)


def test_comparables_round_trip():
    X = np.random.default_rng(5).normal(size=(50, 4))
    selector = ComparablesSelector(n_neighbors=5, feature_weights=[1, 2, 1, 0.5]).fit(X)
    restored = ComparablesSelector.from_dict(json.loads(json.dumps(selector.to_dict())))
    a, b = selector.select(X[:7]), restored.select(X[:7])
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.distances, b.distances)


def test_select_nearest_is_the_selector_bit_for_bit():
    """The unchecked search gives the estimator's neighbours, order and bits, ties included,
    and the estimator's query search is scikit-learn's NearestNeighbors' own."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(6)
    # rounded coordinates: many candidates at equal distance, whose order must be kept
    X = np.round(rng.normal(size=(300, 3)), 1)
    query = np.round(rng.normal(size=(40, 3)), 1)
    weights = np.array([0.5, 0.3, 0.2])
    fitted = ComparablesSelector(n_neighbors=5, feature_weights=weights).fit(X)
    want = fitted.select(query)
    got = select_nearest(X, query, 5, weights)
    for field in ("indices", "distances", "similarities", "weights"):
        assert getattr(got, field).tobytes() == getattr(want, field).tobytes(), field
    assert np.any(np.diff(want.distances, axis=1) == 0.0)
    points = fitted.reference_
    scaled = (query - fitted.mean_) / fitted.scale_ * np.sqrt(weights)
    distances, indices = NearestNeighbors(algorithm="brute").fit(points).kneighbors(scaled, 5)
    assert want.distances.tobytes() == distances.tobytes()
    assert want.indices.tobytes() == indices.tobytes()
    # more neighbours asked than rows: all of them
    assert select_nearest(X[:3], query, 5).indices.shape == (40, 3)


def test_conformal_quantile_rank():
    scores = np.arange(1.0, 20.0)  # n = 19
    assert conformal_quantile(scores, 0.8) == 16.0  # ceil(20 * 0.8) = 16th smallest
    assert conformal_quantile(scores, 0.95) == 19.0
    assert conformal_quantile(scores, 0.96) == math.inf


def test_split_conformal_guarantee_on_exchangeable_scores():
    """Marginal coverage lies in [c, c + 1/(n+1)] over calibration draws (no ties)."""
    rng = np.random.default_rng(6)
    n_cal, coverage, trials = 39, 0.8, 20_000
    calibration = rng.standard_normal(size=(trials, n_cal))
    new_score = rng.standard_normal(size=trials)
    corrections = np.array([conformal_quantile(row, coverage) for row in calibration])
    covered = np.mean(new_score <= corrections)
    se = math.sqrt(coverage * (1 - coverage) / trials)
    assert coverage - 4 * se <= covered <= coverage + 1 / (n_cal + 1) + 4 * se


def test_cqr_scores_and_band_metrics():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    lower, upper = np.full(4, 1.0), np.full(4, 2.0)
    np.testing.assert_array_equal(cqr_conformity_scores(y, lower, upper), [1.0, 0.0, 0.0, 1.0])
    assert interval_coverage(y, lower, upper) == 0.5
    assert strictly_inside_share(y, lower, upper) == 0.0  # both inside points sit on an edge
