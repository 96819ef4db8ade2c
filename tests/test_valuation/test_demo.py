"""``dpv demo`` values every bundled example and writes its results atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from valuation.cli import main
from valuation.examples import EXAMPLES


def test_demo_writes_every_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(
        [
            *(f"valuation-{n}.json" for n in EXAMPLES),
            "summary.json",
            "sample-valuations.csv",
            "pledge",
        ]
    )
    rows = (out / "sample-valuations.csv").read_text().splitlines()
    assert len(rows) == 2001
    assert sorted(p.name for p in (out / "pledge").iterdir()) == ["assessment.json", "memo.html"]
    assessment = json.loads((out / "pledge" / "assessment.json").read_text())
    assert assessment["decision"] in ("approve", "approve_with_conditions", "decline")
    assert (
        assessment["decision"].upper().replace("_", " ")
        in (out / "pledge" / "memo.html").read_text()
    )
    summary = json.loads((out / "summary.json").read_text())
    assert all(row["concluded_value"] > 0 for row in summary)
    printed = capsys.readouterr().out
    assert "concluded" in printed and "sample: valued" in printed
    # no staging folder is left behind
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]
