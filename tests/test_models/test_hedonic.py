"""HedonicPriceModel: conformal coverage, monotonicity, determinism, serialisation, factors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from models import HedonicPriceModel, adjustment_factors
from models.exceptions import DataError, ModelsError, SerializationError

COVERAGE = 0.8


def simulate(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Log price with known structure: increasing in features 0 and 1, noise grows with 3."""
    X = rng.uniform(size=(n, 4))
    mean = 1.5 * X[:, 0] + np.log1p(3.0 * X[:, 1]) + np.sin(3.0 * X[:, 2])
    noise_scale = 0.1 + 0.8 * X[:, 3]  # heteroscedastic
    return X, mean + rng.normal(size=n) * noise_scale


@pytest.fixture(scope="module")
def fitted() -> tuple[HedonicPriceModel, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261122)
    X, y = simulate(2000, rng)
    model = HedonicPriceModel(monotone_increasing=(0, 1), coverage=COVERAGE, random_state=7)
    return model.fit(X, y), X, y


def test_conformal_band_covers_nominal_share_out_of_sample(fitted):
    model, _, _ = fitted
    X_test, y_test = simulate(5_000, np.random.default_rng(1))
    lo, hi = model.predict_interval(X_test)
    covered = float(np.mean((lo <= y_test) & (y_test <= hi)))
    # coverage given the calibration split is Beta-distributed around the nominal level with
    # variance ~ c(1-c)/n_cal; the test sample adds c(1-c)/n_test. 4 s.e. of both.
    n_cal = model.conformity_scores_.size
    se = math.sqrt(COVERAGE * (1 - COVERAGE) * (1 / n_cal + 1 / y_test.size))
    assert abs(covered - COVERAGE) < 4 * se, (covered, se)
    # the band adapts to the noise: wider where feature 3 (the noise scale) is large
    width = hi - lo
    # (the true noise ratio is ~4.5; a constant-width band would give 1)
    assert width[X_test[:, 3] > 0.8].mean() > 2.0 * width[X_test[:, 3] < 0.2].mean()


def test_other_nominal_levels_are_calibrated_by_the_same_scores(fitted):
    model, _, _ = fitted
    X_test, y_test = simulate(5_000, np.random.default_rng(2))
    n_cal = model.conformity_scores_.size
    for level in (0.5, 0.9):
        lo, hi = model.predict_interval(X_test, coverage=level)
        covered = float(np.mean((lo <= y_test) & (y_test <= hi)))
        se = math.sqrt(level * (1 - level) * (1 / n_cal + 1 / y_test.size))
        assert abs(covered - level) < 4 * se, (level, covered)


def test_uncalibrated_quantile_band_would_miss_nominal(fitted):
    """The conformal step matters: the raw quantile band under-covers out of sample."""
    model, _, _ = fitted
    X_test, y_test = simulate(5_000, np.random.default_rng(3))
    lower, upper = model._base_band(X_test)
    raw = float(np.mean((lower <= y_test) & (y_test <= upper)))
    lo, hi = model.predict_interval(X_test)
    calibrated = float(np.mean((lo <= y_test) & (y_test <= hi)))
    assert abs(calibrated - COVERAGE) < abs(raw - COVERAGE)


@pytest.mark.parametrize("feature", [0, 1])
def test_predictions_and_band_do_not_fall_along_constrained_features(fitted, feature):
    model, _, _ = fitted
    rng = np.random.default_rng(4)
    grid = np.linspace(-0.2, 1.2, 57)  # beyond the training range too
    for base in rng.uniform(size=(25, 4)):
        rows = np.tile(base, (grid.size, 1))
        rows[:, feature] = grid
        assert np.all(np.diff(model.predict(rows)) >= 0)
        lo, hi = model.predict_interval(rows)
        assert np.all(np.diff(lo) >= 0)
        assert np.all(np.diff(hi) >= 0)


def test_unconstrained_feature_is_not_forced_monotone(fitted):
    model, _, _ = fitted  # feature 2 enters as sin(3x): rises then falls
    rows = np.tile([0.5, 0.5, 0.0, 0.5], (60, 1))
    rows[:, 2] = np.linspace(0, 1, 60)
    assert np.any(np.diff(model.predict(rows)) < 0)


def test_monotone_constraint_by_feature_name():
    from models._hedonic import monotone_constraint_vector

    assert monotone_constraint_vector(["b"], 3, ["a", "b", "c"]) == [0, 1, 0]
    with pytest.raises(DataError, match="'quality' is not a column"):
        monotone_constraint_vector(["quality"], 3, None)
    with pytest.raises(DataError, match="monotone feature 5"):
        monotone_constraint_vector([5], 3, None)


def test_constraints_by_name_equal_constraints_by_index():
    X, y = simulate(300, np.random.default_rng(9))
    names = ("quality", "records", "season", "noise")
    by_name = HedonicPriceModel(
        monotone_increasing=("quality", "records"),
        feature_names=names,
        n_estimators=30,
        random_state=3,
    ).fit(X, y)
    by_index = HedonicPriceModel(monotone_increasing=(0, 1), n_estimators=30, random_state=3).fit(
        X, y
    )
    assert by_name.monotone_constraints_ == [1, 1, 0, 0]
    np.testing.assert_array_equal(by_name.predict(X), by_index.predict(X))
    restored = HedonicPriceModel.from_dict(json.loads(json.dumps(by_name.to_dict())))
    assert restored.get_params() == by_name.get_params()
    with pytest.raises(DataError, match="feature_names has 3 names but X has 4 columns"):
        HedonicPriceModel(feature_names=names[:3]).fit(X, y)


def test_training_twice_gives_identical_model_strings():
    X, y = simulate(600, np.random.default_rng(5))
    params = {"monotone_increasing": (0,), "n_estimators": 60}
    first = HedonicPriceModel(**params, random_state=11).fit(X, y).to_dict()
    second = HedonicPriceModel(**params, random_state=11).fit(X, y).to_dict()
    for key in ("point_model", "centre_model", "lower_model", "upper_model"):
        assert first[key] == second[key]
    assert first == second
    other = HedonicPriceModel(**params, random_state=12).fit(X, y).to_dict()
    assert other["conformity_scores"] != first["conformity_scores"]


def test_trees_do_not_depend_on_the_thread_count():
    # small on purpose: OpenMP threads spin, and on a busy 2-core machine n_jobs=2 is slow
    X, y = simulate(400, np.random.default_rng(10))
    params = {"n_estimators": 20, "residual_folds": 0, "random_state": 4}
    one = HedonicPriceModel(**params, n_jobs=1).fit(X, y).to_dict()
    two = HedonicPriceModel(**params, n_jobs=2).fit(X, y).to_dict()
    for key in ("point_model", "centre_model", "lower_model", "upper_model"):
        # the model text records its parameters; only that line may differ
        differing = set(one[key].splitlines()) ^ set(two[key].splitlines())
        assert differing == {"[num_threads: 1]", "[num_threads: 2]"}
    assert one["conformity_scores"] == two["conformity_scores"]


def test_json_round_trip_gives_identical_predictions(fitted):
    model, X, _ = fitted
    text = json.dumps(model.to_dict())
    restored = HedonicPriceModel.from_dict(json.loads(text))
    np.testing.assert_array_equal(restored.predict(X[:300]), model.predict(X[:300]))
    for level in (0.5, 0.8, 0.95):
        restored_band = restored.predict_interval(X[:300], level)
        for a, b in zip(restored_band, model.predict_interval(X[:300], level), strict=True):
            np.testing.assert_array_equal(a, b)
    assert restored.get_params() == model.get_params()
    assert json.loads(text)["format_version"] == 1
    assert "tree\nversion=v4" in json.loads(text)["point_model"]  # LightGBM's text format


def test_serialised_form_of_other_version_or_kind_is_refused(fitted):
    model, _, _ = fitted
    data = model.to_dict()
    with pytest.raises(SerializationError, match="unsupported format_version 99"):
        HedonicPriceModel.from_dict({**data, "format_version": 99})
    with pytest.raises(SerializationError, match="expected 'HedonicPriceModel'"):
        HedonicPriceModel.from_dict({**data, "estimator": "RoyaltyRateModel"})
    with pytest.raises(SerializationError, match=r"saved with LightGBM 3\.3\.5"):
        HedonicPriceModel.from_dict({**data, "lightgbm_version": "3.3.5"})
    incomplete = {k: v for k, v in data.items() if k != "upper_model"}
    with pytest.raises(SerializationError, match="'upper_model'"):
        HedonicPriceModel.from_dict(incomplete)


def test_price_scale_is_the_exponential_of_log_scale(fitted):
    model, X, _ = fitted
    np.testing.assert_allclose(model.predict_price(X[:5]), np.exp(model.predict(X[:5])))
    lo, hi = model.predict_price_interval(X[:5])
    log_lo, log_hi = model.predict_interval(X[:5])
    np.testing.assert_allclose(lo, np.exp(log_lo))
    np.testing.assert_allclose(hi, np.exp(log_hi))


def test_adjustment_factors_are_ratios_of_predictions(fitted):
    model, X, _ = fitted
    subject = np.array([0.9, 0.8, 0.3, 0.5])
    comps = X[:6]
    factors = model.adjustment_factors(subject, comps)
    assert factors.shape == (6, 4)
    for i in range(6):
        for j in range(4):
            moved = comps[i].copy()
            moved[j] = subject[j]
            expected = (
                model.predict_price(moved[None, :])[0] / model.predict_price(comps[i : i + 1])[0]
            )
            assert factors[i, j] == pytest.approx(expected, rel=1e-12)
    # a comparable identical to the subject needs no adjustment
    np.testing.assert_allclose(model.adjustment_factors(subject, subject[None, :]), 1.0)
    # monotone attributes: a better subject never lowers the comparable's adjusted price
    lower_comps = np.tile(subject, (5, 1))
    lower_comps[:, 0] = np.linspace(0.0, 0.8, 5)
    assert np.all(model.adjustment_factors(subject, lower_comps, columns=[0]) >= 1.0)


def test_adjustment_factors_of_a_known_log_linear_model():
    def log_price(rows: np.ndarray) -> np.ndarray:
        return 0.7 * np.log(rows[:, 0]) + 0.2 * rows[:, 1]

    factors = adjustment_factors(log_price, [200.0, 1.0], [[100.0, 0.0], [400.0, 1.0]])
    np.testing.assert_allclose(factors[:, 0], [2.0**0.7, 0.5**0.7])
    np.testing.assert_allclose(factors[:, 1], [math.exp(0.2), 1.0])


def test_bad_hyper_parameters_and_inputs_raise_domain_errors():
    X, y = simulate(50, np.random.default_rng(6))
    with pytest.raises(ModelsError, match="coverage must lie strictly between 0 and 1"):
        HedonicPriceModel(coverage=1.2).fit(X, y)
    with pytest.raises(DataError, match="calibration_fraction"):
        HedonicPriceModel(calibration_fraction=0.0).fit(X, y)
    model = HedonicPriceModel(random_state=0, n_estimators=5).fit(X, y)
    with pytest.raises(ModelsError, match="coverage"):
        model.predict_interval(X, coverage=0.0)


def test_too_small_calibration_split_gives_unbounded_band():
    X, y = simulate(12, np.random.default_rng(8))
    model = HedonicPriceModel(random_state=0, n_estimators=5, min_child_samples=2).fit(X, y)
    lo, hi = model.predict_interval(X, coverage=0.95)  # 3 scores cannot certify 95%
    assert np.all(np.isneginf(lo)) and np.all(np.isposinf(hi))
