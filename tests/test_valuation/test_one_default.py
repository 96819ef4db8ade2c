"""One default everywhere: the Python API uses the calibration the CLI uses unless told otherwise.

``dpv value`` and ``dpv stress`` use the bundled default CalibrationSet; ``valuation.value``,
``value_many`` and ``stress`` must give the same result on the same input, and
``calibration_id=default_calibration_id()`` must still reach the built-in defaults.
"""

from __future__ import annotations

import json

import pytest

from valuation import stress, value, value_many
from valuation.calibration_set import load_calibration
from valuation.cli import main
from valuation.defaults import default_calibration_id
from valuation.examples import EXAMPLES, example_path, load_example

AS_OF = "2026-11-01"
BUILTIN = {"calibration_id": default_calibration_id()}
STRESS_REQUEST = {
    "as_of": AS_OF,
    "loan": {"amount": 40.0, "tenor_months": 12},
    "collateral": [{"id": "c1", "value": 100.0, "volatility": 0.35}],
    "scenarios": ["base", "market_freeze"],
    "simulation": {"paths": 2000, "seed": 11},
}


def _cli_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(args) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", EXAMPLES)
def test_value_in_python_equals_dpv_value(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    cli = _cli_json(["value", example_path(name), "--as-of", AS_OF, "--json"], capsys)
    api = value(load_example(name), as_of=AS_OF).model_dump(mode="json")
    assert api["concluded_value"] == cli["concluded_value"]
    assert api["range"] == cli["range"]
    assert api["audit"]["calibration_id"] == cli["audit"]["calibration_id"]
    assert api["audit"]["calibration_id"] == load_calibration().id  # the bundled set
    assert api == cli  # every method, weight, warning and audit field too


def test_value_many_uses_the_same_default() -> None:
    products = [load_example(name) for name in EXAMPLES]
    together = value_many(products, as_of=AS_OF, samples=200, seed=5)
    for product, batch in zip(products, together, strict=True):
        alone = value(product, as_of=AS_OF, samples=200, seed=5)
        assert alone.model_dump_json() == batch.model_dump_json()
        assert batch.audit.calibration_id == load_calibration().id


def test_builtin_defaults_are_reachable_and_differ(capsys: pytest.CaptureFixture[str]) -> None:
    cal = load_calibration()
    builtin = [value(load_example(n), as_of=AS_OF, samples=0, **BUILTIN) for n in EXAMPLES]
    bundled = [value(load_example(n), as_of=AS_OF, samples=0) for n in EXAMPLES]
    for r in builtin:
        assert r.audit.calibration_id == default_calibration_id()
        sources = {i.get("source") for m in (r.methods.income,) for i in m.inputs.values()}
        assert "calibration" not in sources
    assert any(
        a.concluded_value != b.concluded_value for a, b in zip(builtin, bundled, strict=True)
    )
    # the bundled default equals the set given explicitly, as `dpv value --calibration` does
    explicit = value(
        load_example(EXAMPLES[0]),
        as_of=AS_OF,
        samples=0,
        parameters_override=cal.valuation_overrides,
        calibration_id=cal.id,
        market_model=cal.market_model(),
    )
    assert explicit.model_dump_json() == bundled[0].model_dump_json()


def test_stress_in_python_equals_dpv_stress(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "request.json"
    path.write_text(json.dumps(STRESS_REQUEST), encoding="utf-8")
    cli = _cli_json(["stress", str(path), "--json"], capsys)
    api = stress(STRESS_REQUEST).model_dump(mode="json")
    assert api["audit"]["calibration_id"] == cli["audit"]["calibration_id"] == load_calibration().id
    assert api == cli
    builtin = stress(STRESS_REQUEST, **BUILTIN).model_dump(mode="json")
    assert builtin["audit"]["calibration_id"] == default_calibration_id()
    # the request gives the process directly: the calibration changes no number
    del builtin["audit"], api["audit"]
    assert builtin == api
