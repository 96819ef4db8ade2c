"""``dpv warmup``: compile and cache every numba kernel (a deploy or CI step)."""

from __future__ import annotations

import time

import typer

from valuation.cli import app


@app.command("warmup")
def warmup_command() -> None:
    """Compile every numba kernel into the versioned on-disk cache and report the time.

    Run it once per install (a deploy or CI step): afterwards a process loads the compiled
    kernels instead of compiling them, which takes tens of seconds.
    """
    from valuation.kernels import _jit
    from valuation.kernels.registry import warmup_all

    start = time.perf_counter()
    names = warmup_all()
    elapsed = time.perf_counter() - start
    typer.echo(
        f"compiled {len(names)} kernel groups in {elapsed:.2f} s into {_jit.cache_dir()}", err=True
    )
    for name in names:
        typer.echo(f"  {name}", err=True)
