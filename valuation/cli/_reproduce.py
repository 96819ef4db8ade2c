"""``dpv reproduce ASSESSMENT.json``: re-run a result from its audit block."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from valuation.cli import app
from valuation.cli._device import DeviceChoice, DeviceOption, resolve_cli_device


@app.command("reproduce")
def reproduce_command(
    assessment: Annotated[str, typer.Argument(help="An assessment.json written by dpv pledge.")],
    calibration: Annotated[
        str | None,
        typer.Option(
            "--calibration",
            help="CalibrationSet it was assessed with (default: the bundled default set).",
        ),
    ] = None,
    device: DeviceOption = DeviceChoice.cpu,
) -> None:
    """Re-run an assessment from its audit block: exit 0 if bit-identical, else 1 and the diff."""
    from valuation.exceptions import DpvInputError
    from valuation.pledge.reproduce import MAX_DIFFERENCES, reproduce
    from valuation.schema._base import read_json

    document, _raw, source = read_json(assessment)
    ran_on = resolve_cli_device(device)
    try:
        identical, found = reproduce(document, calibration=calibration, device=ran_on)
    except DpvInputError as exc:
        raise (exc if exc.source else exc.with_source(source)) from None
    if identical:
        typer.echo(f"{source}: reproduced bit for bit (on the {ran_on.upper()})")
        return
    typer.echo(f"{source}: NOT reproduced; {len(found)} field(s) differ (filed → recomputed):")
    for d in found:
        filed = json.dumps(d.filed, ensure_ascii=False)[:120]
        recomputed = json.dumps(d.recomputed, ensure_ascii=False)[:120]
        typer.echo(f"  {d.path}: {filed} → {recomputed}")
    if len(found) >= MAX_DIFFERENCES:
        typer.echo(f"  … (first {MAX_DIFFERENCES} shown)")
    raise typer.Exit(code=1)
