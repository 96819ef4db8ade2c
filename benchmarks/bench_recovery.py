"""Recovery of a known value: the engine against the synthetic market's ``economic_value``.

Generates a synthetic market (``dpv synth``), calibrates on its own history (``dpv
calibrate``), values every product with the calibration (and with the built-in defaults, to
show what calibration buys), and prints the median ratio of the concluded value to the truth
overall and per category, the share of P10-P90 ranges that hold the truth, and each method's
log error. The issue's goals: median ratio in 0.9-1.1 overall and 0.8-1.25 per category;
the P10-P90 range holds the truth for 70-90 % of products.

Usage::

    .venv/bin/python benchmarks/bench_recovery.py [--products 5000] [--seed 11] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from calibration.recovery import method_errors, recovery_report
from valuation import value_many
from valuation.calibration_set import load_calibration
from valuation.defaults import default_calibration_id
from valuation.schema.product import Product

AS_OF = "2026-10-31"


def _dpv(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "valuation", *args], check=True, capture_output=True)


def run(products: int, seed: int, work: Path, listings: Path | None) -> dict[str, Any]:
    """Generate, calibrate and value a market; return the recovery reports."""
    market = work / "market"
    _dpv("synth", "--products", str(products), "--seed", str(seed), "--out", str(market))
    cal_dir = work / "calibration"
    args = ["calibrate", "--history", str(market), "--out", str(cal_dir)]
    if listings is not None:
        args += ["--listings", str(listings)]
    t = time.perf_counter()
    _dpv(*args)
    calibrate_s = time.perf_counter() - t
    with open(market / "products.jsonl", encoding="utf-8") as handle:
        parsed = [Product.model_validate_json(line) for line in handle if line.strip()]
    truth_table = pq.read_table(market / "product_truth.parquet").to_pydict()
    truth = dict(zip(truth_table["product_id"], truth_table["economic_value"], strict=True))
    categories = [p.category for p in parsed]
    cal = load_calibration(cal_dir)
    t = time.perf_counter()
    calibrated = value_many(
        parsed,
        as_of=AS_OF,
        parameters_override=cal.valuation_overrides,
        calibration_id=cal.id,
        market_model=cal.market_model(),
    )
    value_s = time.perf_counter() - t
    defaults = value_many(parsed, as_of=AS_OF, calibration_id=default_calibration_id())
    zero_error = {"method_error": {"income": 0.0, "cost": 0.0, "market": 0.0, "market_model": 0.0}}
    raw = value_many(
        parsed,
        as_of=AS_OF,
        parameters_override={**cal.valuation_overrides, **zero_error},
        calibration_id=cal.id,
        market_model=cal.market_model(),
        samples=0,
    )
    return {
        "products": products,
        "seed": seed,
        "calibrate_seconds": round(calibrate_s, 1),
        "value_seconds": round(value_s, 1),
        "calibrated": recovery_report(calibrated, truth, categories),
        "defaults": recovery_report(defaults, truth, categories),
        "measured_method_error": method_errors(raw, truth),
    }


def _print(report: dict[str, Any]) -> None:
    for label in ("calibrated", "defaults"):
        r = report[label]
        print(
            f"{label:>10}: n {r['n']:,} (unvalued {r['n_unvalued']}), median ratio "
            f"{r['median_ratio']:.3f}, P10-P90 coverage {r['range_coverage']:.3f}, "
            f"median P90/P10 {r['median_p90_p10']:.2f}, log error sd {r['log_error_sd']:.3f}"
        )
        for c, row in r["by_category"].items():
            print(
                f"{'':>12}{c:<16} n {row['n']:>5,} median ratio {row['median_ratio']:.3f} "
                f"coverage {row['range_coverage']:.3f}"
            )
        for m, row in r["methods"].items():
            print(
                f"{'':>12}{m:<16} n {row['n']:>5,} median ratio {row['median_ratio']:.3f} "
                f"log error sd {row['log_error_sd']:.3f}"
            )
    print(f"measured method_error: {report['measured_method_error']}")


def main() -> None:
    """Run the recovery benchmark and print (or write) its report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--listings",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "tests" / "data" / "exchange-listings",
    )
    ns = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        report = run(ns.products, ns.seed, Path(tmp), ns.listings if ns.listings.exists() else None)
    _print(report)
    if ns.json is not None:
        ns.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
