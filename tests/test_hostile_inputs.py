"""Hostile input across every command: each mistake exits 2 before any work, names the file or
option and the field, and leaves every file as it was (nothing written, nothing deleted).

Each case builds its inputs in a fresh folder (the working directory of the run), snapshots
every file below it, runs the command in-process and compares the snapshot afterwards.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_valuation import pledges
from valuation.calibration_set import DEFAULT_SET
from valuation.cli import main
from valuation.examples import example_path, example_registry_path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "valuation" / "data" / "sample"
TABLES = ("products", "revenue", "deals", "events", "loans")
STRESS: dict[str, Any] = json.loads((ROOT / "valuation/examples/stress_request.json").read_text())
PRODUCT: dict[str, Any] = json.loads(Path(example_path("data_product")).read_text())
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


def _snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder below ``folder`` with the SHA-256 of its bytes."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if path.is_symlink() or not path.is_dir():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "?"
        else:
            out[rel + "/"] = "dir"
    return out


def _write(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return str(path)


def _deep(levels: int = 100_000) -> str:
    return "[" * levels + "]" * levels


def _history(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        shutil.copy(SAMPLE / f"{table}.csv", folder / f"{table}.csv")
    return folder


def _edit_csv(path: Path, row: int, column: str, value: str) -> None:
    """Set ``column`` of data row ``row`` (1-based, after the header) to ``value``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    head = [h.strip('"') for h in lines[0].split(",")]
    cells = lines[row].split(",")
    cells[head.index(column)] = value
    lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _pledge_request(tmp: Path, **changes: Any) -> str:
    doc = pledges.example(paths=2000)
    for dotted, value in changes.items():
        target = doc
        *parents, leaf = dotted.split("__")
        for key in parents:
            target = target[key]
        target[leaf] = value
    return _write(tmp / "request.json", doc)


def _inline_pledge(tmp: Path, product: dict[str, Any]) -> str:
    doc = pledges.request([{"product": product}], paths=2000)
    return _write(tmp / "request.json", doc)


# ---- cases: each returns (argv, fragments the error message must contain) ----

Case = Callable[[Path], tuple[list[str], list[str]]]


def value_deep(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "deep.json").write_text(_deep())
    return ["value", "deep.json"], ["deep.json", "nested"]


def stress_deep(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "deep.json").write_text(_deep())
    return ["stress", "deep.json"], ["deep.json", "nested"]


def pledge_deep(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "deep.json").write_text('{"a": ' + _deep() + "}")
    return ["pledge", "deep.json", "--out", "o"], ["deep.json", "nested"]


def registry_deep(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "reg.json").write_text(_deep())
    req = _pledge_request(tmp)
    return ["pledge", req, "--registry", "reg.json", "--out", "o"], ["reg.json", "nested"]


def reproduce_deep(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "assessment.json").write_text(_deep())
    return ["reproduce", "assessment.json"], ["assessment.json", "nested"]


def policy_deep(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "policy.json").write_text('{"max_ltv": ' + _deep(5000) + "}")
    req = _pledge_request(tmp)
    return ["pledge", req, "--policy", "policy.json", "--out", "o"], ["policy.json", "nested"]


def value_samples_huge(tmp: Path) -> tuple[list[str], list[str]]:
    return ["value", example_path("data_product"), "--samples", "1000000000"], ["--samples"]


def value_samples_negative(tmp: Path) -> tuple[list[str], list[str]]:
    return ["value", example_path("data_product"), "--samples", "-5"], ["--samples"]


def value_seed_negative(tmp: Path) -> tuple[list[str], list[str]]:
    return ["value", example_path("data_product"), "--seed", "-1"], ["--seed"]


def value_as_of_far(tmp: Path) -> tuple[list[str], list[str]]:
    return ["value", example_path("data_product"), "--as-of", "9999-12-31"], ["--as-of"]


def stress_value_subnormal(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(STRESS)
    doc["collateral"][0]["value"] = 1e-320
    return ["stress", _write(tmp / "s.json", doc)], ["s.json", "collateral[0].value"]


def stress_amount_huge(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(STRESS)
    doc["loan"]["amount"] = 1e308
    return ["stress", _write(tmp / "s.json", doc)], ["s.json", "loan.amount"]


def stress_as_of_far(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(STRESS)
    doc["as_of"] = "9999-12-31"
    return ["stress", _write(tmp / "s.json", doc)], ["s.json", "as_of"]


def stress_too_much_work(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(STRESS)
    item = doc["collateral"][0]
    doc["collateral"] = [{**item, "id": f"c{i}"} for i in range(64)]
    doc["loan"]["tenor_months"] = 600
    doc["simulation"]["paths"] = 10_000_000
    doc["scenarios"] = ["base", "regulatory_shock", "revenue_collapse", "market_freeze"]
    return ["stress", _write(tmp / "s.json", doc)], ["s.json", "simulation.paths", "path-steps"]


def stress_bool_number(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(STRESS)
    doc["loan"]["amount"] = True
    return ["stress", _write(tmp / "s.json", doc)], ["s.json", "loan.amount"]


def pledge_amount_huge(tmp: Path) -> tuple[list[str], list[str]]:
    return ["pledge", _pledge_request(tmp, loan__amount=1e308), "--out", "o"], ["loan.amount"]


def pledge_amount_true(tmp: Path) -> tuple[list[str], list[str]]:
    return ["pledge", _pledge_request(tmp, loan__amount=True), "--out", "o"], ["loan.amount"]


def pledge_amount_string(tmp: Path) -> tuple[list[str], list[str]]:
    return ["pledge", _pledge_request(tmp, loan__amount="6000000"), "--out", "o"], ["loan.amount"]


def pledge_tenor_float(tmp: Path) -> tuple[list[str], list[str]]:
    req = _pledge_request(tmp, loan__tenor_months="12")
    return ["pledge", req, "--out", "o"], ["loan.tenor_months"]


def pledge_as_of_far(tmp: Path) -> tuple[list[str], list[str]]:
    return ["pledge", _pledge_request(tmp, as_of="9999-12-31"), "--out", "o"], ["as_of"]


def pledge_duplicate_keys(tmp: Path) -> tuple[list[str], list[str]]:
    text = json.dumps(pledges.example(paths=2000))
    text = text.replace('"amount": 6000000', '"amount": 1, "amount": 6000000', 1)
    assert '"amount": 1,' in text
    (tmp / "request.json").write_text(text)
    return ["pledge", "request.json", "--out", "o"], ["request.json", "duplicate", "amount"]


def pledge_out_is_a_file(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "taken").write_text("mine")
    return ["pledge", _pledge_request(tmp), "--out", "taken"], ["taken", "--out"]


def pledge_out_under_a_file(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "taken").write_text("mine")
    return ["pledge", _pledge_request(tmp), "--out", "taken/o"], ["taken/o", "--out"]


def pledge_out_unwritable(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "locked").mkdir()
    (tmp / "locked").chmod(0o555)
    return ["pledge", _pledge_request(tmp), "--out", "locked/o"], ["locked/o", "--out"]


def pledge_out_in_proc(tmp: Path) -> tuple[list[str], list[str]]:
    # /proc refuses new folders even to root, unlike a chmod-ed folder
    return ["pledge", _pledge_request(tmp), "--out", "/proc/dpv-o"], ["/proc/dpv-o", "--out"]


def calibrate_out_in_proc(tmp: Path) -> tuple[list[str], list[str]]:
    _history(tmp / "h")
    return ["calibrate", "--history", "h", "--out", "/proc/dpv-set"], ["/proc/dpv-set", "--out"]


def pledge_out_holds_a_result(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "o").mkdir()
    (tmp / "o" / "assessment.json").write_text("{}")
    return ["pledge", _pledge_request(tmp), "--out", "o"], ["o", "--out", "--force"]


def pledge_force_on_unrelated_folder(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "o").mkdir()
    (tmp / "o" / "thesis.tex").write_text("years of work")
    return ["pledge", _pledge_request(tmp), "--out", "o", "--force"], ["o", "--out", "dpv"]


def pledge_paths_too_many(tmp: Path) -> tuple[list[str], list[str]]:
    return ["pledge", _pledge_request(tmp), "--paths", "100000000", "--out", "o"], ["--paths"]


def pledge_bidi_product_id(tmp: Path) -> tuple[list[str], list[str]]:
    product = pledges.product("ZJ-\u202e780000-5202-AD\u202c")
    return ["pledge", _inline_pledge(tmp, product), "--out", "o"], ["product_id"]


def pledge_escape_in_request_id(tmp: Path) -> tuple[list[str], list[str]]:
    return ["pledge", _pledge_request(tmp, request_id="PR-\x1b[2J1"), "--out", "o"], ["request_id"]


def registry_two_products_one_id(tmp: Path) -> tuple[list[str], list[str]]:
    products = json.loads(Path(example_registry_path()).read_text())
    twin = copy.deepcopy(products[0])
    twin["name"] = "another product"
    twin["attributes"]["records"] = 1
    _write(tmp / "reg.json", [*products, twin])
    req = _pledge_request(tmp)
    return ["pledge", req, "--registry", "reg.json", "--out", "o"], [
        "reg.json",
        products[0]["product_id"],
    ]


def registry_is_an_object(tmp: Path) -> tuple[list[str], list[str]]:
    products = json.loads(Path(example_registry_path()).read_text())
    _write(tmp / "reg.json", {p["product_id"]: p for p in products})
    req = _pledge_request(tmp)
    return ["pledge", req, "--registry", "reg.json", "--out", "o"], ["reg.json", "list"]


def value_bool_amount(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(PRODUCT)
    doc["costs"][0]["amount"] = True
    return ["value", _write(tmp / "p.json", doc)], ["p.json", "costs[0].amount"]


def value_string_amount(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(PRODUCT)
    doc["costs"][0]["amount"] = "1000"
    return ["value", _write(tmp / "p.json", doc)], ["p.json", "costs[0].amount"]


def value_string_bool(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(PRODUCT)
    doc["income_assumptions"] = {"mid_year": "false"}
    return ["value", _write(tmp / "p.json", doc)], ["p.json", "income_assumptions.mid_year"]


def value_duplicate_keys(tmp: Path) -> tuple[list[str], list[str]]:
    text = json.dumps(PRODUCT)
    text = text.replace('"sector": ', '"sector": "ai", "sector": ', 1)
    (tmp / "p.json").write_text(text)
    return ["value", "p.json"], ["p.json", "duplicate", "sector"]


def value_nul_in_id(tmp: Path) -> tuple[list[str], list[str]]:
    doc = {**PRODUCT, "product_id": "P-\x001"}
    return ["value", _write(tmp / "p.json", doc)], ["p.json", "product_id"]


def value_bidi_in_id(tmp: Path) -> tuple[list[str], list[str]]:
    doc = {**PRODUCT, "product_id": "ZJ-\u202e780000-5202-AD\u202c"}
    return ["value", _write(tmp / "p.json", doc)], ["p.json", "product_id"]


def value_escape_in_certificate(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(PRODUCT)
    doc["certificate"]["number"] = "C-\x1b]0;pwned\x07"
    return ["value", _write(tmp / "p.json", doc)], ["p.json", "certificate.number"]


def value_cost_huge(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(PRODUCT)
    doc["costs"][0]["amount"] = 1e308
    return ["value", _write(tmp / "p.json", doc)], ["p.json", "costs[0].amount"]


def value_cost_in_year_one(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(PRODUCT)
    doc["costs"][0]["incurred_on"] = "0001-01-01"
    return ["value", _write(tmp / "p.json", doc)], ["p.json", "costs[0].incurred_on"]


def value_revenue_huge(tmp: Path) -> tuple[list[str], list[str]]:
    doc = copy.deepcopy(PRODUCT)
    doc["revenue"][0]["licensing"] = 1e20
    return ["value", _write(tmp / "p.json", doc)], ["p.json", "revenue[0].licensing"]


def calibrate_too_small(tmp: Path) -> tuple[list[str], list[str]]:
    hist = _history(tmp / "h")
    path = hist / "deals.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:11]) + "\n")
    return ["calibrate", "--history", "h", "--out", "set"], ["deals.csv", "need"]


def calibrate_prices_nan(tmp: Path) -> tuple[list[str], list[str]]:
    hist = _history(tmp / "h")
    path = hist / "deals.csv"
    lines = path.read_text().splitlines()
    for row in range(1, len(lines)):
        cells = lines[row].split(",")
        cells[[h.strip('"') for h in lines[0].split(",")].index("price")] = "NaN"
        lines[row] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return ["calibrate", "--history", "h", "--out", "set"], ["deals.csv", "price"]


def calibrate_seed_negative(tmp: Path) -> tuple[list[str], list[str]]:
    _history(tmp / "h")
    return ["calibrate", "--history", "h", "--out", "set", "--seed", "-1"], ["--seed"]


def calibrate_cutoff_far(tmp: Path) -> tuple[list[str], list[str]]:
    _history(tmp / "h")
    argv = ["calibrate", "--history", "h", "--out", "set", "--cutoff", "9999-12-31"]
    return argv, ["--cutoff"]


def calibrate_out_unwritable(tmp: Path) -> tuple[list[str], list[str]]:
    _history(tmp / "h")
    (tmp / "locked").mkdir()
    (tmp / "locked").chmod(0o555)
    return ["calibrate", "--history", "h", "--out", "locked/set"], ["locked/set", "--out"]


def calibrate_out_under_a_file(tmp: Path) -> tuple[list[str], list[str]]:
    _history(tmp / "h")
    (tmp / "taken").write_text("mine")
    return ["calibrate", "--history", "h", "--out", "taken/set"], ["taken/set", "--out"]


def calibrate_force_on_unrelated_folder(tmp: Path) -> tuple[list[str], list[str]]:
    _history(tmp / "h")
    (tmp / "set").mkdir()
    (tmp / "set" / "notes.md").write_text("mine")
    argv = ["calibrate", "--history", "h", "--out", "set", "--force"]
    return argv, ["set", "--out", "dpv"]


def _history_case(table: str, row: int, column: str, value: str) -> Case:
    def case(tmp: Path) -> tuple[list[str], list[str]]:
        hist = _history(tmp / "h")
        _edit_csv(hist / f"{table}.csv", row, column, value)
        return ["calibrate", "--history", "h", "--out", "set"], [
            f"{table}.csv",
            f"row {row}",
            column,
        ]

    case.__name__ = f"history_{table}_{column}_{value}"
    return case


def history_duplicate_product(tmp: Path) -> tuple[list[str], list[str]]:
    hist = _history(tmp / "h")
    path = hist / "products.csv"
    lines = path.read_text().splitlines()
    first_id = lines[1].split(",")[0]
    _edit_csv(path, 2, "product_id", first_id)
    return ["calibrate", "--history", "h", "--out", "set"], ["products.csv", "row 2", "product_id"]


def history_duplicate_deal(tmp: Path) -> tuple[list[str], list[str]]:
    hist = _history(tmp / "h")
    path = hist / "deals.csv"
    lines = path.read_text().splitlines()
    _edit_csv(path, 3, "deal_id", lines[1].split(",")[0])
    return ["calibrate", "--history", "h", "--out", "set"], ["deals.csv", "row 3", "deal_id"]


def history_event_before_registration(tmp: Path) -> tuple[list[str], list[str]]:
    hist = _history(tmp / "h")
    _edit_csv(hist / "events.csv", 1, "date", "2000-01-01")
    return ["calibrate", "--history", "h", "--out", "set"], ["events.csv", "row 1", "date"]


def backtest_cutoff_far(tmp: Path) -> tuple[list[str], list[str]]:
    _history(tmp / "h")
    argv = ["backtest", "--calibration", str(DEFAULT_SET), "--history", "h"]
    return [*argv, "--cutoff", "9999-12-31"], ["--cutoff"]


def backtest_too_small(tmp: Path) -> tuple[list[str], list[str]]:
    hist = _history(tmp / "h")
    path = hist / "deals.csv"
    path.write_text("\n".join(path.read_text().splitlines()[:6]) + "\n")
    argv = ["backtest", "--calibration", str(DEFAULT_SET), "--history", "h"]
    return [*argv, "--cutoff", "2026-01-01"], ["deals.csv", "need"]


def synth_force_unrelated(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "market").mkdir()
    (tmp / "market" / "photos").mkdir()
    (tmp / "market" / "photos" / "a.jpg").write_bytes(b"\xff\xd8 family")
    argv = ["synth", "--products", "10", "--out", "market", "--force", "--format", "csv"]
    return argv, ["market", "--out", "dpv"]


def synth_force_dot(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "keep.txt").write_text("mine")
    return ["synth", "--products", "10", "--out", ".", "--force", "--format", "csv"], ["--out"]


def synth_out_under_a_file(tmp: Path) -> tuple[list[str], list[str]]:
    (tmp / "taken").write_text("mine")
    return ["synth", "--products", "10", "--out", "taken/m", "--format", "csv"], ["--out"]


def synth_chunk_too_large(tmp: Path) -> tuple[list[str], list[str]]:
    argv = ["synth", "--products", "10", "--out", "m", "--chunk-size", str(2**40)]
    return argv, ["--chunk-size"]


def synth_products_too_many(tmp: Path) -> tuple[list[str], list[str]]:
    return ["synth", "--products", str(10**12), "--out", "m"], ["--products"]


def _tampered_set(tmp: Path) -> Path:
    """A copy of the default set with a parameter changed and the manifest's hash recomputed."""
    folder = tmp / "set"
    shutil.copytree(DEFAULT_SET, folder)
    params_path = folder / "parameters.json"
    params = json.loads(params_path.read_text())
    params["valuation"]["royalty_rate"]["data_product"] = 0.9
    params_path.write_text(json.dumps(params))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["parameters.json"] = hashlib.sha256(params_path.read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def value_tampered_set(tmp: Path) -> tuple[list[str], list[str]]:
    _tampered_set(tmp)
    argv = ["value", example_path("data_product"), "--calibration", "set"]
    return argv, ["manifest.json", "id"]


def reproduce_tampered_set(tmp: Path) -> tuple[list[str], list[str]]:
    folder = tmp / "set"
    shutil.copytree(DEFAULT_SET, folder)
    (folder / "royalty.json").write_text((folder / "royalty.json").read_text() + " ")
    assessment = {"audit": {"calibration_id": "cal-0000000000000000"}}
    _write(tmp / "assessment.json", assessment)
    argv = ["reproduce", "assessment.json", "--calibration", "set"]
    return argv, ["royalty.json"]


def stress_tampered_set(tmp: Path) -> tuple[list[str], list[str]]:
    folder = tmp / "set"
    shutil.copytree(DEFAULT_SET, folder)
    (folder / "royalty.json").write_text((folder / "royalty.json").read_text() + " ")
    argv = ["stress", str(ROOT / "valuation/examples/stress_request.json"), "--calibration", "set"]
    return argv, ["royalty.json"]


CASES: list[Case] = [
    value_deep,
    stress_deep,
    pledge_deep,
    registry_deep,
    reproduce_deep,
    policy_deep,
    value_samples_huge,
    value_samples_negative,
    value_seed_negative,
    value_as_of_far,
    stress_value_subnormal,
    stress_amount_huge,
    stress_as_of_far,
    stress_too_much_work,
    stress_bool_number,
    pledge_amount_huge,
    pledge_amount_true,
    pledge_amount_string,
    pledge_tenor_float,
    pledge_as_of_far,
    pledge_duplicate_keys,
    pledge_out_is_a_file,
    pledge_out_under_a_file,
    pytest.param(
        pledge_out_unwritable, marks=pytest.mark.skipif(IS_ROOT, reason="root writes anywhere")
    ),
    pledge_out_in_proc,
    pledge_out_holds_a_result,
    pledge_force_on_unrelated_folder,
    pledge_paths_too_many,
    pledge_bidi_product_id,
    pledge_escape_in_request_id,
    registry_two_products_one_id,
    registry_is_an_object,
    value_bool_amount,
    value_string_amount,
    value_string_bool,
    value_duplicate_keys,
    value_nul_in_id,
    value_bidi_in_id,
    value_escape_in_certificate,
    value_cost_huge,
    value_cost_in_year_one,
    value_revenue_huge,
    calibrate_too_small,
    calibrate_prices_nan,
    calibrate_seed_negative,
    calibrate_cutoff_far,
    pytest.param(
        calibrate_out_unwritable, marks=pytest.mark.skipif(IS_ROOT, reason="root writes anywhere")
    ),
    calibrate_out_under_a_file,
    calibrate_out_in_proc,
    calibrate_force_on_unrelated_folder,
    _history_case("events", 1, "date", "9999-12-31"),
    _history_case("deals", 2, "date", "2026-02-30"),
    _history_case("revenue", 3, "licensing", "-1e308"),
    _history_case("deals", 4, "price", "inf"),
    _history_case("revenue", 2, "services", "1e20"),
    _history_case("products", 5, "registered_on", "2026-13-01"),
    _history_case("deals", 5, "royalty_rate", "7"),
    history_duplicate_product,
    history_duplicate_deal,
    history_event_before_registration,
    backtest_cutoff_far,
    backtest_too_small,
    synth_force_unrelated,
    synth_force_dot,
    synth_out_under_a_file,
    synth_chunk_too_large,
    synth_products_too_many,
    value_tampered_set,
    reproduce_tampered_set,
    stress_tampered_set,
]


def _name(case: Any) -> str:
    return str(getattr(case, "__name__", case))


@pytest.mark.parametrize("case", CASES, ids=_name)
def test_mistake_exits_2_naming_it_and_changes_nothing(
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv, fragments = case(work)
    before = _snapshot(work)
    try:
        code = main(argv)
    finally:
        for locked in work.glob("locked"):
            locked.chmod(0o755)
    captured = capsys.readouterr()
    assert code == 2, captured.err[-2000:]
    message = captured.err
    assert "unexpected error" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert _snapshot(work) == before, "files were written or deleted"
    assert not list(tmp_path.glob(".*")), "temporary files left beside the work folder"
