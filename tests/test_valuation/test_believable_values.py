"""Products the engine used to leave unvalued, and the economic model's choices, stated."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from valuation import value
from valuation.calibration_set import load_calibration
from valuation.defaults import DEFAULTS, default_calibration_id

AS_OF = "2026-11-01"
# the numbers and choices below are the built-in defaults' (DEFAULTS)
BUILTIN = {"calibration_id": default_calibration_id()}


def _product(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "product_id": "SH-DP-2025-009001",
        "name": "Port logistics visibility feed",
        "category": "data_product",
        "sector": "transport",
        "certificate": {
            "number": "SHDIP-2025-9001",
            "registered_on": "2025-03-01",
            "expires_on": "2028-03-01",
            "status": "valid",
        },
        "attributes": {"records": 50_000_000, "fields": 40, "update_frequency_days": 1},
    }
    base.update(extra)
    return base


LICENSING = [
    {"period_end": "2024-12-31", "licensing": 2_100_000},
    {"period_end": "2025-12-31", "licensing": 2_450_000},
]
COSTS = [{"item": "collection", "amount": 1_500_000, "incurred_on": "2024-03-31"}]


@pytest.fixture(scope="module")
def model() -> Any:
    return load_calibration().hedonic_model()


def test_attributes_only_priced_by_the_calibrations_model(model: Any) -> None:
    r = value(_product(), as_of=AS_OF, market_model=model)
    assert r.concluded_value is not None and r.concluded_value > 0
    assert r.methods.market.value and r.methods.market.value > 0
    assert "hedonic" in r.methods.market.name
    assert r.methods.income.skipped and r.methods.cost.skipped
    assert r.range is not None and r.range.p90 / r.range.p10 > 2.0  # wide, honest


def test_attributes_only_without_a_model_says_why() -> None:
    r = value(_product(), as_of=AS_OF, **BUILTIN)
    assert r.concluded_value is None
    assert "price model" in (r.methods.market.skipped or "")


def test_costs_only() -> None:
    r = value(_product(costs=COSTS), as_of=AS_OF, **BUILTIN)
    assert r.concluded_value and r.concluded_value > 0
    assert r.weights.cost == pytest.approx(1.0)


def test_licensing_revenue_is_valued_by_direct_income() -> None:
    r = value(_product(revenue=LICENSING), as_of=AS_OF, **BUILTIN)
    inputs = r.methods.income.inputs
    assert inputs["mode"]["value"] == "direct"
    assert "licensing" in inputs["mode"]["source"]
    assert inputs["licensing_margin"]["value"] == DEFAULTS["licensing_margin"]["data_product"]
    # the data keeps its licensing margin, not a royalty on its own earnings
    share = value(
        _product(revenue=LICENSING, income_assumptions={"mode": "revenue_share"}),
        as_of=AS_OF,
        **BUILTIN,
    )
    ratio = DEFAULTS["licensing_margin"]["data_product"] / DEFAULTS["royalty_rate"]["data_product"]
    assert r.methods.income.value == pytest.approx(ratio * share.methods.income.value)


def test_services_revenue_is_valued_by_revenue_share() -> None:
    revenue = [{"period_end": "2025-12-31", "services": 2_450_000}]
    r = value(_product(revenue=revenue), as_of=AS_OF, **BUILTIN)
    assert r.methods.income.inputs["mode"]["value"] == "revenue_share"


@pytest.mark.parametrize("status", ["expired", "objected", "announced"])
def test_non_valid_certificates_are_valued(status: str) -> None:
    cert = {
        "number": "SHDIP-2022-9001",
        "registered_on": "2023-03-01",
        "expires_on": "2026-03-01" if status == "expired" else "2028-03-01",
        "status": status,
    }
    r = value(_product(revenue=LICENSING, costs=COSTS, certificate=cert), as_of=AS_OF, **BUILTIN)
    assert r.concluded_value and r.concluded_value > 0
    assert any(w.code == f"certificate_{status}" for w in r.warnings)


def _with_process(**changes: float) -> dict[str, Any]:
    process = copy.deepcopy(DEFAULTS["collateral_process"])
    process.update(changes)
    return {"collateral_process": process}


def test_expired_after_the_base_period_applies_the_lapse_loss() -> None:
    cert = {
        "number": "N-1",
        "registered_on": "2023-03-01",
        "expires_on": "2026-03-01",
        "status": "expired",
    }
    lapsed = value(_product(revenue=LICENSING, certificate=cert), as_of=AS_OF, samples=0, **BUILTIN)
    keep = 1.0 - DEFAULTS["collateral_process"]["lapse_loss"]
    valid = value(
        _product(revenue=LICENSING),
        as_of=AS_OF,
        samples=0,
        parameters_override=_with_process(revocation_hazard=0.0, renewal_probability=1.0),
    )
    assert lapsed.methods.income.value == pytest.approx(keep * valid.methods.income.value)


def test_revoked_keeps_what_remains_after_the_revocation_loss() -> None:
    override = _with_process(revocation_loss=0.4, revocation_hazard=0.0, renewal_probability=1.0)
    cert = dict(_product()["certificate"], status="revoked")
    revoked = value(
        _product(revenue=LICENSING, certificate=cert),
        as_of=AS_OF,
        samples=0,
        parameters_override=override,
    )
    valid = value(_product(revenue=LICENSING), as_of=AS_OF, samples=0, parameters_override=override)
    assert revoked.methods.income.value == pytest.approx(0.6 * valid.methods.income.value)


def test_life_certificate_stops_at_the_expiry() -> None:
    economic = value(_product(revenue=LICENSING), as_of=AS_OF, samples=0, **BUILTIN)
    capped = value(
        _product(revenue=LICENSING, income_assumptions={"life": "certificate"}),
        as_of=AS_OF,
        samples=0,
        **BUILTIN,
    )
    assert capped.methods.income.inputs["life_convention"]["value"] == "certificate"
    assert capped.methods.income.inputs["life_years"]["value"] < 1.4
    assert capped.methods.income.value < 0.5 * economic.methods.income.value


def test_renewal_probability_and_hazard_move_the_value() -> None:
    def income(**changes: float) -> float:
        r = value(
            _product(revenue=LICENSING),
            as_of=AS_OF,
            samples=0,
            parameters_override=_with_process(**changes),
        )
        return float(r.methods.income.value or 0.0)

    assert income(renewal_probability=0.9) > income(renewal_probability=0.5)
    assert income(revocation_hazard=0.1) < income(revocation_hazard=0.01)
    assert income(lapse_loss=0.8) < income(lapse_loss=0.2)
