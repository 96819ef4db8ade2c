"""CPU time of preparing a batch's inputs (``valuation.methods.inputs.prepare``), by part.

``dpv revalue`` must value 1,000,000 products in 5 minutes on 2 cores: 600 µs of CPU per
product for everything (parsing, inputs, kernels, results, the loans' stress, writing).
This measures the inputs' share on the tiled sample book of ``bench_revalue.py`` (or a book
of ``dpv synth``), at one thread, in CPU seconds (``time.process_time``), with the bundled
calibration (so every product without comparables is valued from the deal history or the
hedonic model), and prints per product:

* ``prepare``: all of it, and its parts: the income and cost inputs, the market method
  without comparables (``market_estimates``) and within it the hedonic prices and bands of
  the products (``_hedonic_of``), the nearest-deal search (``select_many``), the adjustment
  factors (``history_factors``) and the adjusted comparables (``_adjusted``);
* against references measured in the same run on the same rows: LightGBM's own prediction
  of the factors' design rows against the compiled tree kernel (which must give the same
  bits), and the goal's 600 µs.

Usage::

    .venv/bin/python benchmarks/bench_prepare.py                      # 10,000 tiled products
    .venv/bin/python benchmarks/bench_prepare.py --synth 3000 --json  # a dpv synth book
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_revalue import make_book

from valuation.calibration_set import calibration_or_bundled
from valuation.defaults import parameters
from valuation.methods import inputs, market_model
from valuation.methods.profiles import get_profile
from valuation.schema.product import Product

AS_OF = dt.date(2026, 6, 30)
BUDGET_US = 300.0 * 2 / 1_000_000 * 1e6  # 5 minutes on 2 cores for 1,000,000 products
PARTS: dict[ModuleType, tuple[str, ...]] = {
    inputs: ("_prepare_income", "_prepare_cost", "market_estimates"),
    market_model: ("_hedonic_of", "select_many", "history_factors", "_adjusted"),
}


def _timed(seconds: collections.Counter[str], name: str, func: Callable[..., Any]) -> Any:
    def run(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return func(*args, **kwargs)
        finally:
            seconds[name] += time.process_time() - start

    return run


def _products(args: argparse.Namespace, folder: Path) -> list[Product]:
    if args.synth:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "valuation",
                "synth",
                "--products",
                str(args.synth),
                "--out",
                str(folder / "synth"),
                "--seed",
                "7",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        path = folder / "synth" / "products.jsonl"
    else:
        path, _ = make_book(folder / "book", args.products)
    return [Product.model_validate_json(line) for line in path.read_text("utf-8").splitlines()]


def _design_rows(model: Any, products: list[Product], params: dict[str, Any]) -> np.ndarray:
    """The factors' design rows the market method would predict, every move included."""
    from models import adjustment_design

    names = market_model.model_feature_names(model.hedonic)
    weights, life = params["quality_weights"], params["economic_life_years"]
    X = np.array([market_model.feature_row(p, AS_OF, names, weights, life) for p in products])
    selections = market_model.select_many(model, products, X, AS_OF, names)
    rows = [
        adjustment_design(X[j], market_model._comparable_rows(model, s[0], names))[0]
        for j, s in enumerate(selections)
        if s[3] is None
    ]
    return np.concatenate(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10_000, help="tiled sample products")
    parser.add_argument("--synth", type=int, default=0, help="a dpv synth book of N instead")
    parser.add_argument("--chunk-size", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    overrides, _, model = calibration_or_bundled(None, None, None)
    params = parameters(dict(overrides))
    profile = get_profile("cas-2023")
    with tempfile.TemporaryDirectory() as tmp:
        products = _products(args, Path(tmp))
    n = len(products)
    seconds: collections.Counter[str] = collections.Counter()
    for module, names in PARTS.items():
        for name in names:
            setattr(module, name, _timed(seconds, name, getattr(module, name)))
    step = args.chunk_size
    inputs.prepare(products[:50], AS_OF, params, profile, calibrated=True, market_model=model)
    seconds.clear()
    start = time.process_time()
    for i in range(0, n, step):
        chunk = products[i : i + step]
        inputs.prepare(chunk, AS_OF, params, profile, calibrated=True, market_model=model)
    total = time.process_time() - start
    per = {"prepare": total / n * 1e6, **{k: v / n * 1e6 for k, v in seconds.items()}}

    design = _design_rows(model, products[: min(n, 2000)], params)
    booster = model.hedonic.point_booster_
    compiled = model.predictor().point_booster_
    start = time.process_time()
    by_lightgbm = booster.predict(design)
    lightgbm_s = time.process_time() - start
    start = time.process_time()
    by_kernel = compiled.predict(design)
    kernel_s = time.process_time() - start
    out = {
        "products": n,
        "us_per_product": {k: round(v, 1) for k, v in per.items()},
        "prepare_of_budget": round(per["prepare"] / BUDGET_US, 3),
        "design_rows": int(design.shape[0]),
        "lightgbm_us_per_row": round(lightgbm_s / design.shape[0] * 1e6, 3),
        "kernel_us_per_row": round(kernel_s / design.shape[0] * 1e6, 3),
        "kernel_speedup": round(lightgbm_s / kernel_s, 2),
        "kernel_same_bits": by_lightgbm.tobytes() == by_kernel.tobytes(),
    }
    if args.json:
        print(json.dumps(out))
        return
    print(f"{n:,} products, CPU µs per product at one thread:")
    for name, value in out["us_per_product"].items():
        print(f"  {name:<18} {value:8.1f}")
    print(f"prepare: {out['prepare_of_budget']:.2f} of the {BUDGET_US:.0f} µs a product may take")
    print(
        f"hedonic design rows ({out['design_rows']:,}): LightGBM {out['lightgbm_us_per_row']} "
        f"µs/row, compiled kernel {out['kernel_us_per_row']} µs/row "
        f"({out['kernel_speedup']}×), same bits: {out['kernel_same_bits']}"
    )


if __name__ == "__main__":
    main()
