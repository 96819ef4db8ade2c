"""Device twins of the stress kernel's scalar functions (numba-cuda device functions).

Each function repeats, operation for operation, the CPU function it is named after
(:mod:`valuation.kernels.rng`, :mod:`valuation.kernels.stress`): the same Philox rounds, the
same uniform, Acklam's inverse normal with the fdlibm logarithm in its tails, the Cody-Waite
exponential, the Poisson inversion and an item's event schedule. The CPU kernel is compiled
without floating-point contraction, so these are compiled without it too
(:func:`valuation.kernels.cuda._numba_internals.forbid_contraction`): then every operation is
one IEEE operation rounded to nearest, as on the CPU, and the results are the same bits.

Two things differ in *how*, never in *what*:

* ``math.frexp``, ``math.ldexp``, ``math.floor`` and ``math.ceil`` come from libdevice (exact
  operations); division and ``math.sqrt`` are IEEE (correctly rounded) as numba-cuda compiles
  them without fast-math;
* the C library's ``exp`` and ``log``, which the CPU kernel calls for a few per-item constants
  and for the revocation time, are not called on the device: the constants are computed on the
  host by the CPU kernel's own functions (:mod:`valuation.kernels.cuda.prep`), and the
  revocation time is read from a table of the 32-bit words at which it changes, computed there
  from :func:`valuation.kernels.stress.revocation_step` itself (:func:`revocation_from_word`).
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from valuation.kernels.cuda._numba_internals import simulated
from valuation.kernels.cuda.prep import (
    AUX_LAPSE_LOG_KEEP,
    AUX_P0_FULL,
    AUX_P0_LAST,
    AUX_REVOKE_LOG_KEEP,
    AUX_SEGMENT_STEPS,
)
from valuation.kernels.layout import (
    EXPIRY_STEP,
    FLAG_EXPIRY_REACHED,
    FLAG_LAPSED,
    FLAG_REVOKED,
    JUMP_LAMBDA_DT,
    JUMP_MEAN,
    JUMP_VOL,
    RENEW_P,
)

# Philox4x32-10 (valuation.kernels.rng).
_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_INV_2_32 = 1.0 / 4294967296.0

# The stream layout and the constants of valuation.kernels.stress.
EVENT_BLOCK = 1 << 28
JUMP_BLOCK = 1 << 29
SEGMENT_SHIFT = 20
NEVER = 1 << 40
_A0, _A1, _A2 = -3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02
_A3, _A4, _A5 = 1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00
_B0, _B1, _B2 = -5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02
_B3, _B4 = 6.680131188771972e01, -1.328068155288572e01
_C0, _C1, _C2 = -7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00
_C3, _C4, _C5 = -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00
_D0, _D1, _D2 = 7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00
_D3 = 3.754408661907416e00
_P_LOW = 0.02425
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_MIN = -708.0
_EXP_MAX = 709.0
_E2, _E3, _E4, _E5 = 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120
_E6, _E7, _E8, _E9 = 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880
_E10, _E11, _E12, _E13 = 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800
_LG1, _LG2 = 6.666666666666735130e-01, 3.999999999940941908e-01
_LG3, _LG4 = 2.857142874366239149e-01, 2.222219843214978396e-01
_LG5, _LG6 = 1.818357216161805012e-01, 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01
_SQRT2 = 1.4142135623730951


device = cuda.jit(device=True)
_SIMULATED = simulated()


if _SIMULATED:

    @device
    def scale2(p: float, n: float) -> float:
        """Return ``p · 2^n`` for a whole ``n`` (the simulator's ``ldexp`` takes an int)."""
        return math.ldexp(p, int(n))

else:

    @device
    def scale2(p: float, n: float) -> float:
        """Return ``p · 2^n`` for a whole ``n`` (libdevice's ``ldexp`` takes an int32)."""
        return math.ldexp(p, np.int32(n))  # type: ignore[arg-type]


@device
def philox4(
    seed: np.uint64, entity: np.uint64, path: np.uint64, block: np.uint64
) -> tuple[np.uint32, np.uint32, np.uint32, np.uint32]:
    """:func:`valuation.kernels.rng.philox_block`: the four words of a block.

    The counter and key words are 32-bit values held as ``uint32`` (one register each), and
    each round's product is the 64-bit product of two 32-bit values (one ``mul.wide.u32``):
    the same integers as the CPU's rounds on ``uint64`` words masked to 32 bits, in half the
    registers and without the 64 × 64-bit multiplications and masks.
    """
    c0 = np.uint32(entity & _MASK32)
    c1 = np.uint32(entity >> _SHIFT32)
    c2 = np.uint32(path & _MASK32)
    c3 = np.uint32(block & _MASK32)
    k0 = np.uint32(seed & _MASK32)
    k1 = np.uint32(seed >> _SHIFT32)
    for _ in range(10):
        p0 = _M0 * np.uint64(c0)
        p1 = _M1 * np.uint64(c2)
        c0 = np.uint32((p1 >> _SHIFT32) ^ np.uint64(c1) ^ np.uint64(k0))
        c1 = np.uint32(p1 & _MASK32)
        c2 = np.uint32((p0 >> _SHIFT32) ^ np.uint64(c3) ^ np.uint64(k1))
        c3 = np.uint32(p0 & _MASK32)
        k0 = np.uint32((np.uint64(k0) + _W0) & _MASK32)
        k1 = np.uint32((np.uint64(k1) + _W1) & _MASK32)
    return c0, c1, c2, c3


@device
def uniform(word: np.uint32) -> float:
    """:func:`valuation.kernels.rng.uniform_from_word`."""
    return (float(word) + 0.5) * _INV_2_32


@device
def word_of(seed: np.uint64, entity: np.uint64, path: np.uint64, block: np.uint64, lane: int):
    """Word ``lane`` (0..3) of a Philox block."""
    w0, w1, w2, w3 = philox4(seed, entity, path, block)
    if lane == 0:
        return w0
    if lane == 1:
        return w1
    if lane == 2:
        return w2
    return w3


@device
def pick(w0: np.uint32, w1: np.uint32, w2: np.uint32, w3: np.uint32, lane: int) -> np.uint32:
    """Return word ``lane`` (0..3) of a block already drawn."""
    if lane == 0:
        return w0
    if lane == 1:
        return w1
    if lane == 2:
        return w2
    return w3


@device
def log_core(f: float, dk: float) -> float:
    """:func:`valuation.kernels.stress.log_core`."""
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (_LG2 + w * (_LG4 + w * _LG6))
    t2 = z * (_LG1 + w * (_LG3 + w * (_LG5 + w * _LG7)))
    r = t2 + t1
    return dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)


@device
def log_positive(x: float) -> float:
    """:func:`valuation.kernels.stress.log_positive` (``frexp`` is exact)."""
    m, e = math.frexp(x)
    m = 2.0 * m
    e -= 1
    if m > _SQRT2:
        m *= 0.5
        e += 1
    return log_core(m - 1.0, float(e))


@device
def tail_rational(q: float) -> float:
    """:func:`valuation.kernels.stress.tail_rational`."""
    return (((((_C0 * q + _C1) * q + _C2) * q + _C3) * q + _C4) * q + _C5) / (
        (((_D0 * q + _D1) * q + _D2) * q + _D3) * q + 1.0
    )


@device
def in_tail(u: float) -> bool:
    """Whether Acklam's inverse normal takes ``u`` in its tail branch."""
    return u < _P_LOW or u > 1.0 - _P_LOW


@device
def tail_normal(u: float) -> float:
    """:func:`inverse_normal` of a ``u`` in the tails (:func:`in_tail`)."""
    z = tail_rational(math.sqrt(-2.0 * log_positive(u if u < 0.5 else 1.0 - u)))
    return z if u < 0.5 else -z


@device
def central_normal(u: float) -> float:
    """:func:`inverse_normal` of a ``u`` in the central region (not :func:`in_tail`)."""
    q = u - 0.5
    r = q * q
    return (
        (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5)
        * q
        / (((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0)
    )


@device
def inverse_normal(u: float) -> float:
    """:func:`valuation.kernels.stress.inverse_normal` (Acklam)."""
    if in_tail(u):
        return tail_normal(u)
    return central_normal(u)


@device
def lowest_lane(pending: int) -> int:
    """Return the lowest set bit (0..3) of a non-zero mask of four lanes."""
    if pending & 1:
        return 0
    if pending & 2:
        return 1
    if pending & 4:
        return 2
    return 3


@device
def block_normals(w0: np.uint32, w1: np.uint32, w2: np.uint32, w3: np.uint32, normals) -> None:
    """Write the four normals of a Philox block to ``normals[0..3]``.

    ``normals[lane]`` is :func:`inverse_normal` of the uniform of word ``lane``. A
    thread computes its central normals first and then its tail normals one at a time, so
    that a warp runs the tail branch (a logarithm, a square root and a division) as many
    times as the most tails one of its threads has among the block's four words: 1.36 times
    a block on average at 32 threads (a uniform is in the tails with probability 0.0485),
    against 0.80 times a normal (3.2 a block) when each step computes its own normal, since
    a warp runs the branch whenever one of its threads takes it.
    """
    pending = 0
    for lane in range(4):
        u = uniform(pick(w0, w1, w2, w3, lane))
        if in_tail(u):
            pending |= 1 << lane
        else:
            normals[lane] = central_normal(u)
    while pending != 0:
        lane = lowest_lane(pending)
        pending &= pending - 1
        normals[lane] = tail_normal(uniform(pick(w0, w1, w2, w3, lane)))


@device
def lane_normal(
    seed: np.uint64, entity: np.uint64, path: np.uint64, block: np.uint64, lane: int
) -> float:
    """:func:`valuation.kernels.stress.lane_normal`: normal ``lane`` of a block."""
    return inverse_normal(uniform(word_of(seed, entity, path, block, lane)))


@device
def exp_scalar(x: float) -> float:
    """:func:`valuation.kernels.stress.exp_scalar` (Cody-Waite, Estrin; ``ldexp`` is exact)."""
    xc = min(max(x, _EXP_MIN), _EXP_MAX)
    nf = math.floor(xc * _INV_LN2 + 0.5)
    r = (xc - nf * _LN2_HI) - nf * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    c0 = (1.0 + r) + (_E2 + _E3 * r) * r2
    c1 = (_E4 + _E5 * r) + (_E6 + _E7 * r) * r2
    c2 = (_E8 + _E9 * r) + (_E10 + _E11 * r) * r2
    c3 = _E12 + _E13 * r
    p = (c0 + c1 * r4) + (c2 + c3 * r4) * (r4 * r4)
    if x < _EXP_MIN:
        p = 0.0
    return scale2(p, nf)


@device
def poisson_inverse_p0(u: float, mean: float, p0: float) -> int:
    """:func:`valuation.kernels.stress.poisson_inverse_p0`."""
    k = 0
    prob = p0
    cdf = prob
    while u > cdf and k < (1 << SEGMENT_SHIFT) - 2:
        k += 1
        prob *= mean / k
        cdf += prob
    return k


@device
def revocation_from_word(word: np.uint32, thresholds: np.ndarray, horizon: int) -> int:
    """:func:`valuation.kernels.stress.revocation_step` of ``uniform(word)``, up to ``horizon``.

    ``thresholds[k − 1]`` (``k = 1..horizon``, non-increasing) is the smallest word whose
    revocation step is at most ``k`` (2³² for none), so the step is the smallest ``k`` with
    ``thresholds[k − 1] ≤ word`` (a binary search); :data:`NEVER` when the step is beyond the
    horizon, which no caller tells apart from "never".
    """
    w = np.int64(word)
    if horizon < 1 or w < thresholds[horizon - 1]:
        return NEVER
    lo = 1
    hi = horizon
    while lo < hi:
        mid = (lo + hi) // 2
        if thresholds[mid - 1] <= w:
            hi = mid
        else:
            lo = mid + 1
    return lo


@device
def item_events(items, i, aux, thresholds, seed, key, path, n_steps, horizon, k_lo, k_hi, add, col):
    """:func:`valuation.kernels.stress.item_events` for item ``i`` (``items[i]``).

    Adds the log-value changes at steps ``k_lo..k_hi`` to ``add[k − k_lo, col]`` (jumps in the
    order of their number, then the revocation, then the lapse) and returns the event flags
    within the tenor. ``aux[i]`` and ``thresholds[i]`` are the item's host-computed constants.
    """
    rate = items[i, JUMP_LAMBDA_DT]
    if rate > 0.0:
        seg_steps = int(aux[i, AUX_SEGMENT_STEPS])
        jump_mean = items[i, JUMP_MEAN]
        jump_vol = items[i, JUMP_VOL]
        for first in range(0, horizon, seg_steps):
            last = min(first + seg_steps, horizon)
            if last < k_lo or first + 1 > k_hi:
                continue
            length = last - first
            base = JUMP_BLOCK + (first // seg_steps << SEGMENT_SHIFT)
            p0 = aux[i, AUX_P0_FULL] if length == seg_steps else aux[i, AUX_P0_LAST]
            w_count = philox4(seed, key, path, np.uint64(base))[0]
            count = poisson_inverse_p0(uniform(w_count), rate * length, p0)
            for m in range(0, count, 2):
                w0, w1, w2, w3 = philox4(seed, key, path, np.uint64(base + 1 + m // 2))
                k = first + int(math.ceil(uniform(w0) * length))  # noqa: RUF046 - a float on the device
                if k_lo <= k <= k_hi:
                    add[k - k_lo, col] += jump_mean + jump_vol * inverse_normal(uniform(w1))
                if m + 1 < count:
                    k = first + int(math.ceil(uniform(w2) * length))  # noqa: RUF046
                    if k_lo <= k <= k_hi:
                        add[k - k_lo, col] += jump_mean + jump_vol * inverse_normal(uniform(w3))
    flags = 0
    w_revoke, w_renew, _, _ = philox4(seed, key, path, np.uint64(EVENT_BLOCK))
    revoked_at = revocation_from_word(w_revoke, thresholds[i], horizon)
    if revoked_at <= n_steps:
        flags |= FLAG_REVOKED
    if k_lo <= revoked_at <= k_hi:
        add[revoked_at - k_lo, col] += aux[i, AUX_REVOKE_LOG_KEEP]
    expiry = int(items[i, EXPIRY_STEP])
    if 1 <= expiry < revoked_at:
        lapsed = uniform(w_renew) >= items[i, RENEW_P]
        if expiry <= n_steps:
            flags |= FLAG_EXPIRY_REACHED | (FLAG_LAPSED if lapsed else 0)
        if lapsed and k_lo <= expiry <= k_hi:
            add[expiry - k_lo, col] += aux[i, AUX_LAPSE_LOG_KEEP]
    return flags
