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
