"""The CalibrationSet format: verified on load, refused when tampered, incomplete or incompatible;
the same history and seed give the same artifacts."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from valuation.calibration_set import (
    DEFAULT_SET,
    REQUIRED_FILES,
    content_id,
    load_calibration,
    resolve_calibration,
    sha256_file,
)
from valuation.defaults import parameters
from valuation.exceptions import CalibrationError

SAMPLE = Path(__file__).resolve().parents[2] / "valuation" / "data" / "sample"


@pytest.fixture
def copy_of_default(tmp_path: Path) -> Path:
    target = tmp_path / "set"
    shutil.copytree(DEFAULT_SET, target)
    return target


def test_default_set_loads_and_its_overrides_are_valuation_parameters() -> None:
    cal = load_calibration()
    assert cal.id.startswith("cal-")
    merged = parameters(cal.valuation_overrides)  # unknown keys would raise
    assert merged["royalty_rate"] == cal.parameters["valuation"]["royalty_rate"]
    overrides, cal_id = resolve_calibration(None)
    assert cal_id == cal.id and overrides == cal.valuation_overrides
    # the models come back from JSON and LightGBM text and predict
    hedonic = cal.hedonic_model()
    x = np.zeros((1, hedonic.n_features_in_))
    lo, hi = hedonic.predict_interval(x)
    assert lo[0] <= hedonic.predict(x)[0] <= hi[0]
    assert 0.0 < cal.royalty_model().predict(np.zeros((1, 5)))[0] < 1.0


def test_default_set_is_small_and_has_no_pickle() -> None:
    files = list(DEFAULT_SET.iterdir())
    assert sum(f.stat().st_size for f in files) < 2_000_000
    assert {f.suffix for f in files} <= {".json", ".txt", ".md"}
    for f in files:
        assert not f.read_bytes().startswith(b"\x80"), f"{f.name} looks like a pickle"


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_one_changed_byte_is_refused_naming_the_file(copy_of_default: Path, name: str) -> None:
    path = copy_of_default / name
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle] = ord("7") if data[middle] != ord("7") else ord("8")
    path.write_bytes(bytes(data))
    with pytest.raises(CalibrationError, match=name.replace(".", r"\.")) as info:
        load_calibration(copy_of_default)
    assert "SHA-256" in str(info.value)


def test_missing_file_is_refused_naming_it(copy_of_default: Path) -> None:
    (copy_of_default / "hedonic_upper.txt").unlink()
    with pytest.raises(CalibrationError, match=r"hedonic_upper\.txt.*missing"):
        load_calibration(copy_of_default)


def test_required_file_left_out_of_the_manifest_is_refused(copy_of_default: Path) -> None:
    manifest_path = copy_of_default / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["files"]["royalty.json"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CalibrationError, match=r"royalty\.json.*not listed"):
        load_calibration(copy_of_default)


def test_wrong_lightgbm_major_is_refused(copy_of_default: Path) -> None:
    manifest_path = copy_of_default / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["libraries"]["lightgbm"] = "3.3.5"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CalibrationError, match=r"manifest\.json.*lightgbm.*LightGBM 3\.3\.5"):
        load_calibration(copy_of_default)


def test_other_format_version_is_refused(copy_of_default: Path) -> None:
    manifest_path = copy_of_default / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["format_version"] = 99
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(CalibrationError, match=r"manifest\.json: format_version"):
        load_calibration(copy_of_default)


def test_missing_manifest_and_folder_are_refused(copy_of_default: Path, tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration(tmp_path / "nowhere")
    (copy_of_default / "manifest.json").unlink()
    with pytest.raises(CalibrationError, match=r"manifest\.json"):
        load_calibration(copy_of_default)


def test_same_history_and_seed_give_identical_artifacts(tmp_path: Path) -> None:
    from calibration import calibrate

    stamp = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    first, _, _ = calibrate(SAMPLE, tmp_path / "a", run_backtest=False, created_at=stamp)
    second, _, _ = calibrate(SAMPLE, tmp_path / "b", run_backtest=False, created_at=stamp)
    a = load_calibration(first).manifest
    b = load_calibration(second).manifest
    assert a["files"] == b["files"]
    assert a["id"] == b["id"]
    for name in a["files"]:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    # another seed gives other models (the seed is really used)
    third, _, _ = calibrate(SAMPLE, tmp_path / "c", run_backtest=False, created_at=stamp, seed=7)
    assert (
        load_calibration(third).manifest["files"]["hedonic_point.txt"]
        != a["files"]["hedonic_point.txt"]
    )


def test_bundled_default_set_is_reproduced_by_the_committed_command(tmp_path: Path) -> None:
    """`make calibration` (the command in the Makefile) rebuilds the bundled set.

    With the LightGBM version that wrote it, byte for byte. With another version the text models
    (and what is derived from them) may differ in their last digits, so there the parts that do
    not touch LightGBM — the id, the file list, the revenue processes, hazards, loans and royalty
    law — must still be reproduced exactly.
    """
    from importlib.metadata import version

    from calibration import calibrate

    bundled = json.loads((DEFAULT_SET / "manifest.json").read_text())
    listings = Path(__file__).resolve().parents[1] / "data" / "exchange-listings"
    stamp = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    out, _, _ = calibrate(SAMPLE, tmp_path / "default", listings_dir=listings, created_at=stamp)
    rebuilt = json.loads((out / "manifest.json").read_text())
    assert rebuilt["id"] == bundled["id"]
    assert sorted(rebuilt["files"]) == sorted(bundled["files"])
    params = json.loads((out / "parameters.json").read_text())
    bundled_params = json.loads((DEFAULT_SET / "parameters.json").read_text())
    for key in ("revenue", "hazards", "loans", "royalty_rate", "identification"):
        assert params[key] == bundled_params[key], key
    if bundled["libraries"]["lightgbm"] == version("lightgbm"):
        assert rebuilt["files"] == bundled["files"]


def _rehash(folder: Path, name: str) -> dict[str, Any]:
    """Recompute the manifest's hash of ``name`` (as someone editing a set would)."""
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["files"][name] = sha256_file(folder / name)
    manifest_path.write_text(json.dumps(manifest))
    return manifest


def test_id_is_derived_from_the_content(copy_of_default: Path) -> None:
    manifest = json.loads((copy_of_default / "manifest.json").read_text())
    assert manifest["id"] == content_id(manifest["data_sha256"], manifest["files"])
    # the model card is generated from the rest and is not part of the id
    card = dict(manifest["files"], **{"model_card.md": "0" * 64})
    assert content_id(manifest["data_sha256"], card) == manifest["id"]
    for name in ("parameters.json", "royalty.json", "hedonic_point.txt"):
        other = dict(manifest["files"], **{name: "0" * 64})
        assert content_id(manifest["data_sha256"], other) != manifest["id"], name
    assert content_id("0" * 64, manifest["files"]) != manifest["id"]


def test_an_edited_set_cannot_keep_its_id(copy_of_default: Path) -> None:
    params_path = copy_of_default / "parameters.json"
    params = json.loads(params_path.read_text())
    params["valuation"]["royalty_rate"]["data_product"] = 0.9
    params_path.write_text(json.dumps(params))
    manifest = _rehash(copy_of_default, "parameters.json")
    with pytest.raises(CalibrationError, match=r"manifest\.json: id: the set's files give"):
        load_calibration(copy_of_default)
    # an id that is free text is refused the same way
    manifest["id"] = "my-own-set"
    (copy_of_default / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CalibrationError, match="not 'my-own-set'"):
        load_calibration(copy_of_default)
    # re-deriving the id gives a set that loads, under a new id
    manifest["id"] = content_id(manifest["data_sha256"], manifest["files"])
    (copy_of_default / "manifest.json").write_text(json.dumps(manifest))
    assert load_calibration(copy_of_default).id not in ("my-own-set", load_calibration().id)


def test_a_changed_file_is_named_by_reproduce(
    copy_of_default: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from valuation.cli import main

    (copy_of_default / "royalty.json").write_text(
        (copy_of_default / "royalty.json").read_text() + " "
    )
    filed = tmp_path / "assessment.json"
    filed.write_text(json.dumps({"audit": {"calibration_id": load_calibration().id}}))
    assert main(["reproduce", str(filed), "--calibration", str(copy_of_default)]) == 2
    err = capsys.readouterr().err
    assert f"{copy_of_default / 'royalty.json'}: SHA-256 does not match" in err
    assert "assessment.json" not in err
