"""``dpv demo``: the main job end to end on the bundled examples."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Annotated

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


def value_sample(staging: Path) -> str:
    """Value the bundled synthetic sample in one batch; write a CSV and return a summary line."""
    import csv
    import statistics

    from valuation import value_many
    from valuation.examples import load_sample_products, sample_path

    products = load_sample_products()
    results = value_many(products, as_of=SAMPLE_AS_OF)
    with open(sample_path("product_truth.csv"), encoding="utf-8") as handle:
        truth = {row["product_id"]: float(row["economic_value"]) for row in csv.DictReader(handle)}
    ratios = []
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
            true_value = truth.get(r.product_id)
            if r.concluded_value and true_value:
                ratios.append(r.concluded_value / true_value)
    valued = [r.concluded_value for r in results if r.concluded_value is not None]
    return (
        f"sample: valued {len(valued):,} of {len(results):,} synthetic products as of "
        f"{SAMPLE_AS_OF}: total {sum(valued) / 1e9:,.2f} bn CNY, median "
        f"{statistics.median(valued) / 1e6:,.2f} m; median ratio to the generator's true "
        f"economic value {statistics.median(ratios):.2f} (built-in defaults, not calibrated)"
    )


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path("demo-output"),
) -> None:
    """Value the bundled examples and the 2,000-product synthetic sample; write results to OUT.

    Each example's full valuation goes to ``valuation-<name>.json``, the sample's to
    ``sample-valuations.csv`` beside the generator's true economic value.
    """
    from valuation import value_many
    from valuation.cli._value import render_table
    from valuation.examples import EXAMPLES, load_example

    products = [load_example(name) for name in EXAMPLES]
    results = value_many(products, as_of=DEMO_AS_OF)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".dpv-demo-", dir=out.parent))
    try:
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
        sample_line = value_sample(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    for result in results:
        render_table(result)
    typer.echo(sample_line)
    typer.echo(f"wrote {len(results)} valuations and the sample's to {out}/", err=True)
