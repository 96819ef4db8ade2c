"""``dpv revalue``: rows as ``dpv value`` gives them, bytes independent of chunking and of an
interruption, quarantine, refusals before any work, resume checks."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from valuation import value_many
from valuation.calibration_set import DEFAULT_SET, load_calibration
from valuation.cli import main
from valuation.methods.reconcile import MARKET_NAMES
from valuation.revalue import ChunkDone, revalue
from valuation.revalue.ledger import LEDGER, Ledger
from valuation.revalue.run import STAGING

SAMPLE = Path(DEFAULT_SET).parents[1] / "sample" / "products.jsonl"
AS_OF = "2026-06-30"
N_PRODUCTS = 300
REFERENCE_CHUNK = 1000


def _published(out: Path) -> dict[str, bytes]:
    """Every published file's bytes, summary.json without its timing."""
    files = {p.name: p.read_bytes() for p in sorted(out.iterdir()) if p.is_file()}
    summary = json.loads(files.pop("summary.json"))
    summary.pop("seconds")
    files["summary.json"] = json.dumps(summary, sort_keys=True).encode()
    return files


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("book") / "products.jsonl"
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:N_PRODUCTS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(book: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "out"
    result = revalue(book, out, as_of=AS_OF, chunk_size=REFERENCE_CHUNK)
    assert result.exit_code == 0
    return out


def test_layout_and_summary(reference: Path) -> None:
    assert sorted(p.name for p in reference.iterdir()) == [
        "part-00000.parquet",
        "quarantine.jsonl",
        "report.html",
        "summary.json",
    ]
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["rows"]["read"] == N_PRODUCTS
    assert summary["rows"]["valued"] + summary["rows"]["unvalued"] == N_PRODUCTS
    assert summary["rows"]["quarantined"] == 0
    assert summary["valuation_date"] == AS_OF
    assert summary["calibration_id"] == load_calibration().id
    assert "chunk_size" not in json.dumps(summary)
    table = pq.read_table(reference / "part-00000.parquet")
    assert table.num_rows == N_PRODUCTS
    assert table.column("line").to_pylist() == list(range(1, N_PRODUCTS + 1))
    stats = summary["concluded_value"]["CNY"]
    values = [v for v in table.column("concluded_value").to_pylist() if v is not None]
    assert stats["count"] == len(values)
    assert stats["total"] == pytest.approx(sum(values), rel=1e-12)


def test_every_row_is_what_dpv_value_gives(book: Path, reference: Path) -> None:
    cal = load_calibration()
    products = [json.loads(line) for line in book.read_text(encoding="utf-8").splitlines()]
    # one at a time for a few (as `dpv value` does), in one batch for all
    results = value_many(
        products,
        as_of=AS_OF,
        parameters_override=cal.valuation_overrides,
        calibration_id=cal.id,
        market_model=cal.market_model(),
    )
    rows = pq.read_table(reference / "part-00000.parquet").to_pylist()
    assert len(rows) == len(results)
    for row, result in zip(rows, results, strict=True):
        assert row["product_id"] == result.product_id
        assert row["concluded_value"] == result.concluded_value
        assert result.range is not None
        assert (row["p10"], row["p50"], row["p90"]) == (
            result.range.p10,
            result.range.p50,
            result.range.p90,
        )
        for method in ("income", "cost", "market"):
            assert row[f"{method}_value"] == getattr(result.methods, method).value
            assert row[f"weight_{method}"] == getattr(result.weights, method)
        assert row["warnings"] == [w.code for w in result.warnings]
        mode = result.methods.income.inputs.get("mode")
        assert row["income_mode"] == (mode["value"] if isinstance(mode, dict) else None)
        market = result.methods.market
        sources = {name: source for source, name in MARKET_NAMES.items()}
        assert row["market_source"] == (None if market.value is None else sources[market.name])
        audit = result.audit
        assert row["input_sha256"] == audit.input_sha256
        assert (row["engine_version"], row["calibration_id"], row["seed"]) == (
            audit.engine_version,
            audit.calibration_id,
            audit.seed,
        )
        assert row["valuation_date"] == audit.valuation_date
    for i in (0, 7, 123):
        alone = value_many(
            [products[i]],
            as_of=AS_OF,
            parameters_override=cal.valuation_overrides,
            calibration_id=cal.id,
            market_model=cal.market_model(),
        )[0]
        assert rows[i]["concluded_value"] == alone.concluded_value


@pytest.mark.parametrize("chunk_size", [64, 100])
def test_bytes_do_not_depend_on_chunk_size(
    book: Path, reference: Path, tmp_path: Path, chunk_size: int
) -> None:
    out = tmp_path / "out"
    code = main(["revalue", str(book), "--out", str(out), "--as-of", AS_OF,
                 "--chunk-size", str(chunk_size)])  # fmt: skip
    assert code == 0
    assert _published(out) == _published(reference)


class _Stop(Exception):
    pass


def _stop_after(k: int):  # type: ignore[no-untyped-def]
    def hook(done: ChunkDone) -> None:
        if done.index + 1 == k:
            raise _Stop

    return hook


def test_interrupted_then_resumed_is_byte_identical(
    book: Path, reference: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    with pytest.raises(_Stop):
        revalue(book, out, as_of=AS_OF, chunk_size=64, on_chunk=_stop_after(3))
    staging = out / STAGING
    ledger = Ledger.read(staging / LEDGER)
    assert sorted(ledger.chunks) == [0, 1, 2]
    assert ledger.chunks[1].first_line == 65 and ledger.chunks[1].last_line == 128
    # nothing is published before every chunk is done
    assert sorted(p.name for p in out.iterdir()) == [STAGING]
    # a lost staged file and a killed writer's temporary file: the chunk is redone
    (staging / ledger.chunks[1].values_file).unlink()
    (staging / ".chunk-00003.parquet.tmp-999").write_bytes(b"half")
    seen: list[ChunkDone] = []
    result = revalue(book, out, as_of=AS_OF, chunk_size=64, resume=True, on_chunk=seen.append)
    assert result.exit_code == 0
    assert [d.resumed for d in seen] == [True, False, True, False, False]
    assert _published(out) == _published(reference)
    assert not (out / STAGING).exists()


def test_resume_refuses_a_changed_input_or_argument(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = tmp_path / "book.jsonl"
    shutil.copyfile(book, changed)
    out = tmp_path / "out"
    with pytest.raises(_Stop):
        revalue(changed, out, as_of=AS_OF, chunk_size=100, on_chunk=_stop_after(1))
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    ledger_bytes = (out / STAGING / LEDGER).read_bytes()

    code = main(["revalue", str(changed), "--out", str(out), "--as-of", "2026-07-01",
                 "--chunk-size", "100", "--resume"])  # fmt: skip
    assert code == 2
    assert "--as-of" in capsys.readouterr().err

    code = main(["revalue", str(changed), "--out", str(out), "--as-of", AS_OF,
                 "--chunk-size", "64", "--resume"])  # fmt: skip
    assert code == 2
    assert "--chunk-size" in capsys.readouterr().err

    with changed.open("a", encoding="utf-8") as handle:
        handle.write(book.read_text(encoding="utf-8").splitlines()[0] + "\n")
    code = main(["revalue", str(changed), "--out", str(out), "--as-of", AS_OF,
                 "--chunk-size", "100", "--resume"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2
    assert "input changed" in err and str(changed) in err
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before
    assert (out / STAGING / LEDGER).read_bytes() == ledger_bytes


def test_quarantine_and_exit_3(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = book.read_text(encoding="utf-8").splitlines()[:40]
    bad = json.loads(lines[9])
    bad["costs"][0]["amount"] = -1
    lines[9] = json.dumps(bad, ensure_ascii=False)
    lines.insert(2, '{"product_id": "broken", ')  # line 3: not JSON
    lines.insert(5, "")  # line 6: blank, skipped
    portfolio = tmp_path / "book.jsonl"
    portfolio.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["revalue", str(portfolio), "--out", str(out), "--as-of", AS_OF,
                 "--chunk-size", "16"])  # fmt: skip
    assert code == 3
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"]["read"] == 41
    assert summary["rows"]["quarantined"] == 2
    assert summary["rows"]["valued"] + summary["rows"]["unvalued"] == 39
    rejected = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejected] == [3, 12]
    assert rejected[0]["product_id"] is None and "malformed JSON" in rejected[0]["problem"]
    assert rejected[1]["product_id"] == bad["product_id"]
    assert rejected[1]["field"] == "costs[0].amount"
    assert "greater than or equal to 0" in rejected[1]["problem"]
    table = pq.read_table(out / "part-00000.parquet")
    assert table.num_rows == 39
    assert 3 not in table.column("line").to_pylist()
    assert "2 quarantined" in capsys.readouterr().err


def test_refusals_before_any_work(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["revalue", str(tmp_path / "missing.jsonl"), "--out", str(out)])
    assert code == 2
    assert "missing.jsonl: file not found" in capsys.readouterr().err
    assert not out.exists()

    bad_cal = tmp_path / "cal"
    bad_cal.mkdir()
    (bad_cal / "manifest.json").write_text("{not json")
    code = main(["revalue", str(book), "--out", str(out), "--calibration", str(bad_cal)])
    assert code == 2
    assert "manifest.json" in capsys.readouterr().err
    assert not out.exists()

    table = tmp_path / "products.parquet"
    table.write_bytes(b"PAR1")
    assert main(["revalue", str(table), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "products.parquet: not a readable Parquet table" in err
    assert main(["revalue", str(book), "--out", str(out), "--chunk-size", "0"]) == 2
    assert "--chunk-size" in capsys.readouterr().err
    assert main(["revalue", str(book), "--out", str(out), "--as-of", "30/06/2026"]) == 2
    assert "--as-of" in capsys.readouterr().err
    assert not out.exists()

    out.mkdir()
    mine = out / "mine.txt"
    mine.write_text("keep")
    code = main(["revalue", str(book), "--out", str(out), "--as-of", AS_OF])
    assert code == 2
    assert "--out" in capsys.readouterr().err
    assert sorted(out.iterdir()) == [mine] and mine.read_text() == "keep"
    code = main(["revalue", str(book), "--out", str(out), "--as-of", AS_OF, "--resume"])
    assert code == 2
    assert "no .staging/ledger.json" in capsys.readouterr().err
    assert sorted(out.iterdir()) == [mine]


def test_synth_folder_and_force(book: Path, tmp_path: Path) -> None:
    folder = tmp_path / "market"
    folder.mkdir()
    lines = book.read_text(encoding="utf-8").splitlines()[:20]
    (folder / "products.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")
    code = main(["revalue", str(folder), "--out", str(out), "--as-of", AS_OF, "--force"])
    assert code == 0
    assert not (out / "old.txt").exists()
    assert pq.read_table(out / "part-00000.parquet").num_rows == 20
    # a finished output is not resumed
    assert main(["revalue", str(folder), "--out", str(out), "--as-of", AS_OF, "--resume"]) == 2
