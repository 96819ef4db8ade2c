"""Counter-based random streams: Philox4x32-10 keyed by (seed, entity, path).

Every random number in dpv is a pure function of ``(seed, entity, path, block)``:

* the 64-bit ``seed`` is the Philox key;
* the 128-bit counter is ``(entity_lo, entity_hi, path, block)``, where ``entity`` is a 64-bit
  key of the product or collateral item (:func:`entity_key` of its id), ``path`` the Monte Carlo
  path or sample index and ``block`` the draw number within that path.

No state is carried between calls, so a result never depends on the thread, the chunk or the
machine that computed it. The generator is Salmon et al.'s Philox4x32 with 10 rounds
("Parallel random numbers: as easy as 1, 2, 3", SC 2011); the tests check it against the
Random123 known-answer vectors.

Uniforms are ``(u + 0.5) / 2**32`` so they lie strictly inside (0, 1). Normals are their
inverse normal CDF, one per 32-bit word (:mod:`valuation.kernels.stress.normals`), so the tails
are cut at about 6.3 standard deviations, far beyond any quantile we report.
"""

from __future__ import annotations

import numpy as np

from valuation.kernels._jit import jit_inner
from valuation.kernels.keys import entity_key, seed_key

_M0 = np.uint64(0xD2511F53)
_M1 = np.uint64(0xCD9E8D57)
_W0 = np.uint64(0x9E3779B9)
_W1 = np.uint64(0xBB67AE85)
_MASK32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_INV_2_32 = 1.0 / 4294967296.0


@jit_inner
def philox4x32(
    c0: np.uint64,
    c1: np.uint64,
    c2: np.uint64,
    c3: np.uint64,
    k0: np.uint64,
    k1: np.uint64,
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """Return the Philox4x32-10 block for counter ``(c0..c3)`` and key ``(k0, k1)``.

    All words are 32-bit values carried in ``uint64`` (numba has no 32x32->64 multiply-high).
    """
    for _ in range(10):
        p0 = _M0 * c0
        p1 = _M1 * c2
        hi0 = p0 >> _SHIFT32
        lo0 = p0 & _MASK32
        hi1 = p1 >> _SHIFT32
        lo1 = p1 & _MASK32
        c0 = hi1 ^ c1 ^ k0
        c1 = lo1
        c2 = hi0 ^ c3 ^ k1
        c3 = lo0
        k0 = (k0 + _W0) & _MASK32
        k1 = (k1 + _W1) & _MASK32
    return c0, c1, c2, c3


@jit_inner
def uniform_from_word(word: np.uint64) -> float:
    """Map a 32-bit word to a uniform in the open interval (0, 1)."""
    return (float(word) + 0.5) * _INV_2_32


@jit_inner
def philox_block(
    seed: np.uint64, entity: np.uint64, path: np.uint64, block: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """Return the four 32-bit words of block ``block`` of path ``path`` of ``entity``.

    The counter layout of every stream in dpv: ``(entity_lo, entity_hi, path, block)`` under
    the key ``(seed_lo, seed_hi)``.
    """
    return philox4x32(
        entity & _MASK32,
        entity >> _SHIFT32,
        path & _MASK32,
        block & _MASK32,
        seed & _MASK32,
        seed >> _SHIFT32,
    )


@jit_inner
def uniforms4(
    seed: np.uint64, entity: np.uint64, path: np.uint64, block: np.uint64
) -> tuple[float, float, float, float]:
    """Return four independent uniforms in (0, 1) for ``(seed, entity, path, block)``."""
    w0, w1, w2, w3 = philox_block(seed, entity, path, block)
    return (
        uniform_from_word(w0),
        uniform_from_word(w1),
        uniform_from_word(w2),
        uniform_from_word(w3),
    )


@jit_inner
def uniforms_block(
    seed: np.uint64, entity: np.uint64, path0: np.uint64, n: int, block: np.uint64, out: np.ndarray
) -> None:
    """Write the uniforms of ``(seed, entity, path0 + j, block)`` into ``out[:, j]``, ``j < n``.

    The same numbers as :func:`uniforms4` (word ``w`` of path ``path0 + j`` in ``out[w, j]``),
    for a run of consecutive paths at once: the loop over paths has no branch and no call, so
    LLVM vectorises the ten Philox rounds across paths (``out`` is ``(4, ≥ n)`` float64).
    """
    k0 = seed & _MASK32
    k1 = seed >> _SHIFT32
    e0 = entity & _MASK32
    e1 = entity >> _SHIFT32
    b = block & _MASK32
    for j in range(n):
        c0 = e0
        c1 = e1
        c2 = (path0 + np.uint64(j)) & _MASK32
        c3 = b
        kk0 = k0
        kk1 = k1
        for _ in range(10):
            p0 = _M0 * c0
            p1 = _M1 * c2
            hi0 = p0 >> _SHIFT32
            lo0 = p0 & _MASK32
            hi1 = p1 >> _SHIFT32
            lo1 = p1 & _MASK32
            c0 = hi1 ^ c1 ^ kk0
            c1 = lo1
            c2 = hi0 ^ c3 ^ kk1
            c3 = lo0
            kk0 = (kk0 + _W0) & _MASK32
            kk1 = (kk1 + _W1) & _MASK32
        out[0, j] = (float(c0) + 0.5) * _INV_2_32
        out[1, j] = (float(c1) + 0.5) * _INV_2_32
        out[2, j] = (float(c2) + 0.5) * _INV_2_32
        out[3, j] = (float(c3) + 0.5) * _INV_2_32


@jit_inner
def uniforms_lanes(
    seed: np.uint64,
    entity: np.uint64,
    path0: np.uint64,
    paths: np.ndarray,
    blocks: np.ndarray,
    n: int | np.int64,
    out: np.ndarray,
) -> None:
    """Write the uniforms of ``(seed, entity, path0 + paths[t], blocks[t])`` into ``out[:, t]``.

    :func:`uniforms_block` for a list of (path, block) counters, ``t < n`` (``paths`` and
    ``blocks`` int64, ``out`` ``(4, ≥ n)`` float64): for draws that only some paths need, such as
    the blocks of a path's jumps. The rounds are written out in the loop, as in
    :func:`uniforms_block`: through a call to :func:`philox4x32` LLVM does not vectorise the
    loop (five times slower).
    """
    k0 = seed & _MASK32
    k1 = seed >> _SHIFT32
    e0 = entity & _MASK32
    e1 = entity >> _SHIFT32
    for t in range(n):
        c0 = e0
        c1 = e1
        c2 = (path0 + np.uint64(paths[t])) & _MASK32
        c3 = np.uint64(blocks[t]) & _MASK32
        kk0 = k0
        kk1 = k1
        for _ in range(10):
            p0 = _M0 * c0
            p1 = _M1 * c2
            hi0 = p0 >> _SHIFT32
            lo0 = p0 & _MASK32
            hi1 = p1 >> _SHIFT32
            lo1 = p1 & _MASK32
            c0 = hi1 ^ c1 ^ kk0
            c1 = lo1
            c2 = hi0 ^ c3 ^ kk1
            c3 = lo0
            kk0 = (kk0 + _W0) & _MASK32
            kk1 = (kk1 + _W1) & _MASK32
        out[0, t] = (float(c0) + 0.5) * _INV_2_32
        out[1, t] = (float(c1) + 0.5) * _INV_2_32
        out[2, t] = (float(c2) + 0.5) * _INV_2_32
        out[3, t] = (float(c3) + 0.5) * _INV_2_32


__all__ = [
    "entity_key",
    "philox4x32",
    "philox_block",
    "seed_key",
    "uniform_from_word",
    "uniforms4",
    "uniforms_block",
    "uniforms_lanes",
]
