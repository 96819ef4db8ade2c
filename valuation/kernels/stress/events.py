"""Certificate and jump events of one item on one path: the rules, per path.

An item's events on a path are a short schedule drawn once: a revocation time by inversion
(:func:`revocation_step`), the renewal at expiry, and a Poisson number of jumps per segment of
steps, each placed uniformly with a normal size (:func:`item_events`). The certificate rules
are written once, in :func:`status_events`; :func:`events_flags` is its flags. The block form of
the same rules, for the paths of a block at once and branch-free, is
:func:`~valuation.kernels.stress.block_events.chunk_events` (tested to agree bit for bit).
"""

from __future__ import annotations

import math

import numpy as np

from valuation.kernels._jit import jit_inner
from valuation.kernels.layout import (
    EXPIRY_STEP,
    FLAG_EXPIRY_REACHED,
    FLAG_LAPSED,
    FLAG_REVOKED,
    JUMP_LAMBDA_DT,
    JUMP_MEAN,
    JUMP_VOL,
    LAPSE_KEEP,
    RENEW_P,
    REVOKE_KEEP,
    REVOKE_P,
)
from valuation.kernels.rng import uniforms4
from valuation.kernels.stress.normals import inverse_normal
from valuation.kernels.stress.poisson import SEGMENT_SHIFT, poisson_inverse, segment_steps

EVENT_BLOCK = 1 << 28
JUMP_BLOCK = 1 << 29
_NEVER = 1 << 40  # the step of an event that does not happen


@jit_inner
def log_keep(keep: float) -> float:
    """Return ``log(keep)``, ``-inf`` for a total loss (``keep = 0``)."""
    return math.log(keep) if keep > 0.0 else -math.inf


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
    u_revoke, u_renew, _, _ = uniforms4(seed, key, path, np.uint64(EVENT_BLOCK))
    revoked_at, lapsed, flags = status_events(item, n_steps, u_revoke, u_renew)
    if k_lo <= revoked_at <= k_hi:
        add[revoked_at - k_lo, col] += log_keep(item[REVOKE_KEEP])
    expiry = int(item[EXPIRY_STEP])
    if lapsed and k_lo <= expiry <= k_hi:
        add[expiry - k_lo, col] += log_keep(item[LAPSE_KEEP])
    return flags


@jit_inner
def status_events(
    item: np.ndarray, n_steps: int, u_revoke: float, u_renew: float
) -> tuple[int, bool, int]:
    """Return an item's certificate events from its two event uniforms (the rules, once).

    ``(revoked_at, lapsed, flags)``: the step of revocation (:func:`revocation_step` of
    ``u_revoke``; :data:`_NEVER` for none), whether the certificate lapses at its expiry (the
    expiry comes before the revocation and ``u_renew ≥ RENEW_P``: not renewed), and the event
    flags within the tenor (steps ``≤ n_steps``).
    """
    revoked_at = revocation_step(u_revoke, item[REVOKE_P])
    expiry = int(item[EXPIRY_STEP])
    reached = 1 <= expiry < revoked_at
    lapsed = reached and u_renew >= item[RENEW_P]
    flags = 0
    if revoked_at <= n_steps:
        flags |= FLAG_REVOKED
    if reached and expiry <= n_steps:
        flags |= FLAG_EXPIRY_REACHED | (FLAG_LAPSED if lapsed else 0)
    return revoked_at, lapsed, flags


@jit_inner
def events_flags(item: np.ndarray, n_steps: int, u_revoke: float, u_renew: float) -> int:
    """Return an item's event flags within the tenor from its two event uniforms.

    Those of :func:`status_events`, hence of :func:`item_events`.
    """
    return status_events(item, n_steps, u_revoke, u_renew)[2]


@jit_inner
def has_events(item: np.ndarray, n_steps: int) -> bool:
    """Whether :func:`chunk_events` can change an item's value within ``n_steps`` steps."""
    return item[JUMP_LAMBDA_DT] > 0.0 or has_status_events(item, n_steps)


@jit_inner
def has_status_events(item: np.ndarray, n_steps: int) -> bool:
    """Whether an item can be revoked, or reach its expiry, within ``n_steps`` steps."""
    return item[REVOKE_P] > 0.0 or 1 <= int(item[EXPIRY_STEP]) <= n_steps
