"""Value one chunk of a portfolio: JSON lines in, an Arrow record batch out.

:func:`value_chunk` is pure (no files, no globals, no clock): the same lines and context give
the same batches, whichever process or machine runs it, so a Dask or Ray adapter only has to
ship a :class:`ChunkContext` and map the function over chunks. A product's row depends on the
product alone (each range draws from its own stream keyed by ``(seed, product_id, sample)``),
never on the chunk it falls in.

A line that is not JSON, not UTF-8 or not a valid Product goes to the quarantine batch with
its line number, the product id when one can be read, the field and the problem; blank lines
are skipped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pyarrow as pa

from valuation.exceptions import MSG_MALFORMED_JSON, DpvInputError
from valuation.methods.profiles import DEFAULT_PROFILE
from valuation.methods.reconcile import MARKET_NAMES
from valuation.schema.results import ValuationResult

VALUES_SCHEMA = pa.schema(
    [
        ("line", pa.int64()),
        ("product_id", pa.string()),
        ("category", pa.string()),
        ("sector", pa.string()),
        ("certificate_status", pa.string()),
        ("currency", pa.string()),
        ("income_value", pa.float64()),
        ("cost_value", pa.float64()),
        ("market_value", pa.float64()),
        ("concluded_value", pa.float64()),
        ("p10", pa.float64()),
        ("p50", pa.float64()),
        ("p90", pa.float64()),
        ("weight_income", pa.float64()),
        ("weight_cost", pa.float64()),
        ("weight_market", pa.float64()),
        ("warnings", pa.list_(pa.string())),
        ("income_mode", pa.string()),
        ("market_source", pa.string()),
        ("input_sha256", pa.string()),
        ("engine_version", pa.string()),
        ("calibration_id", pa.string()),
        ("seed", pa.int64()),
        ("valuation_date", pa.date32()),
    ]
)
"""One row per valued product, in input order; a skipped method's value is null."""

QUARANTINE_SCHEMA = pa.schema(
    [
        ("line", pa.int64()),
        ("product_id", pa.string()),
        ("field", pa.string()),
        ("problem", pa.string()),
    ]
)
"""One row per rejected line: where it is, whose it is if that can be read, and why."""

MSG_NOT_UTF8 = "not UTF-8 text: {detail}"

# The market method's name says where its value came from: the inverse of reconcile's table.
_MARKET_SOURCES = {name: source for source, name in MARKET_NAMES.items()}


@dataclass(frozen=True)
class ChunkContext:
    """Everything a chunk is valued with, besides its lines (the same for every chunk).

    Attributes
    ----------
    as_of : date
        Valuation date.
    seed : int
        Seed of the range sampling.
    calibration_id : str
        Id of the CalibrationSet (written into every row).
    parameters_override : Mapping
        The set's ``valuation`` overrides of the defaults.
    market_model : object or None
        ``CalibrationSet.market_model()``.
    profile : str
        Valuation standard.
    """

    as_of: dt.date
    seed: int
    calibration_id: str
    parameters_override: Mapping[str, Any] = field(default_factory=dict)
    market_model: Any | None = None
    profile: str = DEFAULT_PROFILE


class ChunkOutput(NamedTuple):
    """The valued rows and the quarantined lines of one chunk."""

    values: pa.RecordBatch
    quarantine: pa.RecordBatch


def _parse_line(raw: bytes | str, line: int) -> tuple[Any | None, dict[str, Any] | None]:
    """Return ``(product, None)`` for a valid line, ``(None, quarantine row)`` otherwise."""
    from valuation.schema._base import parse_model
    from valuation.schema.product import Product

    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        return None, _rejected(line, None, None, MSG_NOT_UTF8.format(detail=exc.reason))
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return None, _rejected(line, None, None, MSG_MALFORMED_JSON.format(detail=exc))
    product_id = doc.get("product_id") if isinstance(doc, dict) else None
    try:
        return parse_model(Product, doc), None
    except DpvInputError as exc:
        readable = product_id if isinstance(product_id, str) else None
        return None, _rejected(line, readable, exc.field, exc.problem)


def _rejected(line: int, product_id: str | None, field: str | None, problem: str) -> dict[str, Any]:
    return {"line": line, "product_id": product_id, "field": field, "problem": problem}


def _row(line: int, result: ValuationResult, product: Any) -> dict[str, Any]:
    methods = result.methods
    mode = methods.income.inputs.get("mode")
    return {
        "line": line,
        "product_id": result.product_id,
        "category": product.category,
        "sector": product.sector,
        "certificate_status": product.certificate.status,
        "currency": result.currency,
        "income_value": methods.income.value,
        "cost_value": methods.cost.value,
        "market_value": methods.market.value,
        "concluded_value": result.concluded_value,
        "p10": result.range.p10 if result.range else None,
        "p50": result.range.p50 if result.range else None,
        "p90": result.range.p90 if result.range else None,
        "weight_income": result.weights.income,
        "weight_cost": result.weights.cost,
        "weight_market": result.weights.market,
        "warnings": [note.code for note in result.warnings],
        "income_mode": mode.get("value") if isinstance(mode, dict) else None,
        "market_source": (
            None if methods.market.value is None else _MARKET_SOURCES.get(methods.market.name)
        ),
        "input_sha256": result.audit.input_sha256,
        "engine_version": result.audit.engine_version,
        "calibration_id": result.audit.calibration_id,
        "seed": result.audit.seed,
        "valuation_date": result.audit.valuation_date,
    }


def _value(products: list[Any], context: ChunkContext) -> list[ValuationResult]:
    from valuation._valuate import value_many

    return value_many(
        products,
        as_of=context.as_of,
        profile=context.profile,
        seed=context.seed,
        parameters_override=context.parameters_override,
        calibration_id=context.calibration_id,
        market_model=context.market_model,
    )


def value_chunk(
    lines: Sequence[bytes | str], first_line: int, context: ChunkContext
) -> ChunkOutput:
    """Value a chunk of JSON lines, one Product per line.

    Parameters
    ----------
    lines
        The chunk's lines (bytes or text, without line terminators).
    first_line
        The 1-based line number of ``lines[0]`` in the portfolio (for the ``line`` column and
        the quarantine).
    context
        Valuation date, seed, calibration.

    Returns
    -------
    ChunkOutput
        ``values`` (:data:`VALUES_SCHEMA`, one row per valid product in input order) and
        ``quarantine`` (:data:`QUARANTINE_SCHEMA`, one row per rejected line).
    """
    products: list[Any] = []
    numbers: list[int] = []
    rejected: list[dict[str, Any]] = []
    for offset, raw in enumerate(lines):
        if not raw.strip():
            continue
        line = first_line + offset
        product, rejection = _parse_line(raw, line)
        if rejection is not None:
            rejected.append(rejection)
        else:
            products.append(product)
            numbers.append(line)
    rows: list[dict[str, Any]] = []
    if products:
        try:
            results = _value(products, context)
            rows = [_row(n, r, p) for n, r, p in zip(numbers, results, products, strict=True)]
        except DpvInputError:
            # A product that validates but that the engine refuses: value one at a time (a
            # product's result does not depend on its batch) and quarantine the culprit.
            for n, p in zip(numbers, products, strict=True):
                try:
                    rows.append(_row(n, _value([p], context)[0], p))
                except DpvInputError as exc:
                    rejected.append(_rejected(n, p.product_id, exc.field, exc.problem))
            rejected.sort(key=lambda r: int(r["line"]))
    return ChunkOutput(
        values=pa.RecordBatch.from_pylist(rows, schema=VALUES_SCHEMA),
        quarantine=pa.RecordBatch.from_pylist(rejected, schema=QUARANTINE_SCHEMA),
    )


__all__ = ["QUARANTINE_SCHEMA", "VALUES_SCHEMA", "ChunkContext", "ChunkOutput", "value_chunk"]
