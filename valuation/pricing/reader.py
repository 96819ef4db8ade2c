"""Read listings to price: one listing (JSON), or an exchange export (CSV or Parquet).

Two layouts are understood, and mixed column names are resolved in this order:

* the DaDaDa scrape of the exchanges (``platform, title, description, provider, category,
  category_aws, price, price_mode, currency, volume, size, dimension, coverage,
  update_frequency, url, data_sample``);
* the listings table of the product specification (``listing_id, exchange, title, category,
  price, price_mode {one_off|subscription|usage|negotiable}, volume, size_bytes, fields,
  update_frequency, coverage, date``).

A row that cannot be read (unknown price mode, a price that is not a number, negative or not
finite, a currency that is not yuan, no exchange) is *quarantined* with its line and reason;
the rest are priced. A single listing given as JSON is strict instead: any such problem raises
:class:`~valuation.exceptions.DpvInputError` naming the field.
"""

from __future__ import annotations

import csv
import json
import math
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from valuation.exceptions import DpvInputError

#: Price modes as quoted, and the spellings read as each.
PRICE_MODES: dict[str, str] = {
    "one-off": "one-off",
    "one_off": "one-off",
    "oneoff": "one-off",
    "subscription": "subscription",
    "usage-based": "usage-based",
    "usage": "usage-based",
    "per_call": "usage-based",
    "per-call": "usage-based",
    "negotiation": "negotiation",
    "negotiable": "negotiation",
    "free": "free",
    "一次性": "one-off",
    "订阅": "subscription",
    "按次": "usage-based",
    "按次计费": "usage-based",
    "面议": "negotiation",
    "免费": "free",
}
#: Currency codes meaning Chinese yuan (an empty cell is read as yuan).
YUAN = ("RMB", "CNY", "")

_ALIASES: dict[str, tuple[str, ...]] = {
    "listing_id": ("listing_id", "url"),
    "exchange": ("exchange", "platform"),
    "title": ("title",),
    "description": ("description",),
    "provider": ("provider",),
    "category": ("category_aws", "category"),
    "price": ("price", "asking_price"),
    "price_mode": ("price_mode",),
    "currency": ("currency",),
    "records": ("volume", "records"),
    "size_bytes": ("size_bytes", "size"),
    "fields": ("fields", "dimension"),
    "coverage": ("coverage",),
    "update_frequency": ("update_frequency",),
    "data_sample": ("data_sample",),
}
_REQUIRED = ("exchange", "price", "price_mode")
MALFORMED = "\x00malformed"  # set on a CSV row whose field count differs from the header
_TEXT = ("listing_id", "exchange", "title", "description", "provider", "category")


@dataclass
class ListingBatch:
    """Readable listings, one entry per listing (structure of arrays), plus the quarantine.

    Attributes
    ----------
    listing_id, exchange, title, description, provider, category, price_mode, update_frequency,
    price_text : ndarray of str
        ``price_mode`` normalised (:data:`PRICE_MODES`); ``price_text`` is whatever the source
        says about the price besides its number (a display price in the URL), for the check of
        mislabelled price modes.
    price : ndarray of float
        Asking price in CNY; 0 where the listing has none (free, negotiation).
    records, size_bytes, fields, coverage_regions : ndarray of float
        NaN where unknown (the source's 0 means unknown).
    description_chars : ndarray of float
    has_sample : ndarray of bool
    line : ndarray of int
        Line (CSV) or row (Parquet, from 1) of the source.
    quarantine : list of dict
        ``{"line", "listing_id", "field", "reason"}`` of every row that could not be read.
    """

    listing_id: NDArray[np.str_]
    exchange: NDArray[np.str_]
    title: NDArray[np.str_]
    description: NDArray[np.str_]
    provider: NDArray[np.str_]
    category: NDArray[np.str_]
    price_mode: NDArray[np.str_]
    update_frequency: NDArray[np.str_]
    price_text: NDArray[np.str_]
    price: NDArray[np.float64]
    records: NDArray[np.float64]
    size_bytes: NDArray[np.float64]
    fields: NDArray[np.float64]
    coverage_regions: NDArray[np.float64]
    description_chars: NDArray[np.float64]
    has_sample: NDArray[np.bool_]
    line: NDArray[np.int64]
    quarantine: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.price.size)

    def subset(self, mask: NDArray[np.bool_]) -> ListingBatch:
        """Return the listings where ``mask`` is true (the quarantine is kept)."""
        data = {k: v[mask] for k, v in vars(self).items() if k != "quarantine"}
        return ListingBatch(**data, quarantine=list(self.quarantine))

    @classmethod
    def concat(cls, batches: list[ListingBatch]) -> ListingBatch:
        """Join batches (quarantines too)."""
        data = {
            k: np.concatenate([getattr(b, k) for b in batches])
            for k in cls.__dataclass_fields__
            if k != "quarantine"
        }
        return cls(**data, quarantine=[q for b in batches for q in b.quarantine])


class RowError(ValueError):
    """A row that cannot be read: ``field`` and ``reason``."""

    def __init__(self, field_name: str, reason: str) -> None:
        self.field = field_name
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


def _get(row: dict[str, Any], key: str) -> Any:
    for name in _ALIASES[key]:
        if name in row and row[name] is not None:
            return row[name]
    return None


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def _amount(value: Any, name: str, *, strict_unknown: bool) -> float:
    """Return a non-negative finite number; NaN where missing, or 0 (unknown) unless strict."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    if isinstance(value, bool):
        raise RowError(name, f"not a number: {value!r}")
    if isinstance(value, str):
        value = value.strip().lstrip("¥￥").replace(",", "").removesuffix("元").strip()
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise RowError(name, f"not a number: {value!r}") from None
    if not math.isfinite(number):
        raise RowError(name, f"not finite: {value!r}")
    if number < 0:
        raise RowError(name, f"negative: {value!r}")
    if number == 0 and not strict_unknown:
        return math.nan
    return number


#: Update cadences given as days (the specification's table) and the names they are read as.
_CADENCE_DAYS = {
    0.0: "real-time",
    1.0: "daily",
    7.0: "weekly",
    30.0: "monthly",
    91.0: "quarterly",
    90.0: "quarterly",
    365.0: "yearly",
}


def _cadence(value: Any) -> str:
    """Return an update cadence by name; days (``30``) become the name, others stay unknown."""
    text = _text(value)
    try:
        days = float(text)
    except ValueError:
        return text
    return _CADENCE_DAYS.get(days, "")


def _price_text(row: dict[str, Any]) -> str:
    url = _text(row.get("url"))
    parsed = urllib.parse.parse_qs(urllib.parse.urlparse(url).query) if "=" in url else {}
    display = " ".join(parsed.get("displayPrice", []))
    return " ".join(x for x in (display, _text(row.get("price_unit"))) if x)


def parse_row(row: dict[str, Any], line: int) -> dict[str, Any]:
    """Return one listing's normalised fields, or raise :class:`RowError`."""
    if MALFORMED in row:
        raise RowError("row", f"malformed row: {row[MALFORMED]}")
    missing = [k for k in _REQUIRED if _get(row, k) is None]
    if missing:
        raise RowError(missing[0], "missing")
    exchange = _text(_get(row, "exchange"))
    if not exchange:
        raise RowError("exchange", "empty")
    mode_text = _text(_get(row, "price_mode")).lower()
    if mode_text not in PRICE_MODES:
        raise RowError("price_mode", f"unknown price mode {mode_text!r} (known: {_known()})")
    mode = PRICE_MODES[mode_text]
    currency = _text(row.get("currency")).upper()
    if currency not in YUAN:
        raise RowError("currency", f"{currency!r} is not yuan")
    price = _amount(_get(row, "price"), "price", strict_unknown=True)
    if math.isnan(price):
        raise RowError("price", "missing")
    if mode in ("one-off", "subscription", "usage-based") and price == 0:
        price = 0.0  # a priced mode without a price: quoted, without an asking-price check
    coverage = _text(_get(row, "coverage"))
    description = _text(_get(row, "description"))
    listing_id = _text(_get(row, "listing_id")) or f"line-{line}"
    return {
        "listing_id": listing_id,
        "exchange": exchange,
        "title": _text(_get(row, "title")),
        "description": description,
        "provider": _text(_get(row, "provider")),
        "category": _text(_get(row, "category")) or "unknown",
        "price_mode": mode,
        "update_frequency": _cadence(_get(row, "update_frequency")),
        "price_text": _price_text(row),
        "price": price,
        "records": _amount(_get(row, "records"), "volume", strict_unknown=False),
        "size_bytes": _amount(_get(row, "size_bytes"), "size_bytes", strict_unknown=False),
        "fields": _amount(_get(row, "fields"), "fields", strict_unknown=False),
        "coverage_regions": (
            float(len([c for c in coverage.split(",") if c.strip()])) if coverage else math.nan
        ),
        "description_chars": float(len(description)),
        "has_sample": bool(_text(_get(row, "data_sample"))),
        "line": line,
    }


def _known() -> str:
    return ", ".join(sorted(set(PRICE_MODES)))


def _empty_columns() -> dict[str, list[Any]]:
    return {k: [] for k in ListingBatch.__dataclass_fields__ if k != "quarantine"}


def batch_from_rows(rows: list[tuple[int, dict[str, Any]]]) -> ListingBatch:
    """Parse ``(line, row)`` pairs; unreadable rows go to the quarantine."""
    columns = _empty_columns()
    quarantine: list[dict[str, Any]] = []
    for line, row in rows:
        try:
            parsed = parse_row(row, line)
        except RowError as exc:
            quarantine.append(
                {
                    "line": line,
                    "listing_id": _text(_get(row, "listing_id")),
                    "field": exc.field,
                    "reason": exc.reason,
                }
            )
            continue
        for key, value in parsed.items():
            columns[key].append(value)
    arrays: dict[str, Any] = {}
    for key, values in columns.items():
        if key in ("price", "records", "size_bytes", "fields", "coverage_regions"):
            arrays[key] = np.asarray(values, dtype=np.float64)
        elif key == "description_chars":
            arrays[key] = np.asarray(values, dtype=np.float64)
        elif key == "has_sample":
            arrays[key] = np.asarray(values, dtype=bool)
        elif key == "line":
            arrays[key] = np.asarray(values, dtype=np.int64)
        else:
            arrays[key] = np.asarray(values, dtype=np.str_) if values else np.array([], "<U1")
    return ListingBatch(**arrays, quarantine=quarantine)


def _csv_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise DpvInputError("empty file (no header)", source=str(path))
        _check_columns(list(reader.fieldnames), path)
        rows = []
        for row in reader:
            record: dict[str, Any] = dict(row)
            extra = record.pop(None, None)  # type: ignore[call-overload]
            short = sum(1 for v in record.values() if v is None)
            if extra:
                record[MALFORMED] = f"{len(extra)} field(s) more than the header"
            elif short:
                record[MALFORMED] = f"{short} field(s) fewer than the header"
            rows.append((reader.line_num, record))
    return rows


def _parquet_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a file that is not Parquet
        raise DpvInputError(f"not a readable Parquet file: {exc}", source=str(path)) from None
    _check_columns(table.column_names, path)
    return [(i + 1, row) for i, row in enumerate(table.to_pylist())]


def _check_columns(names: list[str], path: Path) -> None:
    for key in _REQUIRED:
        if not any(alias in names for alias in _ALIASES[key]):
            raise DpvInputError(
                f"missing column (one of {list(_ALIASES[key])})", source=str(path), field=key
            )


def read_listing_json(path: Path) -> ListingBatch:
    """Read one listing (a JSON object); a bad field raises naming the field."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DpvInputError(f"malformed JSON: {exc}", source=str(path)) from None
    except ValueError as exc:
        raise DpvInputError(str(exc), source=str(path)) from None
    if not isinstance(data, dict):
        raise DpvInputError("a listing must be a JSON object", source=str(path))
    try:
        parsed = parse_row(data, 1)
    except RowError as exc:
        raise DpvInputError(exc.reason, source=str(path), field=exc.field) from None
    batch = batch_from_rows([(1, data)])
    assert parsed["listing_id"] == batch.listing_id[0]
    return batch


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def read_listings(path: str | Path) -> tuple[ListingBatch, bool]:
    """Read listings to price.

    Parameters
    ----------
    path
        A ``.json`` file (one listing), a ``.csv`` or ``.parquet`` export, or a folder of
        ``.csv`` exports (sorted by name).

    Returns
    -------
    batch : ListingBatch
        The readable listings and the quarantined rows.
    single : bool
        Whether the input was one listing (JSON).

    Raises
    ------
    DpvInputError
        The file is missing, empty, not readable, lacks a required column, or (one listing)
        has a bad field.
    """
    source = Path(path)
    if source.is_dir():
        files = sorted(source.glob("*.csv"))
        if not files:
            raise DpvInputError("folder holds no .csv export", source=str(source))
        return batch_from_files(files), False
    if not source.is_file():
        raise DpvInputError("file not found", source=str(source))
    if source.stat().st_size == 0:
        raise DpvInputError("empty file", source=str(source))
    if source.suffix.lower() == ".json":
        return read_listing_json(source), True
    return batch_from_files([source]), False


def batch_from_files(files: list[Path]) -> ListingBatch:
    """Read CSV or Parquet exports and join them (each row keeps its own line number)."""
    batches = []
    for file in files:
        suffix = file.suffix.lower()
        if suffix == ".csv":
            rows = _csv_rows(file)
        elif suffix in (".parquet", ".pq"):
            rows = _parquet_rows(file)
        else:
            raise DpvInputError("not a .json, .csv or .parquet file", source=str(file))
        if not rows:
            raise DpvInputError("no listings (header only)", source=str(file))
        batch = batch_from_rows(rows)
        for entry in batch.quarantine:
            entry["file"] = file.name
        batches.append(batch)
    return ListingBatch.concat(batches)


__all__ = [
    "PRICE_MODES",
    "YUAN",
    "ListingBatch",
    "RowError",
    "batch_from_files",
    "batch_from_rows",
    "parse_row",
    "read_listing_json",
    "read_listings",
]
