"""The revaluation policy (``--due``) and ``report.html``: each rule's interval, the policy as
data, the products due on a date, a self-contained and escaped report with the changes since
a previous run."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from valuation.calibration_set import DEFAULT_SET
from valuation.cli import main
from valuation.exceptions import DpvInputError
from valuation.revalue import revalue
from valuation.revalue.due import DUE_POLICY, interval, load_due_policy

SAMPLE = Path(DEFAULT_SET).parents[1] / "sample" / "products.jsonl"
N_PRODUCTS = 40
HOSTILE = '<script>alert("x")</script>'


def _row(**fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {"certificate_status": "valid", "warnings": [], "loan_status": None}
    row.update(fields)
    return row


def _loan(**fields: Any) -> dict[str, Any]:
    loan = {"loan_status": "stressed", "loan_amount": 1e6, "grade": "A",
            "breach_probability": 0.0, "ltv": 0.1}  # fmt: skip
    return _row(**{**loan, **fields})


@pytest.mark.parametrize(
    ("row", "months", "reason"),
    [
        (_row(), 12, "base"),
        (_loan(), 6, "pledged"),
        (_loan(ltv=0.45), 3, "ltv 0.45"),
        (_loan(ltv=0.65), 1, "ltv 0.65"),
        (_loan(ltv=3.0), 1, "ltv 3.00"),
        (_loan(loan_amount=2e7), 3, "large exposure"),
        (_loan(grade="D"), 1, "grade D"),
        (_loan(breach_probability=0.2), 1, "breach probability 20.0%"),
        (_row(certificate_status="objected"), 0, "certificate objected"),
        (_row(warnings=["certificate_expired"]), 0, "certificate expired"),
        (_row(warnings=["certificate_expires_soon"]), 3, "certificate expiring"),
    ],
)
def test_each_rule_of_the_default_policy(row: dict[str, Any], months: int, reason: str) -> None:
    got, reasons = interval(row, DUE_POLICY)
    assert got == months
    assert reason in reasons


def test_the_policy_is_data(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps({"base_months": 24, "grade_months": {"A": 2}}))
    policy = load_due_policy(path)
    assert interval(_row(), policy) == (24, ["base"])
    assert interval(_loan(), policy)[0] == 2  # grade A now every two months
    assert policy["ltv_bands"] == DUE_POLICY["ltv_bands"]  # the rest keeps its defaults
    path.write_text(json.dumps({"base_month": 24}))
    with pytest.raises(DpvInputError, match="unknown key 'base_month'"):
        load_due_policy(path)
    path.write_text(json.dumps({"base_months": "often"}))
    with pytest.raises(DpvInputError, match="base_months: must be a number"):
        load_due_policy(path)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same book revalued at two dates; one loan id that is not HTML."""
    folder = tmp_path_factory.mktemp("runs")
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()[:N_PRODUCTS]
    book = folder / "products.jsonl"
    book.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loans = folder / "loans.csv"
    with loans.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["loan_id", "product_id", "amount", "tenor_months", "annual_pd"])
        for i, line in enumerate(lines):
            if i % 2 == 0:
                loan_id = HOSTILE if i == 0 else f"LN-{i}"
                amount = 25_000_000 if i == 2 else 400_000 + 100_000 * i
                writer.writerow([loan_id, json.loads(line)["product_id"], amount, 12, 0.02])
    first, second = folder / "march", folder / "june"
    assert revalue(book, first, as_of="2026-03-31", loans=loans, paths=200).exit_code == 0
    code = revalue(book, second, as_of="2026-06-30", loans=loans, paths=200, previous=first)
    assert code.exit_code == 0
    return first, second


def test_due_lists_what_the_policy_says(
    runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, run = runs
    rows = pq.read_table(run / "part-00000.parquet").to_pylist()
    expected: dict[str, dict[str, int]] = {}
    for day in ("2026-06-30", "2026-09-30", "2027-06-30"):
        assert main(["revalue", str(run), "--due", "--as-of", day]) == 0
        listed = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
        expected[day] = {r["product_id"]: int(r["interval_months"]) for r in listed}
        months = [int(r["interval_months"]) for r in listed]
        assert months == sorted(months)  # the most urgent first
    # at once: exactly the certificate events; in three months, every interval up to 3; in a
    # year, everything
    events = {
        r["product_id"]
        for r in rows
        if r["certificate_status"] != "valid" or "certificate_expired" in r["warnings"]
    }
    assert set(expected["2026-06-30"]) == events
    assert all(v == 0 for v in expected["2026-06-30"].values())
    three = {r["product_id"] for r in rows if interval(r, DUE_POLICY)[0] <= 3}
    assert set(expected["2026-09-30"]) == three
    assert set(expected["2027-06-30"]) == {r["product_id"] for r in rows}
    large = next(r for r in rows if r["loan_amount"] == 25_000_000)
    assert expected["2026-09-30"][large["product_id"]] <= 3


def test_report_is_self_contained_escaped_and_compares_runs(runs: tuple[Path, Path]) -> None:
    first, second = runs
    html = (second / "report.html").read_text(encoding="utf-8")
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing loaded from elsewhere
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]+"', html)) == 3
    assert "Previous run as of 2026-03-31" in html
    assert f"{N_PRODUCTS} products in both, 0 new, 0 gone" in html
    assert "Largest exposures" in html and "25,000,000" in html
    first_html = (first / "report.html").read_text(encoding="utf-8")
    assert "No previous run was given" in first_html


def test_previous_must_be_a_finished_run(
    tmp_path: Path, runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    first, _ = runs
    book = tmp_path / "b.jsonl"
    book.write_text(SAMPLE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    out = tmp_path / "out"
    assert main(["revalue", str(book), "--out", str(out), "--previous", str(tmp_path)]) == 2
    assert "--previous: not a finished revaluation" in capsys.readouterr().err
    assert not out.exists()
    assert main(["revalue", str(book), "--due"]) == 2
    assert "not a finished revaluation" in capsys.readouterr().err
    assert main(["revalue", str(book)]) == 2
    assert "--out: required" in capsys.readouterr().err
    assert first.is_dir()


def test_report_keeps_the_most_urgent_whatever_the_book_size(
    runs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from valuation.revalue import report

    _, run = runs
    full = report.build_report(run)
    monkeypatch.setattr(report, "DUE_SHOWN", 1)  # truncates every 10 products due
    short = report.build_report(run)

    def listed(html: str) -> tuple[str, list[str]]:
        section = html[html.index('<h2 id="due">') :]
        count = re.search(r"<p>([\d,]+) products are due", section)
        assert count is not None
        return count.group(1), re.findall(r'<tr><td class="mono">([^<]+)</td>', section)

    count_full, rows_full = listed(full)
    count_short, rows_short = listed(short)
    assert int(count_full) > 10  # the truncation ran
    assert count_short == count_full
    assert rows_short == rows_full[:1]


def _random_rows(seed: int, n: int) -> list[dict[str, Any]]:
    """Rows the policy reads, with every rule's edge: nulls, bounds, NaN, unknown grades."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        pledged = rng.random() < 0.7
        ltv = rng.choice([None, 0.3, 0.5, 0.7, float("nan"), float(rng.uniform(0, 2))])
        warnings = list(
            rng.choice(
                ["certificate_expired", "certificate_expires_soon", "thin_market", "other"],
                size=int(rng.integers(0, 3)),
                replace=False,
            )
        )
        row = {
            "product_id": f"P-{i:05d}",
            "certificate_status": rng.choice([None, "valid", "valid", "objected", "revoked"]),
            "warnings": warnings,
            "loan_id": f"L-{i}" if pledged else None,
            "loan_amount": rng.choice([None, 1e7, 9_999_999.0, float(rng.uniform(1e5, 3e7))])
            if pledged
            else None,
            "loan_status": rng.choice(["stressed", "matured"]) if pledged else None,
            "ltv": ltv if pledged else None,
            "grade": rng.choice([None, "A", "B", "C", "D", "E", "Z"]) if pledged else None,
            "breach_probability": rng.choice([None, 0.05, float(rng.uniform(0, 0.2))])
            if pledged
            else None,
            "concluded_value": float(rng.uniform(1e5, 1e7)),
        }
        rows.append(row)
    return rows


@pytest.mark.parametrize("seed", [1, 2])
def test_interval_months_equals_the_rule_row_by_row(seed: int, tmp_path: Path) -> None:
    import numpy as np
    import pyarrow as pa

    from valuation.revalue.chunk import VALUES_SCHEMA
    from valuation.revalue.due import COLUMNS, interval_months

    schema = pa.schema([VALUES_SCHEMA.field(name) for name in COLUMNS])
    rows = _random_rows(seed, 2000)
    table = pa.Table.from_pylist(rows, schema=schema)
    custom = load_due_policy(None)
    custom.update({"ltv_bands": [[0.2, 9], [0.6, 4]], "grade_months": {"B": 2, "E": 0},
                   "certificate_event_warnings": ["thin_market"], "base_months": 24})  # fmt: skip
    for policy in (DUE_POLICY, custom):
        expected = [interval(row, policy)[0] for row in rows]
        assert interval_months(table, policy).tolist() == expected
        # the same across record batches of a table read in parts
        halves = pa.concat_tables([table.slice(0, 777), table.slice(777)])
        assert np.array_equal(interval_months(halves, policy), expected)


def test_due_in_run_equals_due_rows(runs: tuple[Path, Path]) -> None:
    import datetime as dt

    from valuation.revalue.due import due_in_run, due_rows, iter_rows

    _, run = runs
    valued_on = dt.date(2026, 6, 30)
    for day in (valued_on, dt.date(2026, 7, 31), dt.date(2026, 9, 30), dt.date(2027, 6, 30)):
        listed = due_in_run(run, valued_on, day, DUE_POLICY)
        assert listed == due_rows(iter_rows(run), valued_on, day, DUE_POLICY)
    assert len(listed) == N_PRODUCTS


def test_report_figures_equal_a_row_by_row_count(runs: tuple[Path, Path]) -> None:
    """The columnar report against plain Python over the rows: due count, exposure, largest."""
    import math

    from valuation.revalue import report
    from valuation.revalue.due import iter_rows

    first, second = runs
    html = report.build_report(second, previous=first)
    rows = list(iter_rows(second, report._COLUMNS))
    pledged = [r for r in rows if r["loan_status"] is not None]
    exposure = math.fsum(r["loan_amount"] or 0.0 for r in pledged)
    assert f"total exposure {exposure:,.0f}" in html
    due = [r for r in rows if interval(r, DUE_POLICY)[0] <= 1]
    assert f"<p>{len(due):,} products are due by 2026-07-30" in html
    largest = sorted(pledged, key=lambda r: (r["loan_amount"], r["product_id"]), reverse=True)
    section = html[html.index("Largest exposures") : html.index('<h2 id="due">')]
    shown = re.findall(r'<tr><td class="mono">([^<]+)</td>', section)
    assert shown[: len(largest[:20])] == [r["product_id"] for r in largest[:20]]
