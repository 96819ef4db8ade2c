"""``dpv price`` end to end: every shipped export, bad input, one listing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from valuation.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "exchange-listings"

# rows read, quarantined, priced (a band), flagged, coverage claimed
EXPECTED = {
    "beijing": (714, 0, 204, 534, 197),
    "guangzhou": (792, 0, 792, 792, 0),
    "shanghai": (447, 0, 447, 447, 0),
    "zhejiang": (512, 0, 512, 459, 510),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_shipped_export_prices_end_to_end(name, tmp_path, capsys):
    out = tmp_path / "quotes"
    assert main(["price", str(DATA / f"{name}.csv"), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = summary["rows"]
    got = (
        rows["read"],
        rows["quarantined"],
        rows["priced"],
        rows["flagged"],
        rows["coverage_claimed"],
    )
    assert got == EXPECTED[name]
    table = pq.read_table(out / "quotes.parquet")
    assert table.num_rows == rows["quoted"]
    p10, p50, p90 = (table.column(c).to_numpy() for c in ("band_p10", "band_p50", "band_p90"))
    priced = p50 == p50
    assert (p10[priced] <= p50[priced]).all() and (p50[priced] <= p90[priced]).all()
    assert summary["audit"]["calibration_id"].startswith("cal-")
    assert not (out / "quarantine.jsonl").exists()


def test_unreadable_rows_are_quarantined_with_reasons(tmp_path, capsys):
    export = tmp_path / "bad.csv"
    export.write_text(
        "platform,title,price,price_mode,category_aws,currency\n"
        "X Exchange,a,0.5,usage-based,Financial Services Data,RMB\n"
        "X Exchange,b,1.0,barter,Financial Services Data,RMB\n"
        "X Exchange,c,abc,one-off,Financial Services Data,RMB\n"
        "X Exchange,d,-5,one-off,Financial Services Data,RMB\n"
        "X Exchange,e,inf,one-off,Financial Services Data,RMB\n"
        "X Exchange,f,3,one-off,Financial Services Data,USD\n"
        "X Exchange,g,3,one-off,Financial Services Data,RMB,extra\n"
        "X Exchange,h,3\n",
        encoding="utf-8",
    )
    out = tmp_path / "q"
    assert main(["price", str(export), "--out", str(out)]) == 3
    lines = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    assert [(q["line"], q["field"]) for q in lines] == [
        (3, "price_mode"),
        (4, "price"),
        (5, "price"),
        (6, "price"),
        (7, "currency"),
        (8, "row"),
        (9, "row"),
    ]
    assert "1 field(s) more than the header" in lines[5]["reason"]
    assert "3 field(s) fewer than the header" in lines[6]["reason"]
    assert "unknown price mode 'barter'" in lines[0]["reason"]
    assert "negative" in lines[2]["reason"] and "not finite" in lines[3]["reason"]
    assert pq.read_table(out / "quotes.parquet").num_rows == 1


@pytest.mark.parametrize(
    ("listing", "field"),
    [
        ({"exchange": "X", "price": 1.0, "price_mode": "barter"}, "price_mode"),
        ({"exchange": "X", "price": -1.0, "price_mode": "one_off"}, "price"),
        ({"exchange": "X", "price": "NaN", "price_mode": "one_off"}, "price"),
        ({"exchange": "X", "price_mode": "one_off"}, "price"),
    ],
)
def test_a_bad_single_listing_exits_2_naming_the_field(listing, field, tmp_path, capsys):
    path = tmp_path / "listing.json"
    path.write_text(json.dumps(listing), encoding="utf-8")
    assert main(["price", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}: {field}:" in err


def test_prices_written_with_yuan_signs_and_chinese_price_modes_are_read():
    from valuation.pricing.reader import batch_from_rows

    rows = [
        (2, {"platform": "X", "price": "¥1,200", "price_mode": "一次性"}),
        (3, {"platform": "X", "price": "0.5元", "price_mode": "按次"}),
        (4, {"platform": "X", "price": "0", "price_mode": "面议"}),
        (5, {"platform": "X", "price": "-¥3", "price_mode": "一次性"}),
    ]
    batch = batch_from_rows(rows)
    assert batch.price.tolist() == [1200.0, 0.5, 0.0]
    assert batch.price_mode.tolist() == ["one-off", "usage-based", "negotiation"]
    assert [(q["line"], q["field"]) for q in batch.quarantine] == [(5, "price")]


def test_a_non_empty_out_is_refused_unless_forced(tmp_path, capsys):
    out = tmp_path / "q"
    out.mkdir()
    (out / "mine.txt").write_text("keep", encoding="utf-8")
    assert main(["price", str(DATA / "guangzhou.csv"), "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "mine.txt").read_text(encoding="utf-8") == "keep"
    assert main(["price", str(DATA / "guangzhou.csv"), "--out", str(out), "--force"]) == 0
    assert (out / "quotes.parquet").exists() and not (out / "mine.txt").exists()


def test_a_listing_quoted_alone_is_quoted_as_in_its_export():
    from valuation.calibration_set import load_calibration
    from valuation.pricing import quote_listings, read_listings

    batch, _ = read_listings(DATA / "beijing.csv")
    model = load_calibration().listing_model()
    together = quote_listings(batch, model).columns
    for i in np.random.default_rng(3).choice(np.flatnonzero(batch.price > 0), 25, replace=False):
        alone = quote_listings(batch.subset(np.arange(len(batch)) == i), model).columns
        for name in ("band_p10", "band_p50", "band_p90", "comparable_ids", "comparable_similarity"):
            np.testing.assert_array_equal(alone[name][0], together[name][i])


def test_empty_file_and_missing_out_exit_2(tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    assert main(["price", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "empty file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert main(["price", str(DATA / "beijing.csv")]) == 2
    assert "--out" in capsys.readouterr().err


def test_one_listing_prints_json_with_band_comparables_and_check(tmp_path, capsys):
    path = tmp_path / "listing.json"
    path.write_text(
        json.dumps(
            {
                "listing_id": "L-1",
                "exchange": "Beijing International Data Exchange",
                "title": "企业涉诉数据",
                "price": 40.0,
                "price_mode": "usage",
                "category": "Telecommunications Data",
            }
        ),
        encoding="utf-8",
    )
    assert main(["price", str(path), "--json"]) == 0
    quote = json.loads(capsys.readouterr().out)
    band = quote["band"]
    assert band["p10"] < band["p50"] < band["p90"] and band["coverage_claimed"]
    assert quote["asking_check"]["position"] == "above"
    assert quote["asking_check"]["log_distance"] > 0
    assert len(quote["comparables"]) == 5
    assert all(c["listing_id"] != "L-1" for c in quote["comparables"])


def test_backtest_listings_reports_per_exchange_and_mode_beside_the_naive_band(capsys):
    assert main(["backtest", "--listings", str(DATA), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"leave-one-exchange-out", "within-exchange"}
    for scheme in report.values():
        for group in scheme["groups"]:
            assert {"exchange", "price_mode", "median_abs_log_error", "model", "naive"} <= set(
                group
            )
            model = group["model"]
            lo, hi = model["coverage_ci95"]
            assert lo <= model["coverage"] <= hi
            assert {"strictly_inside", "median_width"} <= set(model)
            assert group["naive"]["n"] == model["n"]


def test_backtest_without_listings_needs_calibration_and_history(capsys):
    assert main(["backtest", "--history", "x"]) == 2
    assert "--calibration" in capsys.readouterr().err


def test_the_specification_listings_table_as_parquet_is_priced(tmp_path, capsys):
    import pyarrow as pa

    table = pa.table(
        {
            "listing_id": ["S-1", "S-2", "S-3"],
            "exchange": ["Beijing International Data Exchange"] * 3,
            "title": ["企业三要素验证", "企业基本信息", "x"],
            "category": ["Telecommunications Data"] * 3,
            "price": [0.2, 3000.0, 1.0],
            "price_mode": ["usage", "one_off", "per_hour"],
            "volume": [0, 1_000_000, 0],
            "size_bytes": [0, 5e9, 0],
            "fields": [3, 40, 1],
            "update_frequency": [1, 30, 7],
            "coverage": ["CN", "CN", "CN"],
            "date": ["2026-11-01"] * 3,
        }
    )
    path = tmp_path / "listings.parquet"
    pq.write_table(table, path)
    out = tmp_path / "q"
    assert main(["price", str(path), "--out", str(out), "--json"]) == 3
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"]["quarantined"] == 1 and summary["rows"]["priced"] == 2
    quotes = pq.read_table(out / "quotes.parquet").to_pylist()
    assert [q["listing_id"] for q in quotes] == ["S-1", "S-2"]
    assert [q["price_mode"] for q in quotes] == ["usage-based", "one-off"]
    assert quotes[0]["coverage_claimed"]  # Beijing per call: a group the model knows
    assert not quotes[1]["coverage_claimed"]  # Beijing one-off: six listings, a thin group
    assert "out_of_distribution" in quotes[1]["flags"]
    quarantined = json.loads((out / "quarantine.jsonl").read_text())
    assert quarantined["listing_id"] == "S-3" and quarantined["field"] == "price_mode"
