"""Speed and memory of ``dpv revalue`` on a synthetic book (a benchmark, not a test).

The book tiles the bundled sample (2,000 products from ``dpv synth``) to ``--products`` rows,
each copy under its own product id (so every copy is valued and stressed afresh), and gives
every fifth product a loan (12 months, annuity, 2 % annual default probability; amounts
seeded), stressed at ``--paths`` paths (default 1,000) × 12 monthly steps.

Runs, each a fresh ``python -m valuation revalue`` process on the same files, timed from spawn
to exit, with the peak resident memory of that process (``wait4``; for Dask, the driver's):

* ``local_1t`` / ``local_2t``: the local engine with ``NUMBA_NUM_THREADS`` 1 and 2;
* ``values_only``: the local engine on 2 threads without the loans (what the stress costs is
  the difference);
* ``dask_1`` / ``dask_2``: a local Dask cluster of 1 worker (with every core's numba threads)
  and of 2 workers (one thread each); both are compared with ``local_2t``, the same cores;
* ``local_small``: the local engine on a tenth of the book, for the memory at two sizes.

Printed: products per second, the time 1,000,000 products would take at that rate against the
goal of 5 minutes (a ratio; below 1 meets it), the peak RSS against 2 GB, Dask's time against
the local engine's on the same data and threads, and whether every run published the same
bytes.

Usage::

    .venv/bin/python benchmarks/bench_revalue.py --products 10000        # a few minutes here
    .venv/bin/python benchmarks/bench_revalue.py                         # 1,000,000 products
    .venv/bin/python benchmarks/bench_revalue.py --products 20000 --json
    .venv/bin/python benchmarks/bench_revalue.py --only dask_2               # 1 M, one run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "valuation" / "data" / "sample" / "products.jsonl"
AS_OF = "2026-06-30"
GOAL_SECONDS = 300.0
GOAL_PRODUCTS = 1_000_000
RSS_LIMIT_MB = 2048.0
_ID = re.compile(rb'"product_id":"([^"]+)"')


def make_book(folder: Path, n: int, seed: int = 11) -> tuple[Path, Path]:
    """Tile the sample to ``n`` products (ids suffixed by the copy) and lend on every fifth."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = SAMPLE.read_bytes().splitlines()
    rng = np.random.default_rng(seed)
    amounts = np.round(rng.lognormal(np.log(1.5e6), 0.8, n // 5 + 1), -3)
    products = folder / "products.jsonl"
    loans = folder / "loans.csv"
    with products.open("wb") as book, loans.open("w", encoding="utf-8") as table:
        table.write("loan_id,product_id,amount,tenor_months,annual_rate,amortization,annual_pd\n")
        for i in range(n):
            copy, index = divmod(i, len(lines))
            line = lines[index]
            match = _ID.search(line)
            assert match is not None
            product_id = match.group(1).decode() + (f"-T{copy}" if copy else "")
            if copy:
                line = line[: match.start(1)] + product_id.encode() + line[match.end(1) :]
            book.write(line + b"\n")
            if i % 5 == 0:
                amount = amounts[i // 5]
                table.write(f"LN{i},{product_id},{amount:.0f},12,0.05,annuity,0.02\n")
    return products, loans


def run(args: list[str], threads: int | None) -> tuple[float, float, dict[str, Any]]:
    """Run ``dpv revalue``; return wall seconds, peak RSS in MB and the summary."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if threads is not None:
        env["NUMBA_NUM_THREADS"] = str(threads)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "valuation", "revalue", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise RuntimeError(f"dpv revalue exited {code}: {err.decode()[-2000:]}")
    out = Path(args[args.index("--out") + 1])
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return seconds, usage.ru_maxrss / 1024.0, summary


def digest(out: Path) -> str:
    """SHA-256 over the published parts and the quarantine, in order."""
    h = hashlib.sha256()
    for path in [*sorted(out.glob("part-*.parquet")), out / "quarantine.jsonl"]:
        h.update(path.read_bytes())
    return h.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=GOAL_PRODUCTS)
    parser.add_argument("--paths", type=int, default=1000)
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask runs")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument(
        "--only",
        help="comma-separated runs to make (of local_1t, local_2t, values_only, dask_1, dask_2, "
        "local_small); all by default",
    )
    args = parser.parse_args()
    n = args.products
    results: dict[str, Any] = {"products": n, "paths": args.paths, "chunk_size": args.chunk_size}
    with tempfile.TemporaryDirectory(prefix="bench-revalue-") as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        book, loans = make_book(folder, n)
        small_book, small_loans = make_book(folder / "small", max(1, n // 10)) if n >= 10 else (
            None, None)  # fmt: skip
        results["book_seconds"] = time.perf_counter() - start
        common = ["--as-of", AS_OF, "--chunk-size", str(args.chunk_size), "--paths",
                  str(args.paths)]  # fmt: skip
        plan: list[tuple[str, list[str], int | None]] = [
            ("local_1t", [str(book), "--loans", str(loans)], 1),
            ("local_2t", [str(book), "--loans", str(loans)], 2),
            ("values_only", [str(book)], 2),
        ]
        if not args.no_dask:
            plan += [
                ("dask_1", [str(book), "--loans", str(loans), "--engine", "dask", "--workers",
                            "1"], None),
                ("dask_2", [str(book), "--loans", str(loans), "--engine", "dask", "--workers",
                            "2"], None),
            ]  # fmt: skip
        if small_book is not None:
            plan.append(("local_small", [str(small_book), "--loans", str(small_loans)], 2))
        if args.only:
            wanted = set(args.only.split(","))
            unknown = wanted - {name for name, _, _ in plan}
            if unknown:
                parser.error(f"--only: no run named {', '.join(sorted(unknown))}")
            plan = [step for step in plan if step[0] in wanted]
        digests: dict[str, str] = {}
        for name, extra, threads in plan:
            out = folder / f"out-{name}"
            seconds, rss, summary = run([*extra, "--out", str(out), *common], threads)
            size = summary["rows"]["read"]
            stressed = sum(
                pq.read_table(part, columns=["loan_status"])
                .column("loan_status")
                .to_pylist()
                .count("stressed")
                for part in sorted(out.glob("part-*.parquet"))
            )
            results[name] = {
                "seconds": seconds,
                "run_seconds": summary["seconds"],
                "products": size,
                "stressed": stressed,
                "products_per_s": size / seconds,
                "peak_rss_mb": rss,
                "goal_ratio_1m": seconds * GOAL_PRODUCTS / size / GOAL_SECONDS,
            }
            if name not in ("values_only", "local_small"):
                digests[name] = digest(out)
            r = results[name]
            if not args.json:
                print(
                    f"{name:<12} {size:>9,} products ({stressed:,} stressed): {seconds:7.1f} s, "
                    f"{r['products_per_s']:7.0f} products/s, 1 M would take "
                    f"{r['goal_ratio_1m']:.2f}x the 5-minute goal, peak RSS {rss:6.0f} MB "
                    f"({rss / RSS_LIMIT_MB:.2f}x of 2 GB)",
                    flush=True,
                )
        results["identical"] = len(set(digests.values())) == 1
        if "dask_2" in results and "dask_1" in results and "local_2t" in results:
            results["dask_overhead_2"] = (
                results["dask_2"]["seconds"] / results["local_2t"]["seconds"]
            )
            # one worker holds every core (NUMBA_NUM_THREADS = CPUs): compare with 2 threads too
            results["dask_overhead_1"] = (
                results["dask_1"]["seconds"] / results["local_2t"]["seconds"]
            )
        if "values_only" in results and "local_2t" in results:
            values = results["values_only"]["seconds"]
            results["stress_share"] = 1.0 - values / results["local_2t"]["seconds"]
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"every run with loans published the same bytes: {results['identical']}")
    if "stress_share" in results:
        print(f"stress share of the 2-thread local run: {results['stress_share']:.0%}")
    if "dask_overhead_2" in results:
        print(f"Dask / local on the same data: 1 worker {results['dask_overhead_1']:.2f}x, "
              f"2 workers {results['dask_overhead_2']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
