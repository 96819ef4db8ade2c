"""``dpv revalue``: revalue a book of products into a Parquet dataset, resumably."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from valuation.cli import app
from valuation.methods.profiles import DEFAULT_PROFILE, PROFILES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.progress import TaskID

    from valuation.revalue.run import ChunkDone

DEFAULT_CHUNK_SIZE = 10_000  # valuation.revalue.run's (not imported: the engine loads lazily)


def _log_line(done: ChunkDone) -> None:
    state = "already done" if done.resumed else f"{done.rows:,} valued"
    typer.echo(
        f"dpv revalue: chunk {done.index + 1}/{done.chunks} (lines {done.first_line:,}–"
        f"{done.last_line:,}): {state}, {done.quarantined:,} quarantined",
        err=True,
    )


class _Bar:
    """A rich progress bar on stderr, advanced by chunk."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task: TaskID | None = None

    def __call__(self, done: ChunkDone) -> None:
        if self.task is None:
            self.task = self.progress.add_task("dpv revalue: chunks", total=done.chunks)
        self.progress.update(self.task, completed=done.index + 1)


@contextmanager
def _progress() -> Iterator[Callable[[ChunkDone], None]]:
    """Report progress by a rich bar on a terminal, otherwise by a log line per chunk."""
    if not sys.stderr.isatty():
        yield _log_line
        return
    bar = _Bar()
    with bar.progress:
        yield bar


@app.command("revalue")
def revalue_command(
    portfolio: Annotated[
        str,
        typer.Argument(
            help="Products as JSON Lines (one Product per line, as `dpv synth` writes "
            "products.jsonl) or a folder written by `dpv synth`. Parquet and CSV product "
            "tables come later."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Output folder (new or empty): part-NNNNN.parquet, quarantine.jsonl, "
            "summary.json.",
        ),
    ],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Valuation date YYYY-MM-DD (default: today).")
    ] = None,
    calibration: Annotated[
        str | None,
        typer.Option(
            "--calibration", help="CalibrationSet folder (default: the bundled default set)."
        ),
    ] = None,
    chunk_size: Annotated[
        int,
        typer.Option(
            "--chunk-size", help="Lines valued at a time (memory bound; the output is the same)."
        ),
    ] = DEFAULT_CHUNK_SIZE,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the range sampling (default: the calibration's).")
    ] = None,
    profile: Annotated[
        str, typer.Option(help=f"Valuation standard: {', '.join(PROFILES)}.")
    ] = DEFAULT_PROFILE,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Finish an interrupted run in OUT (same input and options)."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty output folder.")
    ] = False,
) -> None:
    """Revalue a book of data products in chunks, resumably, into a Parquet dataset.

    Each product gets its income, cost, market and concluded values, P10/P50/P90, weights,
    warnings and audit columns. Invalid lines go to quarantine.jsonl (exit code 3); bad
    arguments exit 2 before anything is written. Loans, stress, --engine dask and --due come
    later.
    """
    from valuation.revalue.run import revalue

    with _progress() as callback:
        result = revalue(
            portfolio,
            out,
            as_of=as_of,
            calibration=calibration,
            chunk_size=chunk_size,
            seed=seed,
            profile=profile,
            resume=resume,
            force=force,
            on_chunk=callback,
        )
    rows = result.summary["rows"]
    typer.echo(
        f"dpv revalue: {rows['read']:,} read, {rows['valued']:,} valued, "
        f"{rows['unvalued']:,} without a value, {rows['quarantined']:,} quarantined "
        f"(as of {result.summary['valuation_date']}) -> {result.out} "
        f"in {result.summary['seconds']:.1f} s",
        err=True,
    )
    if result.exit_code:
        raise typer.Exit(code=result.exit_code)
