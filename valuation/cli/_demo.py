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
# The sample pledge runs on fewer paths than its request asks for, so the demo takes seconds;
# `dpv pledge` on the same file runs them all.
DEMO_PLEDGE_PATHS = 20_000


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path("demo-output"),
) -> None:
    """Value every bundled example product and score the sample pledge; write them into OUT.

    Writes one valuation JSON per example, ``summary.json``, and the sample pledge's
    ``pledge/assessment.json`` and ``pledge/memo.html`` (the credit memo).
    """
    from valuation import value_many
    from valuation.cli._pledge import ASSESSMENT_FILE, MEMO_FILE, summary_lines
    from valuation.cli._value import render_table
    from valuation.examples import (
        EXAMPLES,
        load_example,
        load_example_pledge,
        load_example_registry,
    )
    from valuation.pledge.api import assess_pledge
    from valuation.pledge.memo import render_memo

    products = [load_example(name) for name in EXAMPLES]
    results = value_many(products, as_of=DEMO_AS_OF)
    pledge = load_example_pledge()
    pledge["simulation"] = {**pledge.get("simulation", {}), "paths": DEMO_PLEDGE_PATHS}
    assessment = assess_pledge(pledge, registry=load_example_registry())
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
        (staging / "pledge").mkdir()
        (staging / "pledge" / ASSESSMENT_FILE).write_text(
            assessment.model_dump_json(indent=2) + "\n", encoding="utf-8"
        )
        (staging / "pledge" / MEMO_FILE).write_text(render_memo(assessment), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    for result in results:
        render_table(result)
    typer.echo("")
    typer.echo("\n".join(summary_lines(assessment)))
    typer.echo(
        f"wrote {len(results)} valuations and the sample pledge's assessment and credit memo "
        f"to {out}/ (open {out / 'pledge' / MEMO_FILE})",
        err=True,
    )
