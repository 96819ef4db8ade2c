"""Load licensing and transaction history (SPEC §4 tables) from CSV or Parquet.

A history folder holds one file per table, ``<table>.csv`` or ``<table>.parquet``. Each table
becomes a dict of NumPy arrays (dates as ``datetime64[D]``, missing numbers as NaN, missing
text as ``""``). Errors name the file and the column.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from valuation.exceptions import DpvInputError

# Column -> kind ("str", "float", "date", "bool") for each table the calibration reads.
REQUIRED: dict[str, dict[str, str]] = {
    "products": {
        "product_id": "str",
        "category": "str",
        "sector": "str",
        "registered_on": "date",
    },
    "revenue": {
        "product_id": "str",
        "period_end": "date",
        "licensing": "float",
        "services": "float",
    },
    "deals": {
        "deal_id": "str",
        "product_id": "str",
        "date": "date",
        "price": "float",
        "license": "str",
        "term_months": "float",
        "territory": "str",
        "royalty_rate": "float",
    },
    "events": {"product_id": "str", "date": "date", "kind": "str"},
}
OPTIONAL_COLUMNS: dict[str, dict[str, str]] = {
    "products": {
        "records": "float",
        "fields": "float",
        "quality_accuracy": "float",
        "quality_consistency": "float",
        "quality_completeness": "float",
        "quality_conformity": "float",
        "quality_timeliness": "float",
        "quality_accessibility": "float",
        "listed_on": "date",
        "expires_on": "date",
    },
}
OPTIONAL_TABLES: dict[str, dict[str, str]] = {
    "loans": {
        "loan_id": "str",
        "product_id": "str",
        "amount": "float",
        "start": "date",
        "tenor_months": "float",
        "appraised_value": "float",
        "annual_pd": "float",
        "outcome": "str",
        "default_date": "date",
        "exposure_at_default": "float",
        "recovery": "float",
    },
}
EVENT_KINDS = ("objection", "revocation", "renewal", "lapse", "delisting")
CATEGORIES = ("data_collection", "data_product", "data_algorithm")
SECTORS = (
    "ai",
    "biopharma",
    "finance",
    "education",
    "culture",
    "transport",
    "manufacturing",
    "other",
)
LICENSES = ("non_exclusive", "exclusive", "transfer")
# No data-IP registry, exchange or licensing record predates this (China's first data
# exchange opened in 2015); an earlier date is a typing error.
EARLIEST_DATE = dt.date(1990, 1, 1)
DATE_COLUMNS: dict[str, tuple[str, ...]] = {
    "products": ("registered_on", "listed_on", "expires_on"),
    "revenue": ("period_end",),
    "deals": ("date",),
    "events": ("date",),
    "loans": ("start", "default_date"),
}
# A certificate runs three years, so its expiry may lie ahead of today; ten years allows
# renewals recorded in advance.
FUTURE_COLUMNS: tuple[tuple[str, str], ...] = (("products", "expires_on"),)
FUTURE_DAYS = 3653
# Largest amount (CNY) a history row may carry: 10^13 is above the revenue of any company in
# the world; a larger number is a unit or typing error.
MAX_AMOUNT = 1e13
NUMBER_RANGES: dict[tuple[str, str], tuple[float, float, str]] = {
    ("revenue", "licensing"): (0.0, MAX_AMOUNT, f"an amount from 0 to {MAX_AMOUNT:.0e}"),
    ("revenue", "services"): (0.0, MAX_AMOUNT, f"an amount from 0 to {MAX_AMOUNT:.0e}"),
    ("deals", "price"): (0.0, MAX_AMOUNT, f"a price from 0 to {MAX_AMOUNT:.0e}"),
    ("deals", "term_months"): (1.0, 1200.0, "a term from 1 to 1,200 months"),
    ("deals", "royalty_rate"): (0.0, 1.0, "a rate from 0 to 1"),
    ("products", "records"): (0.0, 1e15, "a count from 0 to 1e15"),
    ("products", "fields"): (0.0, 1e9, "a count from 0 to 1e9"),
    **{
        ("products", f"quality_{d}"): (0.0, 1.0, "a score from 0 to 1")
        for d in (
            "accuracy",
            "consistency",
            "completeness",
            "conformity",
            "timeliness",
            "accessibility",
        )
    },
    ("loans", "amount"): (0.0, MAX_AMOUNT, f"an amount from 0 to {MAX_AMOUNT:.0e}"),
    ("loans", "tenor_months"): (1.0, 600.0, "a tenor from 1 to 600 months"),
    ("loans", "appraised_value"): (0.0, MAX_AMOUNT, f"an amount from 0 to {MAX_AMOUNT:.0e}"),
    ("loans", "annual_pd"): (0.0, 1.0, "a probability from 0 to 1"),
    ("loans", "exposure_at_default"): (0.0, MAX_AMOUNT, f"an amount from 0 to {MAX_AMOUNT:.0e}"),
    ("loans", "recovery"): (0.0, 1.0, "a fraction from 0 to 1"),
}
UNIQUE_IDS: tuple[tuple[str, str], ...] = (
    ("products", "product_id"),
    ("deals", "deal_id"),
    ("loans", "loan_id"),
)
MSG_MISSING_COLUMN = "missing column"
MSG_NO_TABLE = "no {table}.csv or {table}.parquet in the history folder"

Table = dict[str, NDArray[Any]]


@dataclass(frozen=True)
class History:
    """The tables of a licensing and transaction history, as arrays.

    Attributes
    ----------
    tables : dict
        Table name -> column name -> array.
    as_of : datetime.date
        The date the history runs to (the latest date in it, or the cut-off).
    sources : dict
        Table name -> file it was read from.
    """

    tables: dict[str, Table]
    as_of: dt.date
    sources: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Table:
        return self.tables[name]

    def n_rows(self, name: str) -> int:
        """Return the number of rows of table ``name`` (0 when absent)."""
        table = self.tables.get(name)
        return 0 if not table else len(next(iter(table.values())))

    def before(self, cutoff: dt.date) -> History:
        """Return what was known before ``cutoff`` (strictly earlier dates).

        Products registered before the cut-off are kept; revenue periods, deals, events and
        listings dated before it; loans started before it, with a default after the cut-off
        not yet known (the loan is treated as performing).
        """
        day = np.datetime64(cutoff, "D")
        tables: dict[str, Table] = {}
        tables["products"] = _mask(self["products"], self["products"]["registered_on"] < day)
        if "listed_on" in tables["products"]:
            listed = tables["products"]["listed_on"].copy()
            listed[~(listed < day)] = np.datetime64("NaT")
            tables["products"]["listed_on"] = listed
        tables["revenue"] = _mask(self["revenue"], self["revenue"]["period_end"] < day)
        tables["deals"] = _mask(self["deals"], self["deals"]["date"] < day)
        tables["events"] = _mask(self["events"], self["events"]["date"] < day)
        if "loans" in self.tables:
            loans = _mask(self["loans"], self["loans"]["start"] < day)
            unknown = ~(loans["default_date"] < day)
            loans["outcome"] = np.where(unknown, "repaid", loans["outcome"])
            loans["default_date"] = np.where(unknown, np.datetime64("NaT"), loans["default_date"])
            for name in ("exposure_at_default", "recovery"):
                loans[name] = np.where(unknown, np.nan, loans[name])
            tables["loans"] = loans
        return History(tables, cutoff, dict(self.sources))


def _mask(table: Table, keep: NDArray[np.bool_]) -> Table:
    return {name: column[keep] for name, column in table.items()}


def _find(folder: Path, table: str) -> Path | None:
    for suffix in (".parquet", ".csv"):
        path = folder / f"{table}{suffix}"
        if path.is_file():
            return path
    return None


def _read_arrow(path: Path) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    try:
        if path.suffix == ".parquet":
            return pq.read_table(path)
        # every column as text: the conversion below names the column that does not parse
        with path.open("rb") as handle:
            header = handle.readline().decode("utf-8-sig").strip()
        names = [n.strip().strip('"') for n in header.split(",")] if header else []
        return pcsv.read_csv(
            path,
            convert_options=pcsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise DpvInputError(f"cannot read the table: {exc}", source=str(path)) from None


def _convert(column: Any, kind: str, path: Path, name: str) -> NDArray[Any]:
    import pyarrow as pa
    import pyarrow.compute as pc

    original = column
    try:
        if kind == "str":
            return np.asarray(
                pc.fill_null(column.cast(pa.string()), "").to_numpy(zero_copy_only=False),
                dtype=object,
            ).astype(str)
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            column = pc.if_else(pc.equal(pc.utf8_trim_whitespace(column), ""), None, column)
        if kind == "float":
            values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
            return np.asarray(values, dtype=np.float64)
        if kind == "date":
            if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                text = pc.utf8_trim_whitespace(column)
                column = pc.strptime(text, format="%Y-%m-%d", unit="s")
                # strptime rolls 2026-02-30 over to March: only dates that print back are real
                printed = pc.equal(pc.strftime(column, format="%Y-%m-%d"), text)
                if pc.all(printed).as_py() is False:  # None: every date is missing
                    raise ValueError("not a calendar date")
            return np.asarray(column.cast(pa.timestamp("s")).to_numpy(zero_copy_only=False)).astype(
                "datetime64[D]"
            )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        row, text = _first_unparsed(original, kind)
        what = "a number" if kind == "float" else "an ISO date (YYYY-MM-DD)"
        if row is not None:
            raise DpvInputError(
                f"not {what} in row {row}: {text!r}", source=str(path), field=name
            ) from None
        raise DpvInputError(f"not {what}: {exc}", source=str(path), field=name) from None
    raise AssertionError(kind)


def _first_unparsed(column: Any, kind: str) -> tuple[int | None, str]:
    """Return the first data row (1-based) whose text does not parse as ``kind``, and the text."""
    for index, value in enumerate(column.to_pylist()):
        if value is None or not isinstance(value, str) or not value.strip():
            continue
        try:
            if kind == "float":
                float(value)
            else:
                dt.date.fromisoformat(value.strip())
        except ValueError:
            return index + 1, value
    return None, ""


def _load_table(path: Path, required: dict[str, str], optional: dict[str, str]) -> Table:
    arrow = _read_arrow(path)
    present = set(arrow.column_names)
    table: Table = {}
    for name, kind in required.items():
        if name not in present:
            raise DpvInputError(MSG_MISSING_COLUMN, source=str(path), field=name)
        table[name] = _convert(arrow.column(name), kind, path, name)
    for name, kind in optional.items():
        if name in present:
            table[name] = _convert(arrow.column(name), kind, path, name)
    return table


def _check_values(table: Table, path: str, name: str, allowed: tuple[str, ...]) -> None:
    bad = ~np.isin(table[name], allowed)
    if bad.any():
        raise DpvInputError(
            f"unknown value {str(table[name][bad][0])!r} (expected one of {', '.join(allowed)})",
            source=path,
            field=name,
        )


def load_history(folder: str | Path, *, as_of: dt.date | None = None) -> History:
    """Load the history tables in ``folder``.

    Parameters
    ----------
    folder
        A folder with ``products``, ``revenue``, ``deals`` and ``events`` (and optionally
        ``loans``), each as ``.csv`` or ``.parquet``.
    as_of
        The date the history runs to; by default the latest date found in it.

    Returns
    -------
    History
        The tables as arrays.

    Raises
    ------
    DpvInputError
        A missing folder, table or column, or a value that does not parse; the message names
        the file and the column.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DpvInputError("history folder not found", source=str(root))
    tables: dict[str, Table] = {}
    sources: dict[str, str] = {}
    for name, required in REQUIRED.items():
        path = _find(root, name)
        if path is None:
            raise DpvInputError(MSG_NO_TABLE.format(table=name), source=str(root / f"{name}.csv"))
        tables[name] = _load_table(path, required, OPTIONAL_COLUMNS.get(name, {}))
        sources[name] = str(path)
    for name, columns in OPTIONAL_TABLES.items():
        path = _find(root, name)
        if path is not None:
            tables[name] = _load_table(path, columns, {})
            sources[name] = str(path)
    _check_values(tables["products"], sources["products"], "category", CATEGORIES)
    _check_values(tables["products"], sources["products"], "sector", SECTORS)
    _check_values(tables["events"], sources["events"], "kind", EVENT_KINDS)
    _check_values(tables["deals"], sources["deals"], "license", LICENSES)
    for name, column in (("revenue", "period_end"), ("deals", "date"), ("events", "date")):
        if np.isnat(tables[name][column]).any():
            row = int(np.flatnonzero(np.isnat(tables[name][column]))[0]) + 1
            raise DpvInputError(f"missing date (row {row})", source=sources[name], field=column)
    validate_history(tables, sources)
    if as_of is None:
        latest = [
            tables[name][column].max()
            for name, column in (
                ("products", "registered_on"),
                ("revenue", "period_end"),
                ("deals", "date"),
                ("events", "date"),
            )
            if tables[name][column].size
        ]
        if not latest:
            raise DpvInputError("the history has no dated rows", source=str(root))
        as_of = max(latest).astype(dt.date)
    return History(tables, as_of, sources)


def _refuse(table: str, sources: dict[str, str], column: str, row: int, problem: str) -> None:
    raise DpvInputError(f"{problem} (row {row + 1})", source=sources[table], field=column)


def _check_dates(tables: dict[str, Table], sources: dict[str, str], latest: dt.date) -> None:
    low = np.datetime64(EARLIEST_DATE, "D")
    for table, columns in DATE_COLUMNS.items():
        for column in columns:
            values = tables.get(table, {}).get(column)
            if values is None:
                continue
            ahead = (table, column) in FUTURE_COLUMNS
            last = latest + dt.timedelta(days=FUTURE_DAYS) if ahead else latest
            high = np.datetime64(last, "D")
            ok = np.isnat(values) | ((values >= low) & (values <= high))
            if not ok.all():
                row = int(np.flatnonzero(~ok)[0])
                _refuse(
                    table,
                    sources,
                    column,
                    row,
                    f"date {values[row]} outside the span a history can cover "
                    f"({EARLIEST_DATE} to {last}: no earlier, and a history records the past)",
                )


def _check_numbers(tables: dict[str, Table], sources: dict[str, str]) -> None:
    for (table, column), (low, high, what) in NUMBER_RANGES.items():
        values = tables.get(table, {}).get(column)
        if values is None:
            continue
        bad = ~np.isnan(values) & ~((values >= low) & (values <= high))
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            _refuse(table, sources, column, row, f"{values[row]!r} is not {what}")


def _check_ids(tables: dict[str, Table], sources: dict[str, str]) -> None:
    for table, column in UNIQUE_IDS:
        values = tables.get(table, {}).get(column)
        if values is None or values.size == 0:
            continue
        empty = values == ""
        if empty.any():
            _refuse(table, sources, column, int(np.flatnonzero(empty)[0]), "missing id")
        counts = np.unique(values, return_counts=True)[1]
        if (counts > 1).any():
            seen: set[str] = set()
            for row, value in enumerate(values.tolist()):
                if value in seen:
                    _refuse(table, sources, column, row, f"id {value!r} given twice")
                seen.add(value)


def _check_products_known(tables: dict[str, Table], sources: dict[str, str]) -> None:
    products = tables["products"]
    registered = dict(zip(products["product_id"].tolist(), products["registered_on"], strict=True))
    for table in ("revenue", "deals", "events", "loans"):
        if table not in tables:
            continue
        ids = tables[table]["product_id"]
        known = np.isin(ids, products["product_id"])
        if table == "deals":
            known |= ids == ""  # a deal may name no registered product
        if not known.all():
            row = int(np.flatnonzero(~known)[0])
            _refuse(table, sources, "product_id", row, f"unknown product {ids[row]!r}")
    events = tables["events"]
    for row, (pid, day) in enumerate(
        zip(events["product_id"].tolist(), events["date"], strict=True)
    ):
        start = registered.get(pid)
        if start is not None and not np.isnat(start) and day < start:
            _refuse(
                "events",
                sources,
                "date",
                row,
                f"event dated {day}, before its product {pid!r} was registered on {start}",
            )


def validate_history(
    tables: dict[str, Table], sources: dict[str, str], *, today: dt.date | None = None
) -> None:
    """Refuse a history a calibration cannot trust, naming the file, the row and the column.

    Checks that every date lies between :data:`EARLIEST_DATE` and today (a history records
    the past), numbers are finite and in their range (:data:`NUMBER_RANGES`), ids are given
    and unique (:data:`UNIQUE_IDS`), every row names a product of the products table, and
    certificate events come on or after their product's registration.

    Raises
    ------
    DpvInputError
        The first problem found; rows are counted from 1 after the header.
    """
    _check_dates(tables, sources, today or dt.datetime.now(dt.UTC).date())
    _check_numbers(tables, sources)
    _check_ids(tables, sources)
    _check_products_known(tables, sources)


def data_hash(history: History) -> str:
    """SHA-256 over the history's arrays (table and column names included), order-sensitive."""
    import hashlib

    digest = hashlib.sha256()
    for name in sorted(history.tables):
        for column in sorted(history.tables[name]):
            values = history.tables[name][column]
            digest.update(f"{name}.{column}:{values.dtype.str}:{values.size};".encode())
            if values.dtype.kind == "U":
                digest.update("\x1f".join(values.tolist()).encode())
            else:
                digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


__all__ = [
    "CATEGORIES",
    "EVENT_KINDS",
    "LICENSES",
    "SECTORS",
    "History",
    "data_hash",
    "load_history",
]
