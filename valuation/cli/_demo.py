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


def listings_sample_path() -> str:
    """Return the path of the bundled sample exchange export (``valuation/data/listings``)."""
    from importlib import resources

    return str(resources.files("valuation").joinpath("data", "listings", LISTINGS_SAMPLE))


LISTINGS_SAMPLE = "zhejiang-sample.csv"


def price_sample(listing_model: Any, calibration_id: str) -> list[dict[str, Any]]:
    """Quote the listings of the bundled sample export as ``dpv price`` does.

    Returns one JSON-ready quote per listing (band, suggested price, comparables, asking-price
    check, flags with their reasons).
    """
    from valuation.pricing import quote_listings, read_listings

    batch, _ = read_listings(Path(listings_sample_path()))
    quotes = quote_listings(batch, listing_model, calibration_id=calibration_id)
    return [quotes.row(i) for i in range(len(quotes))]


def pricing_brief(quote: dict[str, Any]) -> dict[str, Any]:
    """Return the few fields of a quote the demo's summary shows: band, asking, flags."""
    band = quote["band"]
    return {
        "listing_id": quote["listing_id"],
        "exchange": quote["exchange"],
        "price_mode": quote["price_mode"],
        "band": {k: band[k] for k in ("p10", "p50", "p90")},
        "coverage_claimed": band["coverage_claimed"],
        "asking_price": quote["asking_price"],
        "asking_position": quote["asking_check"]["position"],
        "flags": quote["flags"],
    }


def pricing_lines(quotes: list[dict[str, Any]], calibration_id: str) -> list[str]:
    """Return terminal lines: each listing's band against its asking price, its flags."""
    from urllib.parse import parse_qs, urlparse

    from valuation.display import terminal_safe

    def money(x: float | None) -> str:
        if x is None:
            return "none"
        return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"

    exchanges = sorted({q["exchange"] for q in quotes})
    lines = [
        f"pricing: {len(quotes)} listings of a sample export of {', '.join(exchanges)} "
        f"(80 % bands in CNY, calibration {calibration_id}):"
    ]
    for q in quotes:
        listing = q["listing_id"]
        listing = parse_qs(urlparse(listing).query).get("id", [listing])[0]
        band = q["band"]
        lines.append(
            f"  {terminal_safe(listing)[:24]:<24} {q['price_mode']:<11} "
            f"asking {money(q['asking_price']):>9}  band {money(band['p10'])} - "
            f"{money(band['p90'])} ({q['asking_check']['position']})  "
            f"{', '.join(q['flags']) or 'no flag'}"
        )
    return lines


# The sample pledge runs on fewer paths than its request asks for, so the demo takes seconds;
# `dpv pledge` on the same file runs them all.
DEMO_PLEDGE_PATHS = 20_000


def _is_demo_output(folder: Path) -> bool:
    """Whether ``folder`` holds a previous demo output and nothing else."""
    from valuation.outputs import holds_only

    written = {"summary.json", "sample-valuations.csv", "listing-quotes.json", "pledge"}
    return holds_only(folder, "summary.json", lambda n: n in written or n.startswith("valuation-"))


@app.command("demo")
def demo_command(
    out: Annotated[Path, typer.Option(help="Folder for the results.")] = Path("demo-output"),
) -> None:
    """Value the bundled examples and the synthetic sample, score the sample pledge, price listings.

    OUT must be new, empty or a previous demo output (which is replaced).

    Writes one valuation JSON per example, the 2,000-product sample's valuations beside the
    generator's true economic value in ``sample-valuations.csv``, the sample pledge's
    ``pledge/assessment.json`` and ``pledge/memo.html`` (the credit memo), the quotes of a
    small bundled exchange export in ``listing-quotes.json`` (as ``dpv price`` gives them),
    and ``summary.json``: each example's value and range, each listing's band and flags.
    """
    from valuation import value_many
    from valuation.calibration_set import load_calibration
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
    cal = load_calibration(None)
    overrides, calibration_id, market_model = cal.valuation_overrides, cal.id, cal.market_model()
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
    listing_model = cal.listing_model()
    quotes = [] if listing_model is None else price_sample(listing_model, calibration_id)
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
        pricing = [pricing_brief(q) for q in quotes]
        (staging / "listing-quotes.json").write_text(
            json.dumps(quotes, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        (staging / "summary.json").write_text(
            json.dumps({"valuations": summary, "pricing": pricing}, indent=2, ensure_ascii=False),
            encoding="utf-8",
        )
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
    typer.echo("")
    if quotes:
        typer.echo("\n".join(pricing_lines(quotes, calibration_id)))
    else:
        typer.echo(f"pricing: skipped, calibration {calibration_id} has no listing model")
    typer.echo(
        f"wrote {len(results)} valuations, the sample's, the sample pledge's assessment and "
        f"credit memo, and {len(quotes)} listing quotes to {out}/ "
        f"(open {out / 'pledge' / MEMO_FILE})",
        err=True,
    )
