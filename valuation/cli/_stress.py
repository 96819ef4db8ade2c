"""``dpv stress STRESS.json [--json]``: Monte Carlo loan-to-value stress of a pledge."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from valuation.cli import app
from valuation.cli._device import DeviceChoice, DeviceOption, resolve_cli_device


def _table(result: object) -> str:
    from valuation.schema.stress import StressResult

    assert isinstance(result, StressResult)
    lines = [
        f"loan {result.loan_amount:,.2f} on collateral {result.initial_value:,.2f} "
        f"(LTV {result.initial_ltv:.1%}), {result.paths:,} paths, seed {result.audit.seed}",
        "",
        f"{'scenario':<18}{'breach':>9}{'± s.e.':>9}{'default':>9}{'exp.loss':>12}"
        f"{'LGD':>8}{'VaR':>12}{'ES':>12}{'max loan':>14}",
    ]
    for s in result.scenarios:
        max_loan = "any" if s.max_loan is None else f"{s.max_loan:,.2f}"
        lines.append(
            f"{s.name:<18}{s.breach_probability:>9.2%}{s.breach_probability_se:>9.2%}"
            f"{s.default_probability:>9.2%}{s.expected_loss:>12,.2f}{s.lgd:>8.1%}"
            f"{s.loss_var:>12,.2f}{s.loss_es:>12,.2f}{max_loan:>14}"
        )
    lines += [
        "",
        f"VaR and ES at {result.confidence:.1%}; max loan keeps the breach probability at or "
        f"below {result.target_breach_probability:.1%}.",
        f"Revocation within tenor {result.revocation_probability:.2%}, "
        f"lapse {result.lapse_probability:.2%} (base).",
        f"Note: {result.drift_convention}.",
    ]
    return "\n".join(lines)


@app.command("stress")
def stress_command(
    request: Annotated[str, typer.Argument(help="The stress request JSON file, or - for stdin.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    calibration: Annotated[
        str | None,
        typer.Option(
            "--calibration",
            help="CalibrationSet the audit names (default: the bundled default set); the "
            "request gives the collateral's process directly.",
        ),
    ] = None,
    device: DeviceOption = DeviceChoice.cpu,
) -> None:
    """Monte Carlo loan-to-value stress with the collateral's value and process given directly."""
    from valuation.calibration_set import load_calibration
    from valuation.cli._progress import announce_first_compile, announce_long_simulation
    from valuation.exceptions import DpvInputError
    from valuation.risk.api import stress
    from valuation.schema._base import parse_model, read_json
    from valuation.schema.stress import StressRequest, steps_of

    calibration_id = load_calibration(calibration).id
    document, _raw, source = read_json(request)
    ran_on = resolve_cli_device(device)
    try:
        parsed = parse_model(StressRequest, document, source=source)
        announce_first_compile()
        steps = steps_of(parsed.loan.tenor_months, parsed.simulation.steps_per_year)
        runs = 1 + len(parsed.scenarios)
        work = parsed.simulation.paths * steps * len(parsed.collateral) * runs
        announce_long_simulation("stress", work)
        result = stress(parsed, calibration_id=calibration_id, device=ran_on)
    except DpvInputError as exc:
        raise (exc if exc.source else exc.with_source(source)) from None
    if as_json:
        typer.echo(json.dumps(result.model_dump(mode="json"), indent=2, ensure_ascii=False))
    else:
        typer.echo(_table(result))
