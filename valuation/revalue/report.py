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
from numpy.typing import NDArray

from valuation.revalue.due import DueDates, interval, interval_months, iter_parts, urgency
from valuation.revalue.publish import value_counts

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


def _empty(columns: tuple[str, ...]) -> Any:
    from valuation.revalue.chunk import VALUES_SCHEMA

    return VALUES_SCHEMA.empty_table().select(list(columns))


class _Previous:
    """An earlier run's values, ltvs and grades, looked up by product id column by column."""

    def __init__(self, run: Path) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        columns = ("product_id", "concluded_value", "ltv", "grade")
        parts = list(iter_parts(run, columns))
        table = pa.concat_tables(parts) if parts else _empty(columns)
        # a product listed twice keeps its last row, as a dict built row by row would
        self.table = table.take(pa.array(np.arange(table.num_rows - 1, -1, -1)))
        self.ids = self.table.column("product_id").combine_chunks()
        self.unique_ids = pc.unique(self.ids)
        self.summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))

    def rows_of(self, ids: Any) -> NDArray[np.int64]:
        """Return the row of each id in this run (-1: not in it)."""
        import pyarrow.compute as pc

        found = pc.index_in(ids, value_set=self.ids)
        return np.asarray(pc.fill_null(found, -1).to_numpy(zero_copy_only=False), dtype=np.int64)


def _top(table: Any, keys: list[tuple[str, str]], k: int) -> list[dict[str, Any]]:
    """Return the ``k`` first rows of ``table`` in the order of ``keys``, as Python rows."""
    import pyarrow.compute as pc

    if table.num_rows == 0 or k <= 0:
        return []
    order = pc.select_k_unstable(table, k=min(k, table.num_rows), sort_keys=keys)
    return list(table.take(order).to_pylist())


def _values(column: Any) -> NDArray[np.float64]:
    """Return a float column as an array, nulls as NaN."""
    import pyarrow.compute as pc

    return np.asarray(pc.fill_null(column, math.nan).to_numpy(zero_copy_only=False), dtype=float)


class _BookFigures:
    """The report's figures, gathered one published part at a time with columnar arithmetic.

    Only the rows a table of the report lists (the largest exposures, the products due
    soonest, the largest changes) become Python rows: at most a few tens per part.
    """

    def __init__(
        self, valued_on: dt.date, policy: Mapping[str, Any], previous: _Previous | None
    ) -> None:
        self.policy = policy
        self.dates = DueDates(valued_on)
        self.horizon = self.dates(1)
        self.previous = previous
        self.ltvs: list[NDArray[np.float64]] = []
        self.breaches: list[NDArray[np.float64]] = []
        self.grades: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.exposures: list[NDArray[np.float64]] = []
        self.losses: list[NDArray[np.float64]] = []
        self.largest: list[tuple[float, str, dict[str, Any]]] = []
        self.due: list[dict[str, Any]] = []
        self.due_count = 0
        self.intervals: Counter[int] = Counter()
        self.movers: list[tuple[float, str, dict[str, Any]]] = []
        self.grade_changes: Counter[tuple[str, str]] = Counter()
        self.ids: list[Any] = []

    def add(self, table: Any) -> None:
        """Add one part (a ``pyarrow.Table`` of the report's columns)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        pledged = table.filter(pc.is_valid(table.column("loan_status")))
        self._add_loans(pledged)
        months = interval_months(table, self.policy)
        counted = np.unique(months, return_counts=True)
        self.intervals.update(dict(zip(*(a.tolist() for a in counted), strict=True)))
        due = self.dates.due_by(months, self.horizon)
        self.due_count += int(due.sum())
        soon = table.filter(pa.array(due)).append_column(
            "interval", pa.array(months[due], type=pa.int64())
        )
        ltv = pc.fill_null(soon.column("ltv"), 0.0)
        soon = soon.append_column("urgency", pc.negate(ltv))
        keys = [("interval", "ascending"), ("urgency", "ascending"), ("product_id", "ascending")]
        for row in _top(soon, keys, DUE_SHOWN):
            months_of_row, reasons = interval(row, self.policy)
            del row["urgency"]
            self.due.append({**row, "due_on": self.dates(months_of_row), "reasons": reasons})
        self.due.sort(key=lambda r: urgency(r["interval"], r["ltv"], r["product_id"]))
        del self.due[DUE_SHOWN:]
        if self.previous is not None:
            self._add_changes(table)

    def _add_loans(self, pledged: Any) -> None:
        import pyarrow.compute as pc

        for status, count in value_counts(pledged.column("loan_status")):
            self.statuses[status] += count
        self.exposures.append(_known(pledged.column("loan_amount")))
        self.ltvs.append(_known(pledged.column("ltv")))
        breach = pledged.column("breach_probability")
        self.breaches.append(_known(breach))
        self.losses.append(_known(pledged.column("expected_loss").filter(breach.is_valid())))
        for grade, count in value_counts(pledged.column("grade")):
            self.grades[grade] += count
        amount = pc.fill_null(pledged.column("loan_amount"), 0.0)
        ranked = pledged.append_column("_amount", amount)
        keys = [("_amount", "descending"), ("product_id", "descending")]
        for row in _top(ranked, keys, TOP):
            _keep_top(self.largest, (float(row.pop("_amount")), row["product_id"], row))

    def _add_changes(self, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        previous = self.previous
        assert previous is not None
        ids = table.column("product_id").combine_chunks()
        self.ids.append(ids)
        at = previous.rows_of(ids)
        both = np.flatnonzero(at >= 0)
        if both.size == 0:
            return
        now = table.take(pa.array(both))
        then = previous.table.take(pa.array(at[both]))
        old_grade, new_grade = then.column("grade"), now.column("grade")
        changed = pc.fill_null(pc.not_equal(old_grade, new_grade), False)
        pairs = pa.table({"old": old_grade.filter(changed), "new": new_grade.filter(changed)})
        for group in pairs.group_by(["old", "new"]).aggregate([([], "count_all")]).to_pylist():
            self.grade_changes[(group["old"], group["new"])] += group["count_all"]
        old_value = _values(then.column("concluded_value"))
        new_value = _values(now.column("concluded_value"))
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            moved = np.flatnonzero((old_value > 0) & (new_value > 0))
            ratio = new_value[moved] / old_value[moved]
        ranked = now.take(pa.array(moved)).append_column("_size", pa.array(np.abs(np.log(ratio))))
        ranked = ranked.append_column("_at", pa.array(np.arange(moved.size)))
        keys = [("_size", "descending"), ("product_id", "descending")]
        for row in _top(ranked, keys, TOP):
            j = row.pop("_at")
            size = row.pop("_size")
            old = then.slice(int(moved[j]), 1).to_pylist()[0]
            record = {
                **row,
                "old_value": old["concluded_value"],
                "old_ltv": old["ltv"],
                "old_grade": old["grade"],
                "change": float(ratio[j]) - 1.0,
            }
            _keep_top(self.movers, (size, row["product_id"], record))

    def changes(self) -> dict[str, Any] | None:
        """Return the changes since the previous run (None without one)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        previous = self.previous
        if previous is None:
            return None
        seen = pc.unique(pa.chunked_array(self.ids, type=pa.string()).combine_chunks())
        both = int(pc.sum(pc.is_in(seen, value_set=previous.unique_ids)).as_py() or 0)
        return {
            "previous_date": previous.summary["valuation_date"],
            "previous_calibration": previous.summary["calibration_id"],
            "both": both,
            "new": len(seen) - both,
            "gone": len(previous.unique_ids) - both,
            "movers": [r for _, _, r in sorted(self.movers, reverse=True)],
            "grade_changes": sorted(self.grade_changes.items()),
            "total_before": previous.summary["concluded_value"],
        }


def _keep_top(heap: list[tuple[float, str, dict[str, Any]]], item: Any) -> None:
    """Add ``item`` to a heap that keeps the :data:`TOP` largest."""
    if len(heap) < TOP:
        heapq.heappush(heap, item)
    else:
        heapq.heappushpop(heap, item)


def _known(column: Any) -> NDArray[np.float64]:
    """Return a float column's values, nulls left out."""
    return _values(column.drop_null())


def _total(parts: list[NDArray[np.float64]]) -> float:
    """Return the correctly rounded sum of the parts' values (``math.fsum``)."""
    return math.fsum(np.concatenate(parts).tolist()) if parts else 0.0


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
    book = _BookFigures(valued_on, policy, _Previous(previous) if previous is not None else None)
    for table in iter_parts(run, _COLUMNS):
        book.add(table)
    ltvs = np.concatenate(book.ltvs) if book.ltvs else np.empty(0)
    breaches = np.concatenate(book.breaches) if book.breaches else np.empty(0)
    charts: dict[str, str] = {}
    if ltvs.size:
        capped = np.minimum(ltvs, LTV_CAP)
        charts["ltv"] = _histogram(capped, np.linspace(0.0, LTV_CAP, 41), "LTV (capped at 2)",
                                   "#1f77b4")  # fmt: skip
    if breaches.size:
        charts["breach"] = _histogram(breaches, np.linspace(0.0, 1.0, 41),
                                      "breach probability within the tenor", "#ff7f0e")  # fmt: skip
        charts["grades"] = _grade_chart(book.grades)
    return str(
        _environment().render(
            s=summary,
            charts=charts,
            statuses=sorted(book.statuses.items()),
            pledged=sum(book.statuses.values()),
            exposure=_total(book.exposures),
            expected_loss=_total(book.losses),
            ltv_median=float(np.median(ltvs)) if ltvs.size else None,
            ltv_above=int(np.count_nonzero(ltvs > 0.7)),
            largest=[r for _, _, r in sorted(book.largest, reverse=True)],
            due=book.due[:DUE_SHOWN],
            due_count=book.due_count,
            due_horizon=book.horizon.isoformat(),
            intervals=sorted(book.intervals.items()),
            changes=book.changes(),
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
