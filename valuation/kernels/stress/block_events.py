"""Certificate and jump events for a block of paths at once: :func:`chunk_events`.

The rules and the draws of :func:`~valuation.kernels.stress.events.item_events`, computed for
every path of a block in loops that vectorise, with the same bits path by path.
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
from valuation.kernels.rng import uniforms_block, uniforms_lanes
from valuation.kernels.stress.events import (
    _NEVER,
    EVENT_BLOCK,
    JUMP_BLOCK,
    has_status_events,
    log_keep,
    revocation_step,
)
from valuation.kernels.stress.normals import inverse_normal_into, list_outside
from valuation.kernels.stress.poisson import SEGMENT_SHIFT, poisson_counts, segment_steps


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
def block_item_events(
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
    lists: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`chunk_events` with its jump lists grown until they hold the block's jumps.

    ``lists`` is ``(blocks, jump_u, jump_z, scratch)`` (:func:`event_lists`); returns the
    lists used, longer ones when the block needed more (``add`` is cleared before a retry).
    """
    blocks, jump_u, jump_z, scratch = lists
    while True:
        n_blk = chunk_events(
            item,
            seed,
            key,
            path0,
            n,
            n_steps,
            horizon,
            uniforms,
            add,
            counts,
            blocks,
            jump_u,
            jump_z,
            scratch,
        )
        if n_blk >= 0:
            return blocks, jump_u, jump_z, scratch
        add[:, :] = 0.0
        blocks, jump_u, jump_z, scratch = event_lists(-n_blk)
