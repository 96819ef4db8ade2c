"""`dpv calibrate`, `dpv backtest` and `--calibration` on `dpv value` / `dpv stress`: exit codes,
messages that name the file and the column, nothing written on bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from valuation.calibration_set import DEFAULT_SET, load_calibration
from valuation.cli import main

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "valuation" / "data" / "sample"
EXAMPLE = ROOT / "valuation" / "examples" / "data_product.json"
TABLES = ("products", "revenue", "deals", "events", "loans")


@pytest.fixture
def history(tmp_path: Path) -> Path:
    folder = tmp_path / "history"
    folder.mkdir()
    for table in TABLES:
        shutil.copy(SAMPLE / f"{table}.csv", folder / f"{table}.csv")
    return folder


def _bad_input(argv: list[str], capsys: pytest.CaptureFixture[str], out: Path) -> str:
    assert main(argv) == 2
    assert not out.exists()
    assert not list(out.parent.glob(f".{out.name}.*")), "temporary folder left behind"
    return capsys.readouterr().err


def test_missing_history_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "set"
    err = _bad_input(
        ["calibrate", "--history", str(tmp_path / "nowhere"), "--out", str(out)], capsys, out
    )
    assert "nowhere" in err and "not found" in err


def test_missing_table(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (history / "deals.csv").unlink()
    out = history.parent / "set"
    err = _bad_input(["calibrate", "--history", str(history), "--out", str(out)], capsys, out)
    assert "deals.csv" in err


def test_missing_column(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = history / "revenue.csv"
    text = path.read_text()
    path.write_text(text.replace('"licensing"', '"licencing"', 1))
    out = history.parent / "set"
    err = _bad_input(["calibrate", "--history", str(history), "--out", str(out)], capsys, out)
    assert "revenue.csv: licensing: missing column" in err


def test_value_that_does_not_parse(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = history / "deals.csv"
    lines = path.read_text().splitlines()
    head, first = lines[0], lines[1].split(",")
    price_at = head.split(",").index('"price"')
    first[price_at] = "cheap"
    path.write_text("\n".join([head, ",".join(first), *lines[2:]]) + "\n")
    out = history.parent / "set"
    err = _bad_input(["calibrate", "--history", str(history), "--out", str(out)], capsys, out)
    assert "deals.csv: price: not a number" in err


def test_unknown_category(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = history / "products.csv"
    path.write_text(path.read_text().replace('"data_product"', '"dataset"', 1))
    out = history.parent / "set"
    err = _bad_input(["calibrate", "--history", str(history), "--out", str(out)], capsys, out)
    assert "products.csv: category: unknown value 'dataset'" in err


def test_calibrate_then_backtest_and_value_with_it(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = history.parent / "set"
    assert main(["calibrate", "--history", str(history), "--out", str(out), "--no-backtest"]) == 0
    cal = load_calibration(out)
    assert f"wrote CalibrationSet {cal.id}" in capsys.readouterr().out
    # refuses to overwrite without --force, and writes nothing
    assert main(["calibrate", "--history", str(history), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err

    assert main(["backtest", "--calibration", str(out), "--history", str(history), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibration_id"] == cal.id
    assert report["scored"] == "refitted before cut-off"  # the history ends where the set's does
    assert report["hedonic"]["n"] > 100
    assert abs(report["hedonic"]["coverage"] - 0.8) < 0.1
    loans = report["loans"]
    engine = loans["stress_engine"]
    assert engine["loans_simulated"] == loans["n"] > 10
    # the engine's default frequency is the closed form's (months rounded, Monte Carlo noise)
    assert engine["predicted_default_frequency"] == pytest.approx(
        loans["predicted_default_frequency"], rel=0.2
    )
    assert 0.0 <= engine["predicted_breach_frequency"] <= 1.0

    assert (
        main(["value", str(EXAMPLE), "--as-of", "2026-11-01", "--json", "--calibration", str(out)])
        == 0
    )
    result = json.loads(capsys.readouterr().out)
    assert result["audit"]["calibration_id"] == cal.id


def test_value_and_stress_use_the_default_set(capsys: pytest.CaptureFixture[str]) -> None:
    default_id = load_calibration(DEFAULT_SET).id
    assert main(["value", str(EXAMPLE), "--as-of", "2026-11-01", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["audit"]["calibration_id"] == default_id


def test_stress_names_the_set(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    request = {
        "as_of": "2026-11-01",
        "loan": {"amount": 50.0, "tenor_months": 12},
        "collateral": [{"id": "c1", "value": 100.0, "volatility": 0.3}],
        "simulation": {"paths": 2000, "seed": 1},
    }
    path = tmp_path / "stress.json"
    path.write_text(json.dumps(request))
    assert main(["stress", str(path), "--json"]) == 0
    default_id = load_calibration(DEFAULT_SET).id
    assert json.loads(capsys.readouterr().out)["audit"]["calibration_id"] == default_id
    copy = tmp_path / "set"
    shutil.copytree(DEFAULT_SET, copy)
    assert main(["stress", str(path), "--json", "--calibration", str(copy)]) == 0
    assert json.loads(capsys.readouterr().out)["audit"]["calibration_id"] == default_id


def test_tampered_set_is_bad_input_for_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "set"
    shutil.copytree(DEFAULT_SET, copy)
    params = copy / "parameters.json"
    params.write_text(params.read_text().replace("0.", "1.", 1))
    assert main(["value", str(EXAMPLE), "--calibration", str(copy)]) == 2
    assert "parameters.json" in capsys.readouterr().err
