"""The range kernel's parts: the certificate schedule, the two income paths, the selection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.test_valuation.batches import random_batch
from tests.test_valuation.naive import certificate_income_naive, range_naive
from valuation.kernels.range import (
    INCOME_ROWS,
    QUANTILES,
    SAMPLE_BLOCK,
    _quantiles_into,
    certificate_schedule,
    income_block,
    income_by_sample,
    range_batch,
)
from valuation.kernels.stress.exp_log import log_into, log_positive
from valuation.kernels.valuation import allocate_outputs, value_batch


def _schedule(inc, i: int, t_max: int):
    em = np.full(t_max + 1, np.nan)
    starts = np.empty(t_max + 8)
    alphas = np.empty(t_max + 8)
    betas = np.empty(t_max + 8)
    tau = 0.5 if inc.mid_year[i] > 0.0 else 0.0
    n = certificate_schedule(
        inc.hazard[i],
        inc.revoke_keep[i],
        inc.first_expiry[i],
        inc.validity[i],
        inc.renew_p[i],
        inc.lapse_keep[i],
        tau,
        t_max,
        em,
        starts,
        alphas,
        betas,
    )
    return em, starts[: n + 1], alphas[:n], betas[:n], n


@pytest.mark.parametrize("seed", [11, 12])
def test_schedule_multipliers_price_a_one_year_annuity_like_the_naive_twin(seed: int) -> None:
    """em[t] is E[M] of year t: the naive year-by-year expectation of a single cash flow.

    A life of exactly t years at q0 = 1 and no discounting minus a life of t − 1 years leaves
    year t's cash flow alone, times its expected multiplier.
    """
    _, inc, _, _ = random_batch(200, seed)
    checked = 0
    for i in range(200):
        if inc.validity[i] <= 0.0:
            continue
        em, _, _, _, _ = _schedule(inc, i, 12)
        events = (inc.hazard[i], inc.revoke_keep[i], inc.first_expiry[i], inc.validity[i])
        events += (inc.renew_p[i], inc.lapse_keep[i])
        for t in range(1, 13):
            whole = certificate_income_naive(1.0, 0.0, 0.0, 0.0, t, inc.mid_year[i], *events)
            less = certificate_income_naive(1.0, 0.0, 0.0, 0.0, t - 1, inc.mid_year[i], *events)
            assert em[t] == pytest.approx(whole - less, rel=1e-12, abs=1e-12)
            checked += 1
    assert checked > 600


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_income_block_equals_income_point_sample_by_sample(seed: int) -> None:
    """The block path (schedule, year-by-year sums, own exp/log) against income_point."""
    _, inc, _, _ = random_batch(120, seed)
    rng = np.random.default_rng(seed)
    w = np.empty((INCOME_ROWS, SAMPLE_BLOCK))
    bits = np.empty(SAMPLE_BLOCK, dtype=np.int64)
    checked = 0
    for i in range(120):
        if not (inc.base[i] * inc.rate[i] > 0.0 and inc.life[i] > 0.0):
            continue
        z = np.ascontiguousarray(rng.standard_normal((12, SAMPLE_BLOCK)))
        z[:, :4] = np.array([-6.3, 6.3, -3.0, 3.0])  # the tails of the inverse normal
        t_max = int(inc.life[i] * math.exp(inc.sd_life[i] * 7.0)) + 1
        em, starts, alphas, betas, n_periods = _schedule(inc, i, t_max)
        block = np.empty(SAMPLE_BLOCK)
        income_block(z, SAMPLE_BLOCK, i, inc, em, starts, alphas, betas, n_periods, w, bits, block)
        one = np.empty(SAMPLE_BLOCK)
        income_by_sample(z, SAMPLE_BLOCK, i, inc, one)
        np.testing.assert_allclose(block, one, rtol=1e-11, atol=0, err_msg=f"product {i}")
        checked += 1
    assert checked > 70


def test_products_past_the_block_path_take_income_point() -> None:
    """A life that samples could stretch past the schedule's years is valued sample by sample."""
    n, n_samples = 12, 300
    has, inc, cst, mkt = random_batch(n, 31)
    has[:] = [True, False, False]
    inc = inc._replace(
        base=np.full(n, 1e6),
        rate=np.full(n, 0.2),
        growth=np.full(n, 0.0),
        decay=np.full(n, 0.1),
        # 300·e^(0.3·7) years is past the block path's 2,000: these go sample by sample
        life=np.where(np.arange(n) % 2 == 0, 300.0, 40.0),
        sd_life=np.where(np.arange(n) % 2 == 0, 0.3, 0.1),
    )
    out = allocate_outputs(n)
    value_batch(has, inc, cst, mkt, out)
    entity = np.arange(7, 7 + n, dtype=np.uint64)
    quantiles = np.zeros((n, 4, 3))
    range_batch(has, inc, cst, mkt, out, entity, np.uint64(3), n_samples, quantiles)
    for i in range(n):
        twin = range_naive(i, has, inc, cst, mkt, out, entity, 3, n_samples)
        np.testing.assert_allclose(quantiles[i], twin, rtol=1e-9, atol=1e-6, err_msg=f"{i}")
        assert quantiles[i, 0, 0] > 0.0


@pytest.mark.parametrize("n", [64, 65, 257, 2000])
def test_selection_on_hard_inputs_is_the_sort(n: int) -> None:
    """Sorted, reversed, constant, two values, organ pipe: the values of a full sort."""
    ramp = np.arange(n, dtype=np.float64)
    cases = [
        ramp,
        ramp[::-1].copy(),
        np.full(n, 3.5),
        (ramp % 2).astype(np.float64),
        np.concatenate([ramp[: n // 2], ramp[: n - n // 2][::-1]]),
        np.where(ramp < n * 0.9, 0.0, ramp),  # a method worth 0 in most samples
    ]
    for x in cases:
        got = np.empty(3)
        _quantiles_into(x.copy(), got)
        np.testing.assert_array_equal(got, np.quantile(x, QUANTILES))


def test_log_into_has_the_bits_of_log_positive() -> None:
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.lognormal(0.0, 3.0, 999), [1.0, 2.0, 0.5, math.sqrt(2.0)]])
    out = np.empty_like(x)
    log_into(x, out, np.empty(x.shape[0], dtype=np.int64), x.shape[0])
    want = np.array([log_positive(v) for v in x])
    assert np.array_equal(out.view(np.int64), want.view(np.int64))
    np.testing.assert_allclose(out, np.log(x), rtol=3e-16, atol=1e-300)
