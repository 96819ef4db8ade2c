"""Eligibility of pledged items: every reason code, asserted exactly."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.test_valuation.pledges import product
from valuation.pledge.eligibility import add_months, assess_eligibility
from valuation.schema.pledge import PledgeLoan, Policy
from valuation.schema.product import Product

AS_OF = dt.date(2026, 11, 1)
LOAN = PledgeLoan(amount=1e6, tenor_months=12)


def _codes(*docs, policy: Policy | None = None, loan: PledgeLoan = LOAN) -> list[list[str]]:
    products = [Product.model_validate(d) for d in docs]
    verdicts = assess_eligibility(products, as_of=AS_OF, loan=loan, policy=policy or Policy())
    for v in verdicts:
        assert v.eligible == (not v.reasons)
    return [[r.code for r in v.reasons] for v in verdicts]


def test_a_valid_certificate_lasting_beyond_maturity_is_eligible():
    assert _codes(product("P1")) == [[]]


@pytest.mark.parametrize("status", ["announced", "objected", "revoked", "expired"])
def test_status_other_than_valid_is_ineligible(status: str):
    assert _codes(product("P1", status=status)) == [[f"certificate_{status}"]]


def test_valid_status_but_past_expiry_is_expired():
    doc = product("P1", registered_on="2023-01-01", expires_on="2026-10-31")
    assert _codes(doc) == [["certificate_expired"]]


def test_registered_after_the_assessment_date():
    doc = product("P1", registered_on="2026-12-01", expires_on="2029-12-01")
    assert _codes(doc) == [["certificate_not_yet_registered"]]


def test_remaining_validity_against_maturity_boundary():
    # maturity: 2026-11-01 + 12 months = 2027-11-01; the day itself is enough
    assert _codes(product("P1", expires_on="2027-11-01")) == [[]]
    assert _codes(product("P1", expires_on="2027-10-31")) == [
        ["certificate_expires_before_maturity"]
    ]


def test_policy_margin_after_maturity():
    policy = Policy(min_certificate_months_after_maturity=3)
    assert _codes(product("P1", expires_on="2028-02-01"), policy=policy) == [[]]
    assert _codes(product("P1", expires_on="2028-01-31"), policy=policy) == [
        ["certificate_expires_before_maturity"]
    ]


def test_currency_mismatch():
    assert _codes(product("P1", currency="USD")) == [["currency_mismatch"]]


def test_same_product_twice_only_the_first_counts():
    assert _codes(product("P1"), product("P1")) == [[], ["duplicate_collateral"]]


def test_same_certificate_under_another_id_is_a_duplicate():
    assert _codes(product("P1", number="C-9"), product("P2", number="C-9")) == [
        [],
        ["duplicate_collateral"],
    ]


def test_several_reasons_at_once():
    doc = product("P1", status="objected", currency="EUR", expires_on="2027-06-01")
    assert _codes(product("P1"), doc) == [
        [],
        [
            "certificate_objected",
            "certificate_expires_before_maturity",
            "currency_mismatch",
            "duplicate_collateral",
        ],
    ]


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        ("2026-11-01", 12, "2027-11-01"),
        ("2026-11-01", 14, "2028-01-01"),
        ("2026-01-31", 1, "2026-02-28"),
        ("2024-01-31", 1, "2024-02-29"),
        ("2026-12-31", 0, "2026-12-31"),
    ],
)
def test_add_months(start: str, months: int, expected: str):
    assert add_months(dt.date.fromisoformat(start), months) == dt.date.fromisoformat(expected)
