"""``dpv demo`` values every bundled example and writes its results atomically."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from valuation.calibration_set import load_calibration
from valuation.cli import main
from valuation.cli._demo import listings_sample_path
from valuation.examples import EXAMPLES

# the bundled sample export, its listings and what dpv price says of each (found by
# `dpv price` on the whole Zhejiang export in tests/data/exchange-listings)
EXPECTED_FLAGS = {
    "1692374904167145474": [],
    "1522466711384301569": [],
    "1689081754942119937": ["placeholder_price"],
    "1727167904252370946": ["price_mode_assumed"],
    "1716356713351421954": ["token_price"],
    "1765953663197192193": ["price_mode_relabelled"],
}


def _short(listing_id: str) -> str:
    return listing_id.split("id=")[1].split("&")[0]


def _check_pricing(out: Path, pricing: list[dict], printed: str) -> None:
    """The demo prices the bundled export exactly as `dpv price` does; summary and stdout say so."""
    quotes = json.loads((out / "listing-quotes.json").read_text(encoding="utf-8"))
    assert {_short(q["listing_id"]): q["flags"] for q in quotes} == EXPECTED_FLAGS
    assert main(["price", listings_sample_path(), "--out", str(out.parent / "price")]) == 0
    table = pq.read_table(out.parent / "price" / "quotes.parquet").to_pylist()
    assert [q["listing_id"] for q in quotes] == [r["listing_id"] for r in table]
    for q, r, brief in zip(quotes, table, pricing, strict=True):
        assert (q["band"]["p10"], q["band"]["p50"], q["band"]["p90"]) == (
            r["band_p10"],
            r["band_p50"],
            r["band_p90"],
        )
        assert q["flags"] == r["flags"] == brief["flags"]
        assert brief["band"] == {k: q["band"][k] for k in ("p10", "p50", "p90")}
        assert brief["asking_position"] == q["asking_check"]["position"] == r["asking_position"]
        assert q["calibration_id"] == load_calibration().id
        assert _short(q["listing_id"]) in printed
    for flag in ("placeholder_price", "token_price", "price_mode_relabelled"):
        assert flag in printed
    assert "pricing: 6 listings" in printed


def test_demo_writes_every_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(
        [
            *(f"valuation-{n}.json" for n in EXAMPLES),
            "summary.json",
            "sample-valuations.csv",
            "listing-quotes.json",
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
    assert all(row["concluded_value"] > 0 for row in summary["valuations"])
    printed = capsys.readouterr().out
    assert "concluded" in printed and "sample: valued" in printed
    # no staging folder is left behind
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]
    _check_pricing(out, summary["pricing"], printed)
