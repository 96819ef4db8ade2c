"""Grade, decision and conditions as plain functions: every path, asserted exactly."""

from __future__ import annotations

from dataclasses import replace

import pytest

from valuation.pledge.decision import DecisionInputs, decide, grade_of, risk_grade
from valuation.schema.pledge import Policy

POLICY = Policy()
APPROVABLE = DecisionInputs(
    amount=4_000_000.0,
    tenor_months=12,
    collateral_value=10_000_000.0,
    ineligible_ids=(),
    n_eligible=2,
    policy_max_loan=5_000_000.0,
    risk_max_loan=6_000_000.0,
    breach_probability=0.02,
    expected_loss_rate=0.0005,
    grade="B",
    shorter_tenor_months=None,
)


def _summary(x: DecisionInputs) -> tuple[str, list[str], list[tuple[str, float | None]]]:
    out = decide(x, POLICY)
    return (
        out.decision,
        [r.code for r in out.reasons],
        [
            (c.code, c.amount if c.code != "shorter_tenor" else c.tenor_months)
            for c in out.conditions
        ],
    )


@pytest.mark.parametrize(
    ("value", "grade"),
    [(0.0, "A"), (0.01, "A"), (0.0100001, "B"), (0.05, "B"), (0.1, "C"), (0.25, "D"), (0.3, "E")],
)
def test_breach_grade_bounds_are_inclusive(value: float, grade: str):
    assert grade_of(value, POLICY.grade_breach_bounds) == grade


def test_risk_grade_is_the_worse_of_breach_and_expected_loss():
    assert risk_grade(0.005, 0.0005, POLICY) == "A"
    assert risk_grade(0.005, 0.02, POLICY) == "D"
    assert risk_grade(0.2, 0.0005, POLICY) == "D"
    assert risk_grade(0.2, 0.05, POLICY) == "E"


def test_approve():
    assert _summary(APPROVABLE) == ("approve", ["within_policy"], [])


def test_risk_max_none_means_only_the_policy_limit_binds():
    assert _summary(replace(APPROVABLE, risk_max_loan=None))[0] == "approve"


def test_ltv_above_max_conditions():
    x = replace(APPROVABLE, amount=6_000_000.0, risk_max_loan=8_000_000.0, breach_probability=0.03)
    # add collateral: 6m / 0.5 - 10m = 2m
    assert _summary(x) == (
        "approve_with_conditions",
        ["ltv_above_max"],
        [("reduce_amount", 5_000_000.0), ("add_collateral", 2_000_000.0)],
    )


def test_breach_above_target_conditions_with_shorter_tenor():
    x = replace(
        APPROVABLE,
        risk_max_loan=3_504_321.0,
        breach_probability=0.08,
        grade="C",
        shorter_tenor_months=9,
    )
    # reduce to 3,504,321 rounded down to 10,000; add 10m * (4 / 3.504321 - 1) rounded up
    assert _summary(x) == (
        "approve_with_conditions",
        ["breach_probability_above_target"],
        [("reduce_amount", 3_500_000.0), ("add_collateral", 1_420_000.0), ("shorter_tenor", 9)],
    )


def test_grade_worse_than_approval_within_limits():
    x = replace(APPROVABLE, expected_loss_rate=0.02, grade="D")
    assert _summary(x) == (
        "approve_with_conditions",
        ["grade_above_approval"],
        [("add_collateral", None)],
    )


def test_ineligible_items_are_excluded_by_condition():
    out = decide(replace(APPROVABLE, ineligible_ids=("X-1", "X-2")), POLICY)
    assert out.decision == "approve_with_conditions"
    assert [r.code for r in out.reasons] == ["collateral_excluded"]
    assert [(c.code, c.product_ids) for c in out.conditions] == [
        ("exclude_collateral", ["X-1", "X-2"])
    ]


def test_decline_without_eligible_collateral():
    x = replace(APPROVABLE, n_eligible=0, ineligible_ids=("X-1",))
    assert _summary(x) == ("decline", ["no_eligible_collateral"], [])


def test_decline_on_expected_loss_grade_e():
    x = replace(APPROVABLE, expected_loss_rate=0.05, grade="E")
    assert _summary(x) == ("decline", ["expected_loss_above_limit"], [])


def test_decline_when_max_loan_is_far_below_the_request():
    x = replace(APPROVABLE, risk_max_loan=1_900_000.0, breach_probability=0.3, grade="E")
    assert _summary(x) == ("decline", ["max_loan_below_minimum"], [])


def test_both_decline_reasons_together():
    x = replace(APPROVABLE, risk_max_loan=1_000_000.0, expected_loss_rate=0.2, grade="E")
    assert _summary(x)[1] == ["expected_loss_above_limit", "max_loan_below_minimum"]
