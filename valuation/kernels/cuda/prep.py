"""Host-side constants of the GPU stress kernel, computed by the CPU kernel's own functions.

The CPU kernel calls the C library's ``exp`` and ``log`` in a few places; the device's
``exp`` and ``log`` (libdevice) may differ from them in the last bit, so the GPU kernel never
calls them. What it needs of them is computed here, on the host, by the very functions the CPU
kernel calls (compiled by numba for the CPU, with the same options):

* the pooled value at step 0 (``Σ exp(log V0)``);
* per item, ``exp(−λ·dt·L)`` for a full jump segment and for the horizon's last one, the
  logarithms of the revocation and lapse keeps, and the segment length;
* per item, the revocation table: for ``k = 1..horizon``, the smallest 32-bit word ``w``
  whose uniform ``(w + 0.5)/2³²`` gives :func:`~valuation.kernels.stress.revocation_step`
  ``≤ k`` (a binary search over the words). The step is non-increasing in ``w`` (``log`` of
  two neighbouring uniforms differs by at least ``2⁻³²``, thousands of its ulps), so the table
  gives every word's step exactly.
"""

from __future__ import annotations

import functools
import math
import warnings

import numpy as np
from numpy.typing import NDArray

from valuation.kernels._jit import jit
from valuation.kernels.layout import (
    JUMP_LAMBDA_DT,
    LAPSE_KEEP,
    LOG_V0,
    REVOKE_KEEP,
    REVOKE_P,
)
from valuation.kernels.stress import log_keep, segment_steps

# Columns of the per-item constants (aux) the GPU kernel reads.
AUX_P0_FULL = 0  # exp(−λ·dt·L) of a full jump segment of L steps
AUX_P0_LAST = 1  # the same for the last, shorter segment of the horizon
AUX_REVOKE_LOG_KEEP = 2
AUX_LAPSE_LOG_KEEP = 3
AUX_SEGMENT_STEPS = 4  # segment_steps(λ·dt), as a float
N_AUX = 5


@jit
def item_constants(items: np.ndarray, horizon: int, aux: np.ndarray) -> float:
    """Fill ``aux`` ``(n_items, N_AUX)`` and return the pooled value at step 0.

    ``horizon`` is the tenor plus the liquidation steps (the last step a path may need).
    """
    pool0 = 0.0
    for i in range(items.shape[0]):
        pool0 += math.exp(items[i, LOG_V0])
    for i in range(items.shape[0]):
        rate = items[i, JUMP_LAMBDA_DT]
        aux[i, AUX_SEGMENT_STEPS] = 1.0
        aux[i, AUX_P0_FULL] = 1.0
        aux[i, AUX_P0_LAST] = 1.0
        if rate > 0.0:
            seg = segment_steps(rate)
            aux[i, AUX_SEGMENT_STEPS] = float(seg)
            mean = rate * seg
            aux[i, AUX_P0_FULL] = math.exp(-mean)
            last_first = ((horizon - 1) // seg) * seg
            mean = rate * (horizon - last_first)
            aux[i, AUX_P0_LAST] = math.exp(-mean)
        aux[i, AUX_REVOKE_LOG_KEEP] = log_keep(items[i, REVOKE_KEEP])
        aux[i, AUX_LAPSE_LOG_KEEP] = log_keep(items[i, LAPSE_KEEP])
    return pool0


_WORDS = 1 << 32
_INV_2_32 = 1.0 / 4294967296.0


@functools.lru_cache(maxsize=4096)
def revocation_table(p_step: float, horizon: int) -> tuple[tuple[int, ...], bool]:
    """Return the revocation table of a per-step probability, and whether it is certain.

    ``table[k − 1]`` is the smallest 32-bit word ``w`` with
    ``revocation_step((w + 0.5)/2³², p_step) ≤ k``, ``k = 1..horizon`` (``2³²`` for none):
    ``ceil(log(u)/log1p(−p)) ≤ k`` exactly when ``log(u)/log1p(−p) ≤ k``. Computed with the
    C library's ``log`` and ``log1p`` (Python's ``math`` calls the same functions as numba's
    compiled code). The CPU kernel may divide by ``log1p(−p)`` or multiply by its reciprocal
    (numba compiles with ``arcp``, which lets LLVM hoist the reciprocal of a loop-invariant
    divisor): the table is computed both ways, and ``certain`` says that they agree, so the
    table is the CPU kernel's whichever it does.
    """
    if p_step <= 0.0:
        return (_WORDS,) * horizon, True
    if p_step >= 1.0:
        return (0,) * horizon, True
    denominator = math.log1p(-p_step)
    reciprocal = 1.0 / denominator

    def first_word(k: int, hi: int, divide: bool) -> int:
        lo = 0
        while lo < hi:
            mid = (lo + hi) >> 1
            log_u = math.log((mid + 0.5) * _INV_2_32)
            steps = log_u / denominator if divide else log_u * reciprocal
            if steps <= k:
                hi = mid
            else:
                lo = mid + 1
        return lo

    table: list[int] = []
    certain = True
    hi = _WORDS
    for k in range(1, horizon + 1):
        hi = first_word(k, hi, True)
        certain = certain and first_word(k, _WORDS, False) == hi
        table.append(hi)
    return tuple(table), certain


def device_constants(
    items: NDArray[np.float64], horizon: int
) -> tuple[NDArray[np.float64], NDArray[np.int64], float, bool]:
    """Return ``(aux, thresholds, pool0, certain)`` for the GPU kernel.

    ``aux`` ``(n_items, N_AUX)`` float64 (:func:`item_constants`), ``thresholds``
    ``(n_items, max(horizon, 1))`` int64 (:func:`revocation_table` of each item), ``pool0`` the
    pooled value at step 0 and ``certain`` whether every table is certain. A table that is
    not (none has been found) is reported by a :class:`RuntimeWarning`: a path whose
    revocation word is that threshold may then be revoked one step apart on the two devices.
    """
    n_items = items.shape[0]
    aux = np.empty((n_items, N_AUX))
    pool0 = item_constants(np.ascontiguousarray(items), horizon, aux)
    thresholds = np.full((n_items, max(horizon, 1)), _WORDS, dtype=np.int64)
    certain = True
    for i in range(n_items):
        table, sure = revocation_table(float(items[i, REVOKE_P]), horizon)
        thresholds[i, :horizon] = table
        certain = certain and sure
    if not certain:
        warnings.warn(
            "a revocation table differs between division and reciprocal: the GPU may revoke "
            "a path one step apart from the CPU where its uniform lies on that threshold",
            RuntimeWarning,
            stacklevel=2,
        )
    return aux, thresholds, pool0, certain


__all__ = [
    "AUX_LAPSE_LOG_KEEP",
    "AUX_P0_FULL",
    "AUX_P0_LAST",
    "AUX_REVOKE_LOG_KEEP",
    "AUX_SEGMENT_STEPS",
    "N_AUX",
    "device_constants",
    "item_constants",
    "revocation_table",
]
