"""Monte Carlo loan-to-value stress kernels (SPEC §6): pure functions over arrays.

The model's per-step constants come from :func:`valuation.risk.model.build_model`; the column
and scalar indices are the constants of :mod:`valuation.risk.model`. Outputs go into
caller-allocated per-path arrays, so memory is O(paths) (plus the optional pooled value per
step that feeds the fan-chart quantiles; see :func:`stress_paths`).

How the kernel is laid out
--------------------------
Paths are simulated in blocks of :data:`CHUNK`. For each block the kernel draws, for every
entity, the normals of all steps in one branch-free loop across the block's paths (Philox and
the central branch of the inverse normal vectorise; the 5 % of draws in the tails are fixed up
after), then moves each item through all steps with plain array arithmetic and one vectorised
:func:`exp_into`. Rare events (jumps, revocation, expiry) are not Bernoulli draws per step:
each item's events of a path are a short schedule drawn once (a revocation time by inversion,
a Poisson number of jumps placed uniformly), and their log-value changes are added on the
steps where they fall. Blocks are independent, so a
caller may run disjoint path ranges on several threads (the kernels release the GIL).

Random stream layout
--------------------
Every draw is a Philox block keyed by ``(seed, entity, path, block)``; a path never depends on
its thread, block or chunk, so results are bit-identical on any thread count and for any split
of the paths. Normals are the inverse normal CDF of each 32-bit word (:func:`fast_normals4`:
four normals per block).

* diffusion at step ``k = 1, 2, ...``: entity = the item, sector or borrower; block
  ``(k − 1) // 4``, normal number ``(k − 1) % 4`` of that block (one block serves four steps);
* events of item ``i``: entity = the item, block ``EVENT_BLOCK``: word 0 the revocation time
  (geometric in steps: the first step of a per-step Bernoulli(``REVOKE_P``) sequence), word 1
  the renewal at expiry;
* jumps of item ``i``: the steps ``1 .. n_steps + n_liquidation_steps`` are cut into segments
  of :func:`segment_steps` steps (all of them unless jumps are very frequent); segment ``s``
  uses blocks ``JUMP_BLOCK + (s << SEGMENT_SHIFT) + b``: ``b = 0`` word 0 its Poisson count,
  then block ``b = 1 + m`` holds jumps ``2m`` (words 0, 1) and ``2m + 1`` (words 2, 3): the
  step, uniform in the segment, and the size (a normal). Each step's count is then
  Poisson(``λ·dt``), independent across steps, with a handful of draws per path instead of one
  per step.
"""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels._jit import jit, jit_inner, trailing_zeros
from valuation.kernels.layout import (
    AMOUNT,
    CHUNK,
    DEFAULT_THRESHOLD,
    EXPIRY_STEP,
    FLAG_EXPIRY_REACHED,
    FLAG_LAPSED,
    FLAG_REVOKED,
    JUMP_LAMBDA_DT,
    JUMP_MEAN,
    JUMP_P0,
    JUMP_VOL,
    LAPSE_KEEP,
    LIQUIDATION_KEEP,
    LOG_DRIFT_STEP,
    LOG_V0,
    MARGIN_CALL_LTV,  # noqa: F401 - every layout name stays importable from here
    POOL_WEIGHT,
    RENEW_P,
    REVOKE_KEEP,
    REVOKE_P,
    SIGMA_SQRT_DT,
    SQRT_ONE_MINUS_RHO,
    SQRT_RHO,
    WRONG_WAY,
    WRONG_WAY_COMPLEMENT,
)
from valuation.kernels.rng import (
    philox_block,
    uniform_from_word,
    uniforms4,
    uniforms_block,
    uniforms_lanes,
)

EVENT_BLOCK = 1 << 28
JUMP_BLOCK = 1 << 29
# Jump schedules: segments hold at most this many jumps on average (e^-mean stays far from
# underflow); segment s draws from blocks JUMP_BLOCK + (s << SEGMENT_SHIFT) + 0, 1, 2, ...
SEGMENT_MEAN = 400.0
SEGMENT_SHIFT = 20

_MASK32 = np.uint64(0xFFFFFFFF)
_ZERO64 = np.uint64(0)
_ONE64 = np.uint64(1)
_SHIFT32 = np.uint64(32)

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

# exp: Cody-Waite reduction x = n·ln2 + r, |r| ≤ ln2/2, and Taylor to r^13 (truncation < 2^-60).
_LN2_HI = 6.93147180369123816490e-01  # ln 2 rounded to 32 significant bits: n·_LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_MIN = -708.0  # below: 0 (no value in this engine is that small: e^-708 ≈ 3e-308)
_EXP_MAX = 709.0
_E2, _E3, _E4, _E5 = 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120
_E6, _E7, _E8, _E9 = 1.0 / 720, 1.0 / 5040, 1.0 / 40320, 1.0 / 362880
_E10, _E11, _E12, _E13 = 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600, 1.0 / 6227020800
_NEVER = 1 << 40  # the step of an event that does not happen

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
def tail_rational(q: float) -> float:
    """Acklam's lower-tail rational at ``q = √(−2 log u)`` (negative)."""
    return (((((_C0 * q + _C1) * q + _C2) * q + _C3) * q + _C4) * q + _C5) / (
        (((_D0 * q + _D1) * q + _D2) * q + _D3) * q + 1.0
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
    q = u - 0.5
    r = q * q
    return (
        (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5)
        * q
        / (((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0)
    )


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
        q = u[j] - 0.5
        r = q * q
        z[j] = (
            (((((_A0 * r + _A1) * r + _A2) * r + _A3) * r + _A4) * r + _A5)
            * q
            / (((((_B0 * r + _B1) * r + _B2) * r + _B3) * r + _B4) * r + 1.0)
        )


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


@jit_inner
def log_keep(keep: float) -> float:
    """Return ``log(keep)``, ``-inf`` for a total loss (``keep = 0``)."""
    return math.log(keep) if keep > 0.0 else -math.inf


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
def revocation_step(u: float, p_step: float) -> int:
    """Return the first step of a Bernoulli(``p_step``)-per-step sequence, by inversion of ``u``.

    ``P(step > k) = (1 − p_step)^k``; :data:`_NEVER` when ``p_step`` is 0.
    """
    if p_step <= 0.0:
        return _NEVER
    if p_step >= 1.0:
        return 1
    steps = math.log(u) / math.log1p(-p_step)
    if steps >= _NEVER:
        return _NEVER
    return max(1, math.ceil(steps))


@jit_inner
def item_events(
    item: np.ndarray,
    seed: np.uint64,
    key: np.uint64,
    path: np.uint64,
    n_steps: int,
    horizon: int,
    k_lo: int,
    k_hi: int,
    add: np.ndarray,
    col: int | np.int64,
) -> int:
    """Add the log-value changes of an item's events at steps ``k_lo..k_hi`` to ``add``.

    The change at step ``k`` goes to ``add[k − k_lo, col]``: each jump's size, ``log(1 − loss)``
    at revocation and ``log(1 − lapse_loss)`` at a lapsed expiry. Returns the event flags within
    the tenor (steps ``≤ n_steps``), whatever ``k_lo..k_hi``.

    Revocation happens once, at the first step of a Bernoulli(``REVOKE_P``) sequence; expiry at
    step ``EXPIRY_STEP`` counts only if the certificate was not revoked at or before it, and
    lapses unless renewed. Jumps: the steps ``1..horizon`` are cut into segments of
    :func:`segment_steps` steps; a segment of ``L`` steps holds a Poisson(``λ·dt·L``) number
    of jumps, each on a step drawn uniformly in the segment (so each step's count is
    Poisson(``λ·dt``), independent across steps) with a normal size. ``horizon`` is the last
    step any path may need (the tenor plus the liquidation), so the schedule of a path does not
    depend on which steps are asked for.
    """
    rate = item[JUMP_LAMBDA_DT]
    if rate > 0.0:
        seg_steps = segment_steps(rate)
        for first in range(0, horizon, seg_steps):
            last = min(first + seg_steps, horizon)
            if last < k_lo or first + 1 > k_hi:
                continue
            length = last - first
            base = JUMP_BLOCK + (first // seg_steps << SEGMENT_SHIFT)
            u_count = uniforms4(seed, key, path, np.uint64(base))[0]
            count = poisson_inverse(u_count, rate * length)
            for m in range(0, count, 2):
                u0, u1, u2, u3 = uniforms4(seed, key, path, np.uint64(base + 1 + m // 2))
                k = first + math.ceil(u0 * length)
                if k_lo <= k <= k_hi:
                    add[k - k_lo, col] += item[JUMP_MEAN] + item[JUMP_VOL] * inverse_normal(u1)
                if m + 1 < count:
                    k = first + math.ceil(u2 * length)
                    if k_lo <= k <= k_hi:
                        add[k - k_lo, col] += item[JUMP_MEAN] + item[JUMP_VOL] * inverse_normal(u3)
    flags = 0
    u_revoke, u_renew, _, _ = uniforms4(seed, key, path, np.uint64(EVENT_BLOCK))
    revoked_at = revocation_step(u_revoke, item[REVOKE_P])
    if revoked_at <= n_steps:
        flags |= FLAG_REVOKED
    if k_lo <= revoked_at <= k_hi:
        add[revoked_at - k_lo, col] += log_keep(item[REVOKE_KEEP])
    expiry = int(item[EXPIRY_STEP])
    if 1 <= expiry < revoked_at:
        lapsed = u_renew >= item[RENEW_P]
        if expiry <= n_steps:
            flags |= FLAG_EXPIRY_REACHED | (FLAG_LAPSED if lapsed else 0)
        if lapsed and k_lo <= expiry <= k_hi:
            add[expiry - k_lo, col] += log_keep(item[LAPSE_KEEP])
    return flags


@jit_inner
def events_flags(item: np.ndarray, n_steps: int, u_revoke: float, u_renew: float) -> int:
    """Return an item's event flags within the tenor from its two event uniforms.

    The same rules as :func:`item_events` (which this must match bit for bit).
    """
    flags = 0
    revoked_at = revocation_step(u_revoke, item[REVOKE_P])
    if revoked_at <= n_steps:
        flags |= FLAG_REVOKED
    expiry = int(item[EXPIRY_STEP])
    if 1 <= expiry < revoked_at and expiry <= n_steps:
        flags |= FLAG_EXPIRY_REACHED | (FLAG_LAPSED if u_renew >= item[RENEW_P] else 0)
    return flags


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


@jit_inner
def has_events(item: np.ndarray, n_steps: int) -> bool:
    """Whether :func:`chunk_events` can change an item's value within ``n_steps`` steps."""
    return item[JUMP_LAMBDA_DT] > 0.0 or has_status_events(item, n_steps)


@jit_inner
def has_status_events(item: np.ndarray, n_steps: int) -> bool:
    """Whether an item can be revoked, or reach its expiry, within ``n_steps`` steps."""
    return item[REVOKE_P] > 0.0 or 1 <= int(item[EXPIRY_STEP]) <= n_steps


@jit_inner
def event_lists(
    room: int | np.int64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return the scratch of :func:`chunk_events` for jump lists of ``room`` blocks.

    ``blocks``, ``jump_u``, ``jump_z`` and ``scratch``, in that order.
    """
    return (
        np.empty((4, room), dtype=np.int64),
        np.empty((4, room)),
        np.empty((2, room)),
        np.empty((3, room), dtype=np.int64),
    )


@jit_inner
def chunk_events(
    item: np.ndarray,
    seed: np.uint64,
    key: np.uint64,
    path0: np.uint64,
    n: int,
    n_steps: int,
    horizon: int,
    uniforms: np.ndarray,
    add: np.ndarray,
    counts: np.ndarray,
    blocks: np.ndarray,
    jump_u: np.ndarray,
    jump_z: np.ndarray,
    scratch: np.ndarray,
) -> int | np.int64:
    """:func:`item_events` of steps ``1..n_steps`` for paths ``path0 .. path0 + n − 1`` at once.

    Adds each path's event log-changes of step ``k`` to ``add[k − 1, j]`` with the same draws
    and the same arithmetic as :func:`item_events`, and a path's changes of one step in the
    same order (its jumps in the order of their number, then the revocation, then the lapse),
    so the same bits. ``add`` has ``n_steps + 1`` rows: the last one takes the draws that fall
    after the tenor (it holds nothing of use). Returns the number of jump blocks listed (of
    the last jump segment), or, when the scratch is too short, minus the length to retry
    with (the caller then puts the zeros back). Every cell written is read, and set back to
    zero, by :func:`advance_item`, but the spare row, which the caller clears.

    How. Each jump segment's counts come from :func:`poisson_counts`; the Philox blocks of
    each path's jumps (two jumps a block) are listed path by path and drawn for the list at
    once (:func:`~valuation.kernels.rng.uniforms_lanes`: only the blocks a path uses); their
    steps, and the normals of their sizes (:func:`inverse_normal_into`), are computed for
    every listed word, used or not, in loops that vectorise; then each jump is added to its
    cell, or to the spare row when it is after the tenor or unused (the second of a block
    when the count is odd), so that no branch decides. The revocation time is inverted only
    where it falls within the tenor (``u ≥`` the probability of no revocation by then, with
    a margin), for the lanes listed by :func:`list_outside`; elsewhere it is "never". The
    flags, the revocation and the lapse are then set for every lane without a branch (a
    change that does not happen goes to the spare row).

    Scratch, all of one length ``L``: ``blocks`` int64 ``(4, L)``, ``jump_u`` and ``jump_z``
    float64 ``(4, L)`` and ``(2, L)``, ``scratch`` int64 ``(3, L)`` (``L ≥ n + 1``). Leaves
    each path's :func:`events_flags` in ``counts[j]`` (int64, also the scratch of the jump
    counts) and, when the item can be revoked or expire within the tenor, the event uniforms
    (revocation, renewal) in ``uniforms[0]`` and ``uniforms[1]`` and the step of a path's
    revocation in ``scratch[1, j]`` (:data:`_NEVER` for none within the tenor).
    """
    n_blk = np.int64(0)  # int64 from the start (a literal 0: calls typed twice)
    rate = item[JUMP_LAMBDA_DT]
    if rate > 0.0:
        jump_mean = item[JUMP_MEAN]
        jump_vol = item[JUMP_VOL]
        seg_steps = segment_steps(rate)
        blk_path = blocks[0]
        blk_no = blocks[1]
        row0 = blocks[2]
        row1 = blocks[3]
        tail_q = scratch[0].view(np.float64)
        for first in range(0, min(horizon, n_steps), seg_steps):
            length = min(first + seg_steps, horizon) - first
            base = JUMP_BLOCK + (first // seg_steps << SEGMENT_SHIFT)
            uniforms_block(seed, key, path0, n, np.uint64(base), uniforms)
            mean = rate * length
            poisson_counts(uniforms[0], n, mean, math.exp(-mean), counts)
            total = np.int64(0)
            for j in range(n):
                total += (counts[j] + 1) // 2
            need = max(int(total) + 1, int(n))
            if need > blocks.shape[1]:
                return -2 * need
            # Jump m of a path: words 2·(m % 2) (step) and 2·(m % 2) + 1 (size) of its block
            # base + 1 + m // 2.
            n_blk = np.int64(0)
            for j in range(n):
                count = counts[j]
                for b in range((count + 1) // 2):
                    blk_path[n_blk] = j
                    blk_no[n_blk] = base + 1 + b
                    row1[n_blk] = 2 * b + 1 < count  # whether the block's second jump is used
                    n_blk += 1
            uniforms_lanes(seed, key, path0, blk_path, blk_no, n_blk, jump_u)
            for t in range(n_blk):
                k0 = first + math.ceil(jump_u[0, t] * length)
                k1 = first + math.ceil(jump_u[2, t] * length)
                row0[t] = k0 - 1 if k0 <= n_steps else n_steps
                row1[t] = k1 - 1 if (k1 <= n_steps) & (row1[t] != 0) else n_steps
            inverse_normal_into(jump_u[1], n_blk, jump_z[0], scratch[1], tail_q, scratch[2])
            inverse_normal_into(jump_u[3], n_blk, jump_z[1], scratch[1], tail_q, scratch[2])
            for t in range(n_blk):
                j = blk_path[t]
                add[row0[t], j] += jump_mean + jump_vol * jump_z[0, t]
                add[row1[t], j] += jump_mean + jump_vol * jump_z[1, t]
    revoke_p = item[REVOKE_P]
    expiry = int(item[EXPIRY_STEP])
    if not has_status_events(item, n_steps):
        counts[:n] = 0  # the flags: no revocation, no expiry within the tenor
        return n_blk
    if n + 1 > scratch.shape[1]:
        return -(n + 1)
    revoke_log_keep = log_keep(item[REVOKE_KEEP])
    lapse_log_keep = log_keep(item[LAPSE_KEEP])
    uniforms_block(seed, key, path0, n, np.uint64(EVENT_BLOCK), uniforms)
    u_revoke = uniforms[0]
    u_renew = uniforms[1]
    revoked = scratch[1]
    lanes = scratch[2]
    for j in range(n):
        revoked[j] = _NEVER
    # revocation_step(u) ≤ n_steps ⇔ log(u) ≥ n_steps·log(1 − p) ⇔ u ≥ (1 − p)^n_steps; the
    # margin (1e-9 relative) keeps every u near the edge on the exact side. Only the lanes
    # above the cut (a few in ten) are inverted, from a list: no branch per lane.
    if revoke_p <= 0.0:
        u_within = 2.0
    elif revoke_p >= 1.0:
        u_within = 0.0
    else:
        u_within = math.exp(n_steps * math.log1p(-revoke_p)) * (1.0 - 1e-9)
    n_within = list_outside(u_revoke, n, -1.0, u_within, lanes)
    for t in range(n_within):
        j = lanes[t]
        revoked[j] = revocation_step(u_revoke[j], revoke_p)
    # Flags and log-changes without a branch: a change that does not happen goes to the
    # spare row n_steps (advance_item never reads it).
    renew_p = item[RENEW_P]
    expiry_within = 1 <= expiry <= n_steps
    for j in range(n):
        at = revoked[j]
        is_revoked = at <= n_steps
        reached = expiry_within & (expiry < at)
        lapsed = reached & (u_renew[j] >= renew_p)
        add[at - 1 if is_revoked else n_steps, j] += revoke_log_keep
        add[expiry - 1 if lapsed else n_steps, j] += lapse_log_keep
        counts[j] = (
            FLAG_REVOKED * np.int64(is_revoked)
            | FLAG_EXPIRY_REACHED * np.int64(reached)
            | FLAG_LAPSED * np.int64(lapsed)
        )
    return n_blk


@jit_inner
def running_min_ratio(
    pool: np.ndarray, profile: np.ndarray, n_steps: int, nb: int, min_ratio: np.ndarray
) -> None:
    """Write ``min_k pool[k, j] / profile[k]`` over steps ``0..n_steps`` into ``min_ratio[:nb]``.

    The pathwise statistic the breach probability and the exact max loan are read from.
    """
    for j in range(nb):
        min_ratio[j] = pool[0, j] / profile[0]
    for k in range(1, n_steps + 1):
        pk = pool[k]
        den = profile[k]
        for j in range(nb):
            ratio = pk[j] / den
            min_ratio[j] = ratio if ratio < min_ratio[j] else min_ratio[j]


@jit_inner
def default_steps_from_tails(
    borrower_u: np.ndarray,
    factor: np.ndarray,
    use_factor: bool,
    scalars: np.ndarray,
    default_cut: float,
    n_steps: int,
    nb: int,
    cand_f: np.ndarray,
    cand_i: np.ndarray,
    default_step: np.ndarray,
) -> None:
    """Set ``default_step[j]`` to the first step ``k`` with ``w F_k + √(1−w²) η_k < threshold``.

    The same decisions, bit for bit, as testing every step with the borrower's normals
    ``η_k = inverse_normal(u_k)`` (``borrower_u[k − 1, j]``, uniforms), without computing most
    of them: a draw in the central branch (``u ≥ 0.02425``) has ``η ≥`` :data:`_Z_CENTRAL_MIN`,
    so it can only default where ``w F_k < default_cut = threshold − √(1−w²)·_Z_CENTRAL_MIN``.
    Only the lanes of a step with ``u < 0.02425`` or a factor below that cut are candidates:
    listed step by step through a 64-bit mask (as in :func:`list_outside`), their normals
    computed in one :func:`inverse_normal_into` pass, then tested in the list's order, so the
    first default of a path is its earliest. ``cand_f`` (float64 ``(3, ≥ n_steps·nb + 1)``) and
    ``cand_i`` (int64 ``(4, ≥ n_steps·nb + 1)``) are scratch. ``default_step`` must hold −1 on
    entry; ``factor`` is read only when ``use_factor``. Exact for any parameters, fast when the
    cut is far below the factor's range (the caller's test).
    """
    threshold = scalars[DEFAULT_THRESHOLD]
    wrong_way = scalars[WRONG_WAY]
    wrong_way_c = scalars[WRONG_WAY_COMPLEMENT]
    every = 0.0 < default_cut  # without the factor its term is 0
    n_cand = np.int64(0)  # int64 from the start: a literal 0 makes numba type the calls twice
    for k in range(1, n_steps + 1):
        u = borrower_u[k - 1]
        fac = factor[k] if use_factor else u  # (not read without the factor)
        for g in range(0, nb, 64):
            mask = np.uint64(0)
            # Views from g on: indexing u[g + j] makes LLVM gather (it cannot tell g + j ≥ 0).
            ug = u[g:]
            if use_factor:
                fg = fac[g:]
                for j in range(min(64, nb - g)):
                    hit = (ug[j] < _P_LOW) | (wrong_way * fg[j] < default_cut)
                    mask |= np.uint64(hit) << np.uint64(j)
            else:
                for j in range(min(64, nb - g)):
                    mask |= np.uint64((ug[j] < _P_LOW) | every) << np.uint64(j)
            while mask != _ZERO64:
                j = g + trailing_zeros(mask)
                mask &= mask - _ONE64
                cand_f[0, n_cand] = u[j]
                cand_i[0, n_cand] = k
                cand_i[1, n_cand] = j
                n_cand += 1
    eta = cand_f[1]
    inverse_normal_into(cand_f[0], n_cand, eta, cand_i[2], cand_f[2], cand_i[3])
    for t in range(n_cand):
        j = cand_i[1, t]
        if default_step[j] >= 0:
            continue
        k = cand_i[0, t]
        if use_factor:
            latent = wrong_way * factor[k, j] + wrong_way_c * eta[t]
        else:
            latent = wrong_way_c * eta[t]
        if latent < threshold:
            default_step[j] = k


@jit_inner
def advance_item(
    level: np.ndarray,
    item_z: np.ndarray,
    sector: np.ndarray,
    jumps: np.ndarray,
    factor: np.ndarray,
    pool: np.ndarray,
    value: np.ndarray,
    bits: np.ndarray,
    n_steps: int,
    nb: int,
    drift: float,
    sigma: float,
    weight: float,
    sqrt_rho: float,
    sqrt_1m_rho: float,
    draw_sector: bool,
    use_factor: bool,
) -> None:
    """Move one item's log-value ``level[:nb]`` through steps ``1..n_steps`` of a block.

    Per step ``k``: the shock ``√ρ·sector[k − 1] + √(1−ρ)·item_z[k − 1]`` (no sector term
    when ``draw_sector`` is false), the drift and the events ``jumps[k − 1]`` added to the
    level, its exponential added to ``pool[k]`` (``value`` keeps the last step's), and
    ``weight``·shock to ``factor[k]`` when ``use_factor``; ``bits`` is scratch. Each event
    cell read is set back to 0 (a store in the vectorised loop: cheaper than clearing the few
    cells :func:`chunk_events` wrote, which are scattered), so rows ``0 .. n_steps − 1`` of
    ``jumps`` hold zeros for lanes ``< nb`` on return. The
    exponential (:func:`exp_parts`) is computed in the loop that moves the level, and scaled
    and pooled in a second one: two passes over a step's lanes, all in the first-level cache.
    """
    scale = bits.view(np.float64)
    for k in range(1, n_steps + 1):
        eps = item_z[k - 1]
        common = sector[k - 1]
        jump = jumps[k - 1]
        if draw_sector and use_factor:
            fac = factor[k]
            for j in range(nb):
                shock = sqrt_rho * common[j] + sqrt_1m_rho * eps[j]
                lv = level[j] + (drift + sigma * shock + jump[j])
                jump[j] = 0.0
                level[j] = lv
                value[j], bits[j] = exp_parts(lv)
                fac[j] += weight * shock
        elif draw_sector:
            for j in range(nb):
                shock = sqrt_rho * common[j] + sqrt_1m_rho * eps[j]
                lv = level[j] + (drift + sigma * shock + jump[j])
                jump[j] = 0.0
                level[j] = lv
                value[j], bits[j] = exp_parts(lv)
        elif use_factor:
            fac = factor[k]
            for j in range(nb):
                shock = sqrt_1m_rho * eps[j]
                lv = level[j] + (drift + sigma * shock + jump[j])
                jump[j] = 0.0
                level[j] = lv
                value[j], bits[j] = exp_parts(lv)
                fac[j] += weight * shock
        else:
            for j in range(nb):
                shock = sqrt_1m_rho * eps[j]
                lv = level[j] + (drift + sigma * shock + jump[j])
                jump[j] = 0.0
                level[j] = lv
                value[j], bits[j] = exp_parts(lv)
        acc = pool[k]
        for j in range(nb):
            v = value[j] * scale[j]
            value[j] = v
            acc[j] += v


@jit
def stress_paths(
    items: np.ndarray,
    sector_index: np.ndarray,
    item_keys: np.ndarray,
    sector_keys: np.ndarray,
    stream_keys: np.ndarray,
    profile: np.ndarray,
    scalars: np.ndarray,
    n_liquidation_steps: int,
    path_start: int,
    p_begin: int,
    p_end: int,
    out_min_ratio: np.ndarray,
    out_default_step: np.ndarray,
    out_ead: np.ndarray,
    out_loss: np.ndarray,
    out_flags: np.ndarray,
    out_terminal: np.ndarray,
    out_pool: np.ndarray,
) -> None:
    """Simulate the full stress model for rows ``p_begin .. p_end − 1`` of the outputs.

    Row ``p`` is global path ``path_start + p``. Disjoint row ranges may run on different
    threads at once (the kernel releases the GIL and writes only its own rows).

    Parameters
    ----------
    items, sector_index, item_keys, sector_keys, stream_keys, profile, scalars
        The arrays of a :class:`valuation.risk.model.StressModel`.
    n_liquidation_steps
        Steps from default to the sale of the collateral.
    path_start
        Global index of the path in row 0 (so that a run can be split into parts).
    p_begin, p_end
        The rows to simulate.
    out_min_ratio
        ``(paths,)``: ``min_k V_k / profile_k`` over ``k = 0..n_steps`` (pooled value).
    out_default_step
        ``(paths,)`` int64: the step of default within the tenor, −1 for none.
    out_ead, out_loss
        ``(paths,)``: exposure at default and loss (0 without default).
    out_flags
        ``(paths, n_items)`` uint8: bit 1 revoked, 2 expiry reached, 4 lapsed (within tenor).
    out_terminal
        ``(paths, n_items)``: each item's value at the end of the tenor, or ``(paths, 0)``.
    out_pool
        ``(n_steps + 1, paths)`` float32 pooled value per step, or ``(0, paths)`` to skip.

    Notes
    -----
    Per step ``k`` and item ``i``, with ``W = √ρ Z_sector + √(1−ρ) ε_i``:
    ``log V_i += log_drift·dt + σ√dt·W + Σ jumps``, plus ``log(1 − loss)`` at revocation and
    ``log(1 − lapse_loss)`` at a lapsed expiry; the pool is ``Σ_i V_i``. Default at the first
    ``k ≤ n_steps`` with ``w F_k + √(1−w²) η_k < threshold`` (``F_k = Σ_i weight_i W_i``); the
    pool is sold ``n_liquidation_steps`` later at ``(1 − discount)·V``,
    ``loss = max(EAD − proceeds, 0)``. Paths without default stop at the tenor; a defaulted one
    whose sale falls after it runs on, path by path, to the sale.

    The pooled value per step (float32, 4 bytes × paths × steps) is kept only because exact
    per-step quantiles need it; everything else streams. Pass a ``(0, paths)`` array to make
    the kernel O(paths).
    """
    n_items = items.shape[0]
    n_sectors = sector_keys.shape[0]
    n_steps = profile.shape[0] - 1
    n_rows = 4 * ((n_steps + 3) // 4)
    seed = stream_keys[0]
    borrower_key = stream_keys[1]
    amount = scalars[AMOUNT]
    threshold = scalars[DEFAULT_THRESHOLD]
    wrong_way = scalars[WRONG_WAY]
    wrong_way_c = scalars[WRONG_WAY_COMPLEMENT]
    liquidation_keep = scalars[LIQUIDATION_KEEP]
    sqrt_rho = scalars[SQRT_RHO]
    sqrt_1m_rho = scalars[SQRT_ONE_MINUS_RHO]
    store_pool = out_pool.shape[0] > 0
    store_terminal = out_terminal.shape[1] > 0
    # Draws that cannot change the result are skipped; their counters stay reserved.
    draw_sector = sqrt_rho > 0.0
    draw_borrower = threshold > -math.inf
    use_factor = draw_borrower and wrong_way != 0.0

    uniforms = np.empty((4, CHUNK))
    tail_x = np.empty(n_rows * CHUNK)
    tail_i = np.empty((2, n_rows * CHUNK), dtype=np.int64)
    item_z = np.empty((n_rows, CHUNK))
    sector_z = np.zeros((n_sectors if draw_sector else 0, n_rows, CHUNK))
    # Default can only come from a tail draw of the borrower's normal unless the factor term
    # alone brings the latent variable near the threshold: see default_steps.
    default_cut = threshold - wrong_way_c * _Z_CENTRAL_MIN
    tails_only = draw_borrower and default_cut < -2.0 * abs(wrong_way)
    borrower_z = np.zeros((n_rows if draw_borrower else 0, CHUNK))
    cand_f = np.empty((3, n_steps * CHUNK + 1 if tails_only else 0))
    cand_i = np.empty((4, n_steps * CHUNK + 1 if tails_only else 0), dtype=np.int64)
    counts = np.empty(CHUNK, dtype=np.int64)
    # Events of an item: zeros but while an item with events is moved (its last row is the
    # spare of chunk_events). The jump lists are grown when a block needs more.
    events = np.zeros((n_steps + 1, CHUNK))
    room: int | np.int64 = 8 * CHUNK
    blocks, jump_u, jump_z, scratch = event_lists(room)
    horizon = n_steps + n_liquidation_steps
    value = np.empty(CHUNK)
    bits = np.empty(CHUNK, dtype=np.int64)
    pool = np.empty((n_steps + 1, CHUNK))
    factor = np.zeros((n_steps + 1 if use_factor else 0, CHUNK))
    final_log_v = np.empty((n_items, CHUNK))
    min_ratio = np.empty(CHUNK)
    default_step = np.empty(CHUNK, dtype=np.int64)
    later_events = np.zeros((n_liquidation_steps + 1, 1))

    pool0 = 0.0
    for i in range(n_items):
        pool0 += math.exp(items[i, LOG_V0])

    for c0 in range(p_begin, p_end, CHUNK):
        nb = min(CHUNK, p_end - c0)
        path0 = np.uint64(path_start + c0)
        if draw_sector:
            for s in range(n_sectors):
                step_normals(
                    seed, sector_keys[s], path0, nb, n_steps, uniforms, sector_z[s], tail_x, tail_i
                )
        if tails_only:
            for b in range(n_rows // 4):
                uniforms_block(
                    seed, borrower_key, path0, nb, np.uint64(b), borrower_z[4 * b : 4 * b + 4]
                )
        elif draw_borrower:
            step_normals(
                seed, borrower_key, path0, nb, n_steps, uniforms, borrower_z, tail_x, tail_i
            )
        pool[0, :nb] = pool0
        pool[1:, :nb] = 0.0
        if use_factor:
            factor[:, :nb] = 0.0
        for i in range(n_items):
            item = items[i]
            step_normals(seed, item_keys[i], path0, nb, n_steps, uniforms, item_z, tail_x, tail_i)
            with_events = has_events(item, n_steps)
            if with_events:
                while True:
                    n_blk = chunk_events(
                        item,
                        seed,
                        item_keys[i],
                        path0,
                        nb,
                        n_steps,
                        horizon,
                        uniforms,
                        events,
                        counts,
                        blocks,
                        jump_u,
                        jump_z,
                        scratch,
                    )
                    if n_blk >= 0:
                        break
                    events[:, :] = 0.0
                    room = -n_blk
                    blocks, jump_u, jump_z, scratch = event_lists(room)
            else:
                counts[:nb] = 0
            for j in range(nb):
                out_flags[c0 + j, i] = counts[j]
            sector = sector_z[sector_index[i]] if draw_sector else item_z
            level = final_log_v[i]
            level[:nb] = item[LOG_V0]
            advance_item(
                level,
                item_z,
                sector,
                events,
                factor,
                pool,
                value,
                bits,
                n_steps,
                nb,
                item[LOG_DRIFT_STEP],
                item[SIGMA_SQRT_DT],
                item[POOL_WEIGHT],
                sqrt_rho,
                sqrt_1m_rho,
                draw_sector,
                use_factor,
            )
            if store_terminal:
                for j in range(nb):
                    out_terminal[c0 + j, i] = value[j]
            if with_events:
                events[n_steps, :nb] = 0.0  # the spare row (advance_item cleared the others)

        running_min_ratio(pool, profile, n_steps, nb, min_ratio)
        if store_pool:
            for k in range(n_steps + 1):
                for j in range(nb):
                    out_pool[k, c0 + j] = np.float32(pool[k, j])
        default_step[:nb] = -1
        if tails_only:
            default_steps_from_tails(
                borrower_z,
                factor,
                use_factor,
                scalars,
                default_cut,
                n_steps,
                nb,
                cand_f,
                cand_i,
                default_step,
            )
        elif draw_borrower:
            for k in range(n_steps, 0, -1):
                eta = borrower_z[k - 1]
                if use_factor:
                    fac = factor[k]
                    for j in range(nb):
                        latent = wrong_way * fac[j] + wrong_way_c * eta[j]
                        default_step[j] = k if latent < threshold else default_step[j]
                else:
                    for j in range(nb):
                        latent = wrong_way_c * eta[j]
                        default_step[j] = k if latent < threshold else default_step[j]
        for j in range(nb):
            p = c0 + j
            out_min_ratio[p] = min_ratio[j]
            d = default_step[j]
            out_default_step[p] = d
            if d < 0:
                out_ead[p] = 0.0
                out_loss[p] = 0.0
                continue
            ead = amount * profile[d]
            sale = d + n_liquidation_steps
            if sale <= n_steps:
                proceeds = liquidation_keep * pool[sale, j]
            else:
                proceeds = liquidation_keep * pool_after_tenor(
                    items,
                    sector_index,
                    item_keys,
                    sector_keys,
                    seed,
                    path0 + np.uint64(j),
                    n_steps,
                    sale,
                    final_log_v[:, j],
                    sqrt_rho,
                    sqrt_1m_rho,
                    later_events,
                )
            out_ead[p] = ead
            out_loss[p] = max(ead - proceeds, 0.0)


@jit_inner
def pool_after_tenor(
    items: np.ndarray,
    sector_index: np.ndarray,
    item_keys: np.ndarray,
    sector_keys: np.ndarray,
    seed: np.uint64,
    path: np.uint64,
    n_steps: int,
    sale: int,
    final_log_v: np.ndarray,
    sqrt_rho: float,
    sqrt_1m_rho: float,
    later_events: np.ndarray,
) -> float:
    """Run one path on from the tenor to step ``sale``; return the pooled value then.

    The same model and the same draws as :func:`stress_paths` (which stops at the tenor), one
    path and one step at a time: only defaulted paths whose sale falls after the tenor need it.
    """
    pool = 0.0
    for i in range(items.shape[0]):
        item = items[i]
        key = item_keys[i]
        later_events[: sale - n_steps, 0] = 0.0
        item_events(
            item,
            seed,
            key,
            path,
            n_steps,
            n_steps + later_events.shape[0] - 1,  # the horizon: tenor + liquidation
            n_steps + 1,
            sale,
            later_events,
            np.int64(0),  # not the literal 0: numba would compile a second item_events for it
        )
        log_v = final_log_v[i]
        for k in range(n_steps + 1, sale + 1):
            block = np.uint64((k - 1) // 4)
            lane = (k - 1) % 4
            eps = lane_normal(seed, key, path, block, lane)
            common = 0.0
            if sqrt_rho > 0.0:
                common = lane_normal(seed, sector_keys[sector_index[i]], path, block, lane)
            shock = sqrt_rho * common + sqrt_1m_rho * eps
            log_v += (
                item[LOG_DRIFT_STEP]
                + item[SIGMA_SQRT_DT] * shock
                + later_events[k - n_steps - 1, 0]
            )
        pool += exp_scalar(log_v)
    return pool


@jit
def gbm_min_ratio(
    log_v0: np.ndarray,
    log_drift_step: np.ndarray,
    sigma_sqrt_dt: np.ndarray,
    item_keys: np.ndarray,
    sector_index: np.ndarray,
    sector_keys: np.ndarray,
    sqrt_rho: float,
    sqrt_1m_rho: float,
    seed: np.uint64,
    profile: np.ndarray,
    path_start: int,
    p_begin: int,
    p_end: int,
    out_min_ratio: np.ndarray,
) -> None:
    """Bare GBM reference: pooled value of the items, running min of value / profile.

    The same generator, blocks and vectorised loops as :func:`stress_paths` without jumps,
    events or default: the practical speed limit of the random stream (used by the
    benchmark). With ``sqrt_rho = 0`` the items are independent (one normal per item and
    step); otherwise each item's shock is ``√ρ·Z_sector + √(1−ρ)·ε`` (``sqrt_rho``,
    ``sqrt_1m_rho``) with the sectors' normals drawn as :func:`stress_paths` draws them
    (``sector_index``, ``sector_keys``): the stream of normals of the full model. Either way
    the result is, bit for bit, :func:`stress_paths`'s ``out_min_ratio`` for the same items
    without events or default (tested). Rows ``p_begin .. p_end − 1`` (global path
    ``path_start + p``).
    """
    n_items = log_v0.shape[0]
    n_steps = profile.shape[0] - 1
    n_rows = 4 * ((n_steps + 3) // 4)
    correlated = sqrt_rho > 0.0
    n_sectors = sector_keys.shape[0] if correlated else 0
    uniforms = np.empty((4, CHUNK))
    tail_x = np.empty(n_rows * CHUNK)
    tail_i = np.empty((2, n_rows * CHUNK), dtype=np.int64)
    item_z = np.empty((n_rows, CHUNK))
    sector_z = np.empty((n_sectors, n_rows, CHUNK))
    value = np.empty(CHUNK)
    bits = np.empty(CHUNK, dtype=np.int64)
    pool = np.empty((n_steps + 1, CHUNK))
    scale = bits.view(np.float64)
    level = np.empty(CHUNK)
    min_ratio = np.empty(CHUNK)
    pool0 = 0.0
    for i in range(n_items):
        pool0 += math.exp(log_v0[i])
    for c0 in range(p_begin, p_end, CHUNK):
        nb = min(CHUNK, p_end - c0)
        path0 = np.uint64(path_start + c0)
        pool[0, :nb] = pool0
        pool[1:, :nb] = 0.0
        for s in range(n_sectors):
            step_normals(
                seed, sector_keys[s], path0, nb, n_steps, uniforms, sector_z[s], tail_x, tail_i
            )
        for i in range(n_items):
            step_normals(seed, item_keys[i], path0, nb, n_steps, uniforms, item_z, tail_x, tail_i)
            drift = log_drift_step[i]
            sigma = sigma_sqrt_dt[i]
            level[:nb] = log_v0[i]
            if correlated:
                sector = sector_z[sector_index[i]]
                for k in range(1, n_steps + 1):
                    eps = item_z[k - 1]
                    common = sector[k - 1]
                    for j in range(nb):
                        shock = sqrt_rho * common[j] + sqrt_1m_rho * eps[j]
                        lv = level[j] + (drift + sigma * shock)
                        level[j] = lv
                        value[j], bits[j] = exp_parts(lv)
                    acc = pool[k]
                    for j in range(nb):
                        acc[j] += value[j] * scale[j]
            else:
                for k in range(1, n_steps + 1):
                    eps = item_z[k - 1]
                    for j in range(nb):
                        lv = level[j] + (drift + sigma * eps[j])
                        level[j] = lv
                        value[j], bits[j] = exp_parts(lv)
                    acc = pool[k]
                    for j in range(nb):
                        acc[j] += value[j] * scale[j]
        running_min_ratio(pool, profile, n_steps, nb, min_ratio)
        for j in range(nb):
            out_min_ratio[c0 + j] = min_ratio[j]


def warmup() -> None:
    """Compile every kernel of this module on tiny inputs (``dpv warmup``)."""
    n_items, n_paths, n_steps = 2, 3, 5
    items = np.zeros((n_items, 13))
    items[:, JUMP_P0] = 0.9
    items[:, JUMP_LAMBDA_DT] = 0.1
    items[:, EXPIRY_STEP] = 2.0
    items[:, REVOKE_KEEP] = 1.0
    items[:, LAPSE_KEEP] = 1.0
    keys = np.arange(1, n_items + 1, dtype=np.uint64)
    profile = np.ones(n_steps + 1)
    scalars = np.zeros(8)
    scalars[DEFAULT_THRESHOLD] = -1.0
    scalars[WRONG_WAY_COMPLEMENT] = 1.0
    scalars[SQRT_ONE_MINUS_RHO] = 1.0
    for pool_steps in (n_steps + 1, 0):
        stress_paths(
            items,
            np.zeros(n_items, dtype=np.int64),
            keys,
            keys[:1].copy(),
            np.array([1, 2], dtype=np.uint64),
            profile,
            scalars,
            1,
            0,
            0,
            n_paths,
            np.empty(n_paths),
            np.empty(n_paths, dtype=np.int64),
            np.empty(n_paths),
            np.empty(n_paths),
            np.empty((n_paths, n_items), dtype=np.uint8),
            np.empty((n_paths, n_items)),
            np.empty((pool_steps, n_paths), dtype=np.float32),
        )
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


__all__ = ["FLAG_EXPIRY_REACHED", "FLAG_LAPSED", "FLAG_REVOKED", "gbm_min_ratio", "stress_paths"]
