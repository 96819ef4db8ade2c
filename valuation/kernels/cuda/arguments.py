"""The GPU kernels' arguments: four named groups of device arrays, one order for every kernel.

The stress kernel and the book kernel (:mod:`valuation.kernels.cuda.paths`) and the device
function they share take the same groups, each a :class:`~typing.NamedTuple` whose fields are
read by name on the device:

* :class:`~valuation.kernels.layout.StressArrays`: the model, as the CPU kernel takes it;
* :class:`DeviceConstants`: what the host computes for the device from the model;
* :class:`Scratch`: the per-thread working arrays, laid out path-minor;
* :class:`~valuation.kernels.layout.PathOutputs`: the outputs, as the CPU kernel fills them.

numba-cuda passes a tuple argument of a kernel as its fields, in order, each array as its
data pointer, shape and strides: a kernel taking these groups has the parameters, in the same
order, of one that took their fields one by one, and the same code. The field order of each
group is therefore the order of the kernels' parameters, defined here and in
:mod:`valuation.kernels.layout` only. Named tuples of device arrays as kernel arguments, their
fields read by name and new ones built from slices on the device, work on numba-cuda 0.30.4
both compiled to PTX and under the CUDA simulator (where the arrays stay the simulator's
device arrays).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class DeviceConstants(NamedTuple):
    """The constants the host computes for the device (:mod:`valuation.kernels.cuda.prep`).

    Attributes
    ----------
    aux
        ``(n_items, N_AUX)`` float64 per-item constants of the event schedule.
    thresholds
        ``(n_items, max(horizon, 1))`` int64: each item's revocation table.
    inv_profile
        ``(n_steps + 1,)`` float64: ``1 / profile``.
    pool0
        The pooled value at origination (a float; one per loan in a book).
    """

    aux: Any
    thresholds: Any
    inv_profile: Any
    pool0: Any


class Scratch(NamedTuple):
    """Per-thread working arrays, ``(rows, threads)``: thread ``t`` owns column ``t``.

    Attributes
    ----------
    events
        ``(max(n_steps, n_liquidation_steps) + 1, threads)``: an item's jump per step.
    pool
        ``(n_steps + 1, threads)``: the pooled value per step.
    factor
        ``(n_steps + 1, threads)`` (``(1, threads)`` when no wrong-way factor is drawn): the
        borrower's factor per step.
    final_log_v
        ``(max(n_items, 1), threads)``: each item's log-value at the tenor.
    """

    events: Any
    pool: Any
    factor: Any
    final_log_v: Any


def allocate_scratch(
    event_rows: int, n_steps: int, factor_rows: int, n_items: int, threads: int
) -> Scratch:
    """Return uninitialised device :class:`Scratch` for ``threads`` threads.

    Each thread clears its own cells, so one allocation serves any number of launches.
    """
    from numba import cuda

    return Scratch(
        events=cuda.device_array((event_rows, threads)),
        pool=cuda.device_array((n_steps + 1, threads)),
        factor=cuda.device_array((factor_rows, threads)),
        final_log_v=cuda.device_array((max(n_items, 1), threads)),
    )


__all__ = ["DeviceConstants", "Scratch", "allocate_scratch"]
