"""``dpv value`` and ``dpv schema``: output, exit codes and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from valuation.cli import main
from valuation.examples import EXAMPLES, example_path

GOOD = json.loads(Path(example_path("data_product")).read_text())


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", EXAMPLES)
def test_value_json_contract(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["value", example_path(name), "--as-of", "2026-11-01", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    for key in ("product_id", "valuation_date", "currency", "methods", "concluded_value"):
        assert key in doc
    for key in ("weights", "range", "warnings", "audit"):
        assert key in doc
    assert set(doc["methods"]) == {"income", "cost", "market"}
    for method in doc["methods"].values():
        assert (method["value"] is None) != (method["skipped"] is None)
    assert set(doc["range"]) == {"p10", "p50", "p90"}
    assert set(doc["audit"]) == {
        "input_sha256",
        "engine_version",
        "seed",
        "valuation_date",
        "calibration_id",
    }
    assert doc["valuation_date"] == doc["audit"]["valuation_date"] == "2026-11-01"


def test_value_table_on_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["value", example_path("data_algorithm"), "--as-of", "2026-11-01"], capsys)
    assert code == 0
    assert "concluded" in out and "market" in out
    # no comparables of its own: the market method comes from the calibration's price model
    assert "hedonic" in out


def test_value_table_shows_a_skipped_method(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(Path(example_path("data_algorithm")).read_text(encoding="utf-8"))
    doc["costs"] = []
    path = tmp_path / "no-costs.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    code, out, _ = run(["value", str(path), "--as-of", "2026-11-01"], capsys)
    assert code == 0
    assert "concluded" in out and "skipped" in out and "cost" in out


def test_value_reads_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    raw = json.dumps(GOOD).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    code, out, _ = run(["value", "-", "--as-of", "2026-11-01", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["product_id"] == GOOD["product_id"]


def test_profiles_change_the_formulas(capsys: pytest.CaptureFixture[str]) -> None:
    results = {}
    for profile in ("cas-2023", "cas-guide-9", "ivs-210"):
        code, out, _ = run(
            [
                "value",
                example_path("data_product"),
                "--as-of",
                "2026-11-01",
                "--json",
                "--profile",
                profile,
            ],
            capsys,
        )
        assert code == 0
        results[profile] = json.loads(out)
        assert results[profile]["profile"] == profile
    # the example's revenue is licensing and services: each by its own mode
    assert results["ivs-210"]["methods"]["income"]["name"] == (
        "direct cash flow on licensing, relief-from-royalty on services"
    )
    # guide 9 does not index costs; IVS has no quality coefficient: three different cost values
    costs = {p: r["methods"]["cost"]["value"] for p, r in results.items()}
    assert len(set(costs.values())) == 3
    assert (
        results["cas-guide-9"]["methods"]["income"]["value"]
        == results["cas-2023"]["methods"]["income"]["value"]
    )


def mutate(path: str, value: object) -> dict:
    doc = json.loads(json.dumps(GOOD))
    *parents, last = path.split(".")
    node = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is DELETE:
        del node[last]
    else:
        node[last] = value
    return doc


DELETE = object()

BAD = [
    ("missing required field", mutate("certificate", DELETE), "certificate", "Field required"),
    (
        "negative amount",
        mutate("costs.0.amount", -5),
        "costs[0].amount",
        "greater than or equal to 0",
    ),
    ("unknown category", mutate("category", "dataset"), "category", "Input should be"),
    (
        "expiry before registration",
        mutate("certificate.expires_on", "2024-01-01"),
        "certificate",
        "expires_on (2024-01-01) must be after registered_on",
    ),
    ("unknown field", mutate("colour", "red"), "colour", "Extra inputs are not permitted"),
    ("bad date", mutate("revenue.0.period_end", "2024-13-01"), "revenue[0].period_end", "date"),
    (
        "royalty above one",
        mutate("income_assumptions.royalty_rate", 1.5),
        "income_assumptions.royalty_rate",
        "less than or equal to 1",
    ),
]


@pytest.mark.parametrize(("label", "doc", "field", "problem"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_exits_2_naming_file_and_field(
    label: str,
    doc: dict,
    field: str,
    problem: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = tmp_path / "product.json"
    path.write_text(json.dumps(doc))
    before = sorted(tmp_path.iterdir())
    code, out, err = run(["value", str(path), "--json"], capsys)
    assert code == 2
    assert out == ""
    assert str(path) in err and field in err and problem in err
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_rejected_with_their_field(
    token: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "product.json"
    text = json.dumps(GOOD).replace('"amount": 2100000', f'"amount": {token}', 1)
    assert token in text
    path.write_text(text)
    code, out, err = run(["value", str(path)], capsys)
    assert code == 2 and out == ""
    assert "costs[0].amount" in err and "finite" in err


def test_malformed_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"product_id": "x",')
    code, out, err = run(["value", str(path)], capsys)
    assert code == 2 and out == ""
    assert str(path) in err and "malformed JSON" in err and "line 1" in err


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["value", str(tmp_path / "nope.json")], capsys)
    assert code == 2 and out == ""
    assert "nope.json: file not found" in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--as-of", "01/11/2026"], "--as-of: not an ISO date"),
        (["--profile", "usgaap"], "profile: unknown profile 'usgaap'"),
        (["--samples", "1"], "samples: must be 0"),
        (["--seed", "-3"], "seed: seed must be in"),
    ],
)
def test_bad_options_exit_2(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["value", example_path("data_product"), *args], capsys)
    assert code == 2 and out == ""
    assert needle in err


def test_schema_product(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["schema", "product"], capsys)
    assert code == 0
    schema = json.loads(out)
    assert set(schema["required"]) == {"product_id", "category", "sector", "certificate"}
    assert schema["additionalProperties"] is False


def test_schema_unknown_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["schema", "invoice"], capsys)
    assert code == 2 and out == "" and "unknown document 'invoice'" in err


def test_same_result_on_one_and_two_threads(tmp_path: Path) -> None:
    outputs = []
    for threads in ("1", "2"):
        env = {**os.environ, "NUMBA_NUM_THREADS": threads}
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "valuation",
                "value",
                example_path("data_product"),
                "--as-of",
                "2026-11-01",
                "--json",
            ],
            capture_output=True,
            env=env,
            check=True,
        )
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1]
    assert json.loads(outputs[0])["range"]["p10"] > 0


def test_table_never_cuts_a_number_on_a_narrow_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads(json.dumps(GOOD))
    for period in doc["revenue"]:
        period["licensing"] *= 120
        period["services"] *= 120
    for item in doc["costs"]:
        item["amount"] *= 100
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc))
    assert main(["value", str(path), "--as-of", "2026-11-01", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    numbers = [f"{result['concluded_value']:,.0f}", f"{result['range']['p90']:,.0f}"]
    numbers += [f"{m['value']:,.0f}" for m in result["methods"].values() if m["value"]]
    assert len(numbers[1]) >= 13  # over a billion: the case that was cut
    for width in ("80", "50"):
        monkeypatch.setenv("COLUMNS", width)
        assert main(["value", str(path), "--as-of", "2026-11-01"]) == 0
        out = capsys.readouterr().out
        assert "…" not in out.split("audit:")[0]
        for number in numbers:
            assert number in out, (width, number)
        if width == "80":
            assert max(len(line) for line in out.splitlines()) <= 80
