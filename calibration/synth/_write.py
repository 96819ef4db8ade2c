"""Write a synthetic market to a folder: tables in CSV or Parquet, products as JSON Lines.

The folder appears whole or not at all: everything is written into a temporary sibling folder
that is renamed onto the target at the end; on any error the temporary folder is removed.
The files are a pure function of the truth, the seed, the number of products and the format
(and, for Parquet only, of ``chunk_size``, which sets the row groups): no timestamps, no host
names, no absolute paths are written.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from calibration.synth._generate import (
    PRICE_MODES,
    STATUSES,
    STREAM_BLOCK,
    Block,
    build_params,
    generate_block,
)
from calibration.synth._truth import TRUTH_SCHEMA_VERSION, default_truth
from valuation._version import __version__
from valuation.exceptions import DpvInputError
from valuation.outputs import check_output_folder, holds_only, publish_folder
from valuation.schema.product import QUALITY_DIMENSIONS

FORMATS: tuple[str, ...] = ("parquet", "csv")
MAX_PRODUCTS = 100_000_000
MAX_SEED = 2**63 - 1
# Products held in memory at once: about 2 GB at the limit (16,384 take ~30 MB).
MAX_CHUNK_SIZE = 1_048_576
DEFAULT_CHUNK_SIZE = 4 * STREAM_BLOCK  # 16,384: lower peak memory, no loss of speed

MSG_PRODUCTS = "must be a whole number from 1 to {max:,}, got {value!r}"
MSG_SEED = "must be a whole number from 0 to 2**63 - 1, got {value!r}"
MSG_FORMAT = "unknown format {value!r}; choose one of: {choices}"
MSG_CHUNK = "must be a whole number from 1 to {max:,}, got {value!r}"
MSG_OUT_NO_PARENT = "the parent folder does not exist"
MSG_OUT_UNWRITABLE = "cannot write into the parent folder: {detail}"

_STR = pa.string()
_DATE = pa.date32()
_F64 = pa.float64()
_I64 = pa.int64()
_BOOL = pa.bool_()

SCHEMAS: dict[str, pa.Schema] = {
    "products": pa.schema(
        [
            ("product_id", _STR),
            ("name", _STR),
            ("category", _STR),
            ("sector", _STR),
            ("segment", _STR),
            ("region", _STR),
            ("holder_id", _STR),
            ("holder_kind", _STR),
            ("high_tech", _BOOL),
            ("certificate_number", _STR),
            ("registered_on", _DATE),
            ("expires_on", _DATE),
            ("status", _STR),
            ("launched_on", _DATE),
            ("records", _I64),
            ("fields", _I64),
            ("update_frequency_days", _I64),
            ("coverage_years", _I64),
            *[(f"quality_{q}", _F64) for q in QUALITY_DIMENSIONS],
            ("listed_on", _DATE),
            ("exchange", _STR),
        ]
    ),
    "product_truth": pa.schema(
        [
            ("product_id", _STR),
            ("segment", _STR),
            ("quality_score", _F64),
            ("royalty_rate", _F64),
            ("price_effect", _F64),
            ("economic_value", _F64),
            ("listed", _BOOL),
            ("trades", _I64),
        ]
    ),
    "costs": pa.schema(
        [("product_id", _STR), ("item", _STR), ("amount", _F64), ("incurred_on", _DATE)]
    ),
    "revenue": pa.schema(
        [("product_id", _STR), ("period_end", _DATE), ("licensing", _F64), ("services", _F64)]
    ),
    "deals": pa.schema(
        [
            ("deal_id", _STR),
            ("product_id", _STR),
            ("date", _DATE),
            ("price", _F64),
            ("license", _STR),
            ("term_months", _I64),
            ("territory", _STR),
            ("royalty_rate", _F64),
            ("listing_id", _STR),
        ]
    ),
    "events": pa.schema([("product_id", _STR), ("date", _DATE), ("kind", _STR)]),
    "listings": pa.schema(
        [
            ("listing_id", _STR),
            ("exchange", _STR),
            ("title", _STR),
            ("category", _STR),
            ("price", _F64),
            ("price_mode", _STR),
            ("volume", _I64),
            ("size_bytes", _I64),
            ("fields", _I64),
            ("update_frequency", _STR),
            ("coverage", _STR),
            ("date", _DATE),
            ("product_id", _STR),
        ]
    ),
    "loans": pa.schema(
        [
            ("loan_id", _STR),
            ("product_id", _STR),
            ("borrower", _STR),
            ("amount", _F64),
            ("start", _DATE),
            ("tenor_months", _I64),
            ("annual_rate", _F64),
            ("amortization", _STR),
            ("appraised_value", _F64),
            ("pledge_rate", _F64),
            ("annual_pd", _F64),
            ("outcome", _STR),
            ("default_date", _DATE),
            ("exposure_at_default", _F64),
            ("recovery", _F64),
        ]
    ),
}
TABLES: tuple[str, ...] = tuple(SCHEMAS)


@dataclass(frozen=True)
class SynthResult:
    """What :func:`generate_market` wrote."""

    out_dir: Path
    n_products: int
    seed: int
    fmt: str
    rows: dict[str, int] = field(default_factory=dict)


def _column(values: Any, typ: pa.DataType) -> pa.Array:
    mask = None
    if isinstance(values, tuple):
        values, mask = values
        mask = np.asarray(mask, dtype=bool)
    if isinstance(values, pa.Array):
        if mask is not None:
            values = pc.if_else(pa.array(mask), pa.scalar(None, typ), values)
        return values.cast(typ)
    if typ == _DATE:
        values = np.asarray(values, dtype=np.int64).astype("datetime64[D]")
    elif typ == _STR:
        values = np.asarray(values, dtype=object)
    return pa.array(values, type=typ, mask=mask)


def _table(name: str, columns: dict[str, Any]) -> pa.Table:
    schema = SCHEMAS[name]
    return pa.Table.from_arrays([_column(columns[f.name], f.type) for f in schema], schema=schema)


class _Sink:
    """One table's file; CSV is streamed, Parquet gets one row group per write."""

    def __init__(self, path: Path, schema: pa.Schema, fmt: str):
        self.rows = 0
        self._writer: pacsv.CSVWriter | pq.ParquetWriter
        if fmt == "csv":
            self._writer = pacsv.CSVWriter(
                str(path), schema, write_options=pacsv.WriteOptions(quoting_style="needed")
            )
        else:
            self._writer = pq.ParquetWriter(
                str(path),
                schema,
                compression="zstd",
                compression_level=3,
                use_dictionary=True,
                write_statistics=True,
            )

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if isinstance(self._writer, pq.ParquetWriter):
            self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        else:
            self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()


@dataclass
class _Summary:
    """Totals accumulated over blocks, written into ``truth.json['summary']``."""

    economic_value: float = 0.0
    registered: int = 0
    listings: int = 0
    never_traded: int = 0
    priced_one_off: int = 0
    placeholders: int = 0
    loans: int = 0
    defaults: int = 0
    loan_amount: float = 0.0
    status: dict[str, int] = field(default_factory=dict)

    def add(self, block: Block, placeholder_prices: list[float]) -> None:
        pt = block.product_truth
        st = block.stats
        self.economic_value += float(np.sum(pt["economic_value"]))
        self.registered += int(np.count_nonzero(pt["economic_value"] > 0))
        self.listings += int(np.count_nonzero(pt["listed"]))
        self.never_traded += int(np.count_nonzero(pt["listed"] & (pt["trades"] == 0)))
        one_off = (st["listing_mode"] == PRICE_MODES.index("one_off")) & (st["listing_price"] > 0)
        self.priced_one_off += int(np.count_nonzero(one_off))
        placeholder = one_off & np.isin(st["listing_price"], placeholder_prices)
        self.placeholders += int(np.count_nonzero(placeholder))
        self.loans += len(st["loan_defaulted"])
        self.defaults += int(np.count_nonzero(st["loan_defaulted"]))
        self.loan_amount += float(np.sum(st["loan_amount"]))
        for s, k in zip(*np.unique(st["status"], return_counts=True), strict=True):
            self.status[STATUSES[s]] = self.status.get(STATUSES[s], 0) + int(k)

    def as_dict(self) -> dict[str, Any]:
        return {
            "registered_products": self.registered,
            "economic_value_total": round(self.economic_value),
            "economic_value_mean": round(self.economic_value / max(self.registered, 1)),
            "certificate_status": dict(sorted(self.status.items())),
            "listings": self.listings,
            "never_traded_share": round(self.never_traded / max(self.listings, 1), 6),
            "priced_one_off_listings": self.priced_one_off,
            "placeholder_share_of_priced_one_off": round(
                self.placeholders / max(self.priced_one_off, 1), 6
            ),
            "loans": self.loans,
            "loan_defaults": self.defaults,
            "loan_amount_mean": round(self.loan_amount / max(self.loans, 1)),
        }


def _check_int(value: Any, lo: int, hi: int, field_name: str, msg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or not lo <= value <= hi:
        raise DpvInputError(msg.format(value=value, max=hi), field=field_name)
    return int(value)


def is_synth_output(folder: Path) -> bool:
    """Whether ``folder`` holds a previous ``dpv synth`` output and nothing else."""
    try:
        truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(truth, dict) or truth.get("generator", {}).get("name") != "dpv synth":
        return False
    names = {"truth.json", "products.jsonl"} | {
        f"{table}.{ext}" for table in TABLES for ext in ("csv", "parquet")
    }
    return holds_only(folder, "truth.json", lambda name: name in names)


def _prepare_output(out_dir: Path, force: bool) -> Path:
    """Check the target and create the temporary sibling folder to write into."""
    source = str(out_dir)
    parent = out_dir.absolute().parent
    if not out_dir.exists() and not parent.exists():
        raise DpvInputError(MSG_OUT_NO_PARENT, source=source, field="--out")
    check_output_folder(out_dir, "synth", force=force, owns=is_synth_output)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=parent))
    except OSError as exc:
        raise DpvInputError(
            MSG_OUT_UNWRITABLE.format(detail=exc.strerror or exc), source=source, field="--out"
        ) from None
    # mkdtemp makes a private (0700) folder; the published one gets the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)
    return tmp


def generate_market(
    n_products: int,
    seed: int,
    out_dir: str | os.PathLike[str],
    fmt: str = "parquet",
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    force: bool = False,
    truth: Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> SynthResult:
    """Generate a synthetic data-product market with known truth and write it to ``out_dir``.

    Parameters
    ----------
    n_products
        Number of products (1 to 100 million).
    seed
        The seed (0 to 2**63 - 1); the same seed and arguments give byte-identical files.
    out_dir
        The folder to create. It must not exist or be empty, unless ``force``.
    fmt
        ``"parquet"`` or ``"csv"`` for the tables; products are always also written as JSON
        Lines (``products.jsonl``), one Product document per line.
    chunk_size
        Products generated and written together (rounded up to a multiple of 4096); bounds
        the memory. CSV output does not depend on it; Parquet row groups do.
    force
        Replace ``out_dir`` when it holds a previous ``dpv synth`` output (its ``truth.json``
        and tables, nothing else); a folder holding anything else is never replaced.
    truth
        The ground truth to generate from; default :func:`default_truth`.
    progress
        Called with the number of products done after each chunk.

    Returns
    -------
    SynthResult
        The folder, the arguments and the rows written per table.

    Raises
    ------
    DpvInputError
        A bad argument or an output folder that cannot be written; nothing is written.

    Notes
    -----
    Files: ``products.jsonl``, ``products``, ``product_truth``, ``costs``, ``revenue``,
    ``deals``, ``events``, ``listings``, ``loans`` (``.csv`` or ``.parquet``) and
    ``truth.json`` (every parameter, the conventions, the run record and summary totals).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "market"
    >>> generate_market(100, seed=1, out_dir=out, fmt="csv").rows["products"]
    100
    """
    n = _check_int(n_products, 1, MAX_PRODUCTS, "--products", MSG_PRODUCTS)
    seed = _check_int(seed, 0, MAX_SEED, "--seed", MSG_SEED)
    if fmt not in FORMATS:
        raise DpvInputError(
            MSG_FORMAT.format(value=fmt, choices=", ".join(FORMATS)), field="--format"
        )
    chunk = _check_int(chunk_size, 1, MAX_CHUNK_SIZE, "--chunk-size", MSG_CHUNK)
    blocks_per_chunk = max(1, math.ceil(chunk / STREAM_BLOCK))
    truth_doc = dict(truth) if truth is not None else default_truth()
    params = build_params(truth_doc)
    target = Path(out_dir)
    tmp = _prepare_output(target, force)
    try:
        rows = _write_all(tmp, params, truth_doc, n, seed, fmt, blocks_per_chunk, progress)
        publish_folder(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SynthResult(out_dir=target, n_products=n, seed=seed, fmt=fmt, rows=rows)


def _write_all(
    tmp: Path,
    params: Any,
    truth_doc: dict[str, Any],
    n: int,
    seed: int,
    fmt: str,
    blocks_per_chunk: int,
    progress: Callable[[int], None] | None,
) -> dict[str, int]:
    ext = "csv" if fmt == "csv" else "parquet"
    sinks = {name: _Sink(tmp / f"{name}.{ext}", SCHEMAS[name], fmt) for name in TABLES}
    summary = _Summary()
    placeholders = [float(p) for p in truth_doc["listings"]["placeholder_prices"]]
    n_blocks = math.ceil(n / STREAM_BLOCK)
    try:
        with open(tmp / "products.jsonl", "w", encoding="utf-8", newline="\n") as jsonl:
            for c0 in range(0, n_blocks, blocks_per_chunk):
                pending: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
                for b in range(c0, min(c0 + blocks_per_chunk, n_blocks)):
                    size = min(STREAM_BLOCK, n - b * STREAM_BLOCK)
                    block = generate_block(params, seed, b, size)
                    summary.add(block, placeholders)
                    jsonl.write(block.jsonl)
                    for name in TABLES:
                        pending[name].append(_table(name, getattr(block, name)))
                for name in TABLES:
                    sinks[name].write(pa.concat_tables(pending[name]))
                if progress is not None:
                    progress(min(n, (c0 + blocks_per_chunk) * STREAM_BLOCK))
    finally:
        for sink in sinks.values():
            sink.close()
    rows = {name: sinks[name].rows for name in TABLES}
    doc = {
        "schema_version": TRUTH_SCHEMA_VERSION,
        "generator": {
            "name": "dpv synth",
            "dpv_version": __version__,
            "numpy_version": np.__version__,
            "bit_generator": "PCG64(SeedSequence(seed, spawn_key=(block,)))",
            "stream_block": STREAM_BLOCK,
            "seed": seed,
            "n_products": n,
            "format": fmt,
        },
        **truth_doc,
        "rows": rows,
        "summary": summary.as_dict(),
    }
    text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    (tmp / "truth.json").write_text(text, encoding="utf-8")
    return rows


__all__ = ["FORMATS", "SCHEMAS", "TABLES", "SynthResult", "generate_market"]
