"""Regenerate the bundled sample: ``python -m calibration.synth [OUT_DIR]``.

Writes :data:`SAMPLE_PRODUCTS` products with seed :data:`SAMPLE_SEED` as CSV (and
``products.jsonl``, ``truth.json``) into ``valuation/data/sample`` (or ``OUT_DIR``), replacing
what is there. Equivalent to ``dpv synth --products 2000 --seed 20241201 --format csv --out
valuation/data/sample --force``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from calibration.synth._write import generate_market

SAMPLE_PRODUCTS = 2000
SAMPLE_SEED = 20241201  # Shanghai's data-IP registration opened in December 2024
SAMPLE_DIR = Path(__file__).resolve().parents[2] / "valuation" / "data" / "sample"


def main(argv: list[str] | None = None) -> int:
    """Write the sample and return 0."""
    args = sys.argv[1:] if argv is None else argv
    out = Path(args[0]) if args else SAMPLE_DIR
    result = generate_market(SAMPLE_PRODUCTS, SAMPLE_SEED, out, "csv", force=True)
    print(f"wrote {result.n_products} products to {result.out_dir}: {result.rows}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
