"""Benchmark ``dpv synth``: wall time and peak memory at 100k and 1M products.

Each size runs in a fresh subprocess so that its peak RSS (``resource.getrusage``) is its own.
The reference beside it is the obvious slow path the generator avoids: building a pydantic
``Product`` per row (timed on the JSON lines of a small market, then scaled per product).

Run: ``.venv/bin/python benchmarks/bench_synth.py [--sizes 100000 1000000] [--format parquet]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from calibration.synth import generate_market
n, out, fmt = int(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.perf_counter()
result = generate_market(n, 20241201, out, fmt)
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
record = {"n": n, "seconds": seconds, "peak_rss_mib": peak_kib / 1024, "rows": result.rows}
print(json.dumps(record))
"""


def run_size(n: int, fmt: str, workdir: Path) -> dict[str, object]:
    out = workdir / f"market-{n}"
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(n), str(out), fmt],
        check=True,
        capture_output=True,
        text=True,
    )
    record = json.loads(proc.stdout)
    record["bytes_on_disk"] = sum(p.stat().st_size for p in out.iterdir())
    return record


def reference_per_product(workdir: Path, n: int = 5000) -> float:
    """Seconds per product to build a pydantic Product from each generated JSON line."""
    from calibration.synth import generate_market
    from valuation.schema.product import Product

    out = workdir / "reference"
    generate_market(n, 1, out, "csv")
    lines = (out / "products.jsonl").read_text(encoding="utf-8").splitlines()
    start = time.perf_counter()
    for line in lines:
        Product.model_validate_json(line)
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        per_product_reference = reference_per_product(workdir)
        print(
            f"{'products':>10} {'seconds':>8} {'peak RSS MiB':>13} {'GB on disk':>10} "
            f"{'us/product':>10} {'+pydantic/row s':>16}"
        )
        for n in args.sizes:
            rec = run_size(n, args.format, workdir)
            seconds = float(rec["seconds"])  # type: ignore[arg-type]
            rss = float(rec["peak_rss_mib"])  # type: ignore[arg-type]
            gigabytes = int(rec["bytes_on_disk"]) / 1e9  # type: ignore[call-overload]
            print(
                f"{n:>10,} {seconds:>8.1f} {rss:>13.0f} {gigabytes:>10.2f} "
                f"{seconds / n * 1e6:>10.1f} {per_product_reference * n:>16.1f}"
            )
            for p in (workdir / f"market-{n}").iterdir():
                p.unlink()
        print(
            "+pydantic/row: the seconds that validating each product as a pydantic Product "
            f"would add ({per_product_reference * 1e6:.1f} us/product), the path the generator "
            "avoids by formatting the JSON with Arrow kernels"
        )


if __name__ == "__main__":
    main()
