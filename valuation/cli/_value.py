"""``dpv value``: value one product and print a table or the JSON result."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from valuation.cli import app
from valuation.methods.profiles import DEFAULT_PROFILE, PROFILES
from valuation.schema.results import ValuationResult


def parse_date(text: str | None, option: str) -> dt.date | None:
    """Parse an ISO date option, within the dates dpv works with (``valuation.defaults``)."""
    from valuation.defaults import EARLIEST_DATE, LATEST_DATE
    from valuation.exceptions import DpvInputError

    if text is None:
        return None
    try:
        date = dt.date.fromisoformat(text)
    except ValueError:
        raise DpvInputError(f"not an ISO date (YYYY-MM-DD): {text!r}", field=option) from None
    if not EARLIEST_DATE <= date.isoformat() <= LATEST_DATE:
        raise DpvInputError(
            f"{date} is outside the dates dpv works with ({EARLIEST_DATE} to {LATEST_DATE})",
            field=option,
        )
    return date


def check_options(*, samples: int | None, seed: int | None) -> None:
    """Refuse a ``--samples`` or ``--seed`` out of range before any work starts."""
    from valuation.defaults import MAX_RANGE_SAMPLES
    from valuation.exceptions import DpvInputError

    if samples is not None and not (samples == 0 or 2 <= samples <= MAX_RANGE_SAMPLES):
        raise DpvInputError(
            f"must be 0 (no range) or from 2 to {MAX_RANGE_SAMPLES:,} "
            f"(valuation.defaults.MAX_RANGE_SAMPLES), got {samples:,}",
            field="--samples",
        )
    if seed is not None and not 0 <= seed < 2**64:
        raise DpvInputError(f"seed must be in [0, 2**64), got {seed}", field="--seed")


def _money(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}"


def render_table(result: ValuationResult) -> None:
    """Print a readable summary of a valuation on the terminal."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from valuation.display import terminal_safe

    def safe(text: str) -> str:  # no control sequences, no rich markup from the input
        return escape(terminal_safe(text))

    console = Console()
    title = safe(f"{result.product_id}  {result.name or ''}".strip())
    table = Table(title=f"{title}\n{result.profile_title}, as of {result.valuation_date}")
    rows: list[tuple[str, ...]] = []
    for method in ("income", "cost", "market"):
        m = getattr(result.methods, method)
        weight = getattr(result.weights, method)
        rows.append(
            (
                method,
                _money(m.value),
                f"{weight:.2f}" if m.value is not None else "—",
                _money(m.range.p10 if m.range else None),
                _money(m.range.p90 if m.range else None),
                safe(m.name if m.skipped is None else f"skipped: {m.skipped}"),
            )
        )
    rng = result.range
    rows.append(
        (
            "concluded",
            _money(result.concluded_value),
            "1.00" if result.concluded_value is not None else "—",
            _money(rng.p10 if rng else None),
            _money(rng.p90 if rng else None),
            f"P50 {_money(rng.p50)}" if rng else "",
        )
    )
    headers = ("method", f"value ({result.currency})", "weight", "P10", "P90")
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(headers)]
    for j, header in enumerate(headers):
        # numbers are never cut: on a narrow terminal the note column wraps instead
        table.add_column(
            header, justify="left" if j == 0 else "right", no_wrap=True, min_width=widths[j]
        )
    note_width = 8
    table.add_column("note", overflow="fold", min_width=note_width)
    for row in rows[:-1]:
        table.add_row(*row)
    table.add_row(*rows[-1], style="bold")
    # a terminal narrower than the numbers gets long lines rather than cut numbers
    needed = sum(widths) + note_width + 3 * len(widths) + 4
    (Console(width=needed) if needed > console.width else console).print(table)
    for note in result.warnings:
        console.print(
            f"[yellow]warning[/yellow] {note.code}: {safe(note.message)}", highlight=False
        )
    audit = result.audit
    console.print(
        f"audit: input sha256 {audit.input_sha256[:16]}…, engine {audit.engine_version}, "
        f"seed {audit.seed}, calibration {audit.calibration_id}",
        style="dim",
        highlight=False,
    )


@app.command("value")
def value_command(
    product: Annotated[str, typer.Argument(help="Product JSON file, or - for standard input.")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Valuation date YYYY-MM-DD (default: today)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON.")] = False,
    profile: Annotated[
        str,
        typer.Option(help=f"Valuation standard: {', '.join(PROFILES)}."),
    ] = DEFAULT_PROFILE,
    seed: Annotated[int | None, typer.Option(help="Seed of the range sampling.")] = None,
    samples: Annotated[
        int | None, typer.Option(help="Range samples (0 = no range; default 2000).")
    ] = None,
    calibration: Annotated[
        str | None,
        typer.Option(
            "--calibration", help="CalibrationSet folder (default: the bundled default set)."
        ),
    ] = None,
) -> None:
    """Value one registered data product by the income, cost and market methods.

    Prints each method's value (or why it was skipped), the concluded value with its weights
    and P10/P50/P90 range, warnings and the audit block. Exit code 2 on bad input.
    """
    from valuation import value_many
    from valuation.calibration_set import resolve_calibration_with_model
    from valuation.cli._progress import announce_first_compile, announce_long_sampling
    from valuation.exceptions import DpvInputError
    from valuation.schema._base import parse_model, read_json
    from valuation.schema.product import Product

    check_options(samples=samples, seed=seed)
    date = parse_date(as_of, "--as-of")
    doc, _, source = read_json(product)
    parsed = parse_model(Product, doc, source=source)
    overrides, calibration_id, market_model = resolve_calibration_with_model(calibration)
    announce_first_compile()
    announce_long_sampling(samples)
    try:
        result = value_many(
            [parsed],
            as_of=date,
            profile=profile,
            seed=seed,
            samples=samples,
            parameters_override=overrides,
            calibration_id=calibration_id,
            market_model=market_model,
        )[0]
    except DpvInputError as exc:
        raise DpvInputError(exc.problem, source=source, field=exc.field) from None
    if as_json:
        typer.echo(result.model_dump_json(indent=2))
    else:
        render_table(result)
