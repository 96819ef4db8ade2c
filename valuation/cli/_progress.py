"""What the command line says while it works: the first compile and long range sampling."""

from __future__ import annotations

import os

import typer

# Range samples beyond which `dpv value` says it is sampling (a couple of seconds or more).
LONG_RANGE_SAMPLES = 200_000

MSG_COMPILING = (
    "dpv: compiling kernels, once per install (10-25 s; `dpv warmup` does it ahead of time)"
)


def kernels_compiled() -> bool:
    """Whether the numba cache of this engine holds compiled kernels (read, never created)."""
    from valuation.kernels import _jit

    if _jit.DISABLE_JIT or os.environ.get("NUMBA_DISABLE_JIT", "") not in ("", "0"):
        return True  # plain Python: nothing to compile
    folder = _jit.cache_dir()
    return folder.is_dir() and any(folder.rglob("*.nbi"))


def announce_first_compile() -> None:
    """Say on stderr that the kernels are being compiled, when the cache is empty."""
    if not kernels_compiled():
        typer.echo(MSG_COMPILING, err=True)


def announce_long_sampling(samples: int | None) -> None:
    """Say on stderr that a large range sample is being drawn."""
    if samples is not None and samples >= LONG_RANGE_SAMPLES:
        typer.echo(f"dpv value: sampling the range with {samples:,} draws…", err=True)


__all__ = [
    "LONG_RANGE_SAMPLES",
    "MSG_COMPILING",
    "announce_first_compile",
    "announce_long_sampling",
    "kernels_compiled",
]
