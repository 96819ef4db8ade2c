"""``dpv pledge REQUEST.json``: score a pledge request, write assessment.json and memo.html."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer

from valuation.cli import app
from valuation.cli._device import DeviceChoice, DeviceOption, resolve_cli_device

ASSESSMENT_FILE = "assessment.json"
MEMO_FILE = "memo.html"


def write_outputs(out: Path, files: dict[str, str]) -> None:
    """Write ``files`` into ``out`` atomically: all staged first, then moved into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dpv-pledge-", dir=out.parent))
    try:
        for name, text in files.items():
            (staging / name).write_text(text, encoding="utf-8")
        out.mkdir(parents=True, exist_ok=True)
        for name in files:
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def summary_lines(assessment: Any) -> list[str]:
    """Return a few lines for the terminal: decision, grade, the key numbers, reasons."""
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
    return lines


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
    out: Annotated[Path, typer.Option(help="Folder for assessment.json and memo.html.")] = Path(
        "pledge-output"
    ),
    paths: Annotated[int | None, typer.Option(help="Monte Carlo paths (overrides)")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the stress (overrides)")] = None,
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
    the decision. Exit code 2 on bad input, naming the file and the field.
    """
    from valuation.calibration_set import resolve_calibration_with_model
    from valuation.exceptions import DpvInputError
    from valuation.pledge.api import assess_pledge, load_registry
    from valuation.pledge.memo import render_memo

    doc, source = prepare_request(request, paths=paths, seed=seed, policy=policy)
    ran_on = resolve_cli_device(device)
    products = load_registry(registry) if registry is not None else None
    overrides, calibration_id, market_model = resolve_calibration_with_model(calibration)
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
    write_outputs(out, {ASSESSMENT_FILE: text, MEMO_FILE: render_memo(assessment)})
    if as_json:
        typer.echo(text, nl=False)
    else:
        typer.echo("\n".join(summary_lines(assessment)))
    typer.echo(f"wrote {out / ASSESSMENT_FILE} and {out / MEMO_FILE}", err=True)
