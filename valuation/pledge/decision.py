"""Grade, decision and escalation: plain functions of the numbers an assessment produces.

Notes
-----
* **Grade.** The breach probability and the expected loss as a share of the loan each map to a
  grade through the policy's bounds (``grade_breach_bounds``, ``grade_expected_loss_bounds``:
  the upper bounds of A, B, C, D); the risk grade is the worse of the two.
* **Largest loan.** ``policy = max_ltv × collateral value``; ``risk`` is the engine's exact
  quantile of the pathwise non-breaching loan at the target breach probability; the binding
  limit is the smaller.
* **Outside appraisal.** An item's appraisal from an outside firm is a check on the engine,
  never an input: LTV and the max loans use the engine's concluded values. The disagreement
  ``max(a / v, v / a)`` of appraisal ``a`` and engine value ``v`` above the policy's
  ``appraisal_disagreement_factor`` escalates to a human valuer (``appraisal_disagrees``), and
  so does an appraisal dated more than ``appraisal_max_age_months`` calendar months before the
  as_of (``appraisal_stale``); neither changes the decision.
* **Decision.** ``decline`` when no item is eligible, the expected-loss grade is E (reducing the
  amount would not be known to cure it), or the binding limit is below ``min_loan_fraction`` of
  the amount. ``approve`` when every item is eligible, the amount is within the binding limit
  and the grade is no worse than ``approve_max_grade``. Otherwise ``approve_with_conditions``:
  reduce the amount to the binding limit, or add collateral, or (when the breach probability is
  the issue and a shorter tenor cures it) shorten the tenor; exclude ineligible items.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from valuation.pledge.eligibility import add_months
from valuation.schema.pledge import (
    GRADES,
    Appraisal,
    AppraisalComparison,
    Condition,
    Policy,
    Reason,
)
from valuation.schema.results import ValuationResult

# Reason codes of the decision.
WITHIN_POLICY = "within_policy"
NO_ELIGIBLE_COLLATERAL = "no_eligible_collateral"
COLLATERAL_EXCLUDED = "collateral_excluded"
LTV_ABOVE_MAX = "ltv_above_max"
BREACH_ABOVE_TARGET = "breach_probability_above_target"
GRADE_ABOVE_APPROVAL = "grade_above_approval"
EXPECTED_LOSS_ABOVE_LIMIT = "expected_loss_above_limit"
MAX_LOAN_BELOW_MINIMUM = "max_loan_below_minimum"

# Reason codes of escalation to a human valuer.
ABOVE_INTERNAL_LIMIT = "loan_above_internal_valuation_limit"
METHODS_DISAGREE = "methods_disagree"
VALUE_RANGE_WIDE = "value_range_wide"
APPRAISAL_DISAGREES = "appraisal_disagrees"
APPRAISAL_STALE = "appraisal_stale"


def grade_of(value: float, bounds: Sequence[float]) -> str:
    """Return the grade of ``value`` against the upper bounds of A..D (E above the last)."""
    for grade, bound in zip(GRADES, bounds, strict=False):
        if value <= bound:
            return grade
    return GRADES[-1]


def risk_grade(breach_probability: float, expected_loss_rate: float, policy: Policy) -> str:
    """Return the worse of the breach-probability grade and the expected-loss grade."""
    g_breach = grade_of(breach_probability, policy.grade_breach_bounds)
    g_loss = grade_of(expected_loss_rate, policy.grade_expected_loss_bounds)
    return max(g_breach, g_loss)


@dataclass(frozen=True)
class DecisionInputs:
    """What the decision looks at (all amounts in the loan's currency)."""

    amount: float
    tenor_months: int
    collateral_value: float
    ineligible_ids: tuple[str, ...]
    n_eligible: int
    policy_max_loan: float
    risk_max_loan: float | None
    breach_probability: float
    expected_loss_rate: float
    grade: str
    shorter_tenor_months: int | None


@dataclass(frozen=True)
class Outcome:
    """The decision with its reasons and conditions."""

    decision: str
    reasons: tuple[Reason, ...]
    conditions: tuple[Condition, ...]


def _floor_to(amount: float, step: float) -> float:
    rounded = math.floor(amount / step) * step
    return rounded if rounded > 0 else amount


def _ceil_to(amount: float, step: float) -> float:
    return math.ceil(amount / step) * step


def decide(x: DecisionInputs, policy: Policy) -> Outcome:
    """Return the decision, reasons and conditions for the inputs (see the module notes)."""
    if x.n_eligible == 0:
        return Outcome(
            "decline",
            (
                Reason(
                    code=NO_ELIGIBLE_COLLATERAL,
                    message="no pledged item is eligible; see each item's reasons",
                ),
            ),
            (),
        )
    binding = min(x.policy_max_loan, math.inf if x.risk_max_loan is None else x.risk_max_loan)
    decline: list[Reason] = []
    if grade_of(x.expected_loss_rate, policy.grade_expected_loss_bounds) == "E":
        decline.append(
            Reason(
                code=EXPECTED_LOSS_ABOVE_LIMIT,
                message=f"expected loss {x.expected_loss_rate:.2%} of the loan exceeds the "
                f"policy's grade-D bound {policy.grade_expected_loss_bounds[-1]:.2%}",
            )
        )
    if binding < policy.min_loan_fraction * x.amount:
        decline.append(
            Reason(
                code=MAX_LOAN_BELOW_MINIMUM,
                message=f"the largest acceptable loan {binding:,.0f} is below "
                f"{policy.min_loan_fraction:.0%} of the {x.amount:,.0f} applied for",
            )
        )
    if decline:
        return Outcome("decline", tuple(decline), ())

    reasons: list[Reason] = []
    conditions: list[Condition] = []
    if x.amount > x.policy_max_loan:
        reasons.append(
            Reason(
                code=LTV_ABOVE_MAX,
                message=f"LTV {x.amount / x.collateral_value:.1%} exceeds the policy maximum "
                f"{policy.max_ltv:.0%} (policy max loan {x.policy_max_loan:,.0f})",
            )
        )
    breach_high = x.breach_probability > policy.target_breach_probability
    if breach_high:
        reasons.append(
            Reason(
                code=BREACH_ABOVE_TARGET,
                message=f"probability of a margin-call breach within the tenor "
                f"{x.breach_probability:.2%} exceeds the target "
                f"{policy.target_breach_probability:.2%}",
            )
        )
    if x.amount > binding:
        reduced = _floor_to(binding, policy.amount_rounding)
        conditions.append(
            Condition(
                code="reduce_amount",
                message=f"reduce the loan to {reduced:,.0f}",
                amount=reduced,
            )
        )
        needed = x.amount / policy.max_ltv - x.collateral_value
        if x.risk_max_loan is not None and x.risk_max_loan > 0:
            # Breach depends on loan / value only when the pool is scaled up proportionally:
            # the extra collateral must be of similar risk.
            needed = max(needed, x.collateral_value * (x.amount / x.risk_max_loan - 1.0))
        extra = _ceil_to(max(needed, 0.0), policy.amount_rounding)
        conditions.append(
            Condition(
                code="add_collateral",
                message=f"or add eligible collateral of similar risk worth at least {extra:,.0f}",
                amount=extra,
            )
        )
    if breach_high and x.shorter_tenor_months is not None and x.amount <= x.policy_max_loan:
        conditions.append(
            Condition(
                code="shorter_tenor",
                message=f"or shorten the tenor to {x.shorter_tenor_months} months",
                tenor_months=x.shorter_tenor_months,
            )
        )
    if GRADES.index(x.grade) > GRADES.index(policy.approve_max_grade):
        reasons.append(
            Reason(
                code=GRADE_ABOVE_APPROVAL,
                message=f"risk grade {x.grade} is worse than {policy.approve_max_grade}, the "
                "worst approved without conditions",
            )
        )
        if x.amount <= binding:
            conditions.append(
                Condition(
                    code="add_collateral",
                    message=f"add collateral or a guarantee to bring the grade to "
                    f"{policy.approve_max_grade} or better",
                )
            )
    if x.ineligible_ids:
        reasons.append(
            Reason(
                code=COLLATERAL_EXCLUDED,
                message=f"{len(x.ineligible_ids)} item(s) are not eligible and carry no value: "
                + ", ".join(x.ineligible_ids),
            )
        )
        conditions.append(
            Condition(
                code="exclude_collateral",
                message="the pledge agreement lists only the eligible items",
                product_ids=list(x.ineligible_ids),
            )
        )
    if not reasons:
        return Outcome(
            "approve",
            (
                Reason(
                    code=WITHIN_POLICY,
                    message=f"LTV {x.amount / x.collateral_value:.1%} within {policy.max_ltv:.0%}, "
                    f"breach probability {x.breach_probability:.2%} within "
                    f"{policy.target_breach_probability:.2%}, grade {x.grade}",
                ),
            ),
            (),
        )
    return Outcome("approve_with_conditions", tuple(reasons), tuple(conditions))


def compare_appraisal(
    appraisal: Appraisal, engine_value: float | None, as_of: dt.date, policy: Policy
) -> AppraisalComparison:
    """Compare an outside appraisal with the engine's concluded value of the same item.

    The ratio is ``appraisal / engine value``; the disagreement ``max(a / v, v / a)`` (both
    quotients computed, so that it is exact either way) is within the factor when it does not
    exceed ``policy.appraisal_disagreement_factor``. Without a positive engine value there is
    no ratio. The appraisal is stale when dated before ``as_of`` less
    ``policy.appraisal_max_age_months`` calendar months. The comparison is a check only: the
    engine's value stays the basis of LTV and the max loan.
    """
    ratio = disagreement = None
    within = None
    if engine_value is not None and engine_value > 0:
        ratio = appraisal.value / engine_value
        disagreement = max(ratio, engine_value / appraisal.value)
        within = disagreement <= policy.appraisal_disagreement_factor
    oldest = add_months(as_of, -policy.appraisal_max_age_months)
    return AppraisalComparison(
        appraisal_value=appraisal.value,
        engine_value=engine_value,
        ratio=ratio,
        disagreement=disagreement,
        factor=policy.appraisal_disagreement_factor,
        within_factor=within,
        age_days=(as_of - appraisal.date).days,
        max_age_months=policy.appraisal_max_age_months,
        stale=appraisal.date < oldest,
    )


def appraisal_reasons(
    product_id: str, appraisal: Appraisal, comparison: AppraisalComparison
) -> list[Reason]:
    """Return the escalation reasons of one item's outside appraisal (empty: none).

    ``appraisal_disagrees`` when it differs from the engine's value beyond the factor,
    ``appraisal_stale`` when it is older than the policy allows.
    """
    reasons = []
    c = comparison
    if c.within_factor is False and c.ratio is not None and c.engine_value is not None:
        reasons.append(
            Reason(
                code=APPRAISAL_DISAGREES,
                message=f"outside appraisal {appraisal.value:,.0f} by {appraisal.appraiser} "
                f"({appraisal.method}, {appraisal.date}) against the engine's concluded value "
                f"{c.engine_value:,.0f}: ratio {c.ratio:.3f}, beyond the factor {c.factor:g} "
                "either way",
                product_id=product_id,
            )
        )
    if c.stale:
        reasons.append(
            Reason(
                code=APPRAISAL_STALE,
                message=f"outside appraisal by {appraisal.appraiser} is dated {appraisal.date}, "
                f"{c.age_days} days before the as_of: older than {c.max_age_months} months",
                product_id=product_id,
            )
        )
    return reasons


def escalation_reasons(
    amount: float,
    valuations: Sequence[ValuationResult],
    policy: Policy,
    appraisals: Sequence[tuple[str, Appraisal, AppraisalComparison]] = (),
) -> list[Reason]:
    """Reasons to send the valuation to a human valuer (empty: none needed).

    ``appraisals`` are ``(product_id, appraisal, comparison)`` of the eligible items that came
    with an outside appraisal; their reasons (:func:`appraisal_reasons`) come last.
    """
    reasons = []
    if amount > policy.internal_valuation_limit:
        reasons.append(
            Reason(
                code=ABOVE_INTERNAL_LIMIT,
                message=f"loan {amount:,.0f} exceeds the internal valuation limit "
                f"{policy.internal_valuation_limit:,.0f}",
            )
        )
    for result in valuations:
        values = [
            m.value
            for m in (result.methods.income, result.methods.cost, result.methods.market)
            if m.value is not None and m.value > 0
        ]
        if len(values) >= 2 and max(values) / min(values) > policy.escalation_method_spread:
            reasons.append(
                Reason(
                    code=METHODS_DISAGREE,
                    message=f"method values differ by a factor of "
                    f"{max(values) / min(values):.2f} (> {policy.escalation_method_spread:g})",
                    product_id=result.product_id,
                )
            )
        rng = result.range
        if rng is not None and rng.p10 > 0 and rng.p90 / rng.p10 > policy.escalation_range_ratio:
            reasons.append(
                Reason(
                    code=VALUE_RANGE_WIDE,
                    message=f"P90/P10 = {rng.p90 / rng.p10:.2f} "
                    f"(> {policy.escalation_range_ratio:g})",
                    product_id=result.product_id,
                )
            )
    for product_id, appraisal, comparison in appraisals:
        reasons.extend(appraisal_reasons(product_id, appraisal, comparison))
    return reasons


__all__ = [
    "ABOVE_INTERNAL_LIMIT",
    "APPRAISAL_DISAGREES",
    "APPRAISAL_STALE",
    "BREACH_ABOVE_TARGET",
    "COLLATERAL_EXCLUDED",
    "EXPECTED_LOSS_ABOVE_LIMIT",
    "GRADE_ABOVE_APPROVAL",
    "LTV_ABOVE_MAX",
    "MAX_LOAN_BELOW_MINIMUM",
    "METHODS_DISAGREE",
    "NO_ELIGIBLE_COLLATERAL",
    "VALUE_RANGE_WIDE",
    "WITHIN_POLICY",
    "DecisionInputs",
    "Outcome",
    "appraisal_reasons",
    "compare_appraisal",
    "decide",
    "escalation_reasons",
    "grade_of",
    "risk_grade",
]
