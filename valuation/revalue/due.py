"""Which products are due for revaluation: a policy kept as data, applied to a finished run.

A product's **interval** is the shortest that any rule of the policy gives it; it is due when
that many calendar months have passed since the run that last valued it. The rules look only
at the run's own columns (LTV, loan amount, grade, breach probability, certificate status,
warnings), so ``dpv revalue RUN --due`` needs nothing but the published dataset.

The policy is a JSON object with the keys of :data:`DUE_POLICY` (``--due-policy FILE``; keys it
omits keep their defaults; an unknown key is an error). Each default says where it comes from;
where no published figure exists it is a stated convention a bank replaces with its own.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from valuation.exceptions import MSG_FILE_NOT_FOUND, MSG_MALFORMED_JSON, DpvInputError

DUE_POLICY: dict[str, Any] = {
    # A valuation conclusion is normally used for one year from its valuation date: the CAS
    # practice standard on valuation reports (资产评估执业准则——资产评估报告, 2018) has the
    # report state its period of use, and one year is the customary period. Products without
    # a loan are revalued yearly.
    "base_months": 12,
    # Pledged products: the CBRC Guidelines on Collateral Management of Commercial Banks
    # (商业银行押品管理指引, 2017) require collateral to be revalued at least yearly and more
    # often for collateral whose value moves more. Data products move like growth equities
    # (collateral_process volatility 30-45 % a year), so a pledged one is revalued at least
    # half-yearly, and more often as its LTV nears the margin call. Bands (upper LTV bound,
    # months), checked in order; above the last bound the last interval holds. Convention.
    "pledged_months": 6,
    "ltv_bands": [[0.3, 6], [0.5, 3], [0.7, 1]],
    "ltv_above_bands_months": 1,
    # Large exposures more often: at and above the pledge policy's internal valuation limit
    # (Policy.internal_valuation_limit, 10 m CNY) a loan is escalated to a human valuer, and
    # its collateral is revalued at least quarterly. Convention.
    "large_exposure_amount": 10_000_000.0,
    "large_exposure_months": 3,
    # Worse risk grades (the pledge's A-E) more often. Convention.
    "grade_months": {"A": 12, "B": 6, "C": 3, "D": 1, "E": 1},
    # A loan whose breach probability exceeds the policy's target (Policy default 5 %) is
    # watched monthly. Convention.
    "breach_probability_above": 0.05,
    "breach_months": 1,
    # Certificate events (SPEC §1: certificates can be objected to, revoked or lapse): any
    # status but "valid", or a certificate past its expiry date (the valuation's
    # "certificate_expired" warning), makes the product due at once (0 months); one expiring
    # within the reconciliation's expiry warning (12 months: "certificate_expires_soon")
    # brings the interval down to a quarter. Convention.
    "certificate_event_months": 0,
    "certificate_event_warnings": ["certificate_expired"],
    "certificate_expiring_months": 3,
    "certificate_expiring_warning": "certificate_expires_soon",
}
"""The default revaluation policy (see the comments for the source of each number)."""

MSG_UNKNOWN_KEY = "unknown key {key!r}; the policy's keys are: {keys}"
MSG_BAD_VALUE = "must be {kind}, got {value!r}"

COLUMNS = (
    "product_id",
    "certificate_status",
    "warnings",
    "loan_id",
    "loan_amount",
    "loan_status",
    "ltv",
    "grade",
    "breach_probability",
    "concluded_value",
)
"""The run's columns the policy reads."""


def load_due_policy(path: str | Path | None = None) -> dict[str, Any]:
    """Return :data:`DUE_POLICY` with the keys of the JSON file ``path`` replaced.

    Raises
    ------
    DpvInputError
        The file is missing, not JSON, or has an unknown key or a value of the wrong kind.
    """
    policy = copy.deepcopy(DUE_POLICY)
    if path is None:
        return policy
    source = str(path)
    file = Path(path)
    if not file.is_file():
        raise DpvInputError(MSG_FILE_NOT_FOUND, source=source, field="--due-policy")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, OSError) as exc:
        raise DpvInputError(MSG_MALFORMED_JSON.format(detail=exc), source=source) from None
    if not isinstance(doc, dict):
        raise DpvInputError(MSG_BAD_VALUE.format(kind="a JSON object", value=doc), source=source)
    for key, value in doc.items():
        if key not in DUE_POLICY:
            keys = ", ".join(DUE_POLICY)
            raise DpvInputError(MSG_UNKNOWN_KEY.format(key=key, keys=keys), source=source)
        default = DUE_POLICY[key]
        numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
        if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise DpvInputError(
                MSG_BAD_VALUE.format(kind="a number", value=value), source=source, field=key
            )
        if not numeric and type(value) is not type(default):
            kind = type(default).__name__
            raise DpvInputError(
                MSG_BAD_VALUE.format(kind=f"a JSON {kind}", value=value), source=source, field=key
            )
        policy[key] = value
    return policy


def interval(row: Mapping[str, Any], policy: Mapping[str, Any]) -> tuple[int, list[str]]:
    """Return a product's revaluation interval in months and the rules that set it.

    The interval is the shortest of the rules that apply; the reasons name those that give
    that shortest interval.
    """
    candidates: list[tuple[int, str]] = [(int(policy["base_months"]), "base")]
    if row.get("loan_status") is not None:
        candidates.append((int(policy["pledged_months"]), "pledged"))
        ltv = row.get("ltv")
        if ltv is not None:
            months = int(policy["ltv_above_bands_months"])
            for bound, band_months in policy["ltv_bands"]:
                if ltv <= bound:
                    months = int(band_months)
                    break
            candidates.append((months, f"ltv {ltv:.2f}"))
        amount = row.get("loan_amount")
        if amount is not None and amount >= policy["large_exposure_amount"]:
            candidates.append((int(policy["large_exposure_months"]), "large exposure"))
        grade = row.get("grade")
        if grade is not None and grade in policy["grade_months"]:
            candidates.append((int(policy["grade_months"][grade]), f"grade {grade}"))
        breach = row.get("breach_probability")
        if breach is not None and breach > policy["breach_probability_above"]:
            candidates.append((int(policy["breach_months"]), f"breach probability {breach:.1%}"))
    status = row.get("certificate_status")
    warnings = row.get("warnings") or ()
    if status is not None and status != "valid":
        candidates.append((int(policy["certificate_event_months"]), f"certificate {status}"))
    for code in policy["certificate_event_warnings"]:
        if code in warnings:
            candidates.append((int(policy["certificate_event_months"]), code.replace("_", " ")))
    if policy["certificate_expiring_warning"] in warnings:
        candidates.append((int(policy["certificate_expiring_months"]), "certificate expiring"))
    shortest = min(months for months, _ in candidates)
    reasons = [reason for months, reason in candidates if months == shortest]
    return shortest, list(dict.fromkeys(reasons))


def interval_months(table: Any, policy: Mapping[str, Any]) -> NDArray[np.int64]:
    """Return every row's revaluation interval in months, as :func:`interval` gives it.

    ``table`` is a ``pyarrow.Table`` (or record batch) with the policy's columns
    (:data:`COLUMNS`); the rules are applied column by column, with the same comparisons as
    :func:`interval`, so a book of millions of rows needs no Python loop over its rows.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows

    def floats(name: str) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
        column = table.column(name)
        known = np.asarray(column.is_valid(), dtype=bool)
        values = np.asarray(pc.fill_null(column, 0.0).to_numpy(zero_copy_only=False), dtype=float)
        return values, known

    def at_most(months: NDArray[np.int64], where: NDArray[np.bool_], rule: Any) -> None:
        np.minimum(months, np.where(where, int(rule), months), out=months)

    months = np.full(n, int(policy["base_months"]), dtype=np.int64)
    pledged = np.asarray(table.column("loan_status").is_valid(), dtype=bool)
    at_most(months, pledged, policy["pledged_months"])
    ltv, ltv_known = floats("ltv")
    band = np.full(n, int(policy["ltv_above_bands_months"]), dtype=np.int64)
    placed = np.zeros(n, dtype=bool)
    for bound, band_months in policy["ltv_bands"]:
        here = ~placed & (ltv <= bound)
        band[here] = int(band_months)
        placed |= here
    np.minimum(months, np.where(pledged & ltv_known, band, months), out=months)
    amount, amount_known = floats("loan_amount")
    large = pledged & amount_known & (amount >= policy["large_exposure_amount"])
    at_most(months, large, policy["large_exposure_months"])
    grade = table.column("grade")
    for name, grade_months in policy["grade_months"].items():
        graded = np.asarray(pc.fill_null(pc.equal(grade, name), False), dtype=bool)
        at_most(months, pledged & graded, grade_months)
    breach, breach_known = floats("breach_probability")
    watched = pledged & breach_known & (breach > policy["breach_probability_above"])
    at_most(months, watched, policy["breach_months"])
    status = table.column("certificate_status")
    event = np.asarray(pc.fill_null(pc.not_equal(status, "valid"), False), dtype=bool)
    at_most(months, event, policy["certificate_event_months"])
    warnings = table.column("warnings")
    if isinstance(warnings, pa.ChunkedArray):
        warnings = warnings.combine_chunks()
    codes = pc.list_flatten(warnings)
    owner = np.asarray(pc.list_parent_indices(warnings), dtype=np.int64)

    def warned(code: str) -> NDArray[np.bool_]:
        hit = np.asarray(pc.fill_null(pc.equal(codes, code), False), dtype=bool)
        out = np.zeros(n, dtype=bool)
        out[owner[hit]] = True
        return out

    for code in policy["certificate_event_warnings"]:
        at_most(months, warned(code), policy["certificate_event_months"])
    expiring = warned(policy["certificate_expiring_warning"])
    at_most(months, expiring, policy["certificate_expiring_months"])
    return months


def add_months(date: dt.date, months: int) -> dt.date:
    """Return ``date`` moved by whole calendar months (the pledge's rule)."""
    from valuation.pledge.eligibility import add_months as move

    return move(date, months)


def iter_parts(run: Path, columns: tuple[str, ...] = COLUMNS) -> Iterator[Any]:
    """Yield a finished run's parts as ``pyarrow.Table`` (only ``columns``), one at a time."""
    import pyarrow.parquet as pq

    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    for name in summary["parts"]:
        yield pq.read_table(run / name, columns=list(columns))


def iter_rows(run: Path, columns: tuple[str, ...] = COLUMNS) -> Iterator[dict[str, Any]]:
    """Yield the rows of a finished run's parts (only ``columns``), part by part."""
    for table in iter_parts(run, columns):
        yield from table.to_pylist()


class DueDates:
    """``valued_on`` moved by whole months, each number of months computed once."""

    def __init__(self, valued_on: dt.date) -> None:
        self.valued_on = valued_on
        self._dates: dict[int, dt.date] = {}

    def __call__(self, months: int) -> dt.date:
        """Return ``valued_on`` moved by ``months`` calendar months."""
        date = self._dates.get(months)
        if date is None:
            date = self._dates[months] = add_months(self.valued_on, months)
        return date

    def due_by(self, months: NDArray[np.int64], day: dt.date) -> NDArray[np.bool_]:
        """Whether each interval in ``months`` falls due on or before ``day``."""
        due = [m for m in np.unique(months).tolist() if self(m) <= day]
        return np.isin(months, due)


def urgency(months: int, ltv: float | None, product_id: str) -> tuple[int, float, str]:
    """Return the sort key of a product due: the shortest interval, then the highest LTV."""
    return (months, -(ltv or 0.0), product_id)


def due_rows(
    rows: Iterable[Mapping[str, Any]],
    valued_on: dt.date,
    as_of: dt.date,
    policy: Mapping[str, Any],
) -> list[dict[str, Any]]:
    """Return the products due on ``as_of`` after a run valued on ``valued_on``, most urgent first.

    Each has ``product_id``, ``loan_id``, ``ltv``, ``grade``, ``interval_months``,
    ``due_on`` (``valued_on`` plus the interval) and ``reasons``. :func:`due_in_run` gives the
    same list from a run's parts without a Python loop over the rows that are not due.
    """
    dates = DueDates(valued_on)
    out = []
    for row in rows:
        months, reasons = interval(row, policy)
        due_on = dates(months)
        if due_on <= as_of:
            out.append(
                {
                    "product_id": row["product_id"],
                    "loan_id": row.get("loan_id"),
                    "ltv": row.get("ltv"),
                    "grade": row.get("grade"),
                    "interval_months": months,
                    "due_on": due_on.isoformat(),
                    "reasons": reasons,
                }
            )
    out.sort(key=lambda r: urgency(r["interval_months"], r["ltv"], r["product_id"]))
    return out


def due_in_run(
    run: Path, valued_on: dt.date, as_of: dt.date, policy: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Return :func:`due_rows` of the finished run in ``run``, computed part by part.

    The intervals come from :func:`interval_months`, column by column; only the rows due
    become Python rows, which :func:`due_rows` then lists.
    """
    dates = DueDates(valued_on)

    def rows_due() -> Iterator[dict[str, Any]]:
        for table in iter_parts(run):
            picked = np.flatnonzero(dates.due_by(interval_months(table, policy), as_of))
            yield from table.take(picked).to_pylist()

    return due_rows(rows_due(), valued_on, as_of, policy)


__all__ = [
    "COLUMNS",
    "DUE_POLICY",
    "DueDates",
    "due_in_run",
    "due_rows",
    "interval",
    "interval_months",
    "iter_parts",
    "iter_rows",
    "load_due_policy",
    "urgency",
]
