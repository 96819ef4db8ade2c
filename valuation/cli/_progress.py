"""What the command line says while it works: the first compile and long range sampling."""

from __future__ import annotations

import os

import typer

# Range samples beyond which `dpv value` says it is sampling (a couple of seconds or more).
LONG_RANGE_SAMPLES = 200_000
# Path-steps beyond which `dpv stress` and `dpv pledge` say what they simulate: at the
# engine's measured 115-176 M path-steps/s on two cores, a couple of seconds.
LONG_PATH_STEPS = 300_000_000

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


def announce_long_simulation(command: str, path_steps: int) -> None:
    """Say on stderr how much a long stress simulates (paths x steps x items x runs)."""
    if path_steps >= LONG_PATH_STEPS:
        seconds = path_steps / 150e6
        typer.echo(
            f"dpv {command}: simulating {path_steps:.3g} path-steps (about {seconds:.0f} s on "
            "two cores)…",
            err=True,
        )


__all__ = [
    "LONG_PATH_STEPS",
    "LONG_RANGE_SAMPLES",
    "announce_long_simulation",
    "MSG_COMPILING",
    "announce_first_compile",
    "announce_long_sampling",
    "kernels_compiled",
]
