"""``dpv revalue --loans``: each pledged product's row is what ``valuation.stress`` and
``dpv pledge`` give for that product and loan; Parquet and CSV books give the rows JSON Lines
give; bad loan tables and unreadable books are refused before any work."""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from valuation import stress, value_many
from valuation.calibration_set import DEFAULT_SET, load_calibration
from valuation.cli import main
from valuation.defaults import parameters
from valuation.pledge.api import assess_pledge, stress_request
from valuation.pledge.decision import risk_grade
from valuation.revalue import revalue
from valuation.revalue.risk import MATURED, NO_VALUE, STRESSED
from valuation.schema._base import parse_model
from valuation.schema.pledge import PledgeRequest, Policy

SAMPLE = Path(DEFAULT_SET).parents[1] / "sample" / "products.jsonl"
AS_OF = "2026-06-30"
N_PRODUCTS = 60
PATHS = 400
AMORTIZATIONS = ("bullet", "annuity", "linear")


def _rows(out: Path) -> list[dict[str, Any]]:
    return pq.read_table(out / "part-00000.parquet").to_pylist()


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:N_PRODUCTS]
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def book(docs: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("book") / "products.jsonl"
    path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), "utf-8")
    return path


@pytest.fixture(scope="module")
def loans(docs: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A loan on every third product: varied amounts, tenors, schedules; two with a start."""
    path = tmp_path_factory.mktemp("loans") / "loans.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["loan_id", "product_id", "amount", "tenor_months", "start",
                         "annual_rate", "amortization", "annual_pd", "borrower"])  # fmt: skip
        for i, doc in enumerate(docs):
            if i % 3:
                continue
            start = {0: "2026-01-15", 3: "2024-01-01"}.get(i, "")  # 7 months left; repaid
            amount = 150_000 + 90_000 * (i % 11)
            tenor = (12, 24, 36)[i // 3 % 3]
            pd = 0.01 + 0.002 * (i % 7)
            amortization = AMORTIZATIONS[i // 9 % 3]
            row = [f"LN-{i}", doc["product_id"], amount, tenor, start, 0.045, amortization, pd]
            writer.writerow([*row, "ignored"])
    return path


@pytest.fixture(scope="module")
def pledged(book: Path, loans: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pledged") / "out"
    result = revalue(book, out, as_of=AS_OF, loans=loans, paths=PATHS, chunk_size=25)
    assert result.exit_code == 0
    return out


def _pledge_request(row: dict[str, Any], loan: dict[str, str], seed: int) -> dict[str, Any]:
    return {
        "request_id": row["loan_id"],
        "as_of": AS_OF,
        "borrower": {"borrower_id": "book", "annual_pd": float(loan["annual_pd"])},
        "loan": {
            "amount": float(loan["amount"]),
            "tenor_months": row["remaining_tenor_months"],
            "annual_rate": float(loan["annual_rate"]),
            "amortization": loan["amortization"],
        },
        "collateral": [{"product_id": row["product_id"]}],
        "simulation": {"paths": PATHS, "seed": seed},
    }


def test_rows_are_valuation_stress_of_the_product_and_loan(
    docs: list[dict[str, Any]], loans: Path, pledged: Path
) -> None:
    cal = load_calibration()
    params = parameters(cal.valuation_overrides)
    by_id = {d["product_id"]: d for d in docs}
    with loans.open(encoding="utf-8") as handle:
        loan_of = {r["product_id"]: r for r in csv.DictReader(handle)}
    rows = _rows(pledged)
    statuses = {r["product_id"]: r["loan_status"] for r in rows}
    assert {pid for pid, s in statuses.items() if s is not None} == set(loan_of)
    assert statuses[docs[3]["product_id"]] == MATURED  # started 2024-01-01 for 12 months
    assert next(r for r in rows if r["line"] == 1)["remaining_tenor_months"] == 7  # 2027-01-15
    stressed = [r for r in rows if r["loan_status"] == STRESSED]
    assert len(stressed) >= 15
    policy = Policy()
    seed = rows[0]["seed"]
    for row in stressed:
        loan = loan_of[row["product_id"]]
        product = by_id[row["product_id"]]
        valued = value_many(
            [product],
            as_of=AS_OF,
            parameters_override=cal.valuation_overrides,
            calibration_id=cal.id,
            market_model=cal.market_model(),
        )[0]
        value = valued.concluded_value
        assert value is not None
        assert row["ltv"] == float(loan["amount"]) / value
        request = parse_model(PledgeRequest, _pledge_request(row, loan, seed))
        from valuation.schema.product import Product

        sreq = stress_request(
            request, [(parse_model(Product, product), value)], params, scenarios=[], paths=PATHS
        )
        result = stress(sreq)
        assert row["breach_probability"] == result.breach_probability
        assert row["breach_probability_se"] == result.breach_probability_se
        assert row["default_probability"] == result.default_probability
        assert row["expected_loss"] == result.expected_loss
        assert row["max_loan_risk"] == result.max_loan
        el_rate = result.expected_loss / float(loan["amount"])
        assert row["expected_loss_rate"] == el_rate
        assert row["grade"] == risk_grade(result.breach_probability, el_rate, policy)
        risk = math.inf if result.max_loan is None else result.max_loan
        assert row["max_loan"] == min(policy.max_ltv * value, risk)
        assert row["stress_paths"] == PATHS


def test_rows_are_what_dpv_pledge_assesses(
    docs: list[dict[str, Any]], loans: Path, pledged: Path
) -> None:
    """A one-item pledge of the product for the loan: same stress numbers, grade, max loan."""
    cal = load_calibration()
    with loans.open(encoding="utf-8") as handle:
        loan_of = {r["product_id"]: r for r in csv.DictReader(handle)}
    rows = [r for r in _rows(pledged) if r["loan_status"] == STRESSED]
    by_id = {d["product_id"]: d for d in docs}
    compared = 0
    for row in rows:
        request = _pledge_request(row, loan_of[row["product_id"]], row["seed"])
        assessment = assess_pledge(
            request,
            registry=[by_id[row["product_id"]]],
            parameters_override=cal.valuation_overrides,
            calibration_id=cal.id,
            market_model=cal.market_model(),
        )
        if not assessment.collateral[0].eligible:  # the pledge's own rules; revalue stresses all
            continue
        compared += 1
        if compared > 3:
            break
        assert assessment.stress is not None
        assert row["breach_probability"] == assessment.stress.breach_probability
        assert row["default_probability"] == assessment.stress.default_probability
        assert row["expected_loss"] == assessment.stress.expected_loss
        assert row["ltv"] == assessment.ltv
        assert row["grade"] == assessment.grade
        assert row["max_loan"] == assessment.max_loan.binding
        assert row["max_loan_risk"] == assessment.max_loan.risk
    assert compared >= 2


def test_a_product_without_value_and_one_without_loan(
    tmp_path: Path, docs: list[dict[str, Any]]
) -> None:
    from valuation.revalue.loans import read_loans
    from valuation.revalue.risk import loan_columns
    from valuation.schema.product import Product

    book = tmp_path / "two.jsonl"
    book.write_text("".join(json.dumps(d) + "\n" for d in docs[:2]), encoding="utf-8")
    loans = tmp_path / "loans.jsonl"
    entries = [
        {"product_id": docs[0]["product_id"], "amount": 1e5, "tenor_months": 12},
        {"product_id": "NOT-IN-BOOK", "amount": 1e5, "tenor_months": 12},
    ]
    loans.write_text("".join(json.dumps(e) + "\n" for e in entries))
    out = tmp_path / "out"
    assert revalue(book, out, as_of=AS_OF, loans=loans, paths=PATHS).exit_code == 0
    first, second = _rows(out)
    assert first["loan_status"] == STRESSED
    assert first["loan_id"] == docs[0]["product_id"]  # no loan_id column: the product id
    assert first["remaining_tenor_months"] == 12  # no start: the whole tenor from the as-of
    assert second["loan_status"] is None and second["loan_amount"] is None
    assert second["ltv"] is None and second["breach_probability"] is None
    summary = json.loads((out / "summary.json").read_text())
    assert summary["loans"]["loans"] == 2
    assert summary["loan_status"] == {STRESSED: 1}
    assert summary["loans"]["not_in_book"] == 1
    # without a concluded value there is no LTV and no stress
    terms = read_loans(loans).loans[docs[0]["product_id"]]
    row = loan_columns(
        parse_model(Product, docs[0]),
        None,
        terms,
        as_of=dt.date.fromisoformat(AS_OF),
        params=parameters(None),
        policy=Policy(),
        paths=PATHS,
        seed=1,
    )
    assert row["loan_status"] == NO_VALUE and row["ltv"] is None and row["grade"] is None


@pytest.mark.parametrize(
    ("start", "tenor", "months"),
    [
        (None, 24, 24),  # no start: the whole tenor from the valuation date
        ("2026-01-15", 12, 7),  # matures 2027-01-15: 6 months and a half, rounded up
        ("2025-06-30", 12, 0),  # matures on the valuation date: repaid
        ("2025-07-01", 12, 1),  # matures the day after
        ("2026-08-01", 12, 12),  # drawn after the valuation date: its tenor
    ],
)
def test_remaining_tenor(start: str | None, tenor: int, months: int) -> None:
    from valuation.revalue.loans import LoanTerms
    from valuation.revalue.risk import remaining_months

    loan = LoanTerms(
        loan_id="L",
        amount=1.0,
        tenor_months=tenor,
        start=None if start is None else dt.date.fromisoformat(start),
        annual_rate=0.0,
        amortization="bullet",
        annual_pd=0.0,
        wrong_way=0.0,
        currency=None,
    )
    assert remaining_months(loan, dt.date.fromisoformat(AS_OF)) == months


def _table(docs: list[dict[str, Any]]) -> pa.Table:
    """The products as a table: top-level fields as columns, nested ones as JSON text."""
    names = sorted({k for d in docs for k in d})
    columns: dict[str, list[Any]] = {n: [] for n in names}
    for doc in docs:
        for n in names:
            v = doc.get(n)
            columns[n].append(
                json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
            )
    return pa.table({n: pa.array(v, pa.string()) for n, v in columns.items()})


def test_parquet_and_csv_books_give_the_same_rows(
    docs: list[dict[str, Any]], book: Path, tmp_path: Path
) -> None:
    import pyarrow.csv as pacsv

    reference = tmp_path / "jsonl"
    assert revalue(book, reference, as_of=AS_OF, chunk_size=7).exit_code == 0
    table = _table(docs)
    parquet = tmp_path / "book.parquet"
    pq.write_table(table, parquet, row_group_size=9)  # row groups that do not match chunks
    csv_path = tmp_path / "book.csv"
    pacsv.write_csv(table, csv_path)
    # a Parquet book with nested fields as structs and lists, as pyarrow infers them
    nested = tmp_path / "nested.parquet"
    pq.write_table(pa.Table.from_pylist(docs), nested)
    expected = _rows(reference)
    for path in (parquet, csv_path, nested):
        out = tmp_path / path.name.replace(".", "-")
        assert revalue(path, out, as_of=AS_OF, chunk_size=10).exit_code == 0
        assert _rows(out) == expected, path.name


def test_bad_rows_of_a_table_are_quarantined(docs: list[dict[str, Any]], tmp_path: Path) -> None:
    table = _table(docs[:5]).to_pylist()
    table[1]["certificate"] = "{not json"
    table[3]["category"] = "gold"
    path = tmp_path / "book.parquet"
    pq.write_table(pa.Table.from_pylist(table), path)
    out = tmp_path / "out"
    assert revalue(path, out, as_of=AS_OF).exit_code == 3
    rejected = [json.loads(x) for x in (out / "quarantine.jsonl").read_text().splitlines()]
    assert [(r["line"], r["field"]) for r in rejected] == [(2, "certificate"), (4, "category")]
    assert "not JSON" in rejected[0]["problem"]
    assert json.loads((out / "summary.json").read_text())["rows"]["quarantined"] == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("product_id,amount\nP,1\n", "tenor_months: required column missing"),
        ("product_id,amount,tenor_months\nP,-5,12\n", "row 1: amount: Input should be greater"),
        ("product_id,amount,tenor_months,amortization\nP,5,12,balloon\n", "row 1: amortization"),
        (
            "product_id,amount,tenor_months\nP,5,12\nQ,5,12\nP,6,12\n",
            "more than one loan (rows 1 and 3)",
        ),
        ("product_id,amount,tenor_months,start\nP,5,12,15/01/2026\n", "row 1: start: not an ISO"),
    ],
)
def test_bad_loan_tables_exit_2_before_any_work(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    loans = tmp_path / "loans.csv"
    loans.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    code = main(["revalue", str(book), "--out", str(out), "--loans", str(loans)])
    err = capsys.readouterr().err
    assert code == 2
    assert str(loans) in err and expected in err
    assert not out.exists()


def test_unreadable_book_or_output_exit_2(
    book: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "book.csv"
    broken.write_text('product_id,category\n"P1,data_product\n', encoding="utf-8")
    out = tmp_path / "out"
    assert main(["revalue", str(broken), "--out", str(out)]) == 2
    assert "book.csv: not a readable CSV table" in capsys.readouterr().err
    no_id = tmp_path / "no_id.csv"
    no_id.write_text("name,category\nA,data_product\n", encoding="utf-8")
    assert main(["revalue", str(no_id), "--out", str(out)]) == 2
    assert "neither a product_id column" in capsys.readouterr().err
    assert main(["revalue", str(book), "--out", str(tmp_path / "no" / "such" / "dir")]) == 2
    assert "--out: the parent folder does not exist" in capsys.readouterr().err
    assert main(["revalue", str(book), "--out", str(out), "--paths", "5"]) == 2
    assert "--paths" in capsys.readouterr().err
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"max_ltv": 0.9, "margin_call_ltv": 0.7}))
    assert main(["revalue", str(book), "--out", str(out), "--policy", str(policy)]) == 2
    assert "--policy" in capsys.readouterr().err
    assert main(["revalue", str(book), "--out", str(out), "--workers", "2"]) == 2
    assert "--engine dask" in capsys.readouterr().err
    assert not out.exists()


# --- where the stress runs -----------------------------------------------------------------------


@pytest.fixture
def no_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from valuation.kernels.cuda import select

    monkeypatch.setattr(select, "cuda_status", lambda: (False, "no GPU here"))


def test_device_cuda_without_a_gpu_exits_2_before_any_work(
    book: Path, loans: Path, tmp_path: Path, no_gpu: None, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    args = ["revalue", str(book), "--out", str(out), "--loans", str(loans), "--as-of", str(AS_OF)]
    code = main([*args, "--paths", str(PATHS), "--device", "cuda"])
    assert code == 2
    err = capsys.readouterr().err
    assert "--device" in err and "no GPU here" in err
    assert not out.exists()


def test_device_auto_falls_back_to_the_cpu_with_the_same_bytes(
    book: Path, loans: Path, pledged: Path, tmp_path: Path, no_gpu: None,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    out = tmp_path / "out"
    args = ["revalue", str(book), "--out", str(out), "--loans", str(loans), "--as-of", str(AS_OF)]
    code = main([*args, "--paths", str(PATHS), "--chunk-size", "25", "--device", "auto"])
    assert code == 0
    assert "no GPU here" in capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["stress"]["device"] == "cpu"
    assert _rows(out) == _rows(pledged)


def test_the_loan_table_gives_back_the_validated_terms(tmp_path: Path) -> None:
    """The columnar loan table (what workers receive) returns each row's validated terms, the
    same after a pickle round trip, with every optional column given, defaulted or null."""
    import datetime as dt
    import pickle

    from valuation.revalue.loans import LoanTerms, _read_table, _terms, read_loans

    path = tmp_path / "loans.csv"
    path.write_text(
        "product_id,loan_id,amount,tenor_months,start,annual_rate,amortization,annual_pd,"
        "wrong_way,currency\n"
        "P-1,L-1,1500000.5,24,2025-01-31,0.051,annuity,0.02,0.3,CNY\n"
        "P-2,,800000,6,,,,,,\n"
        "P-3,L-3,1e6,12,2026-12-31,0,linear,0.5,-0.2,USD\n",
        encoding="utf-8",
    )
    table = read_loans(path).loans
    rows = _read_table(path).to_pylist()
    expected = {str(r["product_id"]): _terms(r) for r in rows}
    assert dict(table) == expected
    assert table["P-1"].start == dt.date(2025, 1, 31) and table["P-2"].start is None
    assert table["P-2"] == LoanTerms("P-2", 800000.0, 6, None, 0.0, "bullet", 0.0, 0.0, None)
    shipped = pickle.loads(pickle.dumps(table))
    assert dict(shipped) == expected and len(shipped) == 3
    assert "P-9" not in shipped and shipped.get("P-9") is None
    with pytest.raises(KeyError):
        shipped["P-9"]
