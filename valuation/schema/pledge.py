"""The pledge request, the lender's policy and the assessment (``dpv pledge``, SPEC §4).

Field names are the public contract; unknown fields, NaN and infinities are rejected with an
error that names the field. Amounts are in the loan's currency.
"""

from __future__ import annotations

import itertools
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from valuation.audit import DeviceAudit
from valuation.defaults import MIN_AMOUNT
from valuation.schema._base import Date, Frozen, refuse_implausible
from valuation.schema.product import Identifier, Product, Sector, Text
from valuation.schema.results import ValuationResult
from valuation.schema.stress import (
    MAX_TENOR_MONTHS,
    Amortization,
    ScenarioResult,
    Simulation,
    ValueQuantiles,
    refuse_too_much_work,
    steps_of,
)

Grade = Literal["A", "B", "C", "D", "E"]
GRADES: tuple[str, ...] = Grade.__args__  # type: ignore[attr-defined]
Decision = Literal["approve", "approve_with_conditions", "decline"]
AppraisalMethod = Literal["income", "cost", "market", "mixed"]

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
OpenProbability = Annotated[float, Field(gt=0.0, lt=1.0)]
Ltv = Annotated[float, Field(gt=0.0, le=1.0)]

# Stress runs of an assessment at the least: the base case and the five named scenarios.
PLEDGE_STRESS_RUNS = 6

# The SPEC's example seed: a request that gives none is still reproducible.
DEFAULT_SEED = 20261101


class PledgeBorrower(Frozen):
    """The borrower: identity, sector and its one-year probability of default."""

    borrower_id: Identifier
    name: Text | None = Field(
        default=None, description="the borrower's name, as the credit memo shows it with its id"
    )
    sector: Sector = "other"
    annual_pd: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    wrong_way: Annotated[float, Field(ge=-1.0, le=1.0)] = Field(
        default=0.0, description="correlation of default with the collateral's value shocks"
    )


class PledgeLoan(Frozen):
    """The loan applied for."""

    amount: Annotated[float, Field(ge=MIN_AMOUNT)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    tenor_months: Annotated[int, Field(ge=1, le=MAX_TENOR_MONTHS)]
    annual_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    amortization: Amortization = "bullet"


class Appraisal(Frozen):
    """An outside appraisal firm's value of a pledged item, as received with the request.

    It is a check on the engine, never an input: the assessment compares it with the engine's
    concluded value (escalating when they disagree beyond the policy's
    ``appraisal_disagreement_factor``, flagging it when older than ``appraisal_max_age_months``),
    while LTV and the max loan stay on the engine's value.
    """

    value: Annotated[float, Field(gt=0.0, description="appraised value, in the loan's currency")]
    appraiser: Annotated[str, Field(min_length=1, max_length=512, pattern=r"\S")] = Field(
        description="the appraisal firm's name"
    )
    date: Date = Field(description="the appraisal's valuation date; not after the as_of")
    method: AppraisalMethod = Field(description="the appraiser's approach")


class CollateralEntry(Frozen):
    """One pledged item: the product inline, or its id in the registry (exactly one of them).

    ``appraisal`` is the outside appraisal received for it, if any (a check, not an input).
    """

    product: Product | None = None
    product_id: Identifier | None = None
    appraisal: Appraisal | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> CollateralEntry:
        if (self.product is None) == (self.product_id is None):
            raise ValueError("give exactly one of 'product' (inline) or 'product_id' (registry)")
        return self

    @property
    def id(self) -> str:
        """The product id, inline or by reference."""
        return self.product.product_id if self.product is not None else str(self.product_id)


class Policy(Frozen):
    """The lender's pledge policy. Each bank sets its own (``--policy POLICY.json``).

    The first eight fields are SPEC §4's; the rest set the grade, the decision and escalation.
    """

    # Published data-asset pledge cases lend ~50% of appraised value (SPEC §1: 10-60% seen).
    max_ltv: Ltv = 0.5
    # Covenant: above this loan-to-value the borrower must top up or repay. House convention,
    # 20 points above the origination limit (common spacing in share-pledge lending).
    margin_call_ltv: Ltv = 0.7
    # Largest acceptable probability of a covenant breach within the tenor. Convention.
    target_breach_probability: OpenProbability = 0.05
    # Fire-sale discount on a forced sale of a data product: thin markets. Convention.
    liquidation_discount: Probability = 0.35
    # Time from default to the sale of the collateral. Convention.
    months_to_liquidate: Annotated[int, Field(ge=0, le=120)] = 6
    # Level of the loss VaR and expected shortfall (Basel-style 99%).
    confidence: Annotated[float, Field(ge=0.5, lt=1.0)] = 0.99
    # The certificate must stay valid this many months beyond the loan's maturity.
    min_certificate_months_after_maturity: Annotated[int, Field(ge=0, le=120)] = 0
    # Loans above this amount need a valuation signed by a human valuer (10 m CNY: the middle
    # of the 5-20 m CNY range of Chinese data-asset loans, SPEC §1). House convention.
    internal_valuation_limit: Annotated[float, Field(gt=0.0)] = 10_000_000.0
    # Escalate when an item's highest method value exceeds its lowest by this factor (the same
    # 2x as the valuation's own `methods_disagree` warning, defaults.reconciliation).
    escalation_method_spread: Annotated[float, Field(ge=1.0)] = 2.0
    # Escalate when an item's P90 / P10 exceeds this (defaults.reconciliation.wide_range_ratio).
    escalation_range_ratio: Annotated[float, Field(ge=1.0)] = 5.0
    # Escalate when an item's outside appraisal and the engine's concluded value differ by more
    # than this factor either way (max(a/v, v/a)). House convention, no published standard: half
    # way between agreement (1) and the 2x at which the engine's own methods are said to
    # disagree (escalation_method_spread), as both value the same item at about the same date.
    appraisal_disagreement_factor: Annotated[float, Field(gt=1.0)] = 1.5
    # An outside appraisal dated more than this many calendar months before as_of is stale and
    # flagged to the valuer: a Chinese appraisal report is normally usable only within one
    # year of its valuation date (CAS practice standard on valuation reports, 2018).
    appraisal_max_age_months: Annotated[int, Field(ge=0, le=120)] = 12
    # Upper bounds of grades A-D for the breach probability and for the expected loss as a share
    # of the loan; above the last bound the grade is E. Convention: A-B sit within the target
    # breach probability; an EL of 0.5% is about a one-year speculative-grade loss rate.
    grade_breach_bounds: tuple[Probability, Probability, Probability, Probability] = (
        0.01,
        0.05,
        0.10,
        0.25,
    )
    grade_expected_loss_bounds: tuple[Probability, Probability, Probability, Probability] = (
        0.001,
        0.005,
        0.01,
        0.03,
    )
    # Worst grade approved without conditions. Grade E (expected loss beyond the last bound) is
    # always declined.
    approve_max_grade: Literal["A", "B", "C", "D"] = "C"
    # Offer conditions only when the largest acceptable loan is at least this share of the
    # amount applied for; below it the request is declined. Convention.
    min_loan_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    # A reduced amount is rounded down to a multiple of this (10,000 CNY). Convention.
    amount_rounding: Annotated[float, Field(gt=0.0)] = 10_000.0
    # Shorter tenors tried as a condition, in steps of this many months.
    tenor_step_months: Annotated[int, Field(ge=1, le=60)] = 3

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        if self.max_ltv > self.margin_call_ltv:
            raise ValueError(
                f"max_ltv ({self.max_ltv}) must not exceed margin_call_ltv "
                f"({self.margin_call_ltv}): the loan would breach at origination"
            )
        for name in ("grade_breach_bounds", "grade_expected_loss_bounds"):
            bounds = getattr(self, name)
            if any(a >= b for a, b in itertools.pairwise(bounds)):
                raise ValueError(f"{name} must be strictly increasing, got {list(bounds)}")
        return self


class PledgeSimulation(Simulation):
    """Monte Carlo settings of the pledge stress (SPEC §4: paths, seed, steps per year)."""

    seed: Annotated[int, Field(ge=0, lt=2**64)] = DEFAULT_SEED


class PledgeRequest(Frozen):
    """A pledge request (SPEC §4, the JSON of ``dpv pledge``)."""

    request_id: Identifier
    as_of: Date
    borrower: PledgeBorrower
    loan: PledgeLoan
    collateral: Annotated[list[CollateralEntry], Field(min_length=1, max_length=64)]
    policy: Policy = Policy()
    simulation: PledgeSimulation = PledgeSimulation()

    @model_validator(mode="after")
    def _appraisals_not_after_as_of(self) -> PledgeRequest:
        # Raised as a ValidationError so that the error names the field of the item.
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "appraisal_after_as_of",
                    "the appraisal is dated {date}, after the request's as_of {as_of}",
                    {"date": str(entry.appraisal.date), "as_of": str(self.as_of)},
                ),
                loc=("collateral", index, "appraisal", "date"),
                input=str(entry.appraisal.date),
            )
            for index, entry in enumerate(self.collateral)
            if entry.appraisal is not None and entry.appraisal.date > self.as_of
        ]
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @model_validator(mode="after")
    def _plausible_and_bounded(self) -> PledgeRequest:
        amounts: list[tuple[tuple[str | int, ...], float]] = [
            (("loan", "amount"), self.loan.amount)
        ]
        amounts += [
            (("collateral", i, "appraisal", "value"), entry.appraisal.value)
            for i, entry in enumerate(self.collateral)
            if entry.appraisal is not None
        ]
        refuse_implausible(type(self).__name__, amounts, self.loan.currency)
        refuse_too_much_work(
            type(self).__name__,
            paths=self.simulation.paths,
            steps=steps_of(self.loan.tenor_months, self.simulation.steps_per_year),
            items=len(self.collateral),
            runs=PLEDGE_STRESS_RUNS,
        )
        return self


class Reason(Frozen):
    """A machine-readable reason code with a sentence for people."""

    code: str
    message: str
    product_id: str | None = None


class Condition(Frozen):
    """A condition of an approval: what must change, and to what."""

    code: Literal["reduce_amount", "add_collateral", "shorter_tenor", "exclude_collateral"]
    message: str
    amount: float | None = None
    tenor_months: int | None = None
    product_ids: list[str] | None = None


class AppraisalComparison(Frozen):
    """An item's outside appraisal against the engine's concluded value (a check only)."""

    appraisal_value: float
    engine_value: float | None = Field(description="null when the engine concluded no value")
    ratio: float | None = Field(description="appraisal / engine value")
    disagreement: float | None = Field(description="max(ratio, 1 / ratio)")
    factor: float = Field(description="the policy's appraisal_disagreement_factor")
    within_factor: bool | None = Field(description="disagreement <= factor; null without ratio")
    age_days: int = Field(description="days from the appraisal's date to the as_of")
    max_age_months: int = Field(description="the policy's appraisal_max_age_months")
    stale: bool = Field(description="dated more than max_age_months before the as_of")


class CollateralAssessment(Frozen):
    """One pledged item: eligibility with reasons, and its valuation if eligible.

    ``appraisal`` and ``appraisal_comparison``: the outside appraisal received with the request
    and its comparison with the engine's concluded value (null without one).
    """

    product_id: str
    name: str | None
    source: Literal["inline", "registry"]
    eligible: bool
    reasons: list[Reason]
    valuation: ValuationResult | None
    appraisal: Appraisal | None
    appraisal_comparison: AppraisalComparison | None


class MaxLoan(Frozen):
    """The largest loan allowed by the policy's LTV and by the target breach probability."""

    policy: float
    risk: float | None = Field(description="null when every loan meets the target")
    binding: float


class LossHistogram(Frozen):
    """Histogram of the loss on the paths where the borrower defaults (the memo's chart)."""

    paths: int = Field(description="paths behind the histogram: every path of the base case")
    defaulted: int
    zero_loss: int = Field(description="defaulted paths whose sale covers the exposure")
    edges: list[float] = Field(description="bins of the positive losses")
    counts: list[int]


class StressSummary(Frozen):
    """The base-case risk numbers of the collateral pool (from :func:`valuation.stress`)."""

    breach_probability: float
    breach_probability_se: float
    default_probability: float
    expected_loss: float
    expected_loss_rate: float
    lgd: float
    loss_var: float
    loss_es: float
    confidence: float
    revocation_probability: float
    lapse_probability: float
    paths: int
    drift_convention: str
    value_quantiles: ValueQuantiles
    exposure_profile: list[float]
    loss_histogram: LossHistogram
    model: dict[str, Any]


class Sensitivity(Frozen):
    """One driver moved down and up alone: the pooled value and the breach probability."""

    driver: str
    kind: Literal["value", "breach_probability"]
    low_label: str
    high_label: str
    base: float
    low: float
    high: float


class Escalation(Frozen):
    """Whether a human valuer must sign off, and why."""

    required: bool
    reasons: list[Reason]


class PledgeAudit(DeviceAudit):
    """The audit block of an assessment: the effective inputs, so it can be reproduced."""

    paths: int
    request: dict[str, Any] = Field(description="the request as assessed (CLI overrides applied)")
    registry_products: list[dict[str, Any]] = Field(
        description="the registry products the request referred to by id"
    )


class Assessment(Frozen):
    """The assessment of a pledge request (``assessment.json``)."""

    request_id: str
    as_of: Date
    borrower_id: str
    borrower_name: str | None = Field(
        default=None, description="the request's borrower.name, as given (null without one)"
    )
    currency: str
    loan_amount: float
    tenor_months: int
    decision: Decision
    reasons: list[Reason]
    conditions: list[Condition]
    grade: Grade | None
    collateral: list[CollateralAssessment]
    collateral_value: float
    ltv: float | None
    max_loan: MaxLoan
    stress: StressSummary | None
    scenarios: list[ScenarioResult]
    sensitivity: list[Sensitivity]
    escalate: bool
    escalation: Escalation
    policy: Policy
    audit: PledgeAudit


__all__ = [
    "DEFAULT_SEED",
    "GRADES",
    "Appraisal",
    "AppraisalComparison",
    "Assessment",
    "CollateralAssessment",
    "CollateralEntry",
    "Condition",
    "Escalation",
    "LossHistogram",
    "MaxLoan",
    "PledgeAudit",
    "PledgeBorrower",
    "PledgeLoan",
    "PledgeRequest",
    "PledgeSimulation",
    "Policy",
    "Reason",
    "Sensitivity",
    "StressSummary",
]
