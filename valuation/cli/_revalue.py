"""``dpv revalue``: revalue a book of products into a Parquet dataset, resumably."""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from valuation.cli import app
from valuation.cli._device import DeviceChoice, DeviceOption
from valuation.methods.profiles import DEFAULT_PROFILE, PROFILES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.progress import TaskID

    from valuation.revalue.run import ChunkDone

DEFAULT_CHUNK_SIZE = 10_000  # valuation.revalue.run's (not imported: the engine loads lazily)
DEFAULT_PATHS = 1000  # valuation.revalue.run's DEFAULT_PATHS


def _read_policy(path: str) -> object:
    """Return the JSON document of ``--policy`` (a DpvInputError names the file)."""
    import json

    from valuation.exceptions import MSG_FILE_NOT_FOUND, MSG_MALFORMED_JSON, DpvInputError

    file = Path(path)
    if not file.is_file():
        raise DpvInputError(MSG_FILE_NOT_FOUND, source=path, field="--policy")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise DpvInputError(MSG_MALFORMED_JSON.format(detail=exc), source=path) from None


class _LogLines:
    """A log line on stderr per finished chunk, with products per second and the time left."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.rows = 0

    def __call__(self, done: ChunkDone) -> None:
        state = "already done" if done.resumed else f"{done.rows:,} valued"
        elapsed = time.perf_counter() - self.start
        if not done.resumed:
            self.rows += done.rows + done.quarantined
        rate = self.rows / elapsed if elapsed > 0 else 0.0
        left = done.chunks - done.finished
        eta = f", about {_duration(elapsed / done.finished * left)} left" if left else ""
        typer.echo(
            f"dpv revalue: chunk {done.index + 1}/{done.chunks} (lines {done.first_line:,}–"
            f"{done.last_line:,}): {state}, {done.quarantined:,} quarantined; "
            f"{done.finished}/{done.chunks} done, {rate:,.0f} products/s{eta}",
            err=True,
        )


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class _Bar:
    """A rich progress bar on stderr, advanced by rows: products per second and time left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            "{task.fields[rate]}",
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task: TaskID | None = None
        self.start = time.perf_counter()
        self.rows = 0

    def __call__(self, done: ChunkDone) -> None:
        if self.task is None:
            self.task = self.progress.add_task("dpv revalue: chunks", total=done.chunks, rate="")
        if not done.resumed:
            self.rows += done.rows + done.quarantined
        elapsed = time.perf_counter() - self.start
        rate = f"{self.rows / elapsed:,.0f} products/s" if elapsed > 0 else ""
        self.progress.update(self.task, completed=done.finished, rate=rate)


@contextmanager
def _progress() -> Iterator[Callable[[ChunkDone], None]]:
    """Report progress by a rich bar on a terminal, otherwise by a log line per chunk."""
    if not sys.stderr.isatty():
        yield _LogLines()
        return
    bar = _Bar()
    with bar.progress:
        yield bar


def _print_due(run: str, as_of: str | None, policy_file: str | None) -> None:
    """Print the products of a finished run due on ``as_of`` as CSV, most urgent first."""
    import csv
    import datetime as dt

    from valuation.exceptions import DpvInputError
    from valuation.revalue.due import due_in_run, load_due_policy
    from valuation.revalue.report import MSG_PREVIOUS

    folder = Path(run)
    if not (folder / "summary.json").is_file():
        raise DpvInputError(MSG_PREVIOUS, source=run)
    policy = load_due_policy(policy_file)
    try:
        day = dt.date.fromisoformat(as_of) if as_of is not None else dt.date.today()
    except ValueError:
        raise DpvInputError(f"not an ISO date (YYYY-MM-DD): {as_of!r}", field="--as-of") from None
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    valued_on = dt.date.fromisoformat(summary["valuation_date"])
    rows = due_in_run(folder, valued_on, day, policy)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["product_id", "loan_id", "ltv", "grade", "interval_months", "due_on",
                     "reasons"])  # fmt: skip
    for r in rows:
        writer.writerow([r["product_id"], r["loan_id"] or "", "" if r["ltv"] is None else
                         f"{r['ltv']:.4f}", r["grade"] or "", r["interval_months"], r["due_on"],
                         "; ".join(r["reasons"])])  # fmt: skip
    typer.echo(
        f"dpv revalue --due: {len(rows):,} products due on {day} (run of {valued_on})", err=True
    )


@app.command("revalue")
def revalue_command(
    portfolio: Annotated[
        str,
        typer.Argument(
            help="Products: JSON Lines (one Product per line, as `dpv synth` writes "
            "products.jsonl), a Parquet or CSV table (one product per row: Product fields as "
            "columns, nested ones as structs or JSON text), or a folder written by `dpv synth`. "
            "With --due: a finished run's OUT."
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Output folder (new or empty): part-NNNNN.parquet, quarantine.jsonl, "
            "summary.json, report.html. Required unless --due.",
        ),
    ] = None,
    loans: Annotated[
        str | None,
        typer.Option(
            "--loans",
            help="Loan table (CSV, Parquet or JSON Lines; product_id, amount, tenor_months, "
            "optional loan_id, start, annual_rate, amortization, annual_pd, wrong_way, "
            "currency): pledged products get LTV, breach and default probability, expected "
            "loss, max loan and grade.",
        ),
    ] = None,
    paths: Annotated[
        int, typer.Option("--paths", help="Monte Carlo paths per loan (monthly steps).")
    ] = DEFAULT_PATHS,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            help="Lending policy JSON (the pledge request's policy block; default: its "
            "defaults): margin call, target breach probability, max LTV, grade bounds.",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option("--engine", help="local (this process) or dask; same output either way."),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Address of a running Dask scheduler (--engine dask)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Start a local Dask cluster of N worker processes (--engine dask; default 2).",
        ),
    ] = None,
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
            "--chunk-size", help="Rows valued at a time (memory bound; the output is the same)."
        ),
    ] = DEFAULT_CHUNK_SIZE,
    seed: Annotated[
        int | None,
        typer.Option(
            help="Seed of the range sampling and of the loans' stress paths (default: the "
            "calibration's)."
        ),
    ] = None,
    profile: Annotated[
        str, typer.Option(help=f"Valuation standard: {', '.join(PROFILES)}.")
    ] = DEFAULT_PROFILE,
    previous: Annotated[
        str | None,
        typer.Option(
            "--previous",
            help="An earlier finished run (its OUT): report.html shows the changes since.",
        ),
    ] = None,
    due: Annotated[
        bool,
        typer.Option(
            "--due",
            help="List the products of the finished run PORTFOLIO that are due for "
            "revaluation on --as-of (default today) under the policy, as CSV on stdout.",
        ),
    ] = False,
    due_policy: Annotated[
        str | None,
        typer.Option(
            "--due-policy",
            help="Revaluation policy JSON (keys of valuation.revalue.due.DUE_POLICY; the rest "
            "keep their defaults).",
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Finish an interrupted run in OUT (same input and options)."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a non-empty output folder.")
    ] = False,
    device: DeviceOption = DeviceChoice.cpu,
) -> None:
    """Revalue a book of data products in chunks, resumably, into a Parquet dataset.

    Each product gets its income, cost, market and concluded values, P10/P50/P90, weights,
    warnings and audit columns; with --loans, each pledged product also gets its LTV and the
    Monte Carlo stress of its loan. Invalid rows go to quarantine.jsonl (exit code 3); bad
    arguments exit 2 before anything is written. The output does not depend on the chunk
    size, the thread count, the engine or an interruption and --resume.
    """
    from valuation.exceptions import DpvInputError
    from valuation.revalue.run import revalue

    if due:
        _print_due(portfolio, as_of, due_policy)
        return
    if out is None:
        raise DpvInputError("required (or --due to list the products due)", field="--out")
    policy_doc = _read_policy(policy) if policy is not None else None

    with _progress() as callback:
        result = revalue(
            portfolio,
            out,
            as_of=as_of,
            calibration=calibration,
            chunk_size=chunk_size,
            seed=seed,
            profile=profile,
            loans=loans,
            paths=paths,
            policy=policy_doc,
            engine=engine,
            scheduler=scheduler,
            workers=workers,
            previous=previous,
            due_policy=due_policy,
            resume=resume,
            force=force,
            on_chunk=callback,
            simulate_options={"device": device.value},  # resolved by revalue, before any work
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
