"""Implausible inputs: a method worth nothing gets no weight, and amounts beyond the stated
magnitude of their currency are refused naming the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_valuation import pledges
from valuation import value
from valuation.defaults import MAX_AMOUNT, MAX_AMOUNT_OTHER, max_amount
from valuation.examples import EXAMPLES, example_path
from valuation.exceptions import DpvInputError
from valuation.schema._base import parse_model
from valuation.schema.pledge import PledgeRequest
from valuation.schema.product import Product


def _example(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(Path(example_path(name)).read_text())
    return doc


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("mode", ["auto", "revenue_share", "mixed", "direct"])
def test_a_zero_royalty_rate_never_gives_a_weighted_zero(name: str, mode: str) -> None:
    doc = _example(name)
    doc["income_assumptions"] = {
        **{k: v for k, v in doc.get("income_assumptions", {}).items() if k != "mode"},
        "royalty_rate": 0.0,
        "mode": mode,
    }
    result = value(doc, as_of="2026-11-01", samples=0)
    for method in ("income", "cost", "market"):
        m = getattr(result.methods, method)
        weight = getattr(result.weights, method)
        if m.value is None:
            assert weight == 0.0, method
        else:
            assert m.value > 0.0, method  # a method worth nothing is skipped, with its reason
    if mode == "revenue_share":
        assert result.methods.income.skipped is not None
        assert result.weights.income == 0.0


@pytest.mark.parametrize(
    ("path", "currency"),
    [
        (("costs", 0, "amount"), "CNY"),
        (("revenue", 0, "licensing"), "CNY"),
        (("revenue", 1, "services"), "USD"),
        (("costs", 1, "amount"), "JPY"),
        (("costs", 0, "amount"), "XAF"),
    ],
)
def test_amounts_beyond_the_currency_bound_are_refused(
    path: tuple[str, int, str], currency: str
) -> None:
    bound = max_amount(currency)
    assert bound == MAX_AMOUNT.get(currency, MAX_AMOUNT_OTHER)
    doc = _example("data_product")
    doc["currency"] = currency
    section, index, field = path
    at_bound = copy.deepcopy(doc)
    at_bound[section][index][field] = bound
    parse_model(Product, at_bound)  # the bound itself is accepted
    beyond = copy.deepcopy(doc)
    beyond[section][index][field] = bound * 1.0001
    with pytest.raises(DpvInputError) as err:
        parse_model(Product, beyond, source="p.json")
    assert err.value.field == f"{section}[{index}].{field}"
    assert "plausible magnitude" in err.value.problem and currency in err.value.problem


def test_cost_1e308_and_revenue_1e20_are_not_valued() -> None:
    for section, field, amount in (("costs", "amount", 1e308), ("revenue", "licensing", 1e20)):
        doc = _example("data_product")
        doc[section][0][field] = amount
        with pytest.raises(DpvInputError, match="plausible magnitude"):
            value(doc, as_of="2026-11-01")


def test_pledge_amounts_use_the_loan_currency() -> None:
    doc = pledges.example(paths=1000)
    doc["loan"]["amount"] = 5e12
    parse_model(PledgeRequest, doc)  # within 10^13 CNY
    doc["loan"]["currency"] = "USD"
    with pytest.raises(DpvInputError) as err:
        parse_model(PledgeRequest, doc)
    assert err.value.field == "loan.amount"
