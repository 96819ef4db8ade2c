"""Out-of-sample report of the hedonic model on real exchange listings (DaDaDa).

Run: ``.venv/bin/python benchmarks/listings_report.py [DATA_DIR]``. Prints, for each scheme
(grouped by exchange, then K-fold), R², MdAPE and the 80% band's coverage, strictly-inside
share and width in log units, without and with the placeholder prices, beside a naive
per-(price mode, category) band.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from models import evaluate_listings, load_listings
from models._listings import BandMetrics, ListingsEvaluation

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "exchange-listings"


def _row(label: str, band: BandMetrics) -> str:
    return (
        f"  {label:<40} {band.n:>5} {band.coverage:>9.3f} {band.strictly_inside:>9.3f}"
        f" {band.mean_width:>9.2f}"
    )


def report(evaluation: ListingsEvaluation, seconds: float) -> str:
    lines = [
        f"{evaluation.scheme}: {evaluation.n_fit_rows} priced listings fitted, "
        f"{evaluation.n_placeholders} placeholders scored only ({seconds:.1f} s)",
        f"  R² log price {evaluation.r2:.3f}   R² within price mode "
        f"{evaluation.r2_within_mode:.3f}   MdAPE {evaluation.mdape:.1%}",
        f"  {'band (nominal ' + format(evaluation.coverage_nominal, '.0%') + ')':<40}"
        f" {'n':>5} {'coverage':>9} {'inside':>9} {'width':>9}",
        _row("hedonic CQR, without placeholders", evaluation.model_without),
        _row("hedonic CQR, with placeholders", evaluation.model_with),
        _row("naive per category, without", evaluation.naive_without),
        _row("naive per category, with", evaluation.naive_with),
        "  per held-out group (hedonic band, without placeholders):",
    ]
    for name, n_fit, band in evaluation.per_fold:
        lines.append(_row(f"{name[:30]} (fit {n_fit})", band))
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    data = Path(argv[1]) if len(argv) > 1 else DEFAULT_DATA
    listings = load_listings(data)
    for scheme in ("grouped by exchange", "K-fold"):
        start = time.perf_counter()
        evaluation = evaluate_listings(listings, scheme=scheme, coverage=0.8, random_state=0)
        print(report(evaluation, time.perf_counter() - start))
        print()


if __name__ == "__main__":
    main(sys.argv)
