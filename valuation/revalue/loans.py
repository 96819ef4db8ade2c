"""The loan book of ``dpv revalue --loans``: one loan per pledged product, keyed by product id.

``LOANS`` is a table (``.csv``, ``.parquet`` or ``.jsonl``), one row per loan, as ``dpv synth``
writes ``loans``:

=================  ========  ==============================================================
column             required  meaning
=================  ========  ==============================================================
``product_id``     yes       the pledged product (at most one loan per product)
``amount``         yes       principal, in the loan's currency (> 0)
``tenor_months``   yes       tenor from ``start`` (or from the valuation date without it)
``loan_id``        no        the loan's id (default: the product id)
``start``          no        drawdown date; the stress runs over the tenor left at the
                             valuation date, and a loan already repaid is ``matured``
``annual_rate``    no        interest rate, decimal (default 0)
``amortization``   no        ``bullet`` (default), ``annuity`` or ``linear``
``annual_pd``      no        the borrower's annual default probability (default 0)
``wrong_way``      no        correlation of default with the collateral's value (default 0)
``currency``       no        the loan's currency; a product in another one is not stressed
=================  ========  ==============================================================

Other columns (``borrower``, ``outcome``, ``recovery`` ...) are ignored. The values are checked
with the pledge request's own models (:class:`~valuation.schema.pledge.PledgeLoan` and
:class:`~valuation.schema.pledge.PledgeBorrower`), so a loan ``dpv pledge`` would refuse is
refused here, before any work, with the file, the row and the field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from valuation.exceptions import MSG_FILE_NOT_FOUND, MSG_NOT_A_FILE, DpvInputError
from valuation.hashing import sha256_file

REQUIRED = ("product_id", "amount", "tenor_months")
OPTIONAL = ("loan_id", "start", "annual_rate", "amortization", "annual_pd", "wrong_way", "currency")
MSG_FORMAT = "unknown table format {suffix!r}: give .csv, .parquet or .jsonl"
MSG_UNREADABLE = "not a readable {fmt} table: {detail}"
MSG_MISSING = "required column missing (columns found: {columns})"
MSG_DUPLICATE = "product {product_id!r} backs more than one loan (rows {first} and {second})"
MSG_REQUIRED_VALUE = "a value is required"
MSG_DATE = "not an ISO date (YYYY-MM-DD): {value!r}"


class LoanTerms(NamedTuple):
    """One loan, validated (plain values: cheap to ship to a worker)."""

    loan_id: str
    amount: float
    tenor_months: int
    start: dt.date | None
    annual_rate: float
    amortization: str
    annual_pd: float
    wrong_way: float
    currency: str | None


class LoanTable(Mapping[str, LoanTerms]):
    """Validated loans by product id, held as columns: cheap to pickle and ship to workers.

    A read-only mapping from product id to :class:`LoanTerms`; each lookup builds the terms
    from the columns (the same values: floats and ints round-trip exactly through float64 and
    int64 arrays, dates through their ordinals). A book of 200,000 loans pickles as a few
    arrays and lists of strings instead of 200,000 tuples; the index by product id is rebuilt
    where it is unpickled, on the first lookup.
    """

    def __init__(self, loans: Mapping[str, LoanTerms]) -> None:
        terms = list(loans.values())
        self._ids = list(loans)
        self._loan_id = [t.loan_id for t in terms]
        self._amortization = [t.amortization for t in terms]
        self._currency = [t.currency for t in terms]
        self._numbers = (
            np.array([t.amount for t in terms], dtype=np.float64),
            np.array([t.annual_rate for t in terms], dtype=np.float64),
            np.array([t.annual_pd for t in terms], dtype=np.float64),
            np.array([t.wrong_way for t in terms], dtype=np.float64),
        )
        self._tenor = np.array([t.tenor_months for t in terms], dtype=np.int64)
        self._start = np.array(
            [-1 if t.start is None else t.start.toordinal() for t in terms], dtype=np.int64
        )
        self._index: dict[str, int] | None = None

    def _row(self, product_id: str) -> int | None:
        if self._index is None:
            self._index = {pid: i for i, pid in enumerate(self._ids)}
        return self._index.get(product_id)

    def __getitem__(self, product_id: str) -> LoanTerms:
        i = self._row(product_id)
        if i is None:
            raise KeyError(product_id)
        amount, annual_rate, annual_pd, wrong_way = (float(c[i]) for c in self._numbers)
        start = int(self._start[i])
        return LoanTerms(
            loan_id=self._loan_id[i],
            amount=amount,
            tenor_months=int(self._tenor[i]),
            start=None if start < 0 else dt.date.fromordinal(start),
            annual_rate=annual_rate,
            amortization=self._amortization[i],
            annual_pd=annual_pd,
            wrong_way=wrong_way,
            currency=self._currency[i],
        )

    def __contains__(self, product_id: object) -> bool:
        return isinstance(product_id, str) and self._row(product_id) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_index": None}  # rebuilt on the first lookup


@dataclass(frozen=True)
class LoanBook:
    """The loans by product id, with the digest of the file they came from."""

    path: Path
    sha256: str
    loans: LoanTable


def _read_table(path: Path) -> pa.Table:
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(path)
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            return pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    column_types={
                        "product_id": pa.string(),
                        "loan_id": pa.string(),
                        "start": pa.string(),
                        "currency": pa.string(),
                        "amortization": pa.string(),
                    },
                    strings_can_be_null=True,
                ),
            )
        if suffix in (".jsonl", ".ndjson"):
            import pyarrow.json as pajson

            return pajson.read_json(path)
    except (pa.ArrowException, OSError) as exc:
        fmt = {".parquet": "Parquet", ".csv": "CSV"}.get(suffix, "JSON Lines")
        raise DpvInputError(MSG_UNREADABLE.format(fmt=fmt, detail=exc), source=str(path)) from None
    raise DpvInputError(MSG_FORMAT.format(suffix=suffix), source=str(path))


def _date(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(MSG_DATE.format(value=value)) from None


def _terms(row: dict[str, Any]) -> LoanTerms:
    """Validate one row with the pledge request's models; DpvInputError names the field."""
    from valuation.schema._base import parse_model
    from valuation.schema.pledge import PledgeBorrower, PledgeLoan

    for name in REQUIRED:
        if row.get(name) is None:
            raise DpvInputError(MSG_REQUIRED_VALUE, field=name)
    loan_doc: dict[str, Any] = {"amount": row["amount"], "tenor_months": row["tenor_months"]}
    for name in ("annual_rate", "amortization", "currency"):
        if row.get(name) is not None:
            loan_doc[name] = row[name]
    loan = parse_model(PledgeLoan, loan_doc)
    borrower_doc: dict[str, Any] = {"borrower_id": "book"}
    for name in ("annual_pd", "wrong_way"):
        if row.get(name) is not None:
            borrower_doc[name] = row[name]
    borrower = parse_model(PledgeBorrower, borrower_doc)
    try:
        start = _date(row.get("start"))
    except ValueError as exc:
        raise DpvInputError(str(exc), field="start") from None
    product_id = str(row["product_id"])
    return LoanTerms(
        loan_id=str(row["loan_id"]) if row.get("loan_id") is not None else product_id,
        amount=loan.amount,
        tenor_months=loan.tenor_months,
        start=start,
        annual_rate=loan.annual_rate,
        amortization=loan.amortization,
        annual_pd=borrower.annual_pd,
        wrong_way=borrower.wrong_way,
        currency=loan.currency if row.get("currency") is not None else None,
    )


def read_loans(argument: str | Path) -> LoanBook:
    """Read and check a loan table (see the module docstring).

    Raises
    ------
    DpvInputError
        The file is missing or unreadable, a required column is missing, a value is invalid
        (the message names the file, the row, 1-based, and the field) or a product backs two
        loans.
    """
    path = Path(argument)
    if not path.exists():
        raise DpvInputError(MSG_FILE_NOT_FOUND, source=str(path))
    if not path.is_file():
        raise DpvInputError(MSG_NOT_A_FILE, source=str(path))
    table = _read_table(path)
    for name in REQUIRED:
        if name not in table.column_names:
            raise DpvInputError(
                MSG_MISSING.format(columns=", ".join(table.column_names) or "none"),
                source=str(path),
                field=name,
            )
    keep = [name for name in (*REQUIRED, *OPTIONAL) if name in table.column_names]
    loans: dict[str, LoanTerms] = {}
    rows_of: dict[str, int] = {}
    offset = 0
    for batch in table.select(keep).to_batches(max_chunksize=65536):
        rows = batch.to_pylist()
        for index, row in enumerate(rows, start=offset + 1):
            try:
                terms = _terms(row)
            except DpvInputError as exc:
                raise DpvInputError(
                    exc.problem, source=str(path), field=f"row {index}: {exc.field}"
                ) from None
            product_id = str(row["product_id"])
            if product_id in loans:
                raise DpvInputError(
                    MSG_DUPLICATE.format(
                        product_id=product_id, first=rows_of[product_id], second=index
                    ),
                    source=str(path),
                    field="product_id",
                )
            loans[product_id] = terms
            rows_of[product_id] = index
        offset += len(rows)
    return LoanBook(path=path, sha256=sha256_file(path), loans=LoanTable(loans))


__all__ = ["OPTIONAL", "REQUIRED", "LoanBook", "LoanTable", "LoanTerms", "read_loans"]
