"""Stream keys of the counter-based generator: plain Python, no numba.

:mod:`valuation.kernels.rng` re-exports both; they live here so that building a model
(:mod:`valuation.risk.model`) does not import numba.
"""

from __future__ import annotations

import hashlib

import numpy as np


def entity_key(identifier: str) -> int:
    """Return the 64-bit stream key of an entity (a product or collateral id).

    A stable hash (BLAKE2b, 8 bytes) of the UTF-8 id, so the same id draws the same stream
    in any process, on any machine, whatever its position in a batch.

    Examples
    --------
    >>> entity_key("SH-DP-2025-000123") == entity_key("SH-DP-2025-000123")
    True
    """
    return int.from_bytes(
        hashlib.blake2b(identifier.encode("utf-8"), digest_size=8).digest(), "little"
    )


def seed_key(seed: int) -> np.uint64:
    """Validate a user seed and return it as the 64-bit Philox key."""
    if not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed}")
    return np.uint64(int(seed))


__all__ = ["entity_key", "seed_key"]
