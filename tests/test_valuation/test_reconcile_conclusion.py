"""The conclusion a batch row takes (``dpv revalue``) is the result document's, figure for
figure, and no figure of it is NaN or infinite."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from valuation._valuate import run_kernels
from valuation.calibration_set import DEFAULT_SET
from valuation.methods.reconcile import MARKET_NAMES, conclude

SAMPLE = Path(DEFAULT_SET).parents[1] / "sample" / "products.jsonl"
DOCS = [json.loads(line) for line in SAMPLE.read_text(encoding="utf-8").splitlines()[:400]]


@pytest.mark.parametrize(
    ("as_of", "samples"), [("2026-06-30", None), ("2026-06-30", 0), ("2031-01-15", 200)]
)
def test_conclusion_is_the_results(as_of: str, samples: int | None) -> None:
    valued = run_kernels(DOCS, as_of=as_of, samples=samples)
    sources = {name: source for source, name in MARKET_NAMES.items()}
    codes: set[str] = set()
    for i in range(len(DOCS)):
        c = valued.conclusion(i)
        r = valued.result(i)
        methods = (r.methods.income, r.methods.cost, r.methods.market)
        assert c.values == tuple(m.value for m in methods)
        assert c.concluded_value == r.concluded_value
        assert c.weights == (r.weights.income, r.weights.cost, r.weights.market)
        assert c.range == (None if r.range is None else (r.range.p10, r.range.p50, r.range.p90))
        assert c.notes == [(w.code, w.message) for w in r.warnings]
        assert sources[r.methods.market.name] == c.market_source
        codes.update(code for code, _ in c.notes)
    # the batch exercises the reconciliation's own warnings, not only the inputs'
    assert {"methods_disagree", "certificate_expired"} & codes


def test_without_the_methods_ranges_the_conclusion_is_the_same() -> None:
    """``method_ranges=False`` (a revalue row) keeps the conclusion's range, bit for bit, and
    every conclusion; a result document, which shows the methods' ranges, is refused."""
    full = run_kernels(DOCS, as_of="2026-06-30")
    lean = run_kernels(DOCS, as_of="2026-06-30", method_ranges=False)
    assert full.quantiles is not None and lean.quantiles is not None
    assert lean.quantiles.shape == (len(DOCS), 1, 3)
    assert lean.quantiles[:, 0].tobytes() == full.quantiles[:, 3].tobytes()
    for i in range(len(DOCS)):
        assert repr(lean.conclusion(i)) == repr(full.conclusion(i))
    with pytest.raises(ValueError, match="without the methods' ranges"):
        lean.result(0)


def test_a_figure_not_finite_is_refused() -> None:
    valued = run_kernels(DOCS[:1], as_of="2026-06-30")
    out = valued.outputs
    assert valued.quantiles is not None
    common = {
        "as_of": valued.valuation_date,
        "params": valued.params,
        "has": valued.prepared.has[0],
        "values": out.values[0],
        "weights": out.weights[0],
        "concluded": float(out.concluded[0]),
        "quantiles": valued.quantiles[0],
    }
    product, ctx = valued.products[0], valued.prepared.contexts[0]
    assert conclude(product, ctx, **common).concluded_value is not None
    for name, bad in (
        ("concluded", math.nan),
        ("values", out.values[0] * math.inf),
        ("weights", out.weights[0] * math.nan),
        ("quantiles", valued.quantiles[0] * math.inf),
    ):
        with pytest.raises(ValueError, match="not finite"):
            conclude(product, ctx, **{**common, name: bad})
