"""Monte Carlo loan-to-value stress kernels (SPEC §6): pure functions over arrays.

The model's per-step constants come from :func:`valuation.risk.model.build_model` and reach
:func:`stress_paths` as one :class:`~valuation.kernels.layout.StressArrays`; the column and
scalar indices are the constants of :mod:`valuation.kernels.layout`. Outputs go into
caller-allocated per-path arrays (:class:`~valuation.kernels.layout.PathOutputs`), so memory
is O(paths) (plus the optional pooled value per step that feeds the fan-chart quantiles).

The modules, each a concept
---------------------------
========================  ==============================================================
:mod:`.exp_log`           the exponential and logarithm, written out (same bits anywhere)
:mod:`.normals`           the inverse normal CDF of Philox uniforms, per path and per block
:mod:`.poisson`           Poisson counts by inversion (the jump schedules)
:mod:`.events`            an item's jumps and certificate events on one path: the rules
:mod:`.block_events`      the same events for a block of paths at once
:mod:`.diffusion`         an item's log-value through the steps; the running minimum
:mod:`.default`           default of the borrower, the sale of the collateral, the loss
:mod:`.paths`             the path loop, :func:`stress_paths`
:mod:`.gbm`               the bare GBM yardstick of the benchmark, :func:`gbm_min_ratio`
:mod:`.warmup`            :func:`warmup`: compile everything on tiny inputs (``dpv warmup``)
========================  ==============================================================

Every name the tests and the rest of dpv use is importable from this package. The per-path
functions (:func:`exp_scalar`, :func:`log_positive`, :func:`inverse_normal`,
:func:`lane_normal`, :func:`poisson_inverse`, :func:`revocation_step`, :func:`status_events`,
:func:`item_events`, …) take scalars and a caller's arrays and allocate nothing.

What must agree bit for bit
---------------------------
Speed needs a vectorised form of some rules beside their plain per-path form (LLVM does not
vectorise a loop with a branch or an opaque call in it). Each pair below computes the same IEEE
operations in the same order, so the same bits: edit both together; the test named (in
``tests/test_valuation/``) fails otherwise. Rules with a single form are not listed. Each row:
the rule, per path ⇔ its vectorised twin — the test that enforces it.

* exponential: :func:`exp_scalar` ⇔ :func:`exp_into` and the loops of :func:`advance_item`,
  all through :func:`exp_parts` —
  ``test_stress_kernels.py::test_terminal_values_equal_a_path_by_path_simulation``
* logarithm of the normal's tails: :func:`log_positive` (``frexp``) ⇔
  :func:`tail_magnitudes_into` (the exponent from the bits) —
  ``test_stress_kernels.py::test_vectorised_tail_pass_has_the_scalar_bits``
* inverse normal: :func:`inverse_normal`, :func:`fast_normals4`, :func:`lane_normal` ⇔
  :func:`step_normals`, :func:`inverse_normal_into` (the central rational is one function,
  :func:`central_rational`) —
  ``test_stress_kernels.py::test_block_normals_are_the_scalar_normals`` and
  ``test_lane_normal_is_one_of_the_four_normals``
* events: :func:`item_events` and :func:`events_flags` (both :func:`status_events`, the
  certificate rules written once; jump counts by :func:`poisson_inverse`) ⇔
  :func:`chunk_events` (counts by :func:`poisson_counts`) —
  ``test_stress_kernels.py::test_chunk_events_are_the_per_path_events``
* default: testing every step (in :func:`default_steps`) ⇔ :func:`default_steps_from_tails`
  (the tail draws only) —
  ``test_stress_kernels.py::test_default_steps_from_tails_equal_testing_every_step``
* Philox: ``rng.philox4x32``, ``rng.uniforms4`` ⇔ ``rng.uniforms_block``,
  ``rng.uniforms_lanes`` (the rounds written out: through a call LLVM does not vectorise the
  loop) — ``test_rng.py::test_known_answer_vectors`` and
  ``test_vectorised_uniforms_are_the_scalar_uniforms``
* one item's update per step ⇔ the four loops of :func:`advance_item` (with or without the
  sector term and the pool factor, so that no loop branches) —
  ``test_stress_layers.py::test_each_loop_of_advance_item_is_the_one_update``
* the model, path by path (in the test: the per-path forms above) ⇔ :func:`stress_paths`'s
  terminal values; :func:`pool_after_tenor` runs the per-path forms on past the tenor —
  ``test_stress_kernels.py::test_terminal_values_equal_a_path_by_path_simulation``
* the model without events or default: :func:`stress_paths` ⇔ :func:`gbm_min_ratio` (the
  benchmark's yardstick) —
  ``test_stress_kernels.py::test_gbm_yardstick_is_the_model_without_events_or_default``
* any split of the paths, 1 or 2 threads, plain x86-64 (SSE2) ⇔ one run on the host —
  ``test_stress_twin.py::test_path_splits_are_bit_identical``,
  ``test_bit_identical_on_one_and_two_threads`` and
  ``test_bit_identical_on_another_instruction_set``
* the whole kernel and its primitives on the CPU ⇔ the GPU kernels of
  :mod:`valuation.kernels.cuda` (device copies of :func:`exp_scalar`, :func:`log_positive`,
  :func:`inverse_normal`, :func:`lane_normal`, the Poisson draws and the Philox rounds,
  operation for operation: a CUDA kernel cannot call a CPU dispatcher) —
  ``test_stress_cuda.py::test_device_primitives_equal_the_cpu_ones`` and
  ``test_simulated_gpu_kernel_is_bit_identical`` (under the CUDA simulator), and
  ``test_real_gpu_is_bit_identical`` where a GPU is found

The NumPy twin (:mod:`valuation.risk.numpy_twin`) has another generator: it agrees in
distribution only (``test_stress_twin.py::test_kernel_and_numpy_twin_agree_in_distribution``).

How the kernel is laid out
--------------------------
Paths are simulated in blocks of :data:`CHUNK`. For each block the kernel draws, for every
entity, the normals of all steps in one branch-free loop across the block's paths (Philox and
the central branch of the inverse normal vectorise; the 5 % of draws in the tails are fixed up
after), then moves each item through all steps with plain array arithmetic and one vectorised
exponential. Rare events (jumps, revocation, expiry) are not Bernoulli draws per step: each
item's events of a path are a short schedule drawn once (a revocation time by inversion, a
Poisson number of jumps placed uniformly), and their log-value changes are added on the steps
where they fall. Blocks are independent, so a caller may run disjoint path ranges on several
threads (the kernels release the GIL).

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

# The private constants imported here (_NEVER, _SQRT2, _P_LOW, _P_HIGH, _Z_CENTRAL_MIN) are
# for the tests, which check the kernels against them.
from valuation.kernels import layout
from valuation.kernels.layout import *  # noqa: F403 - the layout's names are the kernels' too
from valuation.kernels.stress.block_events import block_item_events, chunk_events, event_lists
from valuation.kernels.stress.default import (
    default_steps,
    default_steps_from_tails,
    pool_after_tenor,
    settle_defaults,
)
from valuation.kernels.stress.diffusion import advance_item, running_min_ratio

# Private constants the tests check the kernels against.
from valuation.kernels.stress.events import (
    _NEVER,  # noqa: F401
    EVENT_BLOCK,
    JUMP_BLOCK,
    events_flags,
    has_events,
    has_status_events,
    item_events,
    log_keep,
    revocation_step,
    status_events,
)
from valuation.kernels.stress.exp_log import (
    _SQRT2,  # noqa: F401
    exp_into,
    exp_parts,
    exp_scalar,
    log_core,
    log_positive,
)
from valuation.kernels.stress.gbm import gbm_min_ratio
from valuation.kernels.stress.normals import (  # noqa: F401
    _P_HIGH,
    _P_LOW,
    _Z_CENTRAL_MIN,
    central_into,
    central_rational,
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
    *layout.__all__,
    "EVENT_BLOCK",
    "JUMP_BLOCK",
    "SEGMENT_MEAN",
    "SEGMENT_SHIFT",
    "advance_item",
    "block_item_events",
    "central_into",
    "central_rational",
    "chunk_events",
    "default_steps",
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
    "settle_defaults",
    "status_events",
    "step_normals",
    "stress_paths",
    "tail_magnitudes_into",
    "tail_rational",
    "warmup",
]
