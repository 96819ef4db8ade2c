"""The array layout the stress kernel reads and writes: column, scalar and flag constants.

A plain module (no numba): :mod:`valuation.kernels.stress` imports these names for its kernels,
:mod:`valuation.risk.model` fills :class:`~valuation.risk.model.StressModel` by them and
:mod:`valuation.risk.api` reads the outputs by them, so a process that runs the stress kernel
ahead-of-time compiled (:mod:`valuation.kernels.aot`) never has to import numba to know them.

Columns of ``StressModel.items`` (one row per collateral item, per-step constants):
:data:`LOG_V0` … :data:`POOL_WEIGHT`. Entries of ``StressModel.scalars``: :data:`AMOUNT` …
:data:`SQRT_ONE_MINUS_RHO`. Event bits of the kernel's ``out_flags``: :data:`FLAG_REVOKED`,
:data:`FLAG_EXPIRY_REACHED`, :data:`FLAG_LAPSED`. Paths are simulated in blocks of
:data:`CHUNK`, which is also the grain of the thread split.
"""

from __future__ import annotations

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
    "POOL_WEIGHT",
    "RENEW_P",
    "REVOKE_KEEP",
    "REVOKE_P",
    "SIGMA_SQRT_DT",
    "SQRT_ONE_MINUS_RHO",
    "SQRT_RHO",
    "WRONG_WAY",
    "WRONG_WAY_COMPLEMENT",
]
