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
    MARGIN_CALL_LTV,
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
from valuation.kernels.stress.block_events import chunk_events, event_lists
from valuation.kernels.stress.default import default_steps_from_tails, pool_after_tenor
from valuation.kernels.stress.diffusion import advance_item, running_min_ratio
from valuation.kernels.stress.events import (
    _NEVER,
    EVENT_BLOCK,
    JUMP_BLOCK,
    events_flags,
    has_events,
    has_status_events,
    item_events,
    log_keep,
    revocation_step,
)
from valuation.kernels.stress.exp_log import (
    _SQRT2,
    exp_into,
    exp_parts,
    exp_scalar,
    log_core,
    log_positive,
)
from valuation.kernels.stress.gbm import gbm_min_ratio
from valuation.kernels.stress.normals import (
    _P_HIGH,
    _P_LOW,
    _Z_CENTRAL_MIN,
    central_into,
    fast_normals4,
    inverse_normal,
    inverse_normal_into,
    lane_normal,
    list_outside,
    step_normals,
    tail_magnitudes_into,
    tail_rational,
)
from valuation.kernels.stress.paths import stress_paths
from valuation.kernels.stress.poisson import (
    SEGMENT_MEAN,
    SEGMENT_SHIFT,
    poisson_counts,
    poisson_inverse,
    poisson_inverse_p0,
    segment_steps,
)
from valuation.kernels.stress.warmup import warmup

__all__ = [
    "AMOUNT",
    "CHUNK",
    "DEFAULT_THRESHOLD",
    "EVENT_BLOCK",
    "EXPIRY_STEP",
    "FLAG_EXPIRY_REACHED",
    "FLAG_LAPSED",
    "FLAG_REVOKED",
    "JUMP_BLOCK",
    "JUMP_LAMBDA_DT",
    "JUMP_MEAN",
    "JUMP_P0",
    "JUMP_VOL",
    "LAPSE_KEEP",
    "LIQUIDATION_KEEP",
    "LOG_DRIFT_STEP",
    "LOG_V0",
    "MARGIN_CALL_LTV",
    "POOL_WEIGHT",
    "RENEW_P",
    "REVOKE_KEEP",
    "REVOKE_P",
    "SEGMENT_MEAN",
    "SEGMENT_SHIFT",
    "SIGMA_SQRT_DT",
    "SQRT_ONE_MINUS_RHO",
    "SQRT_RHO",
    "WRONG_WAY",
    "WRONG_WAY_COMPLEMENT",
    "_NEVER",
    "_P_HIGH",
    "_P_LOW",
    "_SQRT2",
    "_Z_CENTRAL_MIN",
    "advance_item",
    "central_into",
    "chunk_events",
    "default_steps_from_tails",
    "event_lists",
    "events_flags",
    "exp_into",
    "exp_parts",
    "exp_scalar",
    "fast_normals4",
    "gbm_min_ratio",
    "has_events",
    "has_status_events",
    "inverse_normal",
    "inverse_normal_into",
    "item_events",
    "lane_normal",
    "list_outside",
    "log_core",
    "log_keep",
    "log_positive",
    "poisson_counts",
    "poisson_inverse",
    "poisson_inverse_p0",
    "pool_after_tenor",
    "revocation_step",
    "running_min_ratio",
    "segment_steps",
    "step_normals",
    "stress_paths",
    "tail_magnitudes_into",
    "tail_rational",
    "warmup",
]
