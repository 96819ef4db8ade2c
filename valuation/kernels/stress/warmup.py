"""Compile the stress kernels on tiny inputs (``dpv warmup``): :func:`warmup`."""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels.layout import (
    DEFAULT_THRESHOLD,
    EXPIRY_STEP,
    JUMP_LAMBDA_DT,
    JUMP_P0,
    LAPSE_KEEP,
    N_ITEM_COLUMNS,
    N_SCALARS,
    REVOKE_KEEP,
    SQRT_ONE_MINUS_RHO,
    WRONG_WAY_COMPLEMENT,
    PathOutputs,
    StressArrays,
)
from valuation.kernels.stress.gbm import gbm_min_ratio
from valuation.kernels.stress.paths import stress_paths


def warmup() -> None:
    """Compile every kernel of this package on tiny inputs (``dpv warmup``).

    The signatures production uses: with and without the pooled value per step, and the
    yardstick with and without the sectors' normals.
    """
    n_items, n_paths, n_steps = 2, 3, 5
    items = np.zeros((n_items, N_ITEM_COLUMNS))
    items[:, JUMP_P0] = 0.9
    items[:, JUMP_LAMBDA_DT] = 0.1
    items[:, EXPIRY_STEP] = 2.0
    items[:, REVOKE_KEEP] = 1.0
    items[:, LAPSE_KEEP] = 1.0
    keys = np.arange(1, n_items + 1, dtype=np.uint64)
    profile = np.ones(n_steps + 1)
    scalars = np.zeros(N_SCALARS)
    scalars[DEFAULT_THRESHOLD] = -1.0
    scalars[WRONG_WAY_COMPLEMENT] = 1.0
    scalars[SQRT_ONE_MINUS_RHO] = 1.0
    model = StressArrays(
        items,
        np.zeros(n_items, dtype=np.int64),
        keys,
        keys[:1].copy(),
        np.array([1, 2], dtype=np.uint64),
        profile,
        scalars,
        1,
    )
    for pool_steps in (n_steps + 1, 0):
        out = PathOutputs(
            np.empty(n_paths),
            np.empty(n_paths, dtype=np.int64),
            np.empty(n_paths),
            np.empty(n_paths),
            np.empty((n_paths, n_items), dtype=np.uint8),
            np.empty((n_paths, n_items)),
            np.empty((pool_steps, n_paths), dtype=np.float32),
        )
        stress_paths(model, 0, 0, n_paths, out)
    for sqrt_rho in (0.0, 0.5):
        gbm_min_ratio(
            np.zeros(n_items),
            np.zeros(n_items),
            np.zeros(n_items),
            keys,
            np.zeros(n_items, dtype=np.int64),
            keys[:1].copy(),
            sqrt_rho,
            math.sqrt(1.0 - sqrt_rho * sqrt_rho),
            np.uint64(1),
            profile,
            0,
            0,
            n_paths,
            np.empty(n_paths),
        )
