"""Pricing 100,000 listings in batch (``dpv price``): target under 20 s; time per stage.

Run: ``.venv/bin/python benchmarks/bench_price.py [N_LISTINGS]``. The export is the shipped
exchange files (``tests/data/exchange-listings``) resampled to N rows (seed 20261204) with
their sizes, records and prices jittered, a tenth of them moved to an exchange the model has
never seen, written as Parquet (not timed). Then, as ``dpv price`` does: read the export, quote
every listing with the bundled CalibrationSet's listing model (flags: placeholder test and
price-mode check; inference; comparables; conformal band; assembly) and write quotes.parquet.
The reference beside the total is the 20 s target; the table shows where the time goes.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_SECONDS = 20.0
DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "exchange-listings"


def make_export(n: int, path: Path, seed: int = 20261204) -> None:
    """Write ``n`` listings resampled from the shipped exports as Parquet."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = []
    for file in sorted(DATA.glob("*.csv")):
        with file.open(encoding="utf-8-sig", newline="") as handle:
            rows.extend(csv.DictReader(handle))
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(rows), n)
    jitter = np.exp(rng.normal(0.0, 0.3, (n, 3)))
    new_exchange = rng.uniform(size=n) < 0.1
    columns: dict[str, list[object]] = {
        k: []
        for k in (
            "listing_id",
            "platform",
            "title",
            "description",
            "provider",
            "category_aws",
            "price",
            "price_mode",
            "currency",
            "volume",
            "size",
            "dimension",
            "coverage",
            "update_frequency",
        )
    }
    for j, i in enumerate(pick.tolist()):
        row = rows[i]
        price = float(row["price"] or 0)
        columns["listing_id"].append(f"B-{j:06d}")
        columns["platform"].append("Hainan Data Exchange" if new_exchange[j] else row["platform"])
        columns["title"].append(row["title"])
        columns["description"].append(row["description"][:200])
        columns["provider"].append(row["provider"])
        columns["category_aws"].append(row["category_aws"])
        columns["price"].append(float(f"{price * jitter[j, 0]:.2g}") if price > 0 else 0.0)
        columns["price_mode"].append(row["price_mode"])
        columns["currency"].append(row["currency"])
        columns["volume"].append(float(row["volume"] or 0) * jitter[j, 1])
        columns["size"].append(float(row["size"] or 0) * jitter[j, 2])
        columns["dimension"].append(float(row["dimension"] or 0))
        columns["coverage"].append(row["coverage"])
        columns["update_frequency"].append(row["update_frequency"])
    pq.write_table(pa.table(columns), path)


def main(argv: list[str]) -> int:
    from valuation.calibration_set import load_calibration
    from valuation.cli._price import _write_batch
    from valuation.pricing import quote_listings, read_listings

    n = int(argv[0]) if argv and argv[0].isdigit() else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.parquet"
        make_export(n, export)
        cal = load_calibration()
        model = cal.listing_model()
        stages: dict[str, float] = {}
        start = time.perf_counter()
        t = time.perf_counter()
        batch, _ = read_listings(export)
        stages["read"] = time.perf_counter() - t
        quotes = quote_listings(batch, model, calibration_id=cal.id)
        stages.update(quotes.timings)
        t = time.perf_counter()
        _write_batch(Path(tmp) / "out", quotes, {"rows": len(quotes)}, batch.quarantine)
        stages["write"] = time.perf_counter() - t
        total = time.perf_counter() - start
    priced = int(np.isfinite(np.asarray(quotes.columns["band_p50"])).sum())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"dpv price on {n:,} listings ({priced:,} with a band), model {model.sha256[:12]}")
    print(f"  {'stage':<14}{'seconds':>9}{'share':>8}")
    for stage, seconds in stages.items():
        print(f"  {stage:<14}{seconds:>9.2f}{seconds / total:>8.1%}")
    print(f"  {'total':<14}{total:>9.2f}")
    ratio = total / TARGET_SECONDS
    print(f"  {n / total:,.0f} listings/s; {ratio:.2f} of the {TARGET_SECONDS:.0f} s target")
    print(f"  load average {load:.2f} on {os.cpu_count()} CPUs")
    return 0 if total < TARGET_SECONDS else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
