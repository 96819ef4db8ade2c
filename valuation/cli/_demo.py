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


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path("demo-output"),
) -> None:
    """Value every bundled example product and write their results as JSON into OUT."""
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
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    for result in results:
        render_table(result)
    typer.echo(f"wrote {len(results)} valuations to {out}/", err=True)
