"""Poisson counts by inversion, per path and for a block of paths (the jump schedules).

A segment of :func:`segment_steps` steps holds a Poisson number of jumps
(:func:`poisson_inverse`, one uniform per segment); :func:`poisson_counts` gives the same counts
for a block of paths from one tabulated CDF.
"""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels._jit import jit_inner

# Jump schedules: segments hold at most this many jumps on average (e^-mean stays far from
# underflow); segment s draws from blocks JUMP_BLOCK + (s << SEGMENT_SHIFT) + 0, 1, 2, ...
SEGMENT_MEAN = 400.0
SEGMENT_SHIFT = 20


@jit_inner
def segment_steps(rate: float) -> int:
    """Return the steps per jump segment for ``rate`` jumps per step (mean ≤ SEGMENT_MEAN)."""
    return max(1, min(1 << 24, int(SEGMENT_MEAN / rate)))


@jit_inner
def poisson_inverse(u: float, mean: float) -> int:
    """Return the Poisson(``mean``) count whose CDF first reaches ``u`` (``mean ≤ 700``)."""
    return poisson_inverse_p0(u, mean, math.exp(-mean))


@jit_inner
def poisson_inverse_p0(u: float, mean: float, p0: float) -> int:
    """:func:`poisson_inverse` with ``p0 = exp(−mean)`` given (computed once for many paths)."""
    k = 0
    prob = p0
    cdf = prob
    while u > cdf and k < (1 << SEGMENT_SHIFT) - 2:
        k += 1
        prob *= mean / k
        cdf += prob
    return k


@jit_inner
def poisson_counts(u: np.ndarray, n: int, mean: float, p0: float, counts: np.ndarray) -> int:
    """Write ``poisson_inverse_p0(u[j], mean, p0)`` into ``counts[j]``, ``j < n``; return the max.

    The same counts: the CDF sequence of :func:`poisson_inverse_p0` (the same operations in
    the same order) is tabulated once, up to the largest ``u``, and each count is the number of
    table entries below its ``u`` (the sequence never decreases), in a loop across paths that
    vectorises. Falls back to the per-path search when the table would pass 4,096 entries.
    """
    top = 0.0
    for j in range(n):
        top = max(top, u[j])
    table = np.empty(4096)
    prob = p0
    cdf = prob
    table[0] = cdf
    size = 1
    while top > cdf and size < table.shape[0]:
        prob *= mean / size
        cdf += prob
        table[size] = cdf
        size += 1
    if top > cdf:
        most = 0
        for j in range(n):
            counts[j] = poisson_inverse_p0(u[j], mean, p0)
            most = max(most, counts[j])
        return most
    counts[:n] = 0
    for k in range(size - 1):  # table[size - 1] ≥ every u: never counted
        bound = table[k]
        for j in range(n):
            counts[j] += u[j] > bound
    most = 0
    for j in range(n):
        most = max(most, counts[j])
    return most
