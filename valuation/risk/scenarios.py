"""Named stress scenarios, kept as data: each is a set of parameter overrides.

A bank adds its own by putting a scenario object (the fields of
:class:`~valuation.schema.stress.Scenario`) into the request's ``scenarios`` list; a string in
that list names one of :data:`NAMED_SCENARIOS`.

The magnitudes are judgemental house defaults, not calibrated: they are meant to be severe but
plausible for a one-year pledge on a registered data product and are echoed in every result.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from valuation.exceptions import DpvInputError
from valuation.schema.stress import Scenario

_SCENARIO_DATA: dict[str, dict[str, Any]] = {
    "base": {"description": "the request's parameters unchanged"},
    "regulatory_shock": {
        "description": "a regulator tightens data-export and privacy rules: value falls 15%, "
        "revocation hazard triples, one extra downward jump a year",
        "value_multiplier": 0.85,
        "revocation_hazard_multiplier": 3.0,
        "jump_intensity_add": 1.0,
        "jump_mean_add": -0.10,
    },
    "revenue_collapse": {
        "description": "the licensees leave: value falls 40% and keeps eroding at 20% a year",
        "value_multiplier": 0.60,
        "drift_add": -0.20,
    },
    "market_freeze": {
        "description": "no buyers: liquidation discount +25 points, six more months to sell, "
        "volatility ×1.5",
        "liquidation_discount_add": 0.25,
        "months_to_liquidate_add": 6,
        "volatility_multiplier": 1.5,
    },
    "obsolescence": {
        "description": "a better product appears: value decays 30% a year faster, renewal "
        "half as likely",
        "drift_add": -0.30,
        "renewal_probability_multiplier": 0.5,
    },
    "rate_shock": {
        "description": "rates +300 bp: the loan costs more, the collateral (valued by "
        "discounting) falls 10%, the borrower's PD rises by half",
        "annual_rate_add": 0.03,
        "value_multiplier": 0.90,
        "annual_pd_multiplier": 1.5,
    },
}

NAMED_SCENARIOS: MappingProxyType[str, Scenario] = MappingProxyType(
    {name: Scenario(name=name, **data) for name, data in _SCENARIO_DATA.items()}
)


def resolve_scenarios(entries: list[str | Scenario]) -> list[Scenario]:
    """Turn the request's scenario list (names or objects) into scenario objects.

    Raises
    ------
    DpvInputError
        A name is not one of :data:`NAMED_SCENARIOS`.
    """
    out = []
    for index, entry in enumerate(entries):
        if isinstance(entry, Scenario):
            out.append(entry)
        elif entry in NAMED_SCENARIOS:
            out.append(NAMED_SCENARIOS[entry])
        else:
            raise DpvInputError(
                f"unknown scenario {entry!r}; choose one of {', '.join(NAMED_SCENARIOS)} "
                "or give an object with a name and overrides",
                field=f"scenarios[{index}]",
            )
    return out


__all__ = ["NAMED_SCENARIOS", "resolve_scenarios"]
