"""Invariants of the three methods and the reconciliation, stated as properties."""

from __future__ import annotations

import copy
import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_valuation.products import AS_OF, products
from valuation import value

FAST = settings(max_examples=40, deadline=None)


def income(p: dict[str, Any]) -> float:
    v = value(p, as_of=AS_OF, samples=0).methods.income.value
    assert v is not None
    return v


def cost(p: dict[str, Any]) -> float:
    v = value(p, as_of=AS_OF, samples=0).methods.cost.value
    assert v is not None
    return v


@FAST
@given(products(with_all_methods=True), st.floats(1.1, 3.0))
def test_income_is_linear_in_the_royalty_rate(p: dict[str, Any], factor: float) -> None:
    p = copy.deepcopy(p)
    p["income_assumptions"]["mode"] = "revenue_share"  # the royalty is this mode's rate
    rate = p["income_assumptions"]["royalty_rate"]
    scaled = copy.deepcopy(p)
    scaled["income_assumptions"]["royalty_rate"] = min(rate * factor, 1.0)
    actual_factor = scaled["income_assumptions"]["royalty_rate"] / rate
    assert math.isclose(income(scaled), income(p) * actual_factor, rel_tol=1e-12)


@FAST
@given(products(with_all_methods=True), st.floats(1.01, 5.0))
def test_income_rises_with_revenue(p: dict[str, Any], factor: float) -> None:
    richer = copy.deepcopy(p)
    latest = max(richer["revenue"], key=lambda r: r["period_end"])
    latest["licensing"] *= factor
    assert income(richer) > income(p)


@FAST
@given(products(with_all_methods=True), st.floats(0.005, 0.2))
def test_income_falls_as_the_discount_rate_rises(p: dict[str, Any], step: float) -> None:
    dearer = copy.deepcopy(p)
    dearer["income_assumptions"]["discount_rate"] = min(
        p["income_assumptions"]["discount_rate"] + step, 1.0
    )
    assert income(dearer) < income(p)


@FAST
@given(products(with_all_methods=True), st.data())
def test_cost_rises_with_each_cost_item(p: dict[str, Any], data: st.DataObject) -> None:
    k = data.draw(st.integers(0, len(p["costs"]) - 1))
    more = copy.deepcopy(p)
    more["costs"][k]["amount"] *= data.draw(st.floats(1.01, 10.0))
    assert cost(more) > cost(p)


@FAST
@given(products(with_all_methods=True), st.sampled_from(["accuracy", "timeliness", "completeness"]))
def test_cost_rises_with_quality(p: dict[str, Any], dimension: str) -> None:
    better = copy.deepcopy(p)
    q = better["attributes"]["quality"]
    if q[dimension] >= 0.99:
        q[dimension] = 0.5
        p = copy.deepcopy(better)
        q = better["attributes"]["quality"]
    q[dimension] = min(q[dimension] + 0.05, 1.0)
    assert cost(better) > cost(p)


@settings(max_examples=60, deadline=None)
@given(products())
def test_no_method_returns_a_negative_or_non_finite_value(p: dict[str, Any]) -> None:
    result = value(p, as_of=AS_OF, samples=50)
    for method in ("income", "cost", "market"):
        m = getattr(result.methods, method)
        assert (m.value is None) != (m.skipped is None)
        if m.value is not None:
            assert math.isfinite(m.value) and m.value >= 0
    if result.concluded_value is not None:
        assert math.isfinite(result.concluded_value) and result.concluded_value >= 0
        assert math.isclose(sum(result.weights.model_dump().values()), 1.0, rel_tol=1e-12)


@settings(max_examples=30, deadline=None)
@given(products(with_all_methods=True), st.integers(0, 2**63))
def test_range_brackets_the_concluded_value(p: dict[str, Any], seed: int) -> None:
    result = value(p, as_of=AS_OF, samples=2000, seed=seed)
    assert result.range is not None and result.concluded_value is not None
    assert result.range.p10 <= result.concluded_value <= result.range.p90
    assert result.range.p10 <= result.range.p50 <= result.range.p90


def test_valuing_does_not_change_the_product() -> None:
    from valuation.examples import load_example

    product = load_example("data_product")
    before = product.model_dump_json()
    value(product, as_of=AS_OF)
    assert product.model_dump_json() == before


def test_batch_results_equal_single_results() -> None:
    from valuation import value_many
    from valuation.examples import EXAMPLES, load_example

    products = [load_example(name) for name in EXAMPLES]
    together = value_many(products, as_of=AS_OF, samples=500, seed=3)
    for product, batch_result in zip(products, together, strict=True):
        alone = value(product, as_of=AS_OF, samples=500, seed=3)
        assert alone.model_dump_json() == batch_result.model_dump_json()
