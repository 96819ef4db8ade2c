"""The synthetic market: determinism, schema validity of the bundled sample, CLI errors."""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pytest

import valuation
from calibration.synth import TABLES, default_truth, generate_market
from calibration.synth import _write as synth_write
from calibration.synth.__main__ import SAMPLE_PRODUCTS, SAMPLE_SEED
from calibration.synth.__main__ import main as regenerate_sample
from valuation.cli import main as dpv
from valuation.exceptions import DpvInputError
from valuation.schema.product import Product

SAMPLE = Path(valuation.__file__).resolve().parent / "data" / "sample"
FILES_CSV = sorted([*(f"{t}.csv" for t in TABLES), "products.jsonl", "truth.json"])
# 5,000 products span two random-stream blocks of 4,096: block boundaries are exercised.
N_SMALL = 5000


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _same_bytes(a: Path, b: Path) -> bool:
    names = _files(a)
    if names != _files(b):
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_identical_bytes(tmp_path: Path, fmt: str) -> None:
    generate_market(N_SMALL, 11, tmp_path / "a", fmt)
    generate_market(N_SMALL, 11, tmp_path / "b", fmt)
    assert _same_bytes(tmp_path / "a", tmp_path / "b")


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_different_seed_gives_different_files(tmp_path: Path, fmt: str) -> None:
    generate_market(N_SMALL, 11, tmp_path / "a", fmt)
    generate_market(N_SMALL, 12, tmp_path / "b", fmt)
    differing = [
        n
        for n in _files(tmp_path / "a")
        if not filecmp.cmp(tmp_path / "a" / n, tmp_path / "b" / n, shallow=False)
    ]
    # every data file differs; truth.json differs in the seed and the summary
    assert sorted(differing) == _files(tmp_path / "a")


def test_csv_does_not_depend_on_chunk_size(tmp_path: Path) -> None:
    generate_market(9000, 5, tmp_path / "a", "csv", chunk_size=4096)
    generate_market(9000, 5, tmp_path / "b", "csv", chunk_size=100_000)
    assert _same_bytes(tmp_path / "a", tmp_path / "b")


def test_prefix_of_a_market_is_the_smaller_market(tmp_path: Path) -> None:
    # Products are keyed by (seed, block): the first full block is the same in both markets.
    generate_market(4096, 5, tmp_path / "a", "csv")
    generate_market(9000, 5, tmp_path / "b", "csv")
    a = (tmp_path / "a" / "products.jsonl").read_text(encoding="utf-8").splitlines()
    b = (tmp_path / "b" / "products.jsonl").read_text(encoding="utf-8").splitlines()
    assert a == b[:4096]


def test_files_and_row_counts(tmp_path: Path) -> None:
    result = generate_market(300, 3, tmp_path / "m", "csv")
    assert _files(tmp_path / "m") == FILES_CSV
    for table in TABLES:
        rows = pacsv.read_csv(tmp_path / "m" / f"{table}.csv").num_rows
        assert rows == result.rows[table]
    truth = json.loads((tmp_path / "m" / "truth.json").read_text(encoding="utf-8"))
    assert truth["generator"]["seed"] == 3
    assert truth["rows"] == result.rows
    for key, value in default_truth().items():
        assert truth[key] == value


def test_truth_documents_its_conventions_and_anchors() -> None:
    truth = default_truth()
    assert {"revenue_process", "hazards", "hedonic", "royalty_rate"} <= set(truth["conventions"])
    for dotted in truth["anchors"]:
        node = truth
        for key in dotted.split("."):
            assert key in node, f"anchor {dotted!r} names no parameter"
            node = node[key]
    segments = truth["revenue"]["segments"]
    assert len(segments) == 24
    for params in segments.values():
        assert set(params) == {
            "growth",
            "decay",
            "net_growth",
            "volatility",
            "jump_intensity",
            "jump_mean",
            "jump_sd",
        }
    json.dumps(truth, allow_nan=False)  # JSON as it stands


def test_empty_tables_still_have_a_header(tmp_path: Path) -> None:
    generate_market(1, 3, tmp_path / "m", "csv")
    header = (tmp_path / "m" / "loans.csv").read_text(encoding="utf-8").splitlines()[0]
    assert header.startswith('"loan_id","product_id","borrower","amount"')


# --- the bundled sample --------------------------------------------------------------------


def test_sample_is_what_the_committed_command_writes(tmp_path: Path) -> None:
    assert regenerate_sample([str(tmp_path / "sample")]) == 0
    assert _same_bytes(SAMPLE, tmp_path / "sample"), "regenerate: python -m calibration.synth"


def test_sample_command_line_is_equivalent(tmp_path: Path) -> None:
    # the Makefile line: dpv synth --products 2000 --seed 20241201 --format csv --out ... --force
    args = ["--products", str(SAMPLE_PRODUCTS), "--seed", str(SAMPLE_SEED), "--format", "csv"]
    assert dpv(["synth", *args, "--out", str(tmp_path / "sample"), "--force"]) == 0
    assert _same_bytes(SAMPLE, tmp_path / "sample")


def test_sample_size_and_seed() -> None:
    truth = json.loads((SAMPLE / "truth.json").read_text(encoding="utf-8"))
    assert truth["generator"]["n_products"] == SAMPLE_PRODUCTS
    assert truth["generator"]["seed"] == SAMPLE_SEED
    assert sum(p.stat().st_size for p in SAMPLE.iterdir()) < 5_000_000


def test_every_sample_product_passes_the_schema() -> None:
    lines = (SAMPLE / "products.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == SAMPLE_PRODUCTS
    products = [Product.model_validate(json.loads(line)) for line in lines]
    assert len({p.product_id for p in products}) == SAMPLE_PRODUCTS
    statuses = {p.certificate.status for p in products}
    assert statuses == {"announced", "valid", "objected", "revoked", "expired"}
    assert {p.category for p in products} == {"data_collection", "data_product", "data_algorithm"}
    # the product documents carry the same revenue as the revenue table
    revenue = pacsv.read_csv(SAMPLE / "revenue.csv")
    assert revenue.num_rows == sum(len(p.revenue) for p in products)
    total = sum(r.licensing + r.services for p in products for r in p.revenue)
    table_total = float(np.sum(revenue["licensing"]) + np.sum(revenue["services"]))  # type: ignore[arg-type]
    assert total == pytest.approx(table_total, rel=1e-12)


def test_sample_products_can_be_valued() -> None:
    lines = (SAMPLE / "products.jsonl").read_text(encoding="utf-8").splitlines()
    products = [Product.model_validate(json.loads(line)) for line in lines]
    results = valuation.value_many(products, as_of="2026-10-31", samples=0)
    assert len(results) == len(products)
    valued = [r for r in results if r.concluded_value is not None]
    assert len(valued) > 0.9 * len(products)
    assert all(r.concluded_value >= 0 for r in valued)


# --- bad arguments ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n_products": -5}, "--products"),
        ({"n_products": 0}, "--products"),
        ({"n_products": 2.5}, "--products"),
        ({"seed": -1}, "--seed"),
        ({"fmt": "xlsx"}, "--format"),
        ({"chunk_size": 0}, "--chunk-size"),
    ],
)
def test_api_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"n_products": 10, "seed": 1, "fmt": "csv"} | kwargs
    with pytest.raises(DpvInputError) as info:
        generate_market(out_dir=tmp_path / "m", **args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert _files(tmp_path) == []


def _cli(tmp_path: Path, *args: str) -> int:
    return dpv(["synth", *args])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--products", "-5"], "--products: must be a whole number"),
        (["--products", "10", "--format", "xlsx"], "--format: unknown format 'xlsx'"),
        (["--products", "10", "--seed", "-3"], "--seed: must be a whole number"),
    ],
)
def test_cli_bad_arguments_exit_2_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "market"
    assert dpv(["synth", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dpv: error: ")
    assert message in err
    assert _files(tmp_path) == []


def test_cli_refuses_an_unrelated_folder_even_when_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "market"
    out.mkdir()
    (out / "keep.txt").write_text("mine", encoding="utf-8")
    for force in ([], ["--force"]):
        assert dpv(["synth", "--products", "10", "--out", str(out), *force]) == 2
        assert "not a previous dpv synth output" in capsys.readouterr().err
        assert _files(out) == ["keep.txt"]
        assert (out / "keep.txt").read_text(encoding="utf-8") == "mine"
        assert _files(tmp_path) == ["market"]


def test_cli_replaces_a_previous_output_only_when_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "market"
    assert dpv(["synth", "--products", "10", "--out", str(out), "--format", "csv"]) == 0
    before = (out / "products.jsonl").read_bytes()
    capsys.readouterr()
    assert dpv(["synth", "--products", "10", "--out", str(out), "--seed", "3"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (out / "products.jsonl").read_bytes() == before
    args = ["--products", "10", "--out", str(out), "--force", "--format", "csv", "--seed", "3"]
    assert dpv(["synth", *args]) == 0
    assert _files(out) == FILES_CSV
    assert (out / "products.jsonl").read_bytes() != before
    assert _files(tmp_path) == ["market"]
    # a previous output with a file of the user's added is not dpv's alone any more
    (out / "notes.md").write_text("mine", encoding="utf-8")
    assert dpv(["synth", *args]) == 2
    assert (out / "notes.md").read_text(encoding="utf-8") == "mine"


def test_cli_refuses_to_replace_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "market"
    assert dpv(["synth", "--products", "10", "--out", str(out), "--format", "csv"]) == 0
    monkeypatch.chdir(out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert dpv(["synth", "--products", "10", "--out", ".", "--force", "--format", "csv"]) == 2
    assert "working folder" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert _files(tmp_path) == ["market"]


def test_cli_accepts_an_existing_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "market"
    out.mkdir()
    assert dpv(["synth", "--products", "10", "--out", str(out), "--format", "csv"]) == 0
    assert _files(out) == FILES_CSV
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o777 & ~umask  # not mkdtemp's private 0700


@pytest.mark.parametrize("case", ["missing-parent", "parent-is-a-file", "out-is-a-file"])
def test_cli_unusable_output_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    if case == "missing-parent":
        out = tmp_path / "no" / "such" / "market"
    elif case == "parent-is-a-file":
        (tmp_path / "file").write_text("x", encoding="utf-8")
        out = tmp_path / "file" / "market"
    else:
        out = tmp_path / "file"
        out.write_text("x", encoding="utf-8")
    before = _files(tmp_path)
    assert dpv(["synth", "--products", "10", "--out", str(out)]) == 2
    assert "--out" in capsys.readouterr().err
    assert _files(tmp_path) == before


def test_cli_unwritable_parent(capsys: pytest.CaptureFixture[str]) -> None:
    # /proc (Linux, where dpv runs) refuses new folders even to root, unlike a chmod-ed folder.
    assert dpv(["synth", "--products", "10", "--out", "/proc/dpv-synth-test"]) == 2
    assert "cannot write into the parent folder" in capsys.readouterr().err
    assert not Path("/proc/dpv-synth-test").exists()


def test_failure_midway_leaves_no_partial_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"n": 0}
    real = synth_write.generate_block

    def failing(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(synth_write, "generate_block", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        generate_market(N_SMALL, 1, tmp_path / "m", "parquet", chunk_size=4096)
    assert calls["n"] == 2
    assert _files(tmp_path) == []


def test_unexpected_failure_keeps_the_old_folder_when_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "m"
    generate_market(10, 1, out, "csv")
    before = (out / "products.jsonl").read_bytes()

    def failing(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(synth_write, "generate_block", failing)
    with pytest.raises(RuntimeError):
        generate_market(10, 2, out, "csv", force=True)
    assert (out / "products.jsonl").read_bytes() == before
    assert _files(tmp_path) == ["m"]
