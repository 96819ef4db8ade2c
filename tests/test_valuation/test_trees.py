"""The compiled tree kernel predicts what LightGBM predicts, bit for bit."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from valuation.calibration_set import load_calibration
from valuation.kernels.trees import (
    ZERO_THRESHOLD,
    TreeEnsemble,
    compile_ensemble,
    ensemble_paths,
    predict_ensemble,
    predict_moved,
)
from valuation.methods.market_model import MarketModel, compiled_twin


def _awkward_rows(base: np.ndarray, seed: int) -> np.ndarray:
    """Rows of ``base`` with NaN, zeros of both signs, tiny values and shifted values."""
    rng = np.random.default_rng(seed)
    X = base[rng.integers(0, base.shape[0], 4000)].copy()
    u = rng.random(X.shape)
    X[u < 0.06] = np.nan
    X[(u >= 0.06) & (u < 0.08)] = 0.0
    X[(u >= 0.08) & (u < 0.09)] = -0.0
    X[(u >= 0.09) & (u < 0.10)] = ZERO_THRESHOLD
    X[(u >= 0.10) & (u < 0.11)] = -1e-36
    shift = (u >= 0.11) & (u < 0.16)
    X[shift] += rng.normal(size=int(shift.sum()))
    return X


def test_the_bundled_hedonic_models_boosters_match_lightgbm() -> None:
    market = load_calibration().market_model()
    assert isinstance(market, MarketModel) and market.deals is not None
    X = _awkward_rows(market.deals.features, 0)
    for name in ("point_booster_", "centre_booster_", "lower_booster_", "upper_booster_"):
        booster = getattr(market.hedonic, name)
        ensemble = compile_ensemble(booster.model_to_string())
        assert ensemble is not None, name
        assert predict_ensemble(ensemble, X).tobytes() == booster.predict(X).tobytes(), name
    twin = compiled_twin(market.hedonic)
    assert twin.predict(X).tobytes() == market.hedonic.predict(X).tobytes()
    for got, want in zip(twin.predict_interval(X), market.hedonic.predict_interval(X), strict=True):
        assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_missing_values_and_one_leaf_trees_match_lightgbm(zero_as_missing: bool) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(600, 4))
    X[rng.random(X.shape) < 0.2] = np.nan
    X[rng.random(X.shape) < 0.2] = 0.0
    y = np.nan_to_num(X[:, 0]) * 2.0 - np.isnan(X[:, 1]) + rng.normal(scale=0.1, size=600)
    params = {
        "objective": "regression",
        "num_leaves": 7,
        "min_data_in_leaf": 5,
        "zero_as_missing": zero_as_missing,
        "verbosity": -1,
        "deterministic": True,
        "num_threads": 1,
    }
    rows = _awkward_rows(X, 2)
    # a constant label gives one tree of one leaf (the average)
    for label in (y, np.full(600, 3.25)):
        booster = lgb.train(params, lgb.Dataset(X, label=label), num_boost_round=60)
        ensemble = compile_ensemble(booster.model_to_string())
        assert ensemble is not None
        assert predict_ensemble(ensemble, rows).tobytes() == booster.predict(rows).tobytes()
    assert "num_leaves=1\n" in booster.model_to_string()  # the one-leaf case was tested


def test_models_the_kernel_does_not_follow_keep_lightgbm() -> None:
    rng = np.random.default_rng(3)
    X = np.column_stack([rng.integers(0, 5, 400), rng.normal(size=400)]).astype(float)
    y = X[:, 0] + rng.normal(size=400)
    common = {"verbosity": -1, "num_threads": 1, "min_data_in_leaf": 5}
    categorical = lgb.train(
        {**common, "objective": "regression"},
        lgb.Dataset(X, label=y, categorical_feature=[0]),
        num_boost_round=5,
    )
    assert compile_ensemble(categorical.model_to_string()) is None
    poisson = lgb.train(
        {**common, "objective": "poisson"}, lgb.Dataset(X, label=np.abs(y)), num_boost_round=5
    )
    assert compile_ensemble(poisson.model_to_string()) is None
    with pytest.raises(ValueError, match="3 features"):
        ensemble = compile_ensemble(
            lgb.train(
                {**common, "objective": "regression"},
                lgb.Dataset(np.column_stack([X, X[:, :1]]), label=y),
                num_boost_round=2,
            ).model_to_string()
        )
        assert ensemble is not None
        predict_ensemble(ensemble, X)


def _point_model() -> tuple[np.ndarray, lgb.Booster, TreeEnsemble]:
    """The bundled market model's deal features, its point booster and that compiled."""
    market = load_calibration().market_model()
    assert isinstance(market, MarketModel) and market.deals is not None
    booster = market.hedonic.point_booster_
    ensemble = compile_ensemble(booster.model_to_string())
    assert ensemble is not None
    return market.deals.features, booster, ensemble


def test_moved_rows_match_lightgbm_on_the_moved_rows() -> None:
    """A row with one feature moved scores as LightGBM scores that row, whether or not its
    paths read the moved feature; the paths' leaves and features are those of a full walk."""
    features, booster, ensemble = _point_model()
    base = _awkward_rows(features, 4)[:300]
    paths = ensemble_paths(ensemble, base)
    assert paths.score.tobytes() == booster.predict(base).tobytes()
    leaves = booster.predict(base, pred_leaf=True)
    assert np.array_equal(paths.leaves, leaves.T)
    rng = np.random.default_rng(5)
    row = rng.integers(0, base.shape[0], 5000)
    column = rng.integers(0, base.shape[1], 5000)
    value = base[rng.integers(0, base.shape[0], 5000), column]
    value[::7] = np.nan
    value[1::7] = 0.0
    value[2::7] = -1e-36
    value[3::7] = base[row[3::7], column[3::7]]  # a move to the value it has
    moved = base[row].copy()
    moved[np.arange(row.size), column] = value
    got = predict_moved(ensemble, base, paths, row, column, value)
    assert got.tobytes() == booster.predict(moved).tobytes()
    # the shortcut was taken: some moves leave some trees' paths alone
    bits = (paths.features[:, row] >> column) & 1
    assert 0 < bits.mean() < 1


def test_moved_rows_read_a_table_of_paths_through_path_of() -> None:
    """Rows that repeat rows of a table read their paths from the table's columns: the same
    scores as LightGBM's of the moved rows, without copying the paths."""
    features, booster, ensemble = _point_model()
    table = _awkward_rows(features, 4)[:200]
    paths = ensemble_paths(ensemble, table)
    rng = np.random.default_rng(11)
    path_of = rng.integers(0, table.shape[0], 700)  # rows of the table, with repeats
    X = table[path_of]
    row = rng.integers(0, X.shape[0], 3000)
    column = rng.integers(0, X.shape[1], 3000)
    value = table[rng.integers(0, table.shape[0], 3000), column]
    moved = X[row].copy()
    moved[np.arange(row.size), column] = value
    got = predict_moved(ensemble, X, paths, row, column, value, path_of=path_of)
    assert got.tobytes() == booster.predict(moved).tobytes()
    with pytest.raises(ValueError, match="path_of has 699 entries for 700 rows"):
        predict_moved(ensemble, X, paths, row, column, value, path_of=path_of[:-1])
