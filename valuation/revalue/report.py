"""``OUT/report.html``: the portfolio report of a finished revaluation, one self-contained file.

The report reads the published parts one at a time (memory stays bounded by a part, plus the
previous run's values by product id when ``--previous`` is given) and shows: the run's audit
block and row counts; the book's value by currency; the distributions of LTV and breach
probability across the pledged products, and their grades (charts drawn with matplotlib as the
pledge memo draws its charts, embedded as base64 PNG); the largest exposures; the changes since
the previous run (values, LTVs and grades of the products both runs hold, the products that
came and went); and the products due for revaluation within a month under the due policy
(:mod:`valuation.revalue.due`). Every value from the data is HTML-escaped by the template
engine.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import math
from collections import Counter
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from valuation.revalue.due import add_months, interval, iter_rows

REPORT = "report.html"
TEMPLATE = "report.html.j2"
TOP = 20
DUE_SHOWN = 50
LTV_CAP = 2.0
_COLUMNS = (
    "product_id",
    "category",
    "sector",
    "currency",
    "certificate_status",
    "warnings",
    "concluded_value",
    "p10",
    "p90",
    "loan_id",
    "loan_amount",
    "loan_status",
    "ltv",
    "grade",
    "breach_probability",
    "expected_loss",
    "max_loan",
)
MSG_PREVIOUS = "not a finished revaluation (no summary.json): give the OUT of an earlier run"


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _environment() -> Any:
    import jinja2

    text = resources.files("valuation.revalue").joinpath("templates", TEMPLATE).read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["money"] = _money
    env.filters["pct"] = _pct
    env.filters["ratio"] = _ratio
    return env.from_string(text)


def _histogram(values: np.ndarray, bins: np.ndarray, xlabel: str, colour: str) -> str:
    from valuation.pledge.charts import _figure, _png

    fig = _figure(7.0, 2.8)
    ax = fig.add_subplot()
    ax.hist(values, bins=bins, color=colour, edgecolor="white")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("pledged products")
    return str(_png(fig))


def _grade_chart(grades: Mapping[str, int]) -> str:
    from valuation.pledge.charts import _figure, _png

    fig = _figure(7.0, 2.4)
    ax = fig.add_subplot()
    names = ["A", "B", "C", "D", "E"]
    colours = ["#2ca02c", "#98df8a", "#ffbb78", "#ff7f0e", "#d62728"]
    ax.bar(names, [grades.get(g, 0) for g in names], color=colours)
    ax.set_xlabel("risk grade")
    ax.set_ylabel("pledged products")
    return str(_png(fig))


def _urgency(row: Mapping[str, Any]) -> tuple[int, float, str]:
    return (row["interval"], -(row["ltv"] or 0.0), row["product_id"])


def _previous_values(previous: Path) -> dict[str, tuple[float | None, float | None, str | None]]:
    columns = ("product_id", "concluded_value", "ltv", "grade")
    return {
        r["product_id"]: (r["concluded_value"], r["ltv"], r["grade"])
        for r in iter_rows(previous, columns)
    }


def build_report(
    run: Path,
    *,
    previous: Path | None = None,
    due_policy: Mapping[str, Any] | None = None,
) -> str:
    """Return the HTML of the report of the finished run in ``run``.

    Parameters
    ----------
    run
        A finished revaluation (a folder with ``summary.json``).
    previous
        An earlier finished revaluation of the same book, for the changes since then.
    due_policy
        The revaluation policy (default :data:`valuation.revalue.due.DUE_POLICY`).
    """
    from valuation.revalue.due import DUE_POLICY

    policy = due_policy if due_policy is not None else DUE_POLICY
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    valued_on = dt.date.fromisoformat(summary["valuation_date"])
    horizon = add_months(valued_on, 1)
    before = _previous_values(previous) if previous is not None else None
    prev_summary = (
        json.loads((previous / "summary.json").read_text(encoding="utf-8"))
        if previous is not None
        else None
    )

    ltvs: list[float] = []
    breaches: list[float] = []
    grades: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    exposure = expected_loss = 0.0
    largest: list[tuple[float, str, dict[str, Any]]] = []
    due: list[dict[str, Any]] = []
    due_count = 0
    intervals: Counter[int] = Counter()
    movers: list[tuple[float, str, dict[str, Any]]] = []
    grade_changes: Counter[tuple[str, str]] = Counter()
    seen: set[str] = set()
    for row in iter_rows(run, _COLUMNS):
        pid = row["product_id"]
        if row["loan_status"] is not None:
            statuses[row["loan_status"]] += 1
            exposure += row["loan_amount"] or 0.0
            if row["ltv"] is not None:
                ltvs.append(row["ltv"])
            if row["breach_probability"] is not None:
                breaches.append(row["breach_probability"])
                expected_loss += row["expected_loss"] or 0.0
            if row["grade"] is not None:
                grades[row["grade"]] += 1
            item = (float(row["loan_amount"] or 0.0), pid, row)
            if len(largest) < TOP:
                heapq.heappush(largest, item)
            else:
                heapq.heappushpop(largest, item)
        months, reasons = interval(row, policy)
        intervals[months] += 1
        due_on = add_months(valued_on, months)
        if due_on <= horizon:
            due_count += 1
            due.append({**row, "interval": months, "due_on": due_on, "reasons": reasons})
            if len(due) >= 10 * DUE_SHOWN:  # keep the most urgent only: memory stays bounded
                due.sort(key=_urgency)
                del due[DUE_SHOWN:]
        if before is not None:
            seen.add(pid)
            old = before.get(pid)
            if old is not None:
                old_value, old_ltv, old_grade = old
                new_value = row["concluded_value"]
                if old_grade is not None and row["grade"] is not None and old_grade != row["grade"]:
                    grade_changes[(old_grade, row["grade"])] += 1
                if old_value and new_value and old_value > 0 and new_value > 0:
                    change = math.log(new_value / old_value)
                    record = {
                        **row,
                        "old_value": old_value,
                        "old_ltv": old_ltv,
                        "old_grade": old_grade,
                        "change": new_value / old_value - 1.0,
                    }
                    item = (abs(change), pid, record)
                    if len(movers) < TOP:
                        heapq.heappush(movers, item)
                    else:
                        heapq.heappushpop(movers, item)
    due.sort(key=_urgency)
    charts: dict[str, str] = {}
    if ltvs:
        capped = np.minimum(np.asarray(ltvs), LTV_CAP)
        charts["ltv"] = _histogram(capped, np.linspace(0.0, LTV_CAP, 41), "LTV (capped at 2)",
                                   "#1f77b4")  # fmt: skip
    if breaches:
        charts["breach"] = _histogram(np.asarray(breaches), np.linspace(0.0, 1.0, 41),
                                      "breach probability within the tenor", "#ff7f0e")  # fmt: skip
        charts["grades"] = _grade_chart(grades)
    changes = None
    if before is not None and prev_summary is not None:
        changes = {
            "previous_date": prev_summary["valuation_date"],
            "previous_calibration": prev_summary["calibration_id"],
            "both": len(seen & before.keys()),
            "new": len(seen - before.keys()),
            "gone": len(before.keys() - seen),
            "movers": [r for _, _, r in sorted(movers, reverse=True)],
            "grade_changes": sorted(grade_changes.items()),
            "total_before": prev_summary["concluded_value"],
        }
    return str(
        _environment().render(
            s=summary,
            charts=charts,
            statuses=sorted(statuses.items()),
            pledged=sum(statuses.values()),
            exposure=exposure,
            expected_loss=expected_loss,
            ltv_median=float(np.median(ltvs)) if ltvs else None,
            ltv_above=sum(1 for x in ltvs if x > 0.7),
            largest=[r for _, _, r in sorted(largest, reverse=True)],
            due=due[:DUE_SHOWN],
            due_count=due_count,
            due_horizon=horizon.isoformat(),
            intervals=sorted(intervals.items()),
            changes=changes,
            policy_json=json.dumps(dict(policy), ensure_ascii=False),
        )
    )


def write_report(
    run: Path, *, previous: Path | None = None, due_policy: Mapping[str, Any] | None = None
) -> Path:
    """Write ``run/report.html`` (atomically) and return its path."""
    from valuation.revalue.ledger import write_atomic

    html = build_report(run, previous=previous, due_policy=due_policy)
    path = run / REPORT
    write_atomic(path, html.encode("utf-8"))
    return path


__all__ = ["MSG_PREVIOUS", "REPORT", "build_report", "write_report"]
