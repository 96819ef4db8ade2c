"""Where the CPU time of one ``dpv revalue`` chunk goes, per product (a benchmark, not a test).

One chunk of the tiled book of ``bench_revalue.py`` (every fifth product with a loan, stressed
at 1,000 paths × 12 monthly steps) is valued by ``value_chunk`` in this process, after a
warm-up chunk, and its CPU time (``time.process_time``: run it with ``NUMBA_NUM_THREADS=1`` so
that it is one core's) is split into:

* ``parse``: the lines into validated Products;
* ``prepare``: the products into the kernels' arrays (the market method's selection included);
* ``kernels``: the valuation and range kernels;
* ``stress``: the loans' stress engine (request, model, simulation, summary);
* ``assembly``: the rest — the products' conclusions, audit hashes, rows, the loans' columns
  around the stress and the record batch;
* ``gc``: of all that, the time Python's cyclic garbage collector ran (``--no-gc`` disables
  it for the chunk, to measure an engine that does not pause it without).

Printed: microseconds of CPU per product for each, and the total against the budget of
0.6 ms per product (1,000,000 products in 5 minutes on 2 cores; a ratio below 1 meets it).
The parts are timed by wrapping the functions that run them, so the script runs on earlier
versions of the engine too (point ``PYTHONPATH`` at one to compare).

Usage::

    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_chunk_parts.py            # 10,000
    NUMBA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_chunk_parts.py --products 2500 --json
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import gc
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_revalue import AS_OF, make_book

BUDGET_US = 600.0
WARM_UP = 200


def _timed(seconds: dict[str, float], label: str, module: Any, name: str) -> None:
    """Replace ``module.name`` by a wrapper adding its CPU time to ``seconds[label]``."""
    function: Callable[..., Any] = getattr(module, name)

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            seconds[label] = seconds.get(label, 0.0) + time.process_time() - start

    setattr(module, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    parser.add_argument(
        "--no-gc",
        action="store_true",
        help="disable the cyclic garbage collector for the whole run (what it costs an engine "
        "that does not pause it)",
    )
    args = parser.parse_args()

    import valuation._valuate as valuate
    import valuation.pledge.api as pledge_api
    import valuation.revalue.chunk as chunk
    import valuation.risk.api as risk_api
    import valuation.risk.model as risk_model
    from valuation.calibration_set import load_calibration
    from valuation.defaults import parameters
    from valuation.revalue.loans import read_loans
    from valuation.revalue.source import iter_batches, open_portfolio
    from valuation.schema.pledge import Policy

    seconds: dict[str, float] = {}
    _timed(seconds, "parse", chunk, "_parse_batch")
    _timed(seconds, "prepare", valuate, "prepare")
    _timed(seconds, "kernels", valuate, "value_batch")
    _timed(seconds, "kernels", valuate, "range_batch")
    for module, name in (
        (pledge_api, "stress_request"),
        (risk_model, "build_model"),
        (risk_api, "simulate"),
        (risk_api, "summarise"),
    ):
        _timed(seconds, "stress", module, name)
    collecting = {"seconds": 0.0, "since": 0.0}

    def on_collect(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            collecting["since"] = time.process_time()
        else:
            collecting["seconds"] += time.process_time() - collecting["since"]

    with tempfile.TemporaryDirectory(prefix="bench-chunk-") as tmp:
        products, loans = make_book(Path(tmp), args.products)
        cal = load_calibration(None)
        context = chunk.ChunkContext(
            as_of=dt.date.fromisoformat(AS_OF),
            seed=int(parameters(dict(cal.valuation_overrides))["reconciliation"]["seed"]),
            calibration_id=cal.id,
            parameters_override=cal.valuation_overrides,
            market_model=cal.market_model(),
            loans=read_loans(loans).loans,
            policy=Policy(),
        )
        batch = next(iter_batches(open_portfolio(products), args.products))
    chunk.value_chunk(batch.slice(0, WARM_UP), context)
    seconds.clear()
    gc.callbacks.append(on_collect)
    if args.no_gc:
        gc.disable()
    start = time.process_time()
    output = chunk.value_chunk(batch, context)
    total = time.process_time() - start
    gc.callbacks.remove(on_collect)
    n = output.values.num_rows
    named = ("parse", "prepare", "kernels", "stress")
    per_product = {name: seconds.get(name, 0.0) / n * 1e6 for name in named}
    per_product["assembly"] = (total - sum(seconds.get(k, 0.0) for k in named)) / n * 1e6
    per_product["gc"] = collecting["seconds"] / n * 1e6
    per_product["total"] = total / n * 1e6
    result = {"products": n, "us_per_product": per_product,
              "budget_ratio": per_product["total"] / BUDGET_US}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=1))
        return
    for name, us in per_product.items():
        print(f"{name:<9} {us:8.1f} µs per product")
    print(f"total / budget of {BUDGET_US:.0f} µs: {result['budget_ratio']:.2f}x")


if __name__ == "__main__":
    main()
