"""``dpv synth``: write a synthetic data-product market with known truth (``truth.json``)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from valuation.cli import app


@app.command("synth")
def synth_command(
    products: Annotated[int, typer.Option("--products", help="Number of products.")],
    out: Annotated[Path, typer.Option("--out", help="Folder to create (must be new or empty).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed; same seed, same bytes.")] = 0,
    fmt: Annotated[str, typer.Option("--format", help="Table format: parquet or csv.")] = "parquet",
    chunk_size: Annotated[
        int, typer.Option("--chunk-size", help="Products per written chunk (memory bound).")
    ] = 16384,  # calibration.synth's DEFAULT_CHUNK_SIZE (not imported: calibration is lazy)
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty output folder.")
    ] = False,
) -> None:
    """Generate a synthetic market (products, revenue, deals, events, listings, loans)."""
    # calibration depends on valuation, never the reverse: import it only when asked for.
    from calibration.synth import generate_market

    show = sys.stderr.isatty()

    def progress(done: int) -> None:
        if show:
            typer.echo(f"\rdpv synth: {done:,} / {products:,} products", err=True, nl=False)

    start = time.perf_counter()
    result = generate_market(
        products, seed, out, fmt, chunk_size=chunk_size, force=force, progress=progress
    )
    if show:
        typer.echo("", err=True)
    rows = ", ".join(f"{name} {count:,}" for name, count in result.rows.items())
    typer.echo(
        f"dpv synth: wrote {result.n_products:,} products (seed {result.seed}, {result.fmt}) "
        f"to {result.out_dir} in {time.perf_counter() - start:.1f} s: {rows}",
        err=True,
    )
