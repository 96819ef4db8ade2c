"""Which kernel modules ``dpv warmup`` compiles.

Each module listed here defines ``warmup() -> None``, which calls its kernels once on tiny
inputs of every signature used in production, so that numba compiles and caches them: a new
production signature must be called there.
"""

from __future__ import annotations

import importlib

WARMUP_MODULES: tuple[str, ...] = (
    "valuation.kernels.valuation",
    "valuation.kernels.range",
    "valuation.kernels.stress",
    "valuation.kernels.trees",
)


def warmup_all() -> list[str]:
    """Compile (or load from cache) every kernel group; return the module names."""
    done = []
    for name in WARMUP_MODULES:
        importlib.import_module(name).warmup()
        done.append(name)
    return done
