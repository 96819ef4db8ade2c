"""The batch kernels against their plain-loop twins, product by product."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from tests.test_valuation.batches import random_batch
from tests.test_valuation.naive import income_naive, range_naive, value_naive
from valuation.kernels.range import range_batch
from valuation.kernels.valuation import allocate_outputs, income_value, value_batch


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_value_batch_equals_naive_twin(seed: int) -> None:
    has, inc, cst, mkt = random_batch(400, seed)
    out = allocate_outputs(400)
    value_batch(has, inc, cst, mkt, out)
    checked = 0
    for i in range(400):
        values, sigmas, weights, concluded = value_naive(i, has, inc, cst, mkt)
        np.testing.assert_allclose(out.values[i], values, rtol=1e-10, atol=1e-6)
        np.testing.assert_allclose(out.sigmas[i], sigmas, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(out.weights[i], weights, rtol=1e-8, atol=1e-12)
        assert out.concluded[i] == pytest.approx(concluded, rel=1e-9, abs=1e-6)
        checked += any(has[i])
    assert checked > 300
    # the batch reaches the new branches: events ahead, events already kept back, the market
    # method from the price model, model errors
    no_comps = np.diff(mkt.offsets) == 0
    assert (has[:, 2] & no_comps).sum() > 10
    assert (has[:, 0] & (inc.keep < 1.0)).sum() > 30
    assert (has[:, 0] & (inc.first_expiry == 0.0)).sum() > 10
    assert (has[:, 0] & np.isinf(inc.first_expiry) & (inc.hazard == 0.0)).sum() > 3
    assert (inc.sd_model > 0).sum() > 300


def load_numpy_twin():
    """``benchmarks/numpy_valuation.py``, the vectorised twin the benchmark times the kernel by."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "numpy_valuation.py"
    spec = importlib.util.spec_from_file_location("numpy_valuation", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_numpy_twin_equals_value_batch(seed: int) -> None:
    # the benchmark asserts the same agreement (1e-9) on its own batch before timing
    n = 3000
    has, inc, cst, mkt = random_batch(n, seed)
    out = allocate_outputs(n)
    value_batch(has, inc, cst, mkt, out)
    twin = load_numpy_twin().value_batch_numpy(has, inc, cst, mkt)
    for name in out._fields:
        np.testing.assert_allclose(getattr(twin, name), getattr(out, name), rtol=1e-9, atol=0)


@pytest.mark.parametrize("seed", [4, 5])
def test_range_batch_equals_naive_twin(seed: int) -> None:
    n, n_samples = 40, 101
    has, inc, cst, mkt = random_batch(n, seed)
    out = allocate_outputs(n)
    value_batch(has, inc, cst, mkt, out)
    entity = np.arange(500, 500 + n, dtype=np.uint64)
    quantiles = np.zeros((n, 4, 3))
    range_batch(has, inc, cst, mkt, out, entity, np.uint64(9), n_samples, quantiles)
    for i in range(n):
        twin = range_naive(i, has, inc, cst, mkt, out, entity, 9, n_samples)
        np.testing.assert_allclose(quantiles[i], twin, rtol=1e-9, atol=1e-6, err_msg=f"{i}")
    # the model errors widen the range of every method with a positive value
    for j in range(3):
        positive = has[:, j] & (out.values[:, j] > 0.0)
        assert positive.sum() > 10
        assert (quantiles[positive, j, 2] > quantiles[positive, j, 0]).all()


def test_income_near_q_equal_one_is_continuous() -> None:
    # growth == discount and no decay: q = 1 exactly, and just either side of it
    exact, _ = income_value(100.0, 1.0, 0.1, 0.0, 0.1, 7.0, 0.0, 0.0, 1.0)
    assert exact == pytest.approx(700.0, rel=1e-12)
    for eps in (1e-15, 1e-12, 1e-9, 1e-7):
        near, _ = income_value(100.0, 1.0, 0.1 + eps, 0.0, 0.1, 7.0, 0.0, 0.0, 1.0)
        twin, _ = income_naive(100.0, 1.0, 0.1 + eps, 0.0, 0.1, 7.0, 0.0, 0.0, 1.0)
        assert near == pytest.approx(twin, rel=1e-10)


def test_perpetuity_needs_q_below_one() -> None:
    v, _ = income_value(100.0, 1.0, 0.2, 0.0, 0.1, math.inf, 0.0, 0.0, 1.0)
    assert math.isinf(v)


def test_range_is_reproducible_and_independent_of_batch_position() -> None:
    has, inc, cst, mkt = random_batch(50, 7)
    out = allocate_outputs(50)
    value_batch(has, inc, cst, mkt, out)
    entity = np.arange(1000, 1050, dtype=np.uint64)
    q1 = np.zeros((50, 4, 3))
    q2 = np.zeros((50, 4, 3))
    range_batch(has, inc, cst, mkt, out, entity, np.uint64(42), 300, q1)
    range_batch(has, inc, cst, mkt, out, entity, np.uint64(42), 300, q2)
    assert np.array_equal(q1, q2)
    # the same product alone in a batch of its own draws the same stream
    i = 17
    one = allocate_outputs(1)

    def sub(arrays, k):
        # per-product arrays are cut to product k; item arrays stay whole (offsets index them)
        return type(arrays)(*[a[k : k + 1] if a.shape[0] == 50 else a for a in arrays])

    inc1, mkt1 = sub(inc, i), sub(mkt, i)
    cst1 = cst._replace(
        offsets=cst.offsets[i : i + 2] - 0,
        **{f: getattr(cst, f)[i : i + 1] for f in cst._fields if getattr(cst, f).shape[0] == 50},
    )
    mkt1 = mkt1._replace(offsets=mkt.offsets[i : i + 2])
    value_batch(has[i : i + 1], inc1, cst1, mkt1, one)
    q_one = np.zeros((1, 4, 3))
    range_batch(has[i : i + 1], inc1, cst1, mkt1, one, entity[i : i + 1], np.uint64(42), 300, q_one)
    assert np.array_equal(q_one[0], q1[i])
    # a different seed gives a different range
    q3 = np.zeros((50, 4, 3))
    range_batch(has, inc, cst, mkt, out, entity, np.uint64(43), 300, q3)
    assert not np.array_equal(q1, q3)
    # the conclusion's row alone: the same bits as its row among the methods'
    q_conclusion = np.full((50, 1, 3), np.nan)
    range_batch(has, inc, cst, mkt, out, entity, np.uint64(42), 300, q_conclusion)
    assert q_conclusion[:, 0].tobytes() == q1[:, 3].tobytes()
    with pytest.raises(ValueError, match="4 rows"):
        range_batch(has, inc, cst, mkt, out, entity, np.uint64(42), 300, np.zeros((50, 2, 3)))


@pytest.mark.parametrize("n", [2, 3, 10, 11, 1999, 2000])
def test_quantiles_by_selection_are_the_sorted_samples(n: int) -> None:
    """P10/P50/P90 from selected order statistics: the bits of the full sort, numpy's values."""
    from valuation.kernels.range import QUANTILES, _quantile_sorted, _quantiles_into

    rng = np.random.default_rng(n)
    for trial in range(20):
        x = rng.lognormal(size=n) if trial % 2 else rng.integers(0, 4, n).astype(np.float64)
        if trial % 5 == 0:
            x[rng.integers(0, n)] = np.nan  # sorts last
        got = np.zeros(3)
        _quantiles_into(x.copy(), got)
        by_sort = np.sort(x)
        want = np.array([_quantile_sorted(by_sort, q) for q in QUANTILES])
        assert got.tobytes() == want.tobytes()
        if not np.isnan(x).any():
            np.testing.assert_allclose(got, np.quantile(x, QUANTILES), rtol=1e-12, atol=0)
