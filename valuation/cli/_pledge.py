"""``dpv pledge REQUEST.json``: score a pledge request, write assessment.json and memo.html."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from valuation.cli import app
from valuation.cli._device import DeviceChoice, DeviceOption, resolve_cli_device

ASSESSMENT_FILE = "assessment.json"
MEMO_FILE = "memo.html"
OUTPUT_KIND = "pledge"
DEFAULT_OUT = Path("pledge-output")


def write_outputs(out: Path, files: dict[str, str], *, force: bool = False) -> None:
    """Write ``files`` into ``out`` atomically: all staged first, then moved into place.

    ``out`` must be new, empty, or (with ``force``) a previous ``dpv pledge`` output
    (:mod:`valuation.outputs`).
    """
    from valuation.outputs import write_folder

    def write(staging: Path) -> None:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")

    write_folder(out, OUTPUT_KIND, write, force=force, owns=is_pledge_output)


def is_pledge_output(folder: Path) -> bool:
    """Whether ``folder`` holds a previous ``dpv pledge`` output and nothing else."""
    from valuation.outputs import holds_only

    return holds_only(folder, ASSESSMENT_FILE, lambda name: name in (ASSESSMENT_FILE, MEMO_FILE))


def summary_lines(assessment: Any) -> list[str]:
    """Return a few lines for the terminal: decision, grade, the key numbers, reasons.

    Text from the request (ids, names in messages) is escaped (:func:`terminal_safe`).
    """
    from valuation.display import terminal_safe

    a = assessment
    lines = [
        f"{a.request_id}: {a.decision.upper()}"
        + (f", grade {a.grade}" if a.grade else "")
        + (", ESCALATE to a human valuer" if a.escalate else ""),
        f"loan {a.loan_amount:,.0f} {a.currency} on eligible collateral "
        f"{a.collateral_value:,.0f}" + (f" (LTV {a.ltv:.1%})" if a.ltv is not None else ""),
    ]
    if a.stress is not None:
        s = a.stress
        risk = "any" if a.max_loan.risk is None else f"{a.max_loan.risk:,.0f}"
        lines += [
            f"breach {s.breach_probability:.2%}, default {s.default_probability:.2%}, "
            f"expected loss {s.expected_loss:,.0f}, LGD {s.lgd:.1%}, "
            f"VaR {s.loss_var:,.0f}, ES {s.loss_es:,.0f}",
            f"max loan: policy {a.max_loan.policy:,.0f}, risk {risk}",
        ]
    lines += [f"  reason {r.code}: {r.message}" for r in a.reasons]
    lines += [f"  condition {c.code}: {c.message}" for c in a.conditions]
    lines += [f"  escalate {r.code}: {r.message}" for r in a.escalation.reasons]
    for item in a.collateral:
        if not item.eligible:
            lines.append(
                f"  ineligible {item.product_id}: " + ", ".join(r.code for r in item.reasons)
            )
    return [terminal_safe(line) for line in lines]


def prepare_request(
    request: str,
    *,
    paths: int | None,
    seed: int | None,
    policy: str | None,
) -> tuple[dict[str, Any], str]:
    """Read the request and apply the command-line overrides; return it and its source name."""
    from valuation.exceptions import DpvInputError
    from valuation.schema._base import parse_model, read_json
    from valuation.schema.pledge import Policy
    from valuation.schema.stress import MAX_PATHS

    document, _raw, source = read_json(request)
    if not isinstance(document, dict):
        raise DpvInputError("a pledge request must be a JSON object", source=source)
    if paths is not None and not 1 <= paths <= MAX_PATHS:
        raise DpvInputError(f"must be between 1 and {MAX_PATHS:,}, got {paths}", field="--paths")
    if seed is not None and not 0 <= seed < 2**64:
        raise DpvInputError(f"must be in [0, 2**64), got {seed}", field="--seed")
    doc = dict(document)
    if policy is not None:
        policy_doc, _raw, policy_source = read_json(policy)
        if not isinstance(policy_doc, dict):
            raise DpvInputError("a policy must be a JSON object", source=policy_source)
        given = doc.get("policy")
        base: dict[str, Any] = given if isinstance(given, dict) else {}
        merged = {**base, **policy_doc}
        parse_model(Policy, merged, source=policy_source)
        doc["policy"] = merged
    if paths is not None or seed is not None:
        given_sim = doc.get("simulation")
        simulation: dict[str, Any] = dict(given_sim) if isinstance(given_sim, dict) else {}
        if paths is not None:
            simulation["paths"] = paths
        if seed is not None:
            simulation["seed"] = seed
        doc["simulation"] = simulation
    return doc, source


@app.command("pledge")
def pledge_command(
    request: Annotated[str, typer.Argument(help="The pledge request JSON file, or - for stdin.")],
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for assessment.json and memo.html (default: pledge-output, or none "
            "with --json).",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a previous dpv pledge output in OUT.")
    ] = False,
    paths: Annotated[
        int | None, typer.Option(help="Monte Carlo paths, in place of the request's.")
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the stress, in place of the request's.")
    ] = None,
    policy: Annotated[
        str | None, typer.Option(help="Policy JSON; its fields replace the request's.")
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            help="Registry of the products that collateral gives by product_id (JSON list or "
            "JSON Lines).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the assessment JSON on stdout.")
    ] = False,
    calibration: Annotated[
        str | None,
        typer.Option(
            "--calibration", help="CalibrationSet folder (default: the bundled default set)."
        ),
    ] = None,
    device: DeviceOption = DeviceChoice.cpu,
) -> None:
    """Score a pledge request: eligibility, valuation, stress, decision, credit memo.

    Writes assessment.json and memo.html into OUT (atomically; nothing on bad input) and prints
    the decision; with --json prints the assessment and writes files only when OUT is given.
    OUT must be new or empty, or a previous pledge output replaced with --force. Exit code 2 on
    bad input, naming the file and the field.
    """
    from valuation.calibration_set import resolve_calibration_with_model
    from valuation.cli._progress import announce_first_compile, announce_long_simulation
    from valuation.exceptions import DpvInputError
    from valuation.outputs import check_output_folder
    from valuation.pledge.api import assess_pledge, load_registry
    from valuation.pledge.memo import render_memo
    from valuation.schema._base import parse_model
    from valuation.schema.pledge import PLEDGE_STRESS_RUNS, PledgeRequest
    from valuation.schema.stress import steps_of

    target = out if out is not None or as_json else DEFAULT_OUT
    if target is not None:
        check_output_folder(target, OUTPUT_KIND, force=force, owns=is_pledge_output)
    doc, source = prepare_request(request, paths=paths, seed=seed, policy=policy)
    parsed = parse_model(PledgeRequest, doc, source=source)  # before the calibration loads
    ran_on = resolve_cli_device(device)
    products = load_registry(registry) if registry is not None else None
    overrides, calibration_id, market_model = resolve_calibration_with_model(calibration)
    announce_first_compile()
    steps = steps_of(parsed.loan.tenor_months, parsed.simulation.steps_per_year)
    work = parsed.simulation.paths * steps * len(parsed.collateral) * PLEDGE_STRESS_RUNS
    announce_long_simulation("pledge", work)
    try:
        assessment = assess_pledge(
            doc,
            registry=products,
            parameters_override=overrides,
            calibration_id=calibration_id,
            market_model=market_model,
            device=ran_on,
        )
    except DpvInputError as exc:
        raise (exc if exc.source else exc.with_source(source)) from None
    text = assessment.model_dump_json(indent=2) + "\n"
    if target is not None:
        write_outputs(
            target, {ASSESSMENT_FILE: text, MEMO_FILE: render_memo(assessment)}, force=force
        )
    if as_json:
        typer.echo(text, nl=False)
    else:
        typer.echo("\n".join(summary_lines(assessment)))
    if target is not None:
        typer.echo(f"wrote {target / ASSESSMENT_FILE} and {target / MEMO_FILE}", err=True)
