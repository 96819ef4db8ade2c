"""Output folders: only a previous dpv output of the same kind is replaced, and only with
--force; the bundled sample and calibration set are such outputs of their commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from calibration.synth._write import is_synth_output
from calibration.write import is_calibration_set
from tests.test_valuation import pledges
from valuation.calibration_set import DEFAULT_SET
from valuation.cli import main
from valuation.cli._pledge import is_pledge_output
from valuation.examples import example_registry_path
from valuation.exceptions import DpvInputError
from valuation.outputs import check_output_folder, publish_folder, staging_folder, write_folder

SAMPLE = Path(__file__).resolve().parents[1] / "valuation" / "data" / "sample"


def test_the_bundled_folders_are_outputs_their_make_targets_may_replace() -> None:
    assert is_synth_output(SAMPLE)  # make sample: dpv synth ... --force
    assert is_calibration_set(DEFAULT_SET)  # make calibration: dpv calibrate ... --force
    assert not is_synth_output(DEFAULT_SET) and not is_calibration_set(SAMPLE)


def test_a_users_file_beside_an_output_makes_it_not_replaceable(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "assessment.json").write_text("{}")
    (out / "memo.html").write_text("<html>")
    assert is_pledge_output(out)
    check_output_folder(out, "pledge", force=True, owns=is_pledge_output)
    with pytest.raises(DpvInputError, match="use --force"):
        check_output_folder(out, "pledge", force=False, owns=is_pledge_output)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(DpvInputError, match="not a previous dpv pledge output"):
        check_output_folder(out, "pledge", force=True, owns=is_pledge_output)


def test_a_failed_write_leaves_the_old_output_and_no_staging(tmp_path: Path) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "assessment.json").write_text("old")

    def failing(staging: Path) -> None:
        (staging / "assessment.json").write_text("new")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_folder(out, "pledge", failing, force=True, owns=is_pledge_output)
    assert (out / "assessment.json").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]
    staging = staging_folder(out)
    (staging / "assessment.json").write_text("new")
    publish_folder(staging, out)
    assert (out / "assessment.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o"]


def test_pledge_replaces_its_previous_output_only_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "req.json"
    req.write_text(json.dumps(pledges.example(paths=1000, amount=3_000_000.0)))
    out = tmp_path / "out"
    argv = ["pledge", str(req), "--registry", example_registry_path(), "--out", str(out)]
    assert main(argv) == 0
    first = (out / "assessment.json").read_bytes()
    (out / "assessment.json").write_text("edited")
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err
    assert (out / "assessment.json").read_text() == "edited"
    assert main([*argv, "--force"]) == 0
    assert (out / "assessment.json").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "req.json"]
