"""``dpv stress``: output, exit codes and the field named by bad input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from valuation.cli import main
from valuation.exceptions import DpvInputError
from valuation.risk.api import stress
from valuation.risk.scenarios import NAMED_SCENARIOS

ISSUE_EXAMPLE: dict[str, Any] = {
    "as_of": "2026-11-01",
    "loan": {"amount": 50.0, "tenor_months": 12, "annual_rate": 0.0, "amortization": "bullet"},
    "collateral": [
        {
            "id": "c1",
            "value": 100.0,
            "sector": "ai",
            "drift": 0.0,
            "volatility": 0.3,
            "jump_intensity": 0.0,
            "jump_mean": 0.0,
            "jump_volatility": 0.0,
            "revocation_hazard": 0.0,
            "revocation_loss": 1.0,
            "expiry_months": None,
            "renewal_probability": 1.0,
            "lapse_loss": 0.5,
        }
    ],
    "correlation": 0.0,
    "borrower": {"annual_pd": 0.0, "wrong_way": 0.0},
    "policy": {
        "margin_call_ltv": 0.7,
        "target_breach_probability": 0.05,
        "liquidation_discount": 0.35,
        "months_to_liquidate": 6,
        "confidence": 0.99,
    },
    "simulation": {"paths": 20000, "seed": 1, "steps_per_year": 12},
    "scenarios": ["base"],
}

REQUIRED = {
    "breach_probability",
    "breach_probability_se",
    "default_probability",
    "expected_loss",
    "lgd",
    "loss_var",
    "loss_es",
    "max_loan",
    "value_quantiles",
    "scenarios",
    "audit",
    "revocation_probability",
    "lapse_probability",
    "drift_convention",
    "model",
}


def _write(tmp_path: Path, doc: Any) -> str:
    path = tmp_path / "stress.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_json_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["stress", _write(tmp_path, ISSUE_EXAMPLE), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert REQUIRED <= set(out)
    assert [s["name"] for s in out["scenarios"]] == ["base"]
    assert out["audit"]["seed"] == 1
    assert "drift − σ²/2" in out["drift_convention"]
    quantiles = out["value_quantiles"]
    assert len(quantiles["months"]) == 13
    assert len(quantiles["values"]) == len(quantiles["levels"])
    assert all(a <= b for a, b in zip(quantiles["values"][0], quantiles["values"][-1], strict=True))


def test_table_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    doc = {**ISSUE_EXAMPLE, "scenarios": [*NAMED_SCENARIOS]}
    assert main(["stress", _write(tmp_path, doc)]) == 0
    out = capsys.readouterr().out
    for name in NAMED_SCENARIOS:
        assert name in out


def _set(doc: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    target: Any = doc
    parts = dotted.replace("[0]", ".0").split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    target[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("collateral[0].value", -1.0),
        ("collateral[0].renewal_probability", 1.5),
        ("collateral[0].revocation_loss", -0.1),
        ("borrower.annual_pd", 1.2),
        ("policy.target_breach_probability", 2.0),
        ("policy.margin_call_ltv", 0.0),
        ("policy.margin_call_ltv", -0.5),
        ("simulation.paths", 0),
        ("simulation.paths", -10),
        ("loan.amortization", "balloon"),
        ("loan.amount", 0.0),
        ("scenarios[0]", "alien_invasion"),
        ("collateral[0].colour", "red"),
    ],
)
def test_bad_input_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: Any
):
    doc = _set(ISSUE_EXAMPLE, field, value)
    assert main(["stress", _write(tmp_path, doc), "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("dpv: error: ")
    assert f": {field}: " in captured.err
    assert "stress.json" in captured.err


def test_missing_file_and_malformed_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["stress", str(tmp_path / "nope.json")]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert main(["stress", str(bad)]) == 2
    assert capsys.readouterr().out == ""


def test_duplicate_ids_rejected():
    doc = copy.deepcopy(ISSUE_EXAMPLE)
    doc["collateral"].append(doc["collateral"][0])
    with pytest.raises(DpvInputError, match="unique"):
        stress(doc)


def test_custom_scenario_and_schema(capsys: pytest.CaptureFixture[str]):
    doc = {
        **ISSUE_EXAMPLE,
        "scenarios": ["base", {"name": "halved", "value_multiplier": 0.5}],
    }
    result = stress(doc)
    base, halved = result.scenarios
    assert halved.name == "halved"
    assert halved.breach_probability > base.breach_probability
    assert halved.max_loan == pytest.approx(0.5 * base.max_loan, rel=1e-12)
    assert main(["schema", "stress"]) == 0
    assert "collateral" in json.loads(capsys.readouterr().out)["properties"]


def test_scenarios_worsen_the_base_case():
    doc = copy.deepcopy(ISSUE_EXAMPLE)
    doc["borrower"] = {"annual_pd": 0.1, "wrong_way": 0.3}
    doc["collateral"][0].update(revocation_hazard=0.05, expiry_months=6, renewal_probability=0.9)
    doc["scenarios"] = list(NAMED_SCENARIOS)
    result = stress(doc)
    by_name = {s.name: s for s in result.scenarios}
    assert by_name["base"].breach_probability == result.breach_probability
    for name in NAMED_SCENARIOS:
        if name != "base":
            assert by_name[name].expected_loss >= by_name["base"].expected_loss, name
            assert by_name[name].breach_probability >= by_name["base"].breach_probability, name
