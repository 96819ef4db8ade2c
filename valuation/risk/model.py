"""Stress request (and one scenario) → the plain arrays the kernels read.

Nothing here draws a random number: it turns the validated request into per-step constants
(log drift, diffusion scale, jump and event probabilities per step, the exposure profile, the
default threshold) held in a frozen :class:`StressModel`. The kernels in
:mod:`valuation.kernels.stress` and the NumPy twin in :mod:`valuation.risk.numpy_twin` read the
same model.

Conventions (SPEC §6)
---------------------
* Time grid: ``n_steps = round(tenor_months · steps_per_year / 12)`` (halves up) steps of
  ``dt = tenor_years / n_steps``. Liquidation after default takes
  ``round(months_to_liquidate · steps_per_year / 12)`` further steps.
* Drift: ``drift`` is the expected growth rate of value; with no jumps or certificate events
  ``E[V_t] = V_0 e^{drift·t}``, so the log value moves at
  ``drift − σ²/2 − λ (E[J] − 1)`` per year with ``E[J] = exp(jump_mean + jump_volatility²/2)``.
* Exposure per unit of loan at step ``k`` (``profile[k]``) is the amount owed just before that
  step's payment: the principal outstanding after step ``k − 1`` plus one step of interest.
  Payments fall on the steps: bullet repays the principal at maturity, linear repays
  ``1/n_steps`` of it each step, annuity pays a level instalment. ``profile[0] = 1``.
* Default: the per-step default probability ``q`` gives exactly ``annual_pd`` over one year
  (``1 − (1 − q)^{steps_per_year} = annual_pd``); the borrower defaults at step ``k`` when
  ``w·F_k + √(1 − w²)·η_k < Φ⁻¹(q)``, where ``F_k`` is the standardised value-weighted
  diffusion shock of the pool and ``w`` the wrong-way correlation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
from numpy.typing import NDArray

from valuation.kernels.keys import entity_key, seed_key
from valuation.kernels.layout import (
    AMOUNT,
    DEFAULT_THRESHOLD,
    EXPIRY_STEP,
    JUMP_LAMBDA_DT,
    JUMP_MEAN,
    JUMP_P0,
    JUMP_VOL,
    LAPSE_KEEP,
    LIQUIDATION_KEEP,
    LOG_DRIFT_STEP,
    LOG_V0,
    MARGIN_CALL_LTV,
    N_ITEM_COLUMNS,
    N_SCALARS,
    POOL_WEIGHT,
    RENEW_P,
    REVOKE_KEEP,
    REVOKE_P,
    SIGMA_SQRT_DT,
    SQRT_ONE_MINUS_RHO,
    SQRT_RHO,
    WRONG_WAY,
    WRONG_WAY_COMPLEMENT,
    StressArrays,
)
from valuation.schema.stress import Scenario, StressRequest

# The layout of StressModel.items (one row per collateral item) and StressModel.scalars is
# the kernel's: its indices are defined once, in valuation.kernels.layout (no numba), which the
# kernels in valuation.kernels.stress import; this module re-exports them.

COLLATERAL_KEY_PREFIX = "collateral:"
SECTOR_KEY_PREFIX = "sector:"
BORROWER_KEY = "borrower"


@dataclass(frozen=True)
class StressModel:
    """Everything a kernel needs, as arrays and scalars (no pydantic inside the maths).

    Attributes
    ----------
    items
        ``(n_items, N_ITEM_COLUMNS)`` float64 per-step constants of each item.
    sector_index
        ``(n_items,)`` int64: the row of ``sector_keys`` each item loads on.
    item_keys, sector_keys
        uint64 stream keys (``entity_key`` of ``"collateral:<id>"`` / ``"sector:<name>"``).
    stream_keys
        uint64 ``[seed, borrower key]``.
    profile
        ``(n_steps + 1,)`` exposure per unit of loan amount at each step.
    scalars
        float64 loan and policy constants (see the module's index constants).
    n_liquidation_steps
        Steps between default and the sale of the collateral.
    """

    items: NDArray[np.float64]
    sector_index: NDArray[np.int64]
    item_keys: NDArray[np.uint64]
    sector_keys: NDArray[np.uint64]
    stream_keys: NDArray[np.uint64]
    profile: NDArray[np.float64]
    scalars: NDArray[np.float64]
    n_liquidation_steps: int
    dt_years: float
    steps_per_year: int
    seed: int
    sectors: tuple[str, ...]
    item_ids: tuple[str, ...]
    initial_value: float
    annual_rate: float

    @property
    def arrays(self) -> StressArrays:
        """The model as :func:`~valuation.kernels.stress.stress_paths` reads it (one argument)."""
        return StressArrays(
            self.items,
            self.sector_index,
            self.item_keys,
            self.sector_keys,
            self.stream_keys,
            self.profile,
            self.scalars,
            self.n_liquidation_steps,
        )

    @property
    def kernel_inputs(self) -> tuple[Any, ...]:
        """The fields of :attr:`arrays`, in order (for kernels that take them one by one)."""
        return tuple(self.arrays)

    @property
    def n_steps(self) -> int:
        """Number of monitoring steps over the tenor."""
        return int(self.profile.shape[0] - 1)

    @property
    def amount(self) -> float:
        """Loan amount."""
        return float(self.scalars[AMOUNT])

    @property
    def margin_call_ltv(self) -> float:
        """Covenant loan-to-value."""
        return float(self.scalars[MARGIN_CALL_LTV])

    def echo(self) -> dict[str, object]:
        """Return the parameters actually simulated, for the result (a validator's view)."""
        items = []
        for row, item_id in enumerate(self.item_ids):
            r = self.items[row]
            items.append(
                {
                    "id": item_id,
                    "sector": self.sectors[int(self.sector_index[row])],
                    "value": math.exp(r[LOG_V0]),
                    "log_drift_per_year": r[LOG_DRIFT_STEP] / self.dt_years,
                    "volatility": r[SIGMA_SQRT_DT] / math.sqrt(self.dt_years),
                    "jump_probability_per_step": 1.0 - r[JUMP_P0],
                    "revocation_probability_per_step": r[REVOKE_P],
                    "expiry_step": int(r[EXPIRY_STEP]) if r[EXPIRY_STEP] >= 0 else None,
                    "pool_factor_weight": r[POOL_WEIGHT],
                }
            )
        return {
            "n_steps": self.n_steps,
            "dt_years": self.dt_years,
            "n_liquidation_steps": self.n_liquidation_steps,
            "exposure_profile": [float(x) for x in self.profile],
            "default_threshold": float(self.scalars[DEFAULT_THRESHOLD]),
            "wrong_way": float(self.scalars[WRONG_WAY]),
            "liquidation_keep": float(self.scalars[LIQUIDATION_KEEP]),
            "correlation": float(self.scalars[SQRT_RHO]) ** 2,
            "annual_rate": self.annual_rate,
            "items": items,
        }


def exposure_profile(amortization: str, annual_rate: float, n_steps: int, dt: float) -> NDArray:
    """Return the exposure per unit of loan at steps ``0..n_steps`` (see module notes)."""
    rate = annual_rate * dt
    profile = np.empty(n_steps + 1)
    profile[0] = 1.0
    principal = 1.0
    if amortization == "annuity":
        instalment = 1.0 / n_steps if rate == 0.0 else rate / (1.0 - (1.0 + rate) ** -n_steps)
    for k in range(1, n_steps + 1):
        owed = principal * (1.0 + rate)
        profile[k] = owed
        if amortization == "bullet":
            principal = 0.0 if k == n_steps else principal
        elif amortization == "linear":
            principal = 1.0 - k / n_steps
        else:
            principal = max(owed - instalment, 0.0)
    return profile


def _round_half_up(value: float) -> int:
    """Round to the nearest integer, halves up (Python's round() goes to even)."""
    return math.floor(value + 0.5 + 1e-9)


def _clip(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def build_model(request: StressRequest, scenario: Scenario | None = None) -> StressModel:
    """Turn a request and an optional scenario's overrides into a :class:`StressModel`."""
    sc = scenario if scenario is not None else Scenario(name="base")
    spy = request.simulation.steps_per_year
    tenor_years = request.loan.tenor_months / 12.0
    n_steps = max(1, _round_half_up(request.loan.tenor_months * spy / 12))
    dt = tenor_years / n_steps
    months_to_liquidate = max(0, request.policy.months_to_liquidate + sc.months_to_liquidate_add)
    n_liq = _round_half_up(months_to_liquidate * spy / 12)
    rho = request.correlation
    sqrt_dt = math.sqrt(dt)

    sectors = tuple(dict.fromkeys(item.sector for item in request.collateral))
    n_items = len(request.collateral)
    items = np.zeros((n_items, N_ITEM_COLUMNS))
    sector_index = np.zeros(n_items, dtype=np.int64)
    for row, item in enumerate(request.collateral):
        sigma = item.volatility * sc.volatility_multiplier
        lam = item.jump_intensity + sc.jump_intensity_add
        jump_mean = item.jump_mean + sc.jump_mean_add
        jump_factor_mean = math.exp(jump_mean + 0.5 * item.jump_volatility**2)
        drift = item.drift + sc.drift_add
        log_drift = drift - 0.5 * sigma**2 - lam * (jump_factor_mean - 1.0)
        hazard = item.revocation_hazard * sc.revocation_hazard_multiplier
        expiry_step = -1.0
        if item.expiry_months is not None:
            expiry_step = float(math.ceil(item.expiry_months * spy / 12 - 1e-9))
        items[row] = (
            math.log(item.value * sc.value_multiplier),
            log_drift * dt,
            sigma * sqrt_dt,
            math.exp(-lam * dt),
            lam * dt,
            jump_mean,
            item.jump_volatility,
            -math.expm1(-hazard * dt),
            1.0 - item.revocation_loss,
            expiry_step,
            _clip(item.renewal_probability * sc.renewal_probability_multiplier, 0.0, 1.0),
            1.0 - item.lapse_loss,
            0.0,
        )
        sector_index[row] = sectors.index(item.sector)

    # Pool factor for wrong-way risk: the value-weighted standardised diffusion shock.
    exposure_weight = np.array(
        [item.value * item.volatility * sc.volatility_multiplier for item in request.collateral]
    )
    same_sector = sector_index[:, None] == sector_index[None, :]
    corr = np.where(same_sector, rho, 0.0)
    np.fill_diagonal(corr, 1.0)
    variance = float(exposure_weight @ corr @ exposure_weight)
    wrong_way = request.borrower.wrong_way
    if variance > 0.0:
        items[:, POOL_WEIGHT] = exposure_weight / math.sqrt(variance)
    else:  # no diffusion: there is no factor to be wrong-way with
        wrong_way = 0.0

    annual_pd = _clip(request.borrower.annual_pd * sc.annual_pd_multiplier, 0.0, 1.0 - 1e-12)
    step_pd = -math.expm1(math.log1p(-annual_pd) * dt)
    threshold = NormalDist().inv_cdf(step_pd) if step_pd > 0.0 else -math.inf
    annual_rate = max(0.0, request.loan.annual_rate + sc.annual_rate_add)
    discount = _clip(request.policy.liquidation_discount + sc.liquidation_discount_add, 0.0, 1.0)

    scalars = np.zeros(N_SCALARS)
    scalars[AMOUNT] = request.loan.amount
    scalars[MARGIN_CALL_LTV] = request.policy.margin_call_ltv
    scalars[DEFAULT_THRESHOLD] = threshold
    scalars[WRONG_WAY] = wrong_way
    scalars[WRONG_WAY_COMPLEMENT] = math.sqrt(max(0.0, 1.0 - wrong_way**2))
    scalars[LIQUIDATION_KEEP] = 1.0 - discount
    scalars[SQRT_RHO] = math.sqrt(rho)
    scalars[SQRT_ONE_MINUS_RHO] = math.sqrt(1.0 - rho)

    return StressModel(
        items=items,
        sector_index=sector_index,
        item_keys=np.array(
            [entity_key(COLLATERAL_KEY_PREFIX + item.id) for item in request.collateral],
            dtype=np.uint64,
        ),
        sector_keys=np.array([entity_key(SECTOR_KEY_PREFIX + s) for s in sectors], np.uint64),
        stream_keys=np.array(
            [seed_key(request.simulation.seed), entity_key(BORROWER_KEY)], dtype=np.uint64
        ),
        profile=exposure_profile(request.loan.amortization, annual_rate, n_steps, dt),
        scalars=scalars,
        n_liquidation_steps=n_liq,
        dt_years=dt,
        steps_per_year=spy,
        seed=request.simulation.seed,
        sectors=sectors,
        item_ids=tuple(item.id for item in request.collateral),
        initial_value=float(np.exp(items[:, LOG_V0]).sum()),
        annual_rate=annual_rate,
    )


# the layout names are re-exported for the NumPy twin
__all__ = [
    "AMOUNT",
    "DEFAULT_THRESHOLD",
    "EXPIRY_STEP",
    "JUMP_LAMBDA_DT",
    "JUMP_MEAN",
    "JUMP_P0",
    "JUMP_VOL",
    "LAPSE_KEEP",
    "LIQUIDATION_KEEP",
    "LOG_DRIFT_STEP",
    "LOG_V0",
    "MARGIN_CALL_LTV",
    "N_ITEM_COLUMNS",
    "N_SCALARS",
    "POOL_WEIGHT",
    "RENEW_P",
    "REVOKE_KEEP",
    "REVOKE_P",
    "SIGMA_SQRT_DT",
    "SQRT_ONE_MINUS_RHO",
    "SQRT_RHO",
    "WRONG_WAY",
    "WRONG_WAY_COMPLEMENT",
    "StressModel",
    "build_model",
    "exposure_profile",
]
