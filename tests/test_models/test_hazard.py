"""Hazards: censoring handled correctly, MLE recovery, Poisson form, serialisation."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from models import (
    PoissonHazardRegressor,
    person_period,
    piecewise_constant_hazard,
    poisson_rate_interval,
)
from models.exceptions import DataError

TRUE_RATE = 0.15  # events per year


def censored_exponential(n: int, rate: float, rng: np.random.Generator):
    """Exponential event times, random uniform censoring (about 40% censored)."""
    event_time = rng.exponential(1.0 / rate, size=n)
    censor_time = rng.uniform(0.0, 8.0, size=n)
    duration = np.minimum(event_time, censor_time)
    observed = (event_time <= censor_time).astype(float)
    return duration, observed


def test_censored_mle_recovers_the_rate_and_naive_estimators_are_biased():
    duration, observed = censored_exponential(5000, TRUE_RATE, np.random.default_rng(42))
    assert 0.3 < 1.0 - observed.mean() < 0.7  # censoring is substantial
    table = piecewise_constant_hazard(duration, observed)
    estimate = table.rates[0]
    se = estimate / math.sqrt(table.events[0])  # Fisher information of d / E
    assert abs(estimate - TRUE_RATE) < 4 * se

    # ignoring censoring, two ways: drop censored subjects, or treat every end as an event
    dropped = observed.sum() / duration[observed == 1].sum()
    all_events = len(duration) / duration.sum()
    assert abs(dropped - TRUE_RATE) > 10 * se
    assert abs(all_events - TRUE_RATE) > 10 * se
    # the exact interval contains the truth
    assert table.lower[0] < TRUE_RATE < table.upper[0]


def test_piecewise_rates_are_recovered_in_each_interval():
    rng = np.random.default_rng(7)
    rates, cuts = np.array([0.05, 0.3, 0.1]), np.array([1.0, 3.0])
    # inverse-transform sampling of a piecewise-constant hazard
    target = rng.exponential(size=8000)
    cumulative_at_cuts = np.concatenate([[0.0], np.cumsum(rates[:-1] * np.diff([0.0, *cuts]))])
    piece = np.searchsorted(cumulative_at_cuts, target, side="right") - 1
    starts = np.concatenate([[0.0], cuts])
    event_time = starts[piece] + (target - cumulative_at_cuts[piece]) / rates[piece]
    censor_time = rng.uniform(0.0, 6.0, size=target.size)
    duration = np.minimum(event_time, censor_time)
    observed = (event_time <= censor_time).astype(float)
    table = piecewise_constant_hazard(duration, observed, breakpoints=cuts)
    se = table.rates / np.sqrt(table.events)
    assert np.all(np.abs(table.rates - rates) < 4 * se), (table.rates, se)
    np.testing.assert_allclose(table.exposure.sum(), duration.sum())
    assert table.events.sum() == observed.sum()


def test_person_period_splits_exposure_and_places_events():
    subject, interval, exposure, event = person_period(
        [0.0, 0.5, 1.0, 2.5], [0, 1, 1, 1], breakpoints=[1.0, 2.0]
    )
    assert subject.tolist() == [0, 1, 2, 3, 3, 3]
    assert interval.tolist() == [0, 0, 0, 0, 1, 2]
    assert exposure.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0, 0.5]
    # an event exactly at a breakpoint belongs to the interval that ends there
    assert event.tolist() == [0.0, 1.0, 1.0, 0.0, 0.0, 1.0]


def test_garwood_interval_matches_published_values():
    # exact Poisson limits for 5 events (95%): 1.6235, 11.6683 — Garwood (1936) tables, as
    # reproduced by any statistics package (e.g. R's poisson.test)
    lo, hi = poisson_rate_interval([5.0], [1.0])
    assert lo[0] == pytest.approx(1.6235, abs=1e-4)
    assert hi[0] == pytest.approx(11.6683, abs=1e-4)


def test_exact_interval_covers_at_least_nominal():
    rng = np.random.default_rng(3)
    exposure = 20.0
    counts = rng.poisson(TRUE_RATE * exposure, size=4000)
    lo, hi = poisson_rate_interval(counts, np.full(counts.size, exposure), confidence=0.9)
    covered = np.mean((lo <= TRUE_RATE) & (TRUE_RATE <= hi))
    assert covered >= 0.9 - 4 * math.sqrt(0.09 / counts.size)


def test_poisson_regressor_on_segment_indicators_equals_events_over_exposure():
    rng = np.random.default_rng(11)
    segment = rng.integers(0, 3, size=3000)
    duration, observed = censored_exponential(3000, 1.0, rng)
    duration = duration / np.array([0.1, 0.2, 0.4])[segment]  # segment rates 0.1, 0.2, 0.4
    X = np.eye(3)[segment]
    model = PoissonHazardRegressor(fit_intercept=False).fit(X, observed, exposure=duration)
    for k in range(3):
        table = piecewise_constant_hazard(duration[segment == k], observed[segment == k])
        assert model.predict(np.eye(3)[[k]])[0] == pytest.approx(table.rates[0], rel=1e-9)
    lo, hi = model.rate_interval(np.eye(3))
    assert np.all((lo < [0.1, 0.2, 0.4]) & ([0.1, 0.2, 0.4] < hi))


def test_poisson_regressor_recovers_a_hazard_ratio_with_censoring():
    rng = np.random.default_rng(12)
    x = rng.normal(size=4000)
    rate = 0.2 * np.exp(0.5 * x)
    event_time = rng.exponential(1.0 / rate)
    censor_time = rng.uniform(0.0, 5.0, size=x.size)
    duration = np.minimum(event_time, censor_time)
    observed = (event_time <= censor_time).astype(float)
    model = PoissonHazardRegressor().fit(x[:, None], observed, exposure=duration)
    se = np.sqrt(np.diag(model.covariance_))
    assert abs(model.intercept_ - math.log(0.2)) < 4 * se[0]
    assert abs(model.coef_[0] - 0.5) < 4 * se[1]
    survival = model.predict_survival([[0.0]], 2.0)[0]
    assert survival == pytest.approx(math.exp(-0.2 * 2.0), abs=4 * se[0])


def test_segment_without_events_needs_a_penalty():
    X = np.array([[1.0], [1.0], [0.0], [0.0]])
    with pytest.warns(ConvergenceWarning, match="alpha > 0"):
        PoissonHazardRegressor(max_iter=20).fit(X, [0, 0, 1, 2], exposure=[1, 1, 1, 1])
    model = PoissonHazardRegressor(alpha=1.0).fit(X, [0, 0, 1, 2], exposure=[1, 1, 1, 1])
    assert 0 < model.predict([[1.0]])[0] < model.predict([[0.0]])[0]


def test_bad_inputs_are_named():
    with pytest.raises(DataError, match="durations must be non-negative"):
        person_period([-1.0], [1])
    with pytest.raises(DataError, match="exposure must be non-negative"):
        PoissonHazardRegressor().fit([[0.0], [1.0]], [0, 1], exposure=[1.0, -2.0])
    with pytest.raises(DataError, match="breakpoints must be positive and increasing"):
        piecewise_constant_hazard([1.0], [1], breakpoints=[2.0, 1.0])


def test_json_round_trip_gives_identical_predictions():
    rng = np.random.default_rng(13)
    X = rng.normal(size=(200, 2))
    y = rng.poisson(np.exp(0.3 * X[:, 0]))
    model = PoissonHazardRegressor(alpha=0.5).fit(X, y, exposure=np.full(200, 2.0))
    restored = PoissonHazardRegressor.from_dict(json.loads(json.dumps(model.to_dict())))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))
    for a, b in zip(restored.rate_interval(X), model.rate_interval(X), strict=True):
        np.testing.assert_array_equal(a, b)
