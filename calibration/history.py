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
                column = pc.strptime(column, format="%Y-%m-%d", unit="s")
            return np.asarray(column.cast(pa.timestamp("s")).to_numpy(zero_copy_only=False)).astype(
                "datetime64[D]"
            )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
        raise DpvInputError(
            f"not {'a number' if kind == 'float' else 'an ISO date'}: {exc}",
            source=str(path),
            field=name,
        ) from None
    raise AssertionError(kind)


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
            raise DpvInputError("missing date", source=sources[name], field=column)
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
