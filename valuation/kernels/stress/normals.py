"""Standard normals of the stress kernels: the inverse normal CDF of Philox uniforms.

:func:`inverse_normal` is Acklam's rational approximation (relative error below 1.15e-9);
its tails take the logarithm of :func:`~valuation.kernels.stress.exp_log.log_positive`. Its
forms, all with the same bits:

* per path: :func:`fast_normals4` (the four normals of one Philox block) and
  :func:`lane_normal` (one of them);
* for a block of paths: :func:`inverse_normal_into` (an array of uniforms) and
  :func:`step_normals` (the diffusion normals of every step of a block of paths), built from
  the branch-free passes :func:`central_into`, :func:`list_outside` and
  :func:`tail_magnitudes_into`.
"""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels._jit import jit_inner, trailing_zeros
from valuation.kernels.rng import philox_block, uniform_from_word, uniforms_block
from valuation.kernels.stress.exp_log import (
    _EXPONENT_ONE,
    _MANTISSA,
    _SQRT2_MANTISSA,
    log_core,
    log_positive,
)

_ZERO64 = np.uint64(0)
_ONE64 = np.uint64(1)
# Acklam's rational approximation of the normal quantile (relative error < 1.15e-9).
_A0, _A1, _A2 = -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02
_A3, _A4, _A5 = 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00
_B0, _B1, _B2 = -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02
_B3, _B4 = 6.680131188771972e01, -1.328068155288572e01
_C0, _C1, _C2 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00
_C3, _C4, _C5 = -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00
_D0, _D1, _D2 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00
_D3 = 3.754408661907416e00
_P_LOW = 0.02425
_P_HIGH = 1.0 - _P_LOW
# A lower bound of the central branch of inverse_normal (u ≥ _P_LOW gives about −1.97296; a
# test checks the bound with a margin far above rounding).
_Z_CENTRAL_MIN = -1.98


@jit_inner
def tail_rational(q: float) -> float:
    """Acklam's lower-tail rational at ``q = √(−2 log u)`` (negative)."""
    return (((((_C0 * q + _C1) * q + _C2) * q + _C3) * q + _C4) * q + _C5) / (
        (((_D0 * q + _D1) * q + _D2) * q + _D3) * q + 1.0
    )


@jit_inner
def central_rational(u: float) -> float:
    """Acklam's central rational at ``u`` (the quantile for ``_P_LOW ≤ u ≤ _P_HIGH``)."""
    q = u - 0.5
    r = q * q
    return (
        (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5)
        * q
        / (((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0)
    )


@jit_inner
def tail_magnitudes_into(x: np.ndarray, n: int | np.int64, bits: np.ndarray) -> None:
    """Replace ``x[t]`` (``min(u, 1 − u)`` of a tail draw) by ``tail_rational(√(−2 log x[t]))``.

    For ``t < n``; ``x`` float64 and ``bits`` int64 scratch, both contiguous. Branch-free, so
    LLVM vectorises it: the exponent and mantissa of ``x`` from its bits, the logarithm by
    :func:`log_core`, then the square root and the rational. The same operations as
    :func:`log_positive` and :func:`tail_rational`, so the same bits as the scalar
    :func:`inverse_normal`.
    """
    xb = x.view(np.int64)
    for t in range(n):
        big = (xb[t] & _MANTISSA) > _SQRT2_MANTISSA
        bits[t] = (xb[t] & _MANTISSA) | (_EXPONENT_ONE - (np.int64(big) << 52))
    m = bits.view(np.float64)
    for t in range(n):
        b = xb[t]
        dk = float((b >> 52) - 1023 + np.int64((b & _MANTISSA) > _SQRT2_MANTISSA))
        x[t] = tail_rational(math.sqrt(-2.0 * log_core(m[t] - 1.0, dk)))


@jit_inner
def inverse_normal(u: float) -> float:
    """Return the standard normal quantile of ``u`` in (0, 1) (Acklam's approximation).

    Rational approximations in the centre and in the tails; relative error below 1.15e-9,
    far below any Monte Carlo error here, and about four times cheaper than Box-Muller's
    log, square root, sine and cosine. The tails' logarithm is :func:`log_positive` (our own,
    so that the vectorised :func:`inverse_normal_into` gives the same bits).
    """
    if u < _P_LOW or u > 1.0 - _P_LOW:
        z = tail_rational(math.sqrt(-2.0 * log_positive(u if u < 0.5 else 1.0 - u)))
        return z if u < 0.5 else -z
    return central_rational(u)


@jit_inner
def fast_normals4(
    seed: np.uint64, entity: np.uint64, path: np.uint64, block: np.uint64
) -> tuple[float, float, float, float]:
    """Return four standard normals for ``(seed, entity, path, block)``: one per Philox word.

    The same Philox4x32-10 block as :func:`valuation.kernels.rng.uniforms4`, each 32-bit
    uniform mapped through :func:`inverse_normal` (tails cut at about ±6.3 σ).
    """
    w0, w1, w2, w3 = philox_block(seed, entity, path, block)
    return (
        inverse_normal(uniform_from_word(w0)),
        inverse_normal(uniform_from_word(w1)),
        inverse_normal(uniform_from_word(w2)),
        inverse_normal(uniform_from_word(w3)),
    )


@jit_inner
def lane_normal(
    seed: np.uint64, entity: np.uint64, path: np.uint64, block: np.uint64, lane: int
) -> float:
    """Return normal number ``lane`` of :func:`fast_normals4` (the same bits, one transform)."""
    return inverse_normal(uniform_from_word(philox_block(seed, entity, path, block)[lane]))


@jit_inner
def list_outside(
    u: np.ndarray, n: int | np.int64, lo: float, hi: float, tails: np.ndarray
) -> int | np.int64:
    """List, in increasing order, the ``j < n`` with ``u[j] < lo`` or ``u[j] > hi``.

    With ``lo, hi = _P_LOW, _P_HIGH``: the draws in a tail of :func:`inverse_normal`. Writes
    them into ``tails`` (int64, at least ``n + 1`` long: one spare entry) and returns how many.
    Sixty-four lanes at a time: a branch-free, vectorised pass sets one bit per listed lane in
    a 64-bit mask, then the set bits are taken with
    :func:`~valuation.kernels._jit.trailing_zeros`, eight times without a branch (a write at
    the end of the list that counts only while bits are left; about three of the 64 lanes are
    tails) and, rarely, on in a loop for the rest. A loop that stops at the last bit costs a
    mispredicted branch nearly every time; a scan that appends every lane to the list with a
    data-dependent count is serial and costs three times as much.
    """
    n_tails = np.int64(0)
    for g in range(0, n, 64):
        ug = u[g:]  # a view: indexing u[g + j] makes LLVM gather (it cannot tell g + j ≥ 0)
        mask = np.uint64(0)
        for j in range(min(64, n - g)):
            x = ug[j]
            mask |= np.uint64((x < lo) | (x > hi)) << np.uint64(j)
        for _ in range(8):
            tails[n_tails] = g + trailing_zeros(mask)
            n_tails += np.int64(mask != _ZERO64)
            mask &= mask - _ONE64
        while mask != _ZERO64:
            tails[n_tails] = g + trailing_zeros(mask)
            n_tails += 1
            mask &= mask - _ONE64
    return n_tails


@jit_inner
def central_into(u: np.ndarray, n: int | np.int64, z: np.ndarray) -> None:
    """Write the central rational branch of :func:`inverse_normal` of ``u[j]`` into ``z[j]``.

    For every ``j < n``, whatever the branch ``u[j]`` belongs to: one branch-free loop that
    vectorises; the callers then overwrite the tails.
    """
    for j in range(n):
        z[j] = central_rational(u[j])


@jit_inner
def inverse_normal_into(
    u: np.ndarray,
    n: int | np.int64,
    z: np.ndarray,
    tails: np.ndarray,
    tail_q: np.ndarray,
    tail_bits: np.ndarray,
) -> None:
    """Write ``inverse_normal(u[j])`` into ``z[j]`` for ``j < n``, the same bits, vectorised.

    The central rational branch for every draw in one branch-free loop, then the tails
    (u < 0.02425 or u > 0.97575, one draw in twenty) recomputed: listed in ``tails`` (int64
    scratch) by :func:`list_outside` (a loop that tested and fixed in one go would be if-converted
    and take the logarithm of every lane), gathered into ``tail_q``, transformed in one
    vectorised pass (:func:`tail_magnitudes_into`, ``tail_bits`` int64 scratch) and scattered
    back with their sign. The scratch arrays are contiguous and at least ``n`` long (``tails``
    ``n + 1``: :func:`list_outside`).
    """
    central_into(u, n, z)
    n_tails = list_outside(u, n, _P_LOW, _P_HIGH, tails)
    for t in range(n_tails):
        x = u[tails[t]]
        tail_q[t] = x if x < 0.5 else 1.0 - x
    tail_magnitudes_into(tail_q, n_tails, tail_bits)
    for t in range(n_tails):
        j = tails[t]
        z[j] = tail_q[t] if u[j] < 0.5 else -tail_q[t]


@jit_inner
def step_normals(
    seed: np.uint64,
    entity: np.uint64,
    path0: np.uint64,
    n: int,
    n_steps: int,
    uniforms: np.ndarray,
    out: np.ndarray,
    tail_x: np.ndarray,
    tail_i: np.ndarray,
) -> None:
    """Write the diffusion normal of step ``k`` of path ``path0 + j`` into ``out[k − 1, j]``.

    ``out`` has at least ``4·⌈n_steps / 4⌉`` rows (a Philox block serves four steps). The same
    bits as :func:`fast_normals4` path by path: Philox for all paths at once
    (:func:`~valuation.kernels.rng.uniforms_block`), the central branch of each row in one
    loop (:func:`central_into`), and the tail draws of all the rows gathered first
    (``tail_x`` float64 and ``tail_i`` int64 ``(2, ·)`` scratch, as long as ``out`` has
    entries) and transformed in one vectorised pass: a row holds only about six.
    """
    lanes = tail_i[1]
    width = out.shape[1]
    n_tails = np.int64(0)  # int64 from the start: a literal 0 makes numba type the calls twice
    for block in range((n_steps + 3) // 4):
        uniforms_block(seed, entity, path0, n, np.uint64(block), uniforms)
        for w in range(4):
            u = uniforms[w]
            central_into(u, n, out[4 * block + w])
            row_tails = list_outside(u, n, _P_LOW, _P_HIGH, lanes)
            for t in range(row_tails):
                j = lanes[t]
                x = u[j]
                upper = x > 0.5
                tail_x[n_tails] = 1.0 - x if upper else x
                tail_i[0, n_tails] = 2 * ((4 * block + w) * width + j) + upper
                n_tails += 1
    tail_magnitudes_into(tail_x, n_tails, tail_i[1])
    flat = out.reshape(out.shape[0] * width)
    for t in range(n_tails):
        code = tail_i[0, t]
        flat[code >> 1] = -tail_x[t] if code & 1 else tail_x[t]
