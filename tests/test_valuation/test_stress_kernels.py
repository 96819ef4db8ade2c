"""Kernel building blocks: the inverse-normal transform, the fast normals, warm-up."""

from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.special import ndtri

from valuation.kernels import stress as kernel
from valuation.kernels.registry import WARMUP_MODULES
from valuation.risk import model as m
from valuation.risk.api import simulate
from valuation.risk.model import build_model
from valuation.schema.stress import StressRequest


def test_inverse_normal_matches_scipy():
    u = np.concatenate(
        [
            np.linspace(1e-6, 1 - 1e-6, 20001),
            np.geomspace(0.5 / 2**32, 0.05, 2000),
            1 - np.geomspace(0.5 / 2**32, 0.05, 2000),
        ]
    )
    ours = np.array([kernel.inverse_normal(x) for x in u])
    exact = ndtri(u)
    assert np.max(np.abs(ours - exact)) < 1e-8
    big = np.abs(exact) > 1e-3
    assert np.max(np.abs(ours[big] / exact[big] - 1)) < 1.2e-9


def test_fast_normals_are_standard_normal():
    n = 50_000
    draws = np.array(
        [
            kernel.fast_normals4(np.uint64(5), np.uint64(77), np.uint64(p), np.uint64(3))
            for p in range(n)
        ]
    ).ravel()
    se = 1 / math.sqrt(draws.size)
    assert abs(draws.mean()) < 4 * se
    assert abs(draws.var() - 1) < 4 * math.sqrt(2) * se
    assert abs(np.mean(draws**3)) < 4 * math.sqrt(15) * se
    # the four words of a block are independent
    block = draws.reshape(n, 4)
    corr = np.corrcoef(block.T)
    assert np.all(np.abs(corr[np.triu_indices(4, 1)]) < 4 / math.sqrt(n))


def test_warmup_is_registered_and_runs():
    assert "valuation.kernels.stress" in WARMUP_MODULES
    kernel.warmup()


def test_row_quantiles_match_numpy():
    """The fan chart's sorted-row quantiles are NumPy's default (linear) quantiles."""
    from valuation.risk.api import QUANTILE_LEVELS, row_quantiles

    rng = np.random.default_rng(3)
    for n in (1, 2, 7, 1000, 1777, 20_000):
        for dtype in (np.float32, np.float64):
            rows = rng.lognormal(size=(4, n)).astype(dtype)
            ours = row_quantiles(rows, QUANTILE_LEVELS)
            exact = np.quantile(rows, QUANTILE_LEVELS, axis=1)
            assert ours.shape == exact.shape
            # NumPy subtracts float32 neighbours in float32; ours interpolates in float64.
            rtol = 1e-12 if dtype == np.float64 else 2 * float(np.finfo(np.float32).eps)
            np.testing.assert_allclose(ours, exact, rtol=rtol, atol=0)


def test_vectorised_exp_matches_numpy():
    """The kernels' branch-free exp: a few ulp from np.exp, 0 far below, -inf → 0."""
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-700.0, 700.0, 20_000), rng.normal(0.0, 3.0, 20_000)])
    out = np.empty_like(x)
    kernel.exp_into(x, out, np.empty(x.size, dtype=np.int64), x.size)
    assert np.max(np.abs(out / np.exp(x) - 1.0)) < 1e-15
    tiny = np.array([-709.0, -1e6, -np.inf, 0.0])
    out = np.empty_like(tiny)
    kernel.exp_into(tiny, out, np.empty(4, dtype=np.int64), 4)
    assert list(out) == [0.0, 0.0, 0.0, 1.0]
    assert kernel.exp_scalar(1.0) == pytest.approx(math.e, rel=1e-15)


def test_block_normals_are_the_scalar_normals():
    """The vectorised block of normals has the same bits as fast_normals4, path by path."""
    n, steps = 300, 10
    rows = 4 * ((steps + 3) // 4)
    out = np.empty((rows, n))
    kernel.step_normals(
        np.uint64(5),
        np.uint64(77),
        np.uint64(1000),
        n,
        steps,
        np.empty((4, n)),
        out,
        np.empty(out.size),
        np.empty((2, out.size), dtype=np.int64),
    )
    for p in range(0, n, 37):
        for block in range(rows // 4):
            expected = kernel.fast_normals4(
                np.uint64(5), np.uint64(77), np.uint64(1000 + p), np.uint64(block)
            )
            assert tuple(out[4 * block : 4 * block + 4, p]) == expected


@pytest.mark.parametrize("jumps_per_step", [0.7, 40.0])  # 40: two jump segments in the tenor
def test_chunk_events_are_the_per_path_events(jumps_per_step):
    """The vectorised event schedule of a block equals the per-path one (used after the tenor)."""
    item = np.zeros(13)
    item[kernel.JUMP_LAMBDA_DT] = jumps_per_step
    item[kernel.JUMP_MEAN] = -0.1
    item[kernel.JUMP_VOL] = 0.2
    item[kernel.REVOKE_P] = 0.05
    item[kernel.REVOKE_KEEP] = 0.3
    item[kernel.EXPIRY_STEP] = 7.0
    item[kernel.RENEW_P] = 0.6
    item[kernel.LAPSE_KEEP] = 0.5
    seed, key, n, n_steps, horizon = np.uint64(9), np.uint64(1234), 200, 12, 18
    block = np.zeros((n_steps + 1, n))  # the last row is chunk_events' spare
    uniforms = np.empty((4, n))

    lists = {}

    def run(room: int) -> int:
        lists.update(
            blocks=np.empty((4, room), dtype=np.int64), scratch=np.empty((3, room), dtype=np.int64)
        )
        return int(
            kernel.chunk_events(
                item,
                seed,
                key,
                np.uint64(500),
                n,
                n_steps,
                horizon,
                uniforms,
                block,
                np.empty(n, dtype=np.int64),
                lists["blocks"],
                np.empty((4, room)),
                np.empty((2, room)),
                lists["scratch"],
            )
        )

    short = run(8)  # too little room for the jump lists: asks for more and adds nothing
    assert short < -8
    np.testing.assert_array_equal(block, 0.0)
    n_blk = run(-short)
    assert n_blk >= 0
    for j in range(n):
        one = np.zeros((n_steps, 1))
        flags = kernel.item_events(
            item, seed, key, np.uint64(500 + j), n_steps, horizon, 1, n_steps, one, 0
        )
        np.testing.assert_array_equal(block[:n_steps, j], one[:, 0])
        assert flags == kernel.events_flags(item, n_steps, uniforms[0, j], uniforms[1, j])
    for j in range(n):
        flags = kernel.events_flags(item, n_steps, uniforms[0, j], uniforms[1, j])
        revoked_at = kernel.revocation_step(uniforms[0, j], item[kernel.REVOKE_P])
        assert lists["scratch"][1, j] == (revoked_at if revoked_at <= n_steps else kernel._NEVER)
        assert bool(flags & kernel.FLAG_REVOKED) == (revoked_at <= n_steps)


def test_poisson_inverse_inverts_the_cdf():
    mean = 3.5
    p0 = math.exp(-mean)
    assert kernel.poisson_inverse(p0 * 0.999, mean) == 0
    assert kernel.poisson_inverse(p0 * 1.001, mean) == 1
    cdf2 = p0 * (1 + mean + mean**2 / 2)
    assert kernel.poisson_inverse(cdf2 * 1.0001, mean) == 3
    big = [kernel.poisson_inverse(u, 400.0) for u in (0.001, 0.5, 0.999)]
    assert 330 < big[0] < big[1] < big[2] < 470


@pytest.mark.parametrize("n", [0, 1, 63, 64, 65, 128])
def test_list_tails_lists_exactly_the_tail_lanes_in_order(n):
    rng = np.random.default_rng(n)
    u = rng.random(n)
    u[::7] = kernel._P_LOW  # the boundaries themselves are central
    u[1::11] = kernel._P_HIGH
    u[2::13] = np.nextafter(kernel._P_LOW, 0.0)
    tails = np.full(n + 1, -1, dtype=np.int64)  # n + 1: list_outside writes one spare entry
    count = kernel.list_outside(u, n, kernel._P_LOW, kernel._P_HIGH, tails)
    expected = np.flatnonzero((u < kernel._P_LOW) | (u > kernel._P_HIGH))
    assert count == expected.size
    np.testing.assert_array_equal(tails[:count], expected)


def test_central_branch_stays_above_its_stated_lower_bound():
    # default_steps_from_tails skips every draw of the central branch on this bound.
    u = np.linspace(kernel._P_LOW, 0.5, 200_001)
    z = np.array([kernel.inverse_normal(x) for x in u])
    assert np.all(np.diff(z) >= 0)  # increasing, so the minimum is at _P_LOW
    assert z.min() == pytest.approx(ndtri(kernel._P_LOW), abs=1e-8)
    assert z.min() - kernel._Z_CENTRAL_MIN > 5e-3  # a margin far above any rounding
    assert kernel.inverse_normal(np.nextafter(kernel._P_LOW, 0.0)) < z.min()


@pytest.mark.parametrize("wrong_way", [0.0, 0.3, -0.5, 0.95, 1.0])
@pytest.mark.parametrize("annual_pd", [0.03, 0.4])
def test_default_steps_from_tails_equal_testing_every_step(wrong_way, annual_pd):
    rng = np.random.default_rng(11)
    n_steps, nb = 24, 128
    threshold = ndtri(1 - (1 - annual_pd) ** (1 / 12))
    scalars = np.zeros(8)
    scalars[kernel.DEFAULT_THRESHOLD] = threshold
    scalars[kernel.WRONG_WAY] = wrong_way
    scalars[kernel.WRONG_WAY_COMPLEMENT] = math.sqrt(1 - wrong_way**2)
    # uniforms with many tails and factors with fat tails, so every branch is taken
    u = rng.random((n_steps, nb)) ** 1.5
    factor = 1.6 * rng.standard_normal((n_steps + 1, nb))
    use_factor = wrong_way != 0.0
    cut = threshold - scalars[kernel.WRONG_WAY_COMPLEMENT] * kernel._Z_CENTRAL_MIN
    got = np.full(nb, -1, dtype=np.int64)
    kernel.default_steps_from_tails(
        u,
        factor,
        use_factor,
        scalars,
        cut,
        n_steps,
        nb,
        np.empty((3, n_steps * nb + 1)),
        np.empty((4, n_steps * nb + 1), dtype=np.int64),
        got,
    )
    # the obvious way: every step's normal, the first step below the threshold
    eta = np.array([[kernel.inverse_normal(x) for x in row] for row in u])
    latent = wrong_way * factor[1:] + scalars[kernel.WRONG_WAY_COMPLEMENT] * eta
    below = latent < threshold
    expected = np.where(below.any(axis=0), below.argmax(axis=0) + 1, -1)
    np.testing.assert_array_equal(got, expected)
    assert 0 < (expected > 0).sum() < nb


def test_log_positive_is_within_one_ulp_of_numpy():
    x = np.concatenate(
        [
            np.geomspace(0.5 / 2**32, 0.5, 100_001),
            np.linspace(0.70, 1.45, 10_001),  # both sides of the √2/2 and √2 split points
            [kernel._SQRT2, np.nextafter(kernel._SQRT2, 2.0), 1.0, 2.0, 1e300, 1e-300],
        ]
    )
    ours = np.array([kernel.log_positive(v) for v in x])
    exact = np.log(x)
    assert np.all(np.abs(ours - exact) <= np.spacing(np.abs(exact)))
    assert kernel.log_positive(1.0) == 0.0


def test_vectorised_tail_pass_has_the_scalar_bits():
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(0.5 / 2**32, kernel._P_LOW, 997), [0.5 / 2**32, kernel._P_LOW]])
    expected = np.array([kernel.tail_rational(math.sqrt(-2.0 * kernel.log_positive(v))) for v in x])
    got = x.copy()
    kernel.tail_magnitudes_into(got, got.size, np.empty(got.size, dtype=np.int64))
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_allclose(got, ndtri(x), rtol=1.2e-9)


def test_lane_normal_is_one_of_the_four_normals():
    for path in range(0, 5000, 97):
        four = kernel.fast_normals4(np.uint64(9), np.uint64(31), np.uint64(path), np.uint64(2))
        lanes = [
            kernel.lane_normal(np.uint64(9), np.uint64(31), np.uint64(path), np.uint64(2), w)
            for w in range(4)
        ]
        assert tuple(lanes) == four


@pytest.mark.parametrize("correlation", [0.0, 0.4])
def test_gbm_yardstick_is_the_model_without_events_or_default(correlation):
    """The benchmark's bare GBM kernel moves the items exactly as stress_paths does when the
    model has no jumps, events or default: the same running minimum, bit for bit."""
    request = StressRequest.model_validate(
        {
            "as_of": "2026-11-01",
            "loan": {"amount": 60.0, "tenor_months": 30, "amortization": "annuity"},
            "collateral": [
                {
                    "id": f"c{i}",
                    "value": 30.0 + i,
                    "sector": "ai" if i < 2 else "finance",
                    "drift": 0.01 * i,
                    "volatility": 0.2 + 0.1 * i,
                }
                for i in range(3)
            ],
            "correlation": correlation,
            "simulation": {"paths": 1000, "seed": 4},
        }
    )
    model = build_model(request)
    paths, start = 300, 77
    expected = simulate(model, paths, path_start=start, store_pool=False).min_ratio
    got = np.empty(paths)
    kernel.gbm_min_ratio(
        model.items[:, m.LOG_V0].copy(),
        model.items[:, m.LOG_DRIFT_STEP].copy(),
        model.items[:, m.SIGMA_SQRT_DT].copy(),
        model.item_keys,
        model.sector_index,
        model.sector_keys,
        model.scalars[m.SQRT_RHO],
        model.scalars[m.SQRT_ONE_MINUS_RHO],
        model.stream_keys[0],
        model.profile,
        start,
        0,
        paths,
        got,
    )
    np.testing.assert_array_equal(got, expected)


def test_plain_python_kernels_wrap_around_without_warnings():
    """With DPV_DISABLE_JIT=1 the branch-free mask walk (mask − 1 at mask = 0) wraps around
    silently, as it does compiled, and gives the same list."""
    code = (
        "import warnings, numpy as np\n"
        "warnings.simplefilter('error')\n"
        "from valuation.kernels import stress as k\n"
        "u = np.random.default_rng(1).random(130)\n"
        "t = np.empty(131, dtype=np.int64)\n"
        "n = k.list_outside(u, 130, k._P_LOW, k._P_HIGH, t)\n"
        "assert list(t[:n]) == list(np.flatnonzero((u < k._P_LOW) | (u > k._P_HIGH)))\n"
        "assert n > 0\n"
    )
    env = {**os.environ, "DPV_DISABLE_JIT": "1"}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=120)


@pytest.mark.parametrize(("jumps_per_year", "tenor"), [(12.0, 24), (100.0, 60)])
def test_terminal_values_equal_a_path_by_path_simulation(jumps_per_year, tenor):
    """stress_paths' terminal values, bit for bit, from the obvious per-path loop: each step's
    normals (lane_normal), the events of item_events, the log-value update, exp_scalar. With
    12 jumps a year the jump lists outgrow their first allocation; with 100 over five years the
    jumps come in two segments."""
    request = StressRequest.model_validate(
        {
            "as_of": "2026-11-01",
            "loan": {"amount": 60.0, "tenor_months": tenor, "amortization": "annuity"},
            "collateral": [
                {
                    "id": f"c{i}",
                    "value": 40.0,
                    "sector": "ai" if i < 2 else "finance",
                    "drift": 0.02,
                    "volatility": 0.3,
                    "jump_intensity": jumps_per_year,
                    "jump_mean": -0.01,
                    "jump_volatility": 0.05,
                    "revocation_hazard": 0.3,
                    "revocation_loss": 0.8,
                    "expiry_months": 12,
                    "renewal_probability": 0.5,
                    "lapse_loss": 0.5,
                }
                for i in range(3)
            ],
            "correlation": 0.4,
            "policy": {"months_to_liquidate": 6},
            "simulation": {"paths": 1000, "seed": 3},
        }
    )
    model = build_model(request)
    segment = kernel.segment_steps(model.items[0, m.JUMP_LAMBDA_DT])
    assert (segment < model.n_steps) == (jumps_per_year == 100.0)
    paths = 200
    terminal = simulate(model, paths, store_pool=False).terminal
    seed = model.stream_keys[0]
    n_steps = model.n_steps
    horizon = n_steps + 6
    sqrt_rho, sqrt_1m_rho = model.scalars[m.SQRT_RHO], model.scalars[m.SQRT_ONE_MINUS_RHO]
    for p in range(0, paths, 13):
        path = np.uint64(p)
        for i in range(model.items.shape[0]):
            item = model.items[i]
            key = model.item_keys[i]
            sector_key = model.sector_keys[model.sector_index[i]]
            add = np.zeros((n_steps, 1))
            kernel.item_events(item, seed, key, path, n_steps, horizon, 1, n_steps, add, 0)
            level = item[m.LOG_V0]
            for k in range(1, n_steps + 1):
                block, lane = np.uint64((k - 1) // 4), (k - 1) % 4
                eps = kernel.lane_normal(seed, key, path, block, lane)
                common = kernel.lane_normal(seed, sector_key, path, block, lane)
                shock = sqrt_rho * common + sqrt_1m_rho * eps
                level = level + (
                    item[m.LOG_DRIFT_STEP] + item[m.SIGMA_SQRT_DT] * shock + add[k - 1, 0]
                )
            assert terminal[p, i] == kernel.exp_scalar(level), (p, i)


@pytest.mark.parametrize(("draw_sector", "use_factor"), [(False, False), (True, True)])
def test_advance_item_moves_the_level_and_puts_back_the_zeros_of_the_events(
    draw_sector, use_factor
):
    """advance_item adds each step's shock, drift and events to the level, pools the values,
    and leaves zeros in every event cell it read (the kernel relies on it instead of clearing
    the cells chunk_events wrote); the spare row and the lanes past nb are left alone."""
    rng = np.random.default_rng(3)
    n_steps, width, nb = 7, 10, 9
    item_z = rng.standard_normal((8, width))
    sector = rng.standard_normal((8, width))
    jumps = rng.standard_normal((n_steps + 1, width)) * (rng.random((n_steps + 1, width)) < 0.3)
    before = jumps.copy()
    factor = np.zeros((n_steps + 1, width))
    pool = np.zeros((n_steps + 1, width))
    level = np.full(width, math.log(40.0))
    start = level.copy()
    sqrt_rho, sqrt_1m_rho = (0.6, 0.8) if draw_sector else (0.0, 1.0)
    drift, sigma, weight = 0.001, 0.08, 0.5
    kernel.advance_item(
        level, item_z, sector, jumps, factor, pool, np.empty(width),
        np.empty(width, dtype=np.int64), n_steps, nb, drift, sigma, weight,
        sqrt_rho, sqrt_1m_rho, draw_sector, use_factor,
    )  # fmt: skip
    shock = sqrt_1m_rho * item_z[:n_steps, :nb] + (sqrt_rho * sector[:n_steps, :nb] * draw_sector)
    expected = start[:nb] + np.cumsum(drift + sigma * shock + before[:n_steps, :nb], axis=0)
    np.testing.assert_allclose(level[:nb], expected[-1], rtol=1e-13)
    np.testing.assert_allclose(pool[1:, :nb], np.exp(expected), rtol=1e-13)
    np.testing.assert_allclose(factor[1:, :nb], weight * shock * use_factor, rtol=1e-13)
    np.testing.assert_array_equal(jumps[:n_steps, :nb], 0.0)
    np.testing.assert_array_equal(jumps[n_steps], before[n_steps])
    np.testing.assert_array_equal(jumps[:, nb:], before[:, nb:])
    assert np.count_nonzero(before[:n_steps, :nb]) > 5  # (so that there was work to do)
