"""``dpv revalue``: check everything, value chunk by chunk on an engine, publish.

Every check that can fail on the user's input runs before anything is written: the portfolio
(a readable JSON Lines, Parquet or CSV table), the loans, the valuation date, the seed, the
chunk size, the paths, the engine options, the CalibrationSet (loaded and verified, its market
model built), the output folder (new or empty, or ``--force``, or ``--resume`` with a ledger
that matches the new run). Then each chunk is valued by
:func:`~valuation.revalue.chunk.value_chunk` on the engine (:mod:`valuation.revalue.engines`),
staged atomically and recorded in the ledger; when every chunk is done the dataset is published
(:mod:`valuation.revalue.publish`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuation._version import __version__
from valuation.exceptions import DpvInputError
from valuation.methods.profiles import DEFAULT_PROFILE, PROFILES
from valuation.revalue.chunk import ChunkContext, ChunkOutput
from valuation.revalue.due import load_due_policy
from valuation.revalue.engines import ClusterStart, check_engine, run_dask, run_local
from valuation.revalue.ledger import LEDGER, Ledger
from valuation.revalue.loans import LoanBook, read_loans
from valuation.revalue.publish import SUMMARY, commit, publish, stage_chunk
from valuation.revalue.report import MSG_PREVIOUS, write_report
from valuation.revalue.source import (
    LINE_COLUMN,
    Portfolio,
    chunk_count,
    iter_batches,
    open_portfolio,
)

DEFAULT_CHUNK_SIZE = 10_000
DEFAULT_PATHS = 1000
MAX_PATHS = 1_000_000
STAGING = ".staging"
EXIT_OK = 0
EXIT_QUARANTINED = 3

MSG_CHUNK_SIZE = "must be a positive whole number, got {value!r}"
MSG_PATHS = "must be a whole number from 100 to {top:,}, got {value!r}"
MSG_DATE = "not an ISO date (YYYY-MM-DD): {value!r}"
MSG_PROFILE = "unknown profile {value!r}; choose one of: {choices}"
MSG_OUT_NOT_DIR = "output path exists and is not a folder"
MSG_OUT_NO_PARENT = "the parent folder does not exist"
MSG_OUT_UNWRITABLE = "cannot write here (permission denied)"
MSG_OUT_NOT_EMPTY = (
    "output folder exists and is not empty (use --force to replace it, or --resume to finish "
    "an interrupted run)"
)
MSG_OUT_FINISHED = (
    "output folder holds a finished revaluation, nothing to resume (use --force to redo it)"
)
MSG_OUT_NO_LEDGER = (
    f"output folder has no {STAGING}/{LEDGER} to resume from (use --force to replace it)"
)


@dataclass(frozen=True)
class ChunkDone:
    """Progress: chunk ``index`` of ``chunks`` is done (``resumed``: by an earlier run).

    ``finished`` counts the chunks done so far, this one included (an engine may finish
    chunks out of order).
    """

    index: int
    chunks: int
    finished: int
    first_line: int
    last_line: int
    rows: int
    quarantined: int
    resumed: bool


@dataclass(frozen=True)
class RevalueSummary:
    """The outcome: the output folder, the summary written there and the exit code (0 or 3)."""

    out: Path
    summary: dict[str, Any]
    exit_code: int


def _check_out(out: Path, *, resume: bool, force: bool) -> str:
    """Return ``"fresh"``, ``"resume"`` or ``"replace"``, or refuse naming ``--out``."""
    where = str(out)
    if out.exists() and not out.is_dir():
        raise DpvInputError(MSG_OUT_NOT_DIR, source=where, field="--out")
    if not out.exists():
        parent = out.absolute().parent
        if not parent.is_dir():
            raise DpvInputError(MSG_OUT_NO_PARENT, source=where, field="--out")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise DpvInputError(MSG_OUT_UNWRITABLE, source=str(parent), field="--out")
        return "fresh"
    if not os.access(out, os.W_OK | os.X_OK):
        raise DpvInputError(MSG_OUT_UNWRITABLE, source=where, field="--out")
    if not any(out.iterdir()):
        return "fresh"
    if resume:
        if (out / STAGING / LEDGER).is_file():
            return "resume"
        if not force:
            finished = (out / SUMMARY).is_file()
            raise DpvInputError(
                MSG_OUT_FINISHED if finished else MSG_OUT_NO_LEDGER, source=where, field="--out"
            )
    if force:
        return "replace"
    raise DpvInputError(MSG_OUT_NOT_EMPTY, source=where, field="--out")


def _parse_date(as_of: dt.date | str | None) -> dt.date:
    if as_of is None:
        return dt.date.today()
    if isinstance(as_of, dt.date):
        return as_of
    try:
        return dt.date.fromisoformat(as_of)
    except ValueError:
        raise DpvInputError(MSG_DATE.format(value=as_of), field="--as-of") from None


def _stress_options(simulate_options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``simulate``'s options with the device resolved (``auto`` falls back to the CPU).

    Raises
    ------
    DpvInputError
        ``cuda`` was asked for and no GPU can run the kernel (exit code 2).
    """
    from valuation.kernels.cuda.select import DeviceUnavailableError, announce, resolve_device

    options = dict(simulate_options or {})
    try:
        device, fallback = resolve_device(options.get("device"))
    except DeviceUnavailableError as exc:
        raise DpvInputError(str(exc), field="--device") from None
    announce(fallback)
    options["device"] = device
    return options


def _resolve_seed(seed: int | None, overrides: dict[str, Any]) -> int:
    from valuation.defaults import parameters
    from valuation.kernels.rng import seed_key

    resolved = int(parameters(overrides)["reconciliation"]["seed"] if seed is None else seed)
    try:
        seed_key(resolved)
    except ValueError as exc:
        raise DpvInputError(str(exc), field="--seed") from None
    return resolved


def _new_ledger(portfolio: Portfolio, arguments: dict[str, Any]) -> Ledger:
    return Ledger(
        input={
            "file": portfolio.path.name,
            "sha256": portfolio.sha256,
            "bytes": portfolio.size_bytes,
            "lines": portfolio.lines,
        },
        arguments=arguments,
    )


def _clear(out: Path) -> None:
    for entry in out.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _check_previous(previous: str | Path | None) -> Path | None:
    if previous is None:
        return None
    path = Path(previous)
    if not (path / SUMMARY).is_file():
        raise DpvInputError(MSG_PREVIOUS, source=str(path), field="--previous")
    return path


def _read_inputs(
    portfolio: str | Path, loans: str | Path | None
) -> tuple[Portfolio, LoanBook | None]:
    """Open (hash, count) the portfolio while a second thread reads and checks the loans.

    Hashing releases the interpreter's lock, so the two overlap; a bad portfolio is reported
    before bad loans, as when they are read one after the other.
    """
    if loans is None:
        return open_portfolio(portfolio), None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dpv-loans") as pool:
        reading = pool.submit(read_loans, loans)
        try:
            source = open_portfolio(portfolio)
        except BaseException:
            reading.cancel()
            raise
        return source, reading.result()


def _check_options(chunk_size: int, profile: str, paths: int) -> None:
    """Refuse a chunk size, profile or number of paths out of range, naming the option."""
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise DpvInputError(MSG_CHUNK_SIZE.format(value=chunk_size), field="--chunk-size")
    if profile not in PROFILES:
        raise DpvInputError(
            MSG_PROFILE.format(value=profile, choices=", ".join(PROFILES)), field="--profile"
        )
    if isinstance(paths, bool) or not isinstance(paths, int) or not 100 <= paths <= MAX_PATHS:
        raise DpvInputError(MSG_PATHS.format(top=MAX_PATHS, value=paths), field="--paths")


@dataclass(frozen=True)
class _Plan:
    """A run checked in full before anything is written: its inputs, ledger and context."""

    source: Portfolio
    book: LoanBook | None
    out_dir: Path
    mode: str  # "fresh", "resume" or "replace" (:func:`_check_out`)
    ledger: Ledger  # chunks already done (resume) included
    context: ChunkContext

    @property
    def staging(self) -> Path:
        return self.out_dir / STAGING

    @property
    def device(self) -> str:
        """The stress engine's device, resolved (``cpu`` or ``cuda``)."""
        return str(self.context.simulate_options["device"])


def _plan(
    portfolio: str | Path,
    out: str | Path,
    *,
    loans: str | Path | None,
    calibration: str | Path | None,
    policy: Any | None,
    simulate_options: Mapping[str, Any] | None,
    valuation_date: dt.date,
    seed: int | None,
    profile: str,
    chunk_size: int,
    paths: int,
    resume: bool,
    force: bool,
) -> _Plan:
    """Read and check the inputs, the calibration and the output folder; write nothing.

    A resumed run's ledger must match the new run's arguments and inputs; its chunks whose
    staged files are intact count as done.
    """
    source, book = _read_inputs(portfolio, loans)
    from valuation.calibration_set import load_calibration
    from valuation.schema._base import parse_model
    from valuation.schema.pledge import Policy

    try:
        lending = parse_model(Policy, policy) if policy is not None else Policy()
    except DpvInputError as exc:
        field = "--policy" + (f": {exc.field}" if exc.field else "")
        raise DpvInputError(exc.problem, source=exc.source, field=field) from None
    options = _stress_options(simulate_options)
    cal = load_calibration(calibration)
    overrides = cal.valuation_overrides
    run_seed = _resolve_seed(seed, overrides)
    out_dir = Path(out)
    mode = _check_out(out_dir, resume=resume, force=force)
    arguments = {
        "as_of": valuation_date.isoformat(),
        "seed": run_seed,
        "calibration_id": cal.id,
        "profile": profile,
        "engine_version": __version__,
        "chunk_size": chunk_size,
        "loans_sha256": book.sha256 if book is not None else None,
        "paths": paths,
        "policy": lending.model_dump(mode="json"),
    }
    ledger = _new_ledger(source, arguments)
    if mode == "resume":
        staging = out_dir / STAGING
        recorded = Ledger.read(staging / LEDGER)
        recorded.check_matches(ledger, source=str(source.path))
        ledger.chunks = {i: c for i, c in recorded.chunks.items() if c.intact(staging)}
    context = ChunkContext(
        as_of=valuation_date,
        seed=run_seed,
        calibration_id=cal.id,
        parameters_override=overrides,
        market_model=cal.market_model(),
        profile=profile,
        loans=book.loans if book is not None else {},
        policy=lending,
        paths=paths,
        simulate_options=options,
    )
    return _Plan(source, book, out_dir, mode, ledger, context)


def _stage(plan: _Plan) -> None:
    """Empty a replaced output folder, make the staging folder and write the ledger."""
    if plan.mode == "replace":
        _clear(plan.out_dir)
    plan.staging.mkdir(parents=True, exist_ok=True)
    for stale in plan.staging.glob(".*.tmp-*"):  # temporary files of a run that was killed
        stale.unlink()
    plan.ledger.write(plan.staging / LEDGER)


def _run_chunks(
    plan: _Plan,
    chunk_size: int,
    client: Any | None,
    on_chunk: Callable[[ChunkDone], None] | None,
) -> None:
    """Value every chunk the ledger lacks on the engine (Dask with a ``client``), staging each.

    A chunk is recorded in the ledger once its files are staged; ``on_chunk`` hears of every
    chunk, those an earlier run finished included.
    """
    ledger, staging = plan.ledger, plan.staging
    total = chunk_count(plan.source, chunk_size)
    finished = 0

    def report(index: int, resumed: bool) -> None:
        nonlocal finished
        finished += 1
        if on_chunk is not None:
            record = ledger.chunks[index]
            on_chunk(
                ChunkDone(
                    index=index,
                    chunks=total,
                    finished=finished,
                    first_line=record.first_line,
                    last_line=record.last_line,
                    rows=record.rows,
                    quarantined=record.quarantined,
                    resumed=resumed,
                )
            )

    def pending() -> Any:
        for index, batch in enumerate(iter_batches(plan.source, chunk_size)):
            if index in ledger.chunks:
                report(index, resumed=True)
            else:
                yield index, batch

    def done(index: int, batch: Any, output: ChunkOutput) -> None:
        first_line = int(batch.column(LINE_COLUMN)[0].as_py())
        ledger.chunks[index] = stage_chunk(output, index, first_line, batch.num_rows, staging)
        ledger.write(staging / LEDGER)
        report(index, resumed=False)

    if client is not None:
        run_dask(pending(), plan.context, done, client)
    else:
        run_local(pending(), plan.context, done)


def _header(plan: _Plan) -> dict[str, Any]:
    """Return the summary's description of the run: date, calibration, seed, inputs, stress."""
    arguments = plan.ledger.arguments
    book = plan.book
    return {
        "valuation_date": arguments["as_of"],
        "calibration_id": arguments["calibration_id"],
        "engine_version": __version__,
        "seed": arguments["seed"],
        "profile": arguments["profile"],
        "input": dict(plan.ledger.input),
        "loans": None
        if book is None
        else {"file": book.path.name, "sha256": book.sha256, "loans": len(book.loans)},
        "stress": {
            "paths": arguments["paths"],
            "steps_per_year": 12,
            "policy": arguments["policy"],
            # every device gives the same bits: the device is recorded, not in the ledger
            "device": plan.device,
        },
    }


def revalue(
    portfolio: str | Path,
    out: str | Path,
    *,
    as_of: dt.date | str | None = None,
    calibration: str | Path | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    seed: int | None = None,
    profile: str = DEFAULT_PROFILE,
    loans: str | Path | None = None,
    paths: int = DEFAULT_PATHS,
    policy: Any | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    simulate_options: dict[str, Any] | None = None,
    previous: str | Path | None = None,
    due_policy: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    on_chunk: Callable[[ChunkDone], None] | None = None,
) -> RevalueSummary:
    """Revalue a book of products (and stress its loans) into a Parquet dataset under ``out``.

    Parameters
    ----------
    portfolio
        Products as JSON Lines, Parquet or CSV, or a folder written by ``dpv synth``.
    out
        Output folder: new or empty, or replaced with ``force``, or finished with ``resume``.
    as_of
        Valuation date (default today; a resumed run must give the same).
    calibration
        CalibrationSet folder (default: the bundled set, as ``dpv value``).
    chunk_size
        Rows valued at a time (memory bound); the output does not depend on it.
    seed
        Seed of the range sampling and of the stress paths (default: the calibration's).
    profile
        Valuation standard.
    loans
        Loan table keyed by product id (:mod:`valuation.revalue.loans`): the products with a
        loan get LTV, breach and default probability, expected loss, max loan and grade.
    paths
        Monte Carlo paths of each loan's stress (monthly steps over the tenor left).
    policy
        Lending policy (a ``valuation.schema.pledge.Policy`` or its JSON; default one).
    engine, scheduler, workers
        ``local`` (this process) or ``dask`` (a running cluster at ``scheduler``, or a local
        one of ``workers`` processes, 2 by default). The output does not depend on them.
    simulate_options
        Keyword arguments passed through to the stress engine's ``simulate``.
    previous
        An earlier finished run of the book: ``report.html`` shows the changes since.
    due_policy
        JSON file of the revaluation policy (:mod:`valuation.revalue.due`) the report's
        list of products due uses; default :data:`~valuation.revalue.due.DUE_POLICY`.
    resume
        Finish an interrupted run: redo only the chunks its ledger does not hold.
    force
        Replace a non-empty ``out``.
    on_chunk
        Called after each chunk is recorded in the ledger (progress).

    Returns
    -------
    RevalueSummary
        With exit code 3 when rows were quarantined, 0 otherwise.

    Raises
    ------
    DpvInputError
        Before anything is written: the message names the file or option at fault.
    """
    start = time.perf_counter()
    _check_options(chunk_size, profile, paths)
    check_engine(engine, scheduler, workers)
    valuation_date = _parse_date(as_of)
    revaluation_policy = load_due_policy(due_policy)
    previous_run = _check_previous(previous)
    with contextlib.ExitStack() as stack:
        # a Dask cluster starts beside the reading of the inputs; leaving closes it
        starting = (
            stack.enter_context(ClusterStart(scheduler, workers)) if engine == "dask" else None
        )
        plan = _plan(
            portfolio,
            out,
            loans=loans,
            calibration=calibration,
            policy=policy,
            simulate_options=simulate_options,
            valuation_date=valuation_date,
            seed=seed,
            profile=profile,
            chunk_size=chunk_size,
            paths=paths,
            resume=resume,
            force=force,
        )
        # the cluster is up (or its error is raised) before any write
        client = starting.client() if starting is not None else None
        # Every check has passed: from here on files are written.
        _stage(plan)
        _run_chunks(plan, chunk_size, client, on_chunk)
    summary = publish(plan.ledger, plan.staging, _header(plan))
    book = plan.book
    if book is not None:  # loans whose product is not in the book (or was quarantined)
        summary["loans"]["not_in_book"] = len(book.loans) - sum(summary["loan_status"].values())
    summary["seconds"] = round(time.perf_counter() - start, 3)
    commit(summary, plan.staging, plan.out_dir)
    write_report(plan.out_dir, previous=previous_run, due_policy=revaluation_policy)
    code = EXIT_QUARANTINED if summary["rows"]["quarantined"] else EXIT_OK
    return RevalueSummary(out=plan.out_dir, summary=summary, exit_code=code)


__all__ = ["DEFAULT_CHUNK_SIZE", "DEFAULT_PATHS", "ChunkDone", "RevalueSummary", "revalue"]
