"""The engine recovers the synthetic market's known economic value (one economic model).

The generator's ``economic_value`` is the income formula at the truth's parameters; a market of
5,000 products calibrated on its own history must be valued at a median ratio of 0.9-1.1 to it
(0.8-1.25 in every category), and the P10-P90 range must hold the truth for 70-90 % of them.
"""

from __future__ import annotations

import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from calibration.recovery import recovery_report
from valuation import value_many
from valuation.calibration_set import load_calibration
from valuation.schema.product import Product

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("recovery")
    market, cal_dir = work / "market", work / "calibration"
    run = [sys.executable, "-m", "valuation"]
    subprocess.run(
        [*run, "synth", "--products", "5000", "--seed", "11", "--out", str(market)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*run, "calibrate", "--history", str(market), "--out", str(cal_dir)],
        check=True,
        capture_output=True,
    )
    with open(market / "products.jsonl", encoding="utf-8") as handle:
        products = [Product.model_validate_json(line) for line in handle if line.strip()]
    table = pq.read_table(market / "product_truth.parquet").to_pydict()
    truth = dict(zip(table["product_id"], table["economic_value"], strict=True))
    cal = load_calibration(cal_dir)
    results = value_many(
        products,
        as_of="2026-10-31",
        parameters_override=cal.valuation_overrides,
        calibration_id=cal.id,
        market_model=cal.market_model(),
    )
    return recovery_report(results, truth, [p.category for p in products])


def test_median_ratio_overall(report: dict) -> None:
    assert report["n"] >= 4500
    assert 0.9 <= report["median_ratio"] <= 1.1


def test_median_ratio_per_category(report: dict) -> None:
    for category, row in report["by_category"].items():
        assert 0.8 <= row["median_ratio"] <= 1.25, (category, row)


def test_range_holds_the_truth(report: dict) -> None:
    assert 0.7 <= report["range_coverage"] <= 0.9


def test_income_method_is_unbiased(report: dict) -> None:
    # the income method is the truth's formula: its own median ratio is near 1
    assert 0.9 <= report["methods"]["income"]["median_ratio"] <= 1.1
