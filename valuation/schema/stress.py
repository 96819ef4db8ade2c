"""The stress request and result: ``dpv stress STRESS.json`` and :func:`valuation.stress`.

The collateral's current value and its process parameters are given directly, so that a credit
officer can override the model and the engine can be checked against closed forms (SPEC §6).
Field names are the public contract; unknown fields, NaN and infinities are rejected.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from valuation.audit import DeviceAudit
from valuation.defaults import MAX_STRESS_PATH_STEPS, MIN_AMOUNT
from valuation.schema._base import Date, Frozen, Identifier, refuse_implausible
from valuation.schema.sectors import Sector

Amortization = Literal["bullet", "annuity", "linear"]
AMORTIZATIONS: tuple[str, ...] = Amortization.__args__  # type: ignore[attr-defined]

NonNegative = Annotated[float, Field(ge=0.0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]

MAX_PATHS = 10_000_000
MAX_TENOR_MONTHS = 600

DRIFT_CONVENTION = (
    "drift is the expected growth rate of value: with no jumps or certificate events "
    "E[V_t] = V_0·exp(drift·t); the log value moves at drift − σ²/2 − λ·(E[J] − 1) per year, "
    "E[J] = exp(jump_mean + jump_volatility²/2) (Merton's convention)"
)


def steps_of(tenor_months: int, steps_per_year: int) -> int:
    """Return the time steps a loan's tenor takes (as :func:`valuation.risk.model.build_model`)."""
    return max(1, math.floor(tenor_months * steps_per_year / 12 + 0.5))


def refuse_too_much_work(model: str, *, paths: int, steps: int, items: int, runs: int) -> None:
    """Raise a ValidationError at ``simulation.paths`` when a stress asks for too much work.

    The work is paths x time steps x collateral items x stress runs (the base case and each
    scenario); its limit is :data:`valuation.defaults.MAX_STRESS_PATH_STEPS`.
    """
    work = paths * steps * items * runs
    if work <= MAX_STRESS_PATH_STEPS:
        return
    most = max(1, MAX_STRESS_PATH_STEPS // (steps * items * runs))
    raise ValidationError.from_exception_data(
        model,
        [
            InitErrorDetails(
                type=PydanticCustomError(
                    "too_much_work",
                    "{paths:,} paths x {steps} steps x {items} items x {runs} runs = {work:.3g} "
                    "path-steps, beyond the limit of {limit:.3g} "
                    "(valuation.defaults.MAX_STRESS_PATH_STEPS); at most {most:,} paths here",
                    {
                        "paths": paths,
                        "steps": steps,
                        "items": items,
                        "runs": runs,
                        "work": float(work),
                        "limit": float(MAX_STRESS_PATH_STEPS),
                        "most": most,
                    },
                ),
                loc=("simulation", "paths"),
                input=paths,
            )
        ],
    )


class Loan(Frozen):
    """The loan secured on the collateral."""

    amount: Annotated[float, Field(ge=MIN_AMOUNT)]
    tenor_months: Annotated[int, Field(ge=1, le=MAX_TENOR_MONTHS)]
    annual_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    amortization: Amortization = "bullet"


class Collateral(Frozen):
    """One pledged item with its current value and the parameters of its value process.

    Rates are per year; ``jump_mean`` and ``jump_volatility`` are the mean and standard
    deviation of the log jump factor; losses are fractions of value.
    """

    id: Identifier
    value: Annotated[float, Field(ge=MIN_AMOUNT)]
    sector: Sector = "other"
    drift: Annotated[float, Field(ge=-5.0, le=5.0)] = 0.0
    volatility: Annotated[float, Field(ge=0.0, le=5.0)] = 0.0
    jump_intensity: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    jump_mean: Annotated[float, Field(ge=-10.0, le=10.0)] = 0.0
    jump_volatility: Annotated[float, Field(ge=0.0, le=5.0)] = 0.0
    revocation_hazard: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    revocation_loss: Probability = 1.0
    expiry_months: Annotated[float, Field(gt=0.0)] | None = None
    renewal_probability: Probability = 1.0
    lapse_loss: Probability = 0.5


class Borrower(Frozen):
    """The borrower's default risk: an annual PD and a wrong-way correlation in [-1, 1]."""

    annual_pd: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    wrong_way: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.0


class Policy(Frozen):
    """The lender's covenant and loss assumptions."""

    margin_call_ltv: Annotated[float, Field(gt=0.0, le=100.0)] = 0.7
    target_breach_probability: Probability = 0.05
    liquidation_discount: Probability = 0.35
    months_to_liquidate: Annotated[int, Field(ge=0, le=120)] = 6
    confidence: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.99


class Simulation(Frozen):
    """Monte Carlo settings: number of paths, seed, time steps per year."""

    paths: Annotated[int, Field(gt=0, le=MAX_PATHS)] = 100_000
    seed: Annotated[int, Field(ge=0, lt=2**64)] = 0
    steps_per_year: Annotated[int, Field(ge=1, le=365)] = 12


class Scenario(Frozen):
    """A deterministic stress scenario: a named set of parameter overrides.

    Multipliers scale a parameter, ``*_add`` fields shift it; the result is clipped to the
    parameter's valid range. ``value_multiplier`` is an instantaneous shock to every item's
    current value.
    """

    name: Identifier
    description: str = ""
    value_multiplier: Annotated[float, Field(gt=0.0, le=10.0)] = 1.0
    drift_add: Annotated[float, Field(ge=-5.0, le=5.0)] = 0.0
    volatility_multiplier: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    jump_intensity_add: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    jump_mean_add: Annotated[float, Field(ge=-10.0, le=10.0)] = 0.0
    revocation_hazard_multiplier: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    renewal_probability_multiplier: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    annual_rate_add: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.0
    annual_pd_multiplier: Annotated[float, Field(ge=0.0, le=100.0)] = 1.0
    liquidation_discount_add: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.0
    months_to_liquidate_add: Annotated[int, Field(ge=-120, le=120)] = 0


class StressRequest(Frozen):
    """A Monte Carlo loan-to-value stress request (the JSON of ``dpv stress``)."""

    as_of: Date
    loan: Loan
    collateral: Annotated[list[Collateral], Field(min_length=1, max_length=64)]
    correlation: Probability = 0.0
    borrower: Borrower = Borrower()
    policy: Policy = Policy()
    simulation: Simulation = Simulation()
    scenarios: Annotated[
        list[Identifier | Scenario], Field(max_length=32, default_factory=lambda: ["base"])
    ]

    @model_validator(mode="after")
    def _check(self) -> StressRequest:
        ids = [item.id for item in self.collateral]
        if len(set(ids)) != len(ids):
            raise ValueError("collateral ids must be unique")
        names = [s if isinstance(s, str) else s.name for s in self.scenarios]
        if len(set(names)) != len(names):
            raise ValueError("scenario names must be unique")
        amounts: list[tuple[tuple[str | int, ...], float]] = [
            (("loan", "amount"), self.loan.amount)
        ]
        amounts += [(("collateral", i, "value"), c.value) for i, c in enumerate(self.collateral)]
        refuse_implausible(type(self).__name__, amounts, None)
        refuse_too_much_work(
            type(self).__name__,
            paths=self.simulation.paths,
            steps=steps_of(self.loan.tenor_months, self.simulation.steps_per_year),
            items=len(self.collateral),
            runs=1 + len(self.scenarios),
        )
        return self


class ValueQuantiles(Frozen):
    """Quantiles of the pooled collateral value per time step (a fan chart)."""

    paths: int = Field(description="paths behind the quantiles (the first ones, if capped)")
    months: list[float]
    levels: list[float]
    values: list[list[float]] = Field(description="values[j][k]: quantile levels[j] at step k")


class ScenarioResult(Frozen):
    """The headline risk numbers of one scenario."""

    name: str
    breach_probability: float
    breach_probability_se: float
    default_probability: float
    expected_loss: float
    lgd: float
    loss_var: float
    loss_es: float
    max_loan: float | None = Field(
        description="largest loan with breach probability <= target; null if any loan qualifies"
    )
    revocation_probability: float
    lapse_probability: float


class StressResult(ScenarioResult):
    """The result of a stress run: the base case, every scenario, the model echo and audit."""

    loan_amount: float
    initial_value: float
    initial_ltv: float
    paths: int
    confidence: float
    target_breach_probability: float
    value_quantiles: ValueQuantiles
    scenarios: list[ScenarioResult]
    drift_convention: str = DRIFT_CONVENTION
    model: dict[str, object]
    audit: DeviceAudit


__all__ = [
    "AMORTIZATIONS",
    "refuse_too_much_work",
    "steps_of",
    "DRIFT_CONVENTION",
    "Borrower",
    "Collateral",
    "Loan",
    "Policy",
    "Scenario",
    "ScenarioResult",
    "Simulation",
    "StressRequest",
    "StressResult",
    "ValueQuantiles",
]
