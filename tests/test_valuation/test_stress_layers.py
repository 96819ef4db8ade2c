"""The stress package's copies kept for speed, and its structures, follow what they copy."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import get_type_hints

import numpy as np
import pytest

from valuation.kernels import stress as kernel
from valuation.kernels.layout import PathOutputs, StressArrays
from valuation.risk.api import PathStats
from valuation.risk.model import StressModel, build_model
from valuation.schema.stress import StressRequest


@pytest.mark.parametrize(
    ("draw_sector", "use_factor"), [(False, False), (False, True), (True, False), (True, True)]
)
def test_each_loop_of_advance_item_is_the_one_update(draw_sector, use_factor):
    """advance_item holds one loop per (sector term, pool factor) pair so that none branches;
    each gives, bit for bit, the update written once with plain floats and exp_scalar."""
    rng = np.random.default_rng(17)
    n_steps, width, nb = 9, 12, 11
    item_z = rng.standard_normal((12, width))
    sector = rng.standard_normal((12, width))
    jumps = rng.standard_normal((n_steps + 1, width)) * (rng.random((n_steps + 1, width)) < 0.3)
    before = jumps.copy()
    factor = np.zeros((n_steps + 1 if use_factor else 0, width))
    pool = np.full((n_steps + 1, width), 2.5)
    level = rng.normal(3.0, 0.5, width)
    start = level.copy()
    sqrt_rho, sqrt_1m_rho = (0.6, 0.8) if draw_sector else (0.0, 1.0)
    drift, sigma, weight = 0.0013, 0.085, 0.45
    kernel.advance_item(
        level, item_z, sector, jumps, factor, pool, np.empty(width),
        np.empty(width, dtype=np.int64), n_steps, nb, drift, sigma, weight,
        sqrt_rho, sqrt_1m_rho, draw_sector, use_factor,
    )  # fmt: skip
    for j in range(nb):
        lv = float(start[j])
        for k in range(1, n_steps + 1):
            eps = float(item_z[k - 1, j])
            if draw_sector:
                shock = sqrt_rho * float(sector[k - 1, j]) + sqrt_1m_rho * eps
            else:
                shock = sqrt_1m_rho * eps
            lv = lv + (drift + sigma * shock + float(before[k - 1, j]))
            assert pool[k, j] == 2.5 + kernel.exp_scalar(lv), (j, k)
            if use_factor:
                assert factor[k, j] == 0.0 + weight * shock, (j, k)
        assert level[j] == lv, j
    assert np.count_nonzero(before[:n_steps, :nb]) > 5
    assert math.isfinite(float(pool[1:, :nb].sum()))


def test_the_kernels_structures_follow_the_python_ones():
    """StressArrays and PathOutputs (NamedTuples, what numba takes) are the kernel's view of
    StressModel's arrays and of PathStats (dataclasses): the same fields, in order, same types."""
    model_types = get_type_hints(StressModel)
    assert [(f, model_types[f]) for f in StressArrays._fields] == list(
        get_type_hints(StressArrays).items()
    )
    stats_types = get_type_hints(PathStats)
    assert list(stats_types.items()) == list(get_type_hints(PathOutputs).items())
    assert PathOutputs._fields == tuple(f.name for f in fields(PathStats))
    model = build_model(
        StressRequest.model_validate(
            {
                "as_of": "2026-11-01",
                "loan": {"amount": 50.0, "tenor_months": 12},
                "collateral": [{"id": "c1", "value": 100.0, "volatility": 0.3}],
            }
        )
    )
    for name, value in zip(StressArrays._fields, model.arrays, strict=True):
        assert value is getattr(model, name), name
