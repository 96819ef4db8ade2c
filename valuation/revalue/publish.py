"""Staged chunk files and the final dataset.

Each finished chunk is staged as ``OUT/.staging/chunk-NNNNN.parquet`` (its valued rows) and
``chunk-NNNNN.quarantine.jsonl`` (its rejected lines), each written to a temporary file and
renamed. When every chunk is staged, :func:`publish` re-reads them in order and writes the
final dataset **re-chunked into parts of** :data:`PART_ROWS` rows, so the parts depend on the
rows alone, never on ``--chunk-size`` or on an interruption: the same input and arguments give
the same bytes. Every Parquet file is written with the fixed options of :data:`PARQUET_OPTIONS`
and no metadata beyond the Arrow schema (no timestamps, no paths); one row group per part.

The parts, ``quarantine.jsonl`` and ``summary.json`` are first written into
``OUT/.staging/final/`` and then renamed into ``OUT``, ``summary.json`` last: a folder with a
``summary.json`` holds a finished revaluation.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from valuation.hashing import sha256_file
from valuation.revalue.chunk import VALUES_SCHEMA, ChunkOutput
from valuation.revalue.ledger import ChunkRecord, Ledger, write_atomic

PART_ROWS = 100_000
"""Rows per published part (the last part holds the rest)."""

PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}
"""Writer options of every Parquet file: fixed, so that the bytes depend on the rows only."""

QUARANTINE = "quarantine.jsonl"
SUMMARY = "summary.json"
FINAL = "final"


def part_name(index: int) -> str:
    """Return the file name of published part ``index``."""
    return f"part-{index:05d}.parquet"


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write ``table`` as one row group to ``path`` (a temporary sibling, fsync, rename)."""
    table = table.replace_schema_metadata(None).combine_chunks()
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("wb") as handle:
        pq.write_table(table, handle, row_group_size=max(table.num_rows, 1), **PARQUET_OPTIONS)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _quarantine_lines(batch: pa.RecordBatch) -> bytes:
    rows = batch.to_pylist()
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def stage_chunk(
    output: ChunkOutput, index: int, first_line: int, n_lines: int, staging: Path
) -> ChunkRecord:
    """Write a chunk's files into ``staging`` (atomically) and return its ledger record."""
    values_file = f"chunk-{index:05d}.parquet"
    quarantine_file = f"chunk-{index:05d}.quarantine.jsonl"
    write_parquet(
        pa.Table.from_batches([output.values], schema=VALUES_SCHEMA), staging / values_file
    )
    write_atomic(staging / quarantine_file, _quarantine_lines(output.quarantine))
    return ChunkRecord(
        first_line=first_line,
        last_line=first_line + n_lines - 1,
        rows=output.values.num_rows,
        quarantined=output.quarantine.num_rows,
        values_file=values_file,
        values_sha256=sha256_file(staging / values_file),
        quarantine_file=quarantine_file,
        quarantine_sha256=sha256_file(staging / quarantine_file),
    )


def _parts(ledger: Ledger, staging: Path) -> Iterator[pa.Table]:
    """Yield the staged rows re-chunked into tables of ``PART_ROWS`` rows (the last shorter)."""
    pending: list[pa.Table] = []
    held = 0
    written = 0
    for index in sorted(ledger.chunks):
        table = pq.read_table(staging / ledger.chunks[index].values_file, schema=VALUES_SCHEMA)
        pending.append(table)
        held += table.num_rows
        while held >= PART_ROWS:
            combined = pa.concat_tables(pending)
            yield combined.slice(0, PART_ROWS)
            written += 1
            rest = combined.slice(PART_ROWS)
            pending, held = [rest], rest.num_rows
    if held or not written:  # the rest, or one empty part that carries the schema
        yield pa.concat_tables(pending) if pending else VALUES_SCHEMA.empty_table()


def value_counts(column: Any) -> list[tuple[Any, int]]:
    """Return each distinct non-null value of a column with how many rows hold it."""
    return [(c["values"], c["counts"]) for c in pc.value_counts(column.drop_null()).to_pylist()]


def _value_statistics(values: Mapping[str, list[np.ndarray]]) -> dict[str, Any]:
    """Total (exactly rounded, so order-free) and median of the concluded values per currency."""
    out: dict[str, Any] = {}
    for currency in sorted(values):
        joined = np.concatenate(values[currency])
        out[currency] = {
            "count": int(joined.size),
            "total": math.fsum(joined.tolist()),
            "median": float(np.median(joined)),
        }
    return out


def publish(ledger: Ledger, staging: Path, header: Mapping[str, Any]) -> dict[str, Any]:
    """Write the final dataset from the staged chunks and return the summary (without timing).

    Parameters
    ----------
    ledger
        The ledger with every chunk done.
    staging
        ``OUT/.staging``; the final files are written into its ``final/`` (see :func:`commit`).
    header
        Entries the summary starts with (valuation date, calibration, seed, input ...).
    """
    final = staging / FINAL
    if final.exists():
        shutil.rmtree(final)
    final.mkdir()
    names: list[str] = []
    valued = unvalued = 0
    loan_statuses: dict[str, int] = {}
    concluded: dict[str, list[np.ndarray]] = {}
    # each part is compressed and written by a second thread while the next is read and
    # counted here (pyarrow releases the interpreter's lock for both); one write at a time,
    # so at most two parts are in memory
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dpv-publish") as writer:
        writing: Future[None] | None = None
        for index, part in enumerate(_parts(ledger, staging)):
            name = part_name(index)
            if writing is not None:
                writing.result()
            writing = writer.submit(write_parquet, part, final / name)
            names.append(name)
            values = part.column("concluded_value").to_numpy(zero_copy_only=False)
            known = ~np.isnan(values.astype(np.float64))
            valued += int(known.sum())
            unvalued += int((~known).sum())
            for status, count in value_counts(part.column("loan_status")):
                loan_statuses[status] = loan_statuses.get(status, 0) + count
            currencies = part.column("currency").filter(pa.array(known))
            for currency in sorted(pc.unique(currencies).drop_null().to_pylist()):
                mask = np.asarray(pc.equal(part.column("currency"), currency).fill_null(False))
                concluded.setdefault(str(currency), []).append(
                    values[mask & known].astype(np.float64)
                )
        if writing is not None:
            writing.result()
    quarantined = 0
    with (final / QUARANTINE).open("wb") as handle:
        for index in sorted(ledger.chunks):
            record = ledger.chunks[index]
            quarantined += record.quarantined
            with (staging / record.quarantine_file).open("rb") as part_file:
                shutil.copyfileobj(part_file, handle)
        handle.flush()
        os.fsync(handle.fileno())
    summary: dict[str, Any] = {
        **header,
        "rows": {
            "read": valued + unvalued + quarantined,
            "valued": valued,
            "unvalued": unvalued,
            "quarantined": quarantined,
        },
        "concluded_value": _value_statistics(concluded),
        "loan_status": dict(sorted(loan_statuses.items())),
        "parts": names,
        "part_rows": PART_ROWS,
        "quarantine": QUARANTINE,
    }
    return summary


def commit(summary: Mapping[str, Any], staging: Path, out: Path) -> None:
    """Move the final files into ``out`` (``summary.json`` last) and remove the staging folder."""
    final = staging / FINAL
    for name in [*summary["parts"], QUARANTINE]:
        os.replace(final / name, out / name)
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    write_atomic(out / SUMMARY, text.encode("utf-8"))
    shutil.rmtree(staging)


__all__ = [
    "PARQUET_OPTIONS",
    "PART_ROWS",
    "QUARANTINE",
    "SUMMARY",
    "commit",
    "part_name",
    "publish",
    "stage_chunk",
    "value_counts",
    "write_parquet",
]
