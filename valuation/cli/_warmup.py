"""``dpv warmup``: compile and cache every numba kernel (a deploy or CI step)."""

from __future__ import annotations

import time

import typer

from valuation.cli import app


@app.command("warmup")
def warmup_command() -> None:
    """Compile every numba kernel into the versioned on-disk cache and report the time.

    Then build the ahead-of-time stress kernel (:mod:`valuation.kernels.aot`) into the same
    directory, so that ``valuation.stress`` runs without importing numba. A failed
    ahead-of-time build (no C compiler, say) is reported and leaves the JIT kernel in use.
    """
    from valuation.kernels import _jit, aot
    from valuation.kernels.registry import warmup_all

    start = time.perf_counter()
    names = warmup_all()
    elapsed = time.perf_counter() - start
    typer.echo(
        f"compiled {len(names)} kernel groups in {elapsed:.2f} s into {_jit.cache_dir()}", err=True
    )
    for name in names:
        typer.echo(f"  {name}", err=True)
    if aot.aot_disabled():
        typer.echo("ahead-of-time stress kernel: switched off by the environment", err=True)
        return
    try:
        report = aot.build()
    except Exception as exc:
        typer.echo(
            f"ahead-of-time stress kernel not built ({type(exc).__name__}: {exc}); "
            "valuation.stress uses the JIT kernel",
            err=True,
        )
        return
    if report.built:
        typer.echo(
            f"built the ahead-of-time stress kernel in {report.seconds:.2f} s "
            f"(after {report.warmup_seconds:.2f} s of JIT warm-up): {report.path}",
            err=True,
        )
    else:
        typer.echo(f"ahead-of-time stress kernel up to date: {report.path}", err=True)
