"""A whole book of loans through the GPU stress kernel: many loans in one launch.

:func:`stress_book_cuda` runs the same number of paths of every loan of a book (each loan its
own model: items, sectors, seed, borrower, profile) on one kernel launch per group of loans,
one thread per (loan, path), and returns each loan's per-path statistics. A loan's rows are, bit
for bit, what :func:`~valuation.kernels.cuda.paths.stress_paths_cuda` (and the CPU kernel) give
for that loan alone: the threads run the same device function, keyed by the same streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import cuda
from numpy.typing import NDArray

from valuation.kernels.cuda.arguments import (
    DeviceConstants,
    Scratch,
    allocate_scratch,
)
from valuation.kernels.cuda.paths import (
    MAX_PATHS_PER_LAUNCH,
    _book_kernel,
    blocks_for,
    threads_per_block,
)
from valuation.kernels.cuda.prep import device_constants
from valuation.kernels.layout import PathOutputs, StressArrays


@dataclass(frozen=True)
class BookStats:
    """Per-path statistics of every loan of a book, ``(loans, paths)`` (flags: ``· items``).

    Attributes
    ----------
    min_ratio, default_step, ead, loss
        As :class:`valuation.risk.api.PathStats`, one row per loan.
    flags
        ``(loans, paths, most items)`` event bits; a loan's columns past its items are 0.
    """

    min_ratio: NDArray[np.float64]
    default_step: NDArray[np.int64]
    ead: NDArray[np.float64]
    loss: NDArray[np.float64]
    flags: NDArray[np.uint8]


def stress_book_cuda(
    loans: Sequence[StressArrays], paths: int, *, path_start: int = 0
) -> BookStats:
    """Run paths ``path_start .. path_start + paths − 1`` of every loan on the GPU.

    Parameters
    ----------
    loans
        Each loan's :class:`~valuation.kernels.layout.StressArrays` (``StressModel.arrays``,
        or any tuple of its fields in order). Every loan must have the same number of steps
        (its profile's length).
    paths, path_start
        The paths of each loan (global path numbers, as in :func:`stress_paths_cuda`).

    Returns
    -------
    BookStats
        Every loan's per-path statistics (not the pooled value per step or the items' values
        at the tenor, which a book's summary does not need).
    """
    n_loans = len(loans)
    if n_loans == 0 or paths <= 0:
        raise ValueError("a book needs at least one loan and one path")
    steps = {np.asarray(m[5]).shape[0] for m in loans}
    if len(steps) != 1:
        raise ValueError(f"every loan of a book must have the same number of steps, got {steps}")
    n_steps = steps.pop() - 1
    most_items = max(np.asarray(m[0]).shape[0] for m in loans)
    out = BookStats(
        min_ratio=np.empty((n_loans, paths)),
        default_step=np.empty((n_loans, paths), dtype=np.int64),
        ead=np.empty((n_loans, paths)),
        loss=np.empty((n_loans, paths)),
        flags=np.empty((n_loans, paths, most_items), dtype=np.uint8),
    )
    per_launch = max(1, MAX_PATHS_PER_LAUNCH // paths)
    rows = max(n_steps, max(int(m[7]) for m in loans)) + 1
    threads = min(per_launch, n_loans) * paths
    # Scratch for the largest launch, used by every launch (each thread clears its cells).
    scratch = allocate_scratch(rows, n_steps, n_steps + 1, most_items, threads)
    for first in range(0, n_loans, per_launch):
        group = loans[first : first + per_launch]
        _launch(group, n_steps, most_items, paths, path_start, scratch, out, first)
    return out


def _launch(
    group: Sequence[StressArrays],
    n_steps: int,
    most_items: int,
    paths: int,
    path_start: int,
    scratch: Scratch,
    out: BookStats,
    first: int,
) -> None:
    """Run one group of loans in one launch; write their rows of ``out`` from ``first``."""
    n_group = len(group)
    horizons = [n_steps + int(m[7]) for m in group]
    width = max(max(horizons), 1)
    aux_rows, threshold_rows, pool0 = [], [], np.empty(n_group)
    for g, m in enumerate(group):
        aux, thresholds, pool0[g], _ = device_constants(np.asarray(m[0]), horizons[g])
        aux_rows.append(aux)
        padded = np.full((thresholds.shape[0], width), 1 << 32, dtype=np.int64)
        padded[:, : thresholds.shape[1]] = thresholds
        threshold_rows.append(padded)
    item_counts = [np.asarray(m[0]).shape[0] for m in group]
    sector_counts = [np.asarray(m[3]).shape[0] for m in group]
    profile = np.stack([np.asarray(m[5], dtype=np.float64) for m in group])
    loans = StressArrays(
        items=_on_device(np.concatenate([np.asarray(m[0], dtype=np.float64) for m in group])),
        sector_index=_on_device(np.concatenate([np.asarray(m[1], dtype=np.int64) for m in group])),
        item_keys=_on_device(np.concatenate([np.asarray(m[2], dtype=np.uint64) for m in group])),
        sector_keys=_on_device(np.concatenate([np.asarray(m[3], dtype=np.uint64) for m in group])),
        stream_keys=_on_device(np.stack([np.asarray(m[4], dtype=np.uint64) for m in group])),
        profile=_on_device(profile),
        scalars=_on_device(np.stack([np.asarray(m[6], dtype=np.float64) for m in group])),
        n_liquidation_steps=_on_device(np.array([int(m[7]) for m in group], dtype=np.int64)),
    )
    constants = DeviceConstants(
        aux=_on_device(np.concatenate(aux_rows)),
        thresholds=_on_device(np.concatenate(threshold_rows)),
        inv_profile=_on_device(1.0 / profile),
        pool0=_on_device(pool0),
    )
    item_offsets = _on_device(np.concatenate([[0], np.cumsum(item_counts)]).astype(np.int64))
    sector_offsets = _on_device(np.concatenate([[0], np.cumsum(sector_counts)]).astype(np.int64))
    n_threads = n_group * paths
    outputs: Any = PathOutputs(  # of device arrays
        min_ratio=cuda.device_array((n_group, paths)),
        default_step=cuda.device_array((n_group, paths), dtype=np.int64),
        ead=cuda.device_array((n_group, paths)),
        loss=cuda.device_array((n_group, paths)),
        flags=cuda.device_array((n_group, paths, most_items), dtype=np.uint8),
        terminal=cuda.device_array((n_group, paths, 0)),
        pool=cuda.device_array((n_group, 0, paths), dtype=np.float32),
    )
    _book_kernel[blocks_for(n_threads), threads_per_block()](
        loans, item_offsets, sector_offsets, constants, path_start, paths, scratch, outputs
    )
    last = first + n_group
    out.min_ratio[first:last] = outputs.min_ratio.copy_to_host()
    out.default_step[first:last] = outputs.default_step.copy_to_host()
    out.ead[first:last] = outputs.ead.copy_to_host()
    out.loss[first:last] = outputs.loss.copy_to_host()
    out.flags[first:last] = outputs.flags.copy_to_host()


def _on_device(a: NDArray[Any]) -> Any:
    """Copy ``a`` to the device, C-contiguous."""
    return cuda.to_device(np.ascontiguousarray(a))


__all__ = ["BookStats", "stress_book_cuda"]
