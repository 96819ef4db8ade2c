"""The CalibrationSet's deal table (``comparables.json``): written compactly from the history's
priced deals, listed and hashed in the manifest, optional for older sets."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from calibration.fit import HEDONIC_FEATURES, deal_features
from calibration.history import load_history
from calibration.write import comparables_json
from valuation import value
from valuation.calibration_set import (
    COMPARABLES,
    DEAL_COLUMNS,
    DEFAULT_SET,
    DealTable,
    content_id,
    load_calibration,
)
from valuation.exceptions import CalibrationError
from valuation.hashing import sha256_file
from valuation.methods.market_model import MarketModel

SAMPLE = Path(__file__).resolve().parents[2] / "valuation" / "data" / "sample"
PRODUCT = {
    "product_id": "SH-DP-2025-009001",
    "name": "Consumer credit behaviour index",
    "category": "data_product",
    "sector": "finance",
    "certificate": {
        "number": "SHDIP-2025-9001",
        "registered_on": "2025-03-01",
        "expires_on": "2028-03-01",
        "status": "valid",
    },
    "attributes": {"records": 2_000_000, "fields": 30},
}


@pytest.fixture
def copy_of_default(tmp_path: Path) -> Path:
    target = tmp_path / "set"
    shutil.copytree(DEFAULT_SET, target)
    return target


def _older_set(folder: Path) -> Path:
    """Turn a copy of the default set into one written before the deal table existed."""
    (folder / COMPARABLES).unlink()
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    del manifest["files"][COMPARABLES]
    # such a set's id was derived from the files it had
    manifest["id"] = content_id(manifest["data_sha256"], manifest["files"])
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_bundled_set_lists_and_hashes_the_table() -> None:
    cal = load_calibration()
    files = cal.manifest["files"]
    assert COMPARABLES in files
    assert files[COMPARABLES] == sha256_file(DEFAULT_SET / COMPARABLES)
    table = cal.comparables()
    assert isinstance(table, DealTable) and len(table) > 100
    assert table.feature_names == HEDONIC_FEATURES


def test_table_holds_every_priced_deal_of_the_history() -> None:
    history = load_history(SAMPLE)
    features = deal_features(history)
    priced = np.isfinite(features.log_price)
    deals = history["deals"]
    table = load_calibration().comparables()
    assert table is not None and len(table) == int(priced.sum())
    assert table.deal_id.tolist() == deals["deal_id"][priced].tolist()
    assert table.product_id.tolist() == deals["product_id"][priced].tolist()
    assert np.array_equal(table.date, deals["date"][priced].astype("datetime64[D]"))
    assert np.array_equal(table.price, deals["price"][priced])  # prices exactly
    assert table.license.tolist() == deals["license"][priced].tolist()
    assert table.territory.tolist() == deals["territory"][priced].tolist()
    np.testing.assert_array_equal(
        np.isnan(table.term_months), np.isnan(deals["term_months"][priced])
    )
    # features to 6 significant digits, NaN where unknown
    expected = features.X[priced]
    np.testing.assert_array_equal(np.isnan(table.features), np.isnan(expected))
    np.testing.assert_allclose(table.features, expected, rtol=5e-6, atol=1e-12, equal_nan=True)


def test_changed_table_is_refused_naming_the_file(copy_of_default: Path) -> None:
    path = copy_of_default / COMPARABLES
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] = ord("7") if data[middle] != ord("7") else ord("8")
    path.write_bytes(bytes(data))
    with pytest.raises(CalibrationError, match=r"comparables\.json") as info:
        load_calibration(copy_of_default)
    assert "SHA-256" in str(info.value)


def test_listed_table_that_is_missing_is_refused(copy_of_default: Path) -> None:
    (copy_of_default / COMPARABLES).unlink()
    with pytest.raises(CalibrationError, match=r"comparables\.json.*missing"):
        load_calibration(copy_of_default)


def test_older_set_without_the_table_loads_and_values_by_the_model(
    copy_of_default: Path,
) -> None:
    cal = load_calibration(_older_set(copy_of_default))
    assert cal.comparables() is None
    model = cal.market_model()
    assert isinstance(model, MarketModel) and model.deals is None
    r = value(PRODUCT, as_of="2026-11-01", market_model=model)
    market = r.methods.market
    assert market.value and market.value > 0 and r.concluded_value
    assert "hedonic price model" in market.name and market.comparables is None
    assert "no deal table" in market.inputs["comparables_selection"]["value"]["fallback"]
    # the same value as the bundled set's hedonic model alone
    alone = value(PRODUCT, as_of="2026-11-01", market_model=load_calibration().hedonic_model())
    assert market.value == pytest.approx(alone.methods.market.value)


def test_a_table_the_manifest_does_not_list_is_not_read(copy_of_default: Path) -> None:
    planted = (copy_of_default / COMPARABLES).read_bytes()
    folder = _older_set(copy_of_default)
    (folder / COMPARABLES).write_bytes(planted)
    cal = load_calibration(folder)
    assert cal.comparables() is None


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"deal_columns": ["deal_id"], "feature_names": [], "rows": []},
        {"deal_columns": list(DEAL_COLUMNS), "feature_names": ["a"], "rows": [[1, 2]]},
        {
            "deal_columns": list(DEAL_COLUMNS),
            "feature_names": ["a"],
            "rows": [["D1", "P1", "not a date", 1, "transfer", None, "CN", 0.5]],
        },
    ],
)
def test_malformed_table_is_refused(data: object) -> None:
    with pytest.raises(CalibrationError, match="malformed deal table"):
        DealTable.from_json(data)


def test_written_table_is_compact_exact_and_reads_back() -> None:
    n_features = len(HEDONIC_FEATURES)
    features = np.full((2, n_features), np.nan)
    features[0] = np.arange(n_features) + 1.0 / 3.0
    features[1, 0] = 2.0
    table = {
        "deal_id": np.array(["D1", "D2"]),
        "product_id": np.array(["P1", "P2"]),
        "date": np.array(["2025-01-02", "2026-03-04"], dtype="datetime64[D]"),
        "price": np.array([1234567.0, 89.5]),
        "license": np.array(["transfer", "exclusive"]),
        "term_months": np.array([np.nan, 24.0]),
        "territory": np.array(["CN", "GLOBAL"]),
        "features": features,
    }
    text = comparables_json(table)
    assert text == comparables_json(table)  # the same table, the same bytes
    lines = text.splitlines()
    assert len(lines) == 2 + 2  # header, one line per deal, closing
    assert lines[1].startswith('["D1","P1","2025-01-02",1234567,"transfer",null,"CN",0.333333,')
    assert lines[2].startswith('["D2","P2","2026-03-04",89.5,"exclusive",24,"GLOBAL",2,null')
    back = DealTable.from_json(json.loads(text))
    assert back.deal_id.tolist() == ["D1", "D2"] and back.price.tolist() == [1234567.0, 89.5]
    assert math.isnan(back.term_months[0]) and back.term_months[1] == 24.0
    np.testing.assert_allclose(back.features, features, rtol=5e-6, equal_nan=True)
    assert back.feature_names == HEDONIC_FEATURES
