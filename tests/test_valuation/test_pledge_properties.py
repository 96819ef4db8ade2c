"""Invariants of the pledge rules (hypothesis)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from tests.test_valuation.pledges import product
from valuation.pledge.decision import risk_grade
from valuation.pledge.eligibility import add_months, assess_eligibility
from valuation.schema.pledge import GRADES, PledgeLoan, Policy
from valuation.schema.product import Product

POLICY = Policy()
unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(unit, unit, unit, unit)
def test_grade_never_improves_when_breach_or_loss_rises(b1: float, b2: float, l1: float, l2: float):
    low = risk_grade(min(b1, b2), min(l1, l2), POLICY)
    high = risk_grade(max(b1, b2), max(l1, l2), POLICY)
    assert GRADES.index(low) <= GRADES.index(high)


@given(st.integers(1, 120), st.integers(1, 120), st.integers(0, 2000))
def test_a_longer_tenor_never_makes_an_item_eligible(t1: int, t2: int, days: int):
    as_of = dt.date(2026, 11, 1)
    expires = as_of + dt.timedelta(days=days + 1)
    item = Product.model_validate(product("P1", expires_on=expires.isoformat()))

    def eligible(tenor: int) -> bool:
        loan = PledgeLoan(amount=1.0, tenor_months=tenor)
        return assess_eligibility([item], as_of=as_of, loan=loan, policy=POLICY)[0].eligible

    short, long_ = min(t1, t2), max(t1, t2)
    assert eligible(long_) <= eligible(short)
    assert eligible(short) == (expires >= add_months(as_of, short))


@given(st.dates(dt.date(2000, 1, 1), dt.date(2090, 12, 31)), st.integers(0, 240))
def test_add_months_lands_in_the_right_month_never_later_day(start: dt.date, months: int):
    end = add_months(start, months)
    assert (end.year * 12 + end.month) - (start.year * 12 + start.month) == months
    assert end.day <= start.day
