"""``dpv demo``: the main job end to end on the bundled examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from valuation.cli import app

DEMO_AS_OF = "2026-11-01"
SAMPLE_AS_OF = "2026-10-31"  # the synthetic sample's own as-of date (its truth.json calendar)
SAMPLE_COLUMNS = (
    "product_id",
    "category",
    "sector",
    "status",
    "income",
    "cost",
    "market",
    "concluded_value",
    "p10",
    "p50",
    "p90",
    "true_economic_value",
    "warnings",
)


def value_sample(
    staging: Path, overrides: dict[str, Any], calibration_id: str, market_model: Any = None
) -> str:
    """Value the bundled synthetic sample in one batch; write a CSV and return a summary line.

    The line reports the recovery of the generator's true economic value (the same income
    formula at the truth's parameters): the median ratio of concluded value to truth and the
    share of P10-P90 ranges that hold it.
    """
    import csv
    import statistics

    from calibration.recovery import recovery_report
    from valuation import value_many
    from valuation.examples import load_sample_products, sample_path

    products = load_sample_products()
    results = value_many(
        products,
        as_of=SAMPLE_AS_OF,
        parameters_override=overrides,
        calibration_id=calibration_id,
        market_model=market_model,
    )
    with open(sample_path("product_truth.csv"), encoding="utf-8") as handle:
        truth = {row["product_id"]: float(row["economic_value"]) for row in csv.DictReader(handle)}
    with (staging / "sample-valuations.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SAMPLE_COLUMNS)
        for product, r in zip(products, results, strict=True):
            m = r.methods
            quantiles = (r.range.p10, r.range.p50, r.range.p90) if r.range else (None,) * 3
            writer.writerow(
                [
                    r.product_id,
                    product.category,
                    product.sector,
                    product.certificate.status,
                    m.income.value,
                    m.cost.value,
                    m.market.value,
                    r.concluded_value,
                    *quantiles,
                    truth.get(r.product_id),
                    ";".join(w.code for w in r.warnings),
                ]
            )
    report = recovery_report(results, truth, [p.category for p in products])
    valued = [r.concluded_value for r in results if r.concluded_value]
    return (
        f"sample: valued {len(valued):,} of {len(results):,} synthetic products as of "
        f"{SAMPLE_AS_OF}: total {sum(valued) / 1e9:,.2f} bn CNY, median "
        f"{statistics.median(valued) / 1e6:,.2f} m; against the generator's true economic "
        f"value (the income formula at the truth's parameters, economic life with the "
        f"certificate's events): median ratio {report['median_ratio']:.2f}, P10-P90 holds "
        f"the truth for {report['range_coverage']:.0%} (calibration {calibration_id})"
    )


# The sample pledge runs on fewer paths than its request asks for, so the demo takes seconds;
# `dpv pledge` on the same file runs them all.
DEMO_PLEDGE_PATHS = 20_000


def _is_demo_output(folder: Path) -> bool:
    """Whether ``folder`` holds a previous demo output and nothing else."""
    from valuation.outputs import holds_only

    written = {"summary.json", "sample-valuations.csv", "pledge"}
    return holds_only(folder, "summary.json", lambda n: n in written or n.startswith("valuation-"))


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path("demo-output"),
) -> None:
    """Value the bundled examples and the synthetic sample, and score the sample pledge.

    OUT must be new, empty or a previous demo output (which is replaced).

    Writes one valuation JSON per example and ``summary.json``, the 2,000-product sample's
    valuations beside the generator's true economic value in ``sample-valuations.csv``, and
    the sample pledge's ``pledge/assessment.json`` and ``pledge/memo.html`` (the credit memo).
    """
    from valuation import value_many
    from valuation.calibration_set import resolve_calibration_with_model
    from valuation.cli._pledge import ASSESSMENT_FILE, MEMO_FILE, summary_lines
    from valuation.cli._value import render_table
    from valuation.examples import (
        EXAMPLES,
        load_example,
        load_example_pledge,
        load_example_registry,
    )
    from valuation.outputs import check_output_folder, write_folder
    from valuation.pledge.api import assess_pledge
    from valuation.pledge.memo import render_memo

    check_output_folder(out, "demo", force=True, owns=_is_demo_output)
    products = [load_example(name) for name in EXAMPLES]
    overrides, calibration_id, market_model = resolve_calibration_with_model(None)
    results = value_many(
        products,
        as_of=DEMO_AS_OF,
        parameters_override=overrides,
        calibration_id=calibration_id,
        market_model=market_model,
    )
    pledge = load_example_pledge()
    pledge["simulation"] = {**pledge.get("simulation", {}), "paths": DEMO_PLEDGE_PATHS}
    assessment = assess_pledge(
        pledge,
        registry=load_example_registry(),
        parameters_override=overrides,
        calibration_id=calibration_id,
        market_model=market_model,
    )
    sample_line = ""

    def write(staging: Path) -> None:
        nonlocal sample_line
        summary = []
        for name, result in zip(EXAMPLES, results, strict=True):
            (staging / f"valuation-{name}.json").write_text(result.model_dump_json(indent=2))
            summary.append(
                {
                    "product_id": result.product_id,
                    "concluded_value": result.concluded_value,
                    "range": result.range.model_dump() if result.range else None,
                }
            )
        (staging / "summary.json").write_text(json.dumps(summary, indent=2))
        sample_line = value_sample(staging, overrides, calibration_id, market_model)
        (staging / "pledge").mkdir()
        (staging / "pledge" / ASSESSMENT_FILE).write_text(
            assessment.model_dump_json(indent=2) + "\n", encoding="utf-8"
        )
        (staging / "pledge" / MEMO_FILE).write_text(render_memo(assessment), encoding="utf-8")

    # the demo replaces its own previous output (a marked folder), never anything else
    write_folder(out, "demo", write, force=True, owns=_is_demo_output)
    for result in results:
        render_table(result)
    typer.echo(sample_line)
    typer.echo("")
    typer.echo("\n".join(summary_lines(assessment)))
    typer.echo(
        f"wrote {len(results)} valuations, the sample's, and the sample pledge's assessment and "
        f"credit memo to {out}/ (open {out / 'pledge' / MEMO_FILE})",
        err=True,
    )
