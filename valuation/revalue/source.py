"""The portfolio to revalue: a products table read in record batches of a fixed size.

``PORTFOLIO`` is one of

* a ``.jsonl`` (or ``.ndjson``, ``.json``) file with one Product per line (what ``dpv synth``
  writes as ``products.jsonl``), or a folder written by ``dpv synth`` (its ``products.jsonl``);
* a ``.parquet`` file, one product per row: top-level Product fields as columns
  (``product_id``, ``category``, ``sector``, ``certificate`` ...), nested ones as Parquet
  structs and lists or as JSON text; or a single ``product`` column of JSON text;
* a ``.csv`` file with a header, the same columns as text (nested fields as JSON text).

Every format is streamed with pyarrow into record batches of exactly ``chunk_size`` rows (the
last one shorter), each with a ``line`` column first: the 1-based line of a JSON Lines file or
the 1-based row of a table. JSON Lines are carried as a ``product`` column of raw bytes, so a
line that is not UTF-8 or not JSON is quarantined by the chunk function like any other bad
row, never a crash. Only one chunk (plus one block of the reader) is in memory.

:func:`open_portfolio` reads the file once before any work starts: its SHA-256 (a resumed run
is tied to it), its number of lines or rows, and, for tables, that pyarrow can parse every
block. A file that cannot be read is a :class:`~valuation.exceptions.DpvInputError` naming it
and the problem.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from valuation.exceptions import MSG_FILE_NOT_FOUND, MSG_NOT_A_FILE, DpvInputError

PRODUCTS_JSONL = "products.jsonl"
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".parquet": "parquet",
           ".csv": "csv"}  # fmt: skip
PRODUCT_COLUMN = "product"
LINE_COLUMN = "line"
MSG_NO_JSONL = f"folder has no {PRODUCTS_JSONL} (a folder written by `dpv synth` has one)"
MSG_UNREADABLE = "cannot read the file: {detail}"
MSG_FORMAT = "unknown table format {suffix!r}: give .jsonl, .parquet or .csv"
MSG_NO_ID_COLUMN = (
    "the table has neither a product_id column nor a product column of JSON text; "
    "columns found: {columns}"
)
MSG_LINE_COLUMN = f"the table has a column named {LINE_COLUMN!r}, which dpv revalue writes itself"
MSG_BAD_TABLE = "not a readable {fmt} table: {detail}"

_BLOCK = 1 << 20
_CSV_BLOCK = 1 << 22


@dataclass(frozen=True)
class Portfolio:
    """A portfolio file, identified by its digest.

    Attributes
    ----------
    path : Path
        The file.
    format : str
        ``jsonl``, ``parquet`` or ``csv``.
    sha256 : str
        SHA-256 of its bytes.
    size_bytes : int
        Its size.
    lines : int
        Lines of a JSON Lines file (a last line without a newline counts), rows of a table.
    """

    path: Path
    format: str
    sha256: str
    size_bytes: int
    lines: int


def _digest(path: Path) -> tuple[str, int, int, bytes]:
    digest = hashlib.sha256()
    size = newlines = 0
    last = b"\n"
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(_BLOCK), b""):
                digest.update(block)
                size += len(block)
                newlines += block.count(b"\n")
                last = block[-1:]
    except OSError as exc:
        raise DpvInputError(MSG_UNREADABLE.format(detail=exc.strerror), source=str(path)) from None
    return digest.hexdigest(), size, newlines, last


def _csv_names(path: Path) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return next(csv.reader(handle), [])


def _csv_reader(path: Path) -> Any:
    import pyarrow.csv as pacsv

    names = _csv_names(path)
    return pacsv.open_csv(
        path,
        read_options=pacsv.ReadOptions(block_size=_CSV_BLOCK),
        convert_options=pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def _check_columns(names: list[str], path: Path) -> None:
    if LINE_COLUMN in names:
        raise DpvInputError(MSG_LINE_COLUMN, source=str(path))
    if "product_id" not in names and PRODUCT_COLUMN not in names:
        raise DpvInputError(
            MSG_NO_ID_COLUMN.format(columns=", ".join(names) or "none"), source=str(path)
        )


def _table_rows(path: Path, fmt: str) -> int:
    """Count the rows of a table, parsing all of it (so a broken file fails here)."""
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            with pq.ParquetFile(path) as parquet:
                _check_columns(parquet.schema_arrow.names, path)
                rows = 0
                for batch in parquet.iter_batches(batch_size=65536):
                    rows += batch.num_rows
                return rows
        reader = _csv_reader(path)
        _check_columns(reader.schema.names, path)
        return sum(batch.num_rows for batch in reader)
    except (pa.ArrowException, OSError, UnicodeDecodeError, csv.Error, StopIteration) as exc:
        raise DpvInputError(
            MSG_BAD_TABLE.format(fmt=fmt.capitalize() if fmt == "parquet" else "CSV", detail=exc),
            source=str(path),
        ) from None


def open_portfolio(argument: str | Path) -> Portfolio:
    """Resolve ``PORTFOLIO``, hash it and count its lines or rows.

    Raises
    ------
    DpvInputError
        The path is missing, of an unknown format, a folder without ``products.jsonl``, a file
        that cannot be read or a table pyarrow cannot parse; the message names it.
    """
    path = Path(argument)
    if not path.exists():
        raise DpvInputError(MSG_FILE_NOT_FOUND, source=str(path))
    if path.is_dir():
        if not (path / PRODUCTS_JSONL).is_file():
            raise DpvInputError(MSG_NO_JSONL, source=str(path))
        path = path / PRODUCTS_JSONL
    if not path.is_file():
        raise DpvInputError(MSG_NOT_A_FILE, source=str(path))
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DpvInputError(MSG_FORMAT.format(suffix=path.suffix), source=str(path))
    sha256, size, newlines, last = _digest(path)
    if fmt == "jsonl":
        lines = newlines + (0 if last == b"\n" else 1)
    else:
        lines = _table_rows(path, fmt)
    return Portfolio(path=path, format=fmt, sha256=sha256, size_bytes=size, lines=lines)


def _jsonl_batches(path: Path, size: int) -> Iterator[pa.RecordBatch]:
    first = 1
    lines: list[bytes] = []
    with path.open("rb") as handle:
        for raw in handle:
            lines.append(raw.rstrip(b"\r\n"))
            if len(lines) == size:
                yield _jsonl_batch(lines, first)
                first += len(lines)
                lines = []
    if lines:
        yield _jsonl_batch(lines, first)


def _jsonl_batch(lines: list[bytes], first: int) -> pa.RecordBatch:
    return _with_lines(pa.record_batch({PRODUCT_COLUMN: pa.array(lines, pa.binary())}), first)


def _with_lines(batch: pa.RecordBatch, first: int) -> pa.RecordBatch:
    lines = pa.array(range(first, first + batch.num_rows), pa.int64())
    return pa.RecordBatch.from_arrays([lines, *batch.columns], [LINE_COLUMN, *batch.schema.names])


def _rechunk(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Cut a stream of batches of any sizes into batches of exactly ``size`` rows (last: rest)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    first = 1
    for batch in batches:
        pending.append(batch)
        held += batch.num_rows
        while held >= size:
            table = pa.Table.from_batches(pending).combine_chunks()
            head = table.slice(0, size).to_batches()[0]
            yield _with_lines(head, first)
            first += size
            rest = table.slice(size)
            pending = rest.to_batches() if rest.num_rows else []
            held = rest.num_rows
    if held:
        table = pa.Table.from_batches(pending).combine_chunks()
        yield _with_lines(table.to_batches()[0], first)


def iter_batches(portfolio: Portfolio, chunk_size: int) -> Iterator[pa.RecordBatch]:
    """Yield consecutive record batches of ``chunk_size`` rows, each with its ``line`` column.

    JSON Lines give the columns ``line`` and ``product`` (the raw line, without terminator);
    tables give ``line`` and their own columns.
    """
    if portfolio.format == "jsonl":
        yield from _jsonl_batches(portfolio.path, chunk_size)
        return
    if portfolio.format == "parquet":
        import pyarrow.parquet as pq

        with pq.ParquetFile(portfolio.path) as parquet:
            yield from _rechunk(parquet.iter_batches(batch_size=chunk_size), chunk_size)
        return
    yield from _rechunk(iter(_csv_reader(portfolio.path)), chunk_size)


def chunk_count(portfolio: Portfolio, chunk_size: int) -> int:
    """Return the number of chunks :func:`iter_batches` yields."""
    return -(-portfolio.lines // chunk_size)


__all__ = [
    "FORMATS",
    "LINE_COLUMN",
    "MSG_NO_JSONL",
    "PRODUCTS_JSONL",
    "PRODUCT_COLUMN",
    "Portfolio",
    "chunk_count",
    "iter_batches",
    "open_portfolio",
]
