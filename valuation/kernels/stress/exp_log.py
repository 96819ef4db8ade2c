"""The exponential and logarithm of the stress kernels, with the same bits on every machine.

The C library's ``exp`` and ``log`` are calls (which keep a loop scalar) and may differ by an
ulp between libraries. These are plain IEEE additions and multiplications in a fixed order, so
LLVM vectorises them and every machine and vector width gives the same bits:

* :func:`exp_parts` (Cody-Waite reduction, Estrin's scheme to ``r^13``) and its forms
  :func:`exp_into` (an array, vectorised) and :func:`exp_scalar` (one number): the same bits;
* :func:`log_core` (fdlibm's kernel), :func:`log_positive` (one positive number), which the
  tails of the inverse normal use (:mod:`valuation.kernels.stress.normals`), and
  :func:`log_into` (an array, vectorised; the same bits as :func:`log_positive`).

Every function is pure: scalars or caller-allocated arrays in, no allocation.
"""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels._jit import jit_inner

# exp: Cody-Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, and Taylor to r^13 (truncation < 2^-60).
_LN2_HI = 6.93147180369123816490e-01  # ln 2 rounded to 32 significant bits: n·_LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_MIN = -708.0  # below: 0 (no value in this engine is that small: e^-708 ≈ 3e-308)
_EXP_MAX = 709.0
_E2, _E3, _E4, _E5 = 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120
_E6, _E7, _E8, _E9 = 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880
_E10, _E11, _E12, _E13 = 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800

# log of a positive normal double for the tails of the inverse normal: fdlibm's e_log.c
# (Sun Microsystems, freely distributable) without its special cases: x = 2^e·m with
# m in [√2/2, √2), f = m − 1, s = f/(2 + f), log(1 + f) = f − s·(f − R(s²)); error < 1 ulp.
_LG1, _LG2 = 6.666666666666735130e-01, 3.999999999940941908e-01
_LG3, _LG4 = 2.857142874366239149e-01, 2.222219843214978396e-01
_LG5, _LG6 = 1.818357216161805012e-01, 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_MANTISSA = np.int64((1 << 52) - 1)
_EXPONENT_ONE = np.int64(1023 << 52)
_SQRT2_MANTISSA = np.int64(0x6A09E667F3BCD)  # the mantissa bits of √2 (1.4142135623730951)
_SQRT2 = 1.4142135623730951


@jit_inner
def log_core(f: float, dk: float) -> float:
    """Return ``dk·log 2 + log(1 + f)`` for ``f`` in ``[√2/2 − 1, √2 − 1]`` (fdlibm's kernel)."""
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    r = t2 + t1
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)


@jit_inner
def log_positive(x: float) -> float:
    """Return ``log(x)`` for a positive normal ``x`` (error below 1 ulp).

    The same bits as :func:`tail_magnitudes_into`, which splits ``x`` with integer operations
    where this uses ``frexp`` (both exact).
    """
    m, e = math.frexp(x)  # x = m·2^e, m in [1/2, 1)
    m = 2.0 * m
    e -= 1
    if m > _SQRT2:
        m *= 0.5
        e += 1
    return log_core(m - 1.0, float(e))


@jit_inner
def log_into(x: np.ndarray, out: np.ndarray, bits: np.ndarray, n: int | np.int64) -> None:
    """Write ``log(x[j])`` into ``out[j]`` for ``j < n`` (positive normal ``x``; vectorised).

    ``x`` and ``out`` 1-D contiguous float64 (they may be the same array), ``bits`` int64
    scratch. Branch-free: the exponent and the mantissa of ``x`` from its bits, then
    :func:`log_core`; the same bits as :func:`log_positive`.
    """
    xb = x.view(np.int64)
    for j in range(n):
        big = (xb[j] & _MANTISSA) > _SQRT2_MANTISSA
        bits[j] = (xb[j] & _MANTISSA) | (_EXPONENT_ONE - (np.int64(big) << 52))
    m = bits.view(np.float64)
    for j in range(n):
        b = xb[j]
        dk = float((b >> 52) - 1023 + np.int64((b & _MANTISSA) > _SQRT2_MANTISSA))
        out[j] = log_core(m[j] - 1.0, dk)


@jit_inner
def exp_parts(x: float) -> tuple[float, np.int64]:
    """Return ``(p, bits)`` with ``exp(x) = p · 2^n`` and ``bits`` those of the double ``2^n``.

    The body of :func:`exp_into`, for loops that fuse the exponential with other work: the
    caller multiplies ``p`` by ``bits`` viewed as float64 in a second loop (numba cannot
    reinterpret a scalar's bits, an array view can).
    """
    xc = min(max(x, _EXP_MIN), _EXP_MAX)
    nf = np.floor(xc * _INV_LN2 + 0.5)
    r = (xc - nf * _LN2_HI) - nf * _LN2_LO
    # Estrin's scheme: four levels of dependent operations instead of Horner's thirteen.
    r2 = r * r
    r4 = r2 * r2
    c0 = (1.0 + r) + (_E2 + _E3 * r) * r2
    c1 = (_E4 + _E5 * r) + (_E6 + _E7 * r) * r2
    c2 = (_E8 + _E9 * r) + (_E10 + _E11 * r) * r2
    c3 = _E12 + _E13 * r
    p = (c0 + c1 * r4) + (c2 + c3 * r4) * (r4 * r4)
    return (p if x >= _EXP_MIN else 0.0), (np.int64(nf) + 1023) << 52


@jit_inner
def exp_into(x: np.ndarray, out: np.ndarray, bits: np.ndarray, n: int) -> None:
    """Write ``exp(x[j])`` into ``out[j]`` for ``j < n`` (1-D float64; ``bits`` int64 scratch).

    A branch-free exponential that LLVM vectorises (the C library's ``exp`` is a call, which
    keeps a loop scalar). Plain IEEE additions and multiplications in a fixed order, so every
    machine and vector width gives the same bits. Relative error below ``5e-16``;
    ``x < -708`` (and ``-inf``) gives 0.
    """
    for j in range(n):
        out[j], bits[j] = exp_parts(x[j])
    scale = bits.view(np.float64)
    for j in range(n):
        out[j] *= scale[j]


@jit_inner
def exp_scalar(x: float) -> float:
    """Return :func:`exp_into` of one number (the same bits).

    ``p · 2^n`` by ``ldexp``: scaling by a power of two is exact (or, below the normal range,
    rounded once), as is the multiplication by the double ``2^n`` in :func:`exp_into`.
    """
    p, bits = exp_parts(x)
    return math.ldexp(p, int((bits >> 52) - 1023))
