"""The array layout the stress kernel reads and writes: column, scalar and flag constants.

A plain module (no numba): :mod:`valuation.kernels.stress` imports these names for its kernels,
:mod:`valuation.risk.model` fills :class:`~valuation.risk.model.StressModel` by them and
:mod:`valuation.risk.api` reads the outputs by them, without importing numba.

The model's arrays travel to the kernel as one :class:`StressArrays`, its outputs as one
:class:`PathOutputs`. Columns of ``StressArrays.items`` (one row per collateral item, per-step
constants): :data:`LOG_V0` … :data:`POOL_WEIGHT` (:data:`N_ITEM_COLUMNS` of them). Entries of
``StressArrays.scalars``: :data:`AMOUNT` … :data:`SQRT_ONE_MINUS_RHO` (:data:`N_SCALARS`).
Event bits of ``PathOutputs.flags``: :data:`FLAG_REVOKED`, :data:`FLAG_EXPIRY_REACHED`,
:data:`FLAG_LAPSED`. Paths are simulated in blocks of :data:`CHUNK`, which is also the grain of
the thread split.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

# Columns of StressModel.items.
LOG_V0 = 0
LOG_DRIFT_STEP = 1
SIGMA_SQRT_DT = 2
JUMP_P0 = 3
JUMP_LAMBDA_DT = 4
JUMP_MEAN = 5
JUMP_VOL = 6
REVOKE_P = 7
REVOKE_KEEP = 8
EXPIRY_STEP = 9
RENEW_P = 10
LAPSE_KEEP = 11
POOL_WEIGHT = 12
N_ITEM_COLUMNS = POOL_WEIGHT + 1

# Entries of StressModel.scalars.
AMOUNT = 0
MARGIN_CALL_LTV = 1
DEFAULT_THRESHOLD = 2
WRONG_WAY = 3
WRONG_WAY_COMPLEMENT = 4
LIQUIDATION_KEEP = 5
SQRT_RHO = 6
SQRT_ONE_MINUS_RHO = 7
N_SCALARS = SQRT_ONE_MINUS_RHO + 1

# Paths per block of the kernel (and the grain of the thread split).
CHUNK = 256

# Bits of the kernel's per-item event flags (within the tenor).
FLAG_REVOKED = 1
FLAG_EXPIRY_REACHED = 2
FLAG_LAPSED = 4


class StressArrays(NamedTuple):
    """The stress model as the kernel reads it: the first argument of ``stress_paths``.

    Attributes
    ----------
    items
        ``(n_items, N_ITEM_COLUMNS)`` float64 per-step constants of each item (columns
        :data:`LOG_V0` … :data:`POOL_WEIGHT`).
    sector_index
        ``(n_items,)`` int64: the row of ``sector_keys`` each item loads on.
    item_keys, sector_keys
        uint64 stream keys of the items and of the sectors.
    stream_keys
        uint64 ``[seed, borrower key]``.
    profile
        ``(n_steps + 1,)`` float64 exposure per unit of loan amount at each step.
    scalars
        ``(N_SCALARS,)`` float64 loan and policy constants (:data:`AMOUNT` …).
    n_liquidation_steps
        Steps between default and the sale of the collateral.
    """

    items: NDArray[np.float64]
    sector_index: NDArray[np.int64]
    item_keys: NDArray[np.uint64]
    sector_keys: NDArray[np.uint64]
    stream_keys: NDArray[np.uint64]
    profile: NDArray[np.float64]
    scalars: NDArray[np.float64]
    n_liquidation_steps: int


class PathOutputs(NamedTuple):
    """The per-path outputs ``stress_paths`` writes, caller-allocated (row ``p``: a path).

    Attributes
    ----------
    min_ratio
        ``(paths,)`` float64: ``min_k V_k / profile_k`` over ``k = 0..n_steps`` (pooled value).
    default_step
        ``(paths,)`` int64: the step of default within the tenor, −1 for none.
    ead, loss
        ``(paths,)`` float64: exposure at default and loss (0 without default).
    flags
        ``(paths, n_items)`` uint8: :data:`FLAG_REVOKED`, :data:`FLAG_EXPIRY_REACHED`,
        :data:`FLAG_LAPSED` (within the tenor).
    terminal
        ``(paths, n_items)`` float64: each item's value at the end of the tenor, or
        ``(paths, 0)`` to skip.
    pool
        ``(n_steps + 1, paths)`` float32 pooled value per step, or ``(0, paths)`` to skip.
    """

    min_ratio: NDArray[np.float64]
    default_step: NDArray[np.int64]
    ead: NDArray[np.float64]
    loss: NDArray[np.float64]
    flags: NDArray[np.uint8]
    terminal: NDArray[np.float64]
    pool: NDArray[np.float32]


def path_output_shapes(
    paths: int, n_items: int, n_steps: int, *, store_terminal: bool, store_pool: bool
) -> dict[str, tuple[tuple[int, ...], type]]:
    """Return each :class:`PathOutputs` field's shape and dtype for ``paths`` paths.

    One description for every place that allocates the outputs (``np.empty`` on the host,
    ``cuda.device_array`` on a GPU): ``terminal`` and ``pool`` are empty unless stored.
    """
    return {
        "min_ratio": ((paths,), np.float64),
        "default_step": ((paths,), np.int64),
        "ead": ((paths,), np.float64),
        "loss": ((paths,), np.float64),
        "flags": ((paths, n_items), np.uint8),
        "terminal": ((paths, n_items if store_terminal else 0), np.float64),
        "pool": ((n_steps + 1 if store_pool else 0, paths), np.float32),
    }


__all__ = [
    "AMOUNT",
    "CHUNK",
    "DEFAULT_THRESHOLD",
    "EXPIRY_STEP",
    "FLAG_EXPIRY_REACHED",
    "FLAG_LAPSED",
    "FLAG_REVOKED",
    "JUMP_LAMBDA_DT",
    "JUMP_MEAN",
    "JUMP_P0",
    "JUMP_VOL",
    "LAPSE_KEEP",
    "LIQUIDATION_KEEP",
    "LOG_DRIFT_STEP",
    "LOG_V0",
    "MARGIN_CALL_LTV",
    "N_ITEM_COLUMNS",
    "N_SCALARS",
    "PathOutputs",
    "POOL_WEIGHT",
    "RENEW_P",
    "REVOKE_KEEP",
    "REVOKE_P",
    "SIGMA_SQRT_DT",
    "SQRT_ONE_MINUS_RHO",
    "SQRT_RHO",
    "StressArrays",
    "WRONG_WAY",
    "WRONG_WAY_COMPLEMENT",
    "path_output_shapes",
]
