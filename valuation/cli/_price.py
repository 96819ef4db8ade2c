"""``dpv price``: quote exchange listings (bands, comparables, flags, asking-price check)."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from valuation.cli import app
from valuation.exceptions import DpvInputError

QUOTES = "quotes.parquet"
SUMMARY = "summary.json"
QUARANTINE = "quarantine.jsonl"
QUOTE = "quote.json"


def _table(quote: dict[str, Any]) -> str:
    band = quote["band"]

    def money(x: float | None) -> str:
        if x is None:
            return "n/a"
        return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"

    lines = [
        f"listing        {quote['listing_id']}",
        f"exchange       {quote['exchange']}",
        f"price mode     {quote['price_mode']} (listed {quote['price_mode_listed']})",
        f"band (CNY)     p10 {money(band['p10'])}  p50 {money(band['p50'])}  "
        f"p90 {money(band['p90'])}  ({band['coverage_nominal']:.0%} nominal, coverage "
        f"{'claimed' if band['coverage_claimed'] else 'NOT claimed'})",
        f"suggested      {money(quote['suggested_price'])}",
        f"asking         {money(quote['asking_price'])}: {quote['asking_check']['position']}"
        + (
            f" by {quote['asking_check']['log_distance']:+.2f} log units"
            if quote["asking_check"]["log_distance"]
            else ""
        ),
        f"calibration    {quote['calibration_id']}",
    ]
    for flag, reason in zip(quote["flags"], quote["reasons"], strict=True):
        lines.append(f"flag           {flag}: {reason}")
    for c in quote["comparables"]:
        lines.append(
            f"comparable     {c['listing_id']}  price {money(c['price'])}  x{c['adjustment']:.3g}"
            f" -> {money(c['adjusted_price'])}  similarity {c['similarity']:.2f}"
        )
    return "\n".join(lines)


def _summary(
    quotes: Any, batch: Any, source: Path, calibration_id: str, model_sha: str, seconds: float
) -> dict[str, Any]:
    from valuation import __version__
    from valuation.hashing import sha256_file

    c = quotes.columns
    flag_counts: dict[str, int] = {}
    for flags in c["flags"]:
        for flag in flags:
            flag_counts[flag] = flag_counts.get(flag, 0) + 1
    priced = sum(1 for x in c["band_p50"] if math.isfinite(float(x)))
    positions: dict[str, int] = {}
    for p in c["asking_position"]:
        positions[str(p)] = positions.get(str(p), 0) + 1
    files = [source] if source.is_file() else sorted(source.glob("*.csv"))
    return {
        "rows": {
            "read": len(batch) + len(batch.quarantine),
            "quarantined": len(batch.quarantine),
            "quoted": len(quotes),
            "priced": priced,
            "flagged": sum(1 for f in c["flags"] if f),
            "coverage_claimed": int(sum(bool(x) for x in c["coverage_claimed"])),
        },
        "flags": dict(sorted(flag_counts.items())),
        "asking_position": dict(sorted(positions.items())),
        "audit": {
            "input_sha256": {f.name: sha256_file(f) for f in files},
            "calibration_id": calibration_id,
            "listing_model_sha256": model_sha,
            "engine_version": __version__,
        },
        "seconds": round(seconds, 3),
    }


def _write_batch(out: Path, quotes: Any, summary: dict[str, Any], quarantine: list[Any]) -> None:
    import pyarrow.parquet as pq

    from valuation.pricing.quote import to_arrow

    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        pq.write_table(to_arrow(quotes), tmp / QUOTES)
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        if quarantine:
            text = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in quarantine)
            (tmp / QUARANTINE).write_text(text, encoding="utf-8")
        tmp.chmod(0o755)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@app.command("price")
def price_command(
    listings: Annotated[
        str,
        typer.Argument(
            help="One listing (.json), an exchange export (.csv or .parquet: DaDaDa columns or "
            "the specification's listings table), or a folder of .csv exports."
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="Folder (new or empty) for quotes.parquet, summary.json and quarantine.jsonl; "
            "required for an export, optional for one listing (quote.json).",
        ),
    ] = None,
    calibration: Annotated[
        str | None,
        typer.Option(
            "--calibration", help="CalibrationSet with a listing model (default: bundled)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace a non-empty --out.")] = False,
) -> None:
    """Quote listings: an 80 % price band in CNY, comparables, flags, asking-price check.

    Each listing gets a band for its price mode, a suggested price, the comparables behind it,
    flags with reasons and where its asking price lies against the band.

    Placeholder asking prices and per-call prices that are package prices are found in the
    data and flagged; a band for an exchange, price mode or attributes the model has not seen
    is flagged out_of_distribution and claims no coverage. Exit 2 on bad input (nothing
    written); 3 when an export had unreadable rows (quarantined with their reasons, the rest
    priced).
    """
    from valuation.calibration_set import load_calibration
    from valuation.pricing import quote_listings, read_listings

    start = time.perf_counter()
    source = Path(listings)
    target = None if out is None else Path(out)
    if target is not None and target.exists() and not force:
        if not target.is_dir() or any(target.iterdir()):
            raise DpvInputError("exists and is not empty (use --force to replace)", source=out)
    batch, single = read_listings(source)
    if not single and target is None:
        raise DpvInputError("an export needs --out DIR", field="--out")
    cal = load_calibration(calibration)
    model = cal.listing_model()
    if model is None:
        raise DpvInputError(
            "the CalibrationSet has no listing model (fit one with dpv calibrate --listings DIR)",
            source=str(cal.path),
        )
    if len(batch) == 0:
        reasons = "; ".join(
            f"line {q['line']}: {q['field']}: {q['reason']}" for q in batch.quarantine
        )
        raise DpvInputError(f"no readable listing ({reasons})", source=str(source))
    quotes = quote_listings(batch, model, calibration_id=cal.id)
    if single:
        quote = quotes.row(0)
        if target is not None:
            target.mkdir(parents=True, exist_ok=True)
            (target / QUOTE).write_text(json.dumps(quote, indent=2, ensure_ascii=False) + "\n")
        typer.echo(json.dumps(quote, indent=2, ensure_ascii=False) if as_json else _table(quote))
        return
    assert target is not None
    summary = _summary(quotes, batch, source, cal.id, model.sha256, time.perf_counter() - start)
    summary["timings"] = {k: round(v, 4) for k, v in quotes.timings.items()}
    _write_batch(target, quotes, summary, batch.quarantine)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, ensure_ascii=False))
    else:
        rows = summary["rows"]
        typer.echo(
            f"priced {rows['priced']:,} of {rows['read']:,} listings ({rows['flagged']:,} flagged, "
            f"{rows['quarantined']:,} quarantined, coverage claimed for "
            f"{rows['coverage_claimed']:,}) with {cal.id}; wrote {target}"
        )
    if batch.quarantine:
        raise typer.Exit(code=3)
