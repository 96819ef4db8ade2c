"""Value one chunk of a portfolio: an Arrow record batch in, an Arrow record batch out.

:func:`value_chunk` is pure (no files, no globals, no clock): the same batch and context give
the same output, whichever process or machine runs it, so a Dask, Ray or Spark adapter only
has to ship a :class:`ChunkContext` and map the function over batches. A product's row depends
on the product (and its loan) alone: each range draws from its own stream keyed by
``(seed, product_id, sample)`` and each stress path from ``(seed, product_id, path)``, never
from the chunk it falls in.

The input batch has a ``line`` column and either a ``product`` column (one Product as JSON
text or bytes per row: a JSON Lines file) or the Product's top-level fields as columns (nested
ones as structs and lists, or as JSON text). A row that is not JSON, not UTF-8 or not a valid
Product goes to the quarantine batch with its line number, the product id when one can be
read, the field and the problem; blank JSON lines are skipped.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

import pyarrow as pa
from pydantic import ValidationError

from valuation._gc import collector_paused
from valuation.exceptions import MSG_MALFORMED_JSON, DpvInputError
from valuation.methods.profiles import DEFAULT_PROFILE
from valuation.revalue.loans import LoanTerms
from valuation.revalue.risk import empty_loan_columns, loan_columns
from valuation.revalue.source import LINE_COLUMN, PRODUCT_COLUMN
from valuation.schema.product import Product

if TYPE_CHECKING:
    from valuation._valuate import ValuedBatch
    from valuation.methods.reconcile import Conclusion

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
        ("loan_id", pa.string()),
        ("loan_amount", pa.float64()),
        ("loan_status", pa.string()),
        ("remaining_tenor_months", pa.int64()),
        ("ltv", pa.float64()),
        ("breach_probability", pa.float64()),
        ("breach_probability_se", pa.float64()),
        ("default_probability", pa.float64()),
        ("expected_loss", pa.float64()),
        ("expected_loss_rate", pa.float64()),
        ("max_loan", pa.float64()),
        ("max_loan_risk", pa.float64()),
        ("grade", pa.string()),
        ("stress_paths", pa.int64()),
        ("input_sha256", pa.string()),
        ("engine_version", pa.string()),
        ("calibration_id", pa.string()),
        ("seed", pa.int64()),
        ("valuation_date", pa.date32()),
    ]
)
"""One row per valued product, in input order; a skipped method's value is null, and so are
the loan columns of a product without a loan (see :mod:`valuation.revalue.risk`)."""

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
MSG_COLUMN_JSON = "column {column!r} is not JSON: {detail}"


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
    loans : Mapping[str, LoanTerms]
        Loans by product id (empty: no loan columns are computed).
    policy : Policy or None
        The lending policy of the loans (``valuation.schema.pledge.Policy``; default one).
    paths : int
        Monte Carlo paths of each loan's stress.
    simulate_options : Mapping
        Keyword arguments passed through to the stress engine's ``simulate``.
    """

    as_of: dt.date
    seed: int
    calibration_id: str
    parameters_override: Mapping[str, Any] = field(default_factory=dict)
    market_model: Any | None = None
    profile: str = DEFAULT_PROFILE
    loans: Mapping[str, LoanTerms] = field(default_factory=dict)
    policy: Any | None = None
    paths: int = 1000
    simulate_options: Mapping[str, Any] = field(default_factory=dict)


class ChunkOutput(NamedTuple):
    """The valued rows and the quarantined lines of one chunk."""

    values: pa.RecordBatch
    quarantine: pa.RecordBatch


def _parse_doc(doc: Any, line: int) -> tuple[Any | None, dict[str, Any] | None]:
    from valuation.schema._base import parse_model

    product_id = doc.get("product_id") if isinstance(doc, dict) else None
    try:
        return parse_model(Product, doc), None
    except DpvInputError as exc:
        readable = product_id if isinstance(product_id, str) else None
        return None, _rejected(line, readable, exc.field, exc.problem)


def _parse_line(raw: bytes | str, line: int) -> tuple[Any | None, dict[str, Any] | None]:
    """Return ``(product, None)`` for a valid line, ``(None, quarantine row)`` otherwise.

    A line is validated straight from its text, in pydantic's strict JSON mode, as
    :func:`~valuation.schema._base.parse_model` validates a decoded document (a third of the
    time of decoding, encoding again and validating); only a line that fails is decoded step by
    step, to word its rejection as every other input's.
    """
    try:
        return Product.model_validate_json(raw, strict=True), None
    except ValidationError:
        pass
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        return None, _rejected(line, None, None, MSG_NOT_UTF8.format(detail=exc.reason))
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return None, _rejected(line, None, None, MSG_MALFORMED_JSON.format(detail=exc))
    return _parse_doc(doc, line)


def _parse_row(row: dict[str, Any], line: int) -> tuple[Any | None, dict[str, Any] | None]:
    """Parse a table row: null cells are absent fields, text opening an object or list is JSON."""
    doc: dict[str, Any] = {}
    for name, cell in row.items():
        if cell is None or name == LINE_COLUMN:
            continue
        if isinstance(cell, str) and cell[:1] in ("{", "["):
            try:
                cell = json.loads(cell)
            except ValueError as exc:
                product_id = row.get("product_id")
                readable = product_id if isinstance(product_id, str) else None
                detail = MSG_COLUMN_JSON.format(column=name, detail=exc)
                return None, _rejected(line, readable, name, detail)
        doc[name] = cell
    return _parse_doc(doc, line)


def _rejected(line: int, product_id: str | None, field: str | None, problem: str) -> dict[str, Any]:
    return {"line": line, "product_id": product_id, "field": field, "problem": problem}


def _row(line: int, valued: ValuedBatch, i: int, conclusion: Conclusion) -> dict[str, Any]:
    """Return the valuation columns of product ``i``: its result's figures, not the document."""
    product = valued.products[i]
    income, cost, market = conclusion.values
    p10, p50, p90 = conclusion.range if conclusion.range is not None else (None, None, None)
    weight_income, weight_cost, weight_market = conclusion.weights
    mode = valued.prepared.contexts[i].inputs["income"].get("mode")
    audit = valued.audit(i)
    return {
        "line": line,
        "product_id": product.product_id,
        "category": product.category,
        "sector": product.sector,
        "certificate_status": product.certificate.status,
        "currency": product.currency,
        "income_value": income,
        "cost_value": cost,
        "market_value": market,
        "concluded_value": conclusion.concluded_value,
        "p10": p10,
        "p50": p50,
        "p90": p90,
        "weight_income": weight_income,
        "weight_cost": weight_cost,
        "weight_market": weight_market,
        "warnings": [code for code, _ in conclusion.notes],
        "income_mode": mode.get("value") if isinstance(mode, dict) else None,
        "market_source": None if market is None else conclusion.market_source,
        "input_sha256": audit.input_sha256,
        "engine_version": audit.engine_version,
        "calibration_id": audit.calibration_id,
        "seed": audit.seed,
        "valuation_date": audit.valuation_date,
    }


def _value(products: list[Any], context: ChunkContext) -> ValuedBatch:
    from valuation._valuate import run_kernels

    return run_kernels(
        products,
        as_of=context.as_of,
        profile=context.profile,
        seed=context.seed,
        parameters_override=context.parameters_override,
        calibration_id=context.calibration_id,
        market_model=context.market_model,
        method_ranges=False,  # a row holds the conclusion's range only
    )


def _loan(product: Any, value: float | None, context: ChunkContext, params: Any) -> dict[str, Any]:
    loan = context.loans.get(product.product_id)
    if loan is None:
        return empty_loan_columns()
    from valuation.schema.pledge import Policy

    return loan_columns(
        product,
        value,
        loan,
        as_of=context.as_of,
        params=params,
        policy=context.policy if context.policy is not None else Policy(),
        paths=context.paths,
        seed=context.seed,
        simulate_options=context.simulate_options,
    )


def _parse_batch(batch: pa.RecordBatch) -> tuple[list[Any], list[int], list[dict[str, Any]]]:
    products: list[Any] = []
    numbers: list[int] = []
    rejected: list[dict[str, Any]] = []
    lines = batch.column(LINE_COLUMN).to_pylist()
    if PRODUCT_COLUMN in batch.schema.names and "product_id" not in batch.schema.names:
        cells = batch.column(PRODUCT_COLUMN).to_pylist()
        parsed = [
            (line, None) if raw is None or not raw.strip() else (line, _parse_line(raw, line))
            for line, raw in zip(lines, cells, strict=True)
        ]
    else:
        rows = batch.to_pylist()
        parsed = [(line, _parse_row(row, line)) for line, row in zip(lines, rows, strict=True)]
    for line, outcome in parsed:
        if outcome is None:  # a blank line
            continue
        product, rejection = outcome
        if rejection is not None:
            rejected.append(rejection)
        else:
            products.append(product)
            numbers.append(line)
    return products, numbers, rejected


def value_chunk(batch: pa.RecordBatch, context: ChunkContext) -> ChunkOutput:
    """Value a record batch of products (and stress their loans): a batch in, a batch out.

    Parameters
    ----------
    batch
        ``line`` (int64, 1-based line or row of the portfolio) and either ``product`` (JSON
        text or bytes per row) or the Product's fields as columns; see the module docstring.
    context
        Valuation date, seed, calibration, loans and stress settings.

    Returns
    -------
    ChunkOutput
        ``values`` (:data:`VALUES_SCHEMA`, one row per valid product in input order) and
        ``quarantine`` (:data:`QUARANTINE_SCHEMA`, one row per rejected row).

    Notes
    -----
    Python's cyclic garbage collector is paused while the chunk is valued
    (:func:`valuation._gc.collector_paused`): the chunk's objects all live until it ends.
    """
    with collector_paused():
        return _value_chunk(batch, context)


def _value_chunk(batch: pa.RecordBatch, context: ChunkContext) -> ChunkOutput:
    from valuation.defaults import parameters

    products, numbers, rejected = _parse_batch(batch)
    params = parameters(dict(context.parameters_override) or None) if context.loans else None
    rows: list[dict[str, Any]] = []
    if products:
        try:
            valued = _value(products, context)
            done = [(n, valued, i) for i, n in enumerate(numbers)]
        except DpvInputError:
            # A product that validates but that the engine refuses: value one at a time (a
            # product's result does not depend on its batch) and quarantine the culprit.
            done = []
            for n, p in zip(numbers, products, strict=True):
                try:
                    done.append((n, _value([p], context), 0))
                except DpvInputError as exc:
                    rejected.append(_rejected(n, p.product_id, exc.field, exc.problem))
            rejected.sort(key=lambda r: int(r["line"]))
        # In passes rather than product by product: each pass keeps its own code and data in
        # the caches (interleaved, the loans' stress alone took about a sixth longer).
        conclusions = [batch_of.conclusion(i) for _, batch_of, i in done]
        rows = [
            _row(n, batch_of, i, c) for (n, batch_of, i), c in zip(done, conclusions, strict=True)
        ]
        for row, (_, batch_of, i), c in zip(rows, done, conclusions, strict=True):
            row.update(_loan(batch_of.products[i], c.concluded_value, context, params))
    return ChunkOutput(
        values=pa.RecordBatch.from_pylist(rows, schema=VALUES_SCHEMA),
        quarantine=pa.RecordBatch.from_pylist(rejected, schema=QUARANTINE_SCHEMA),
    )


__all__ = ["QUARANTINE_SCHEMA", "VALUES_SCHEMA", "ChunkContext", "ChunkOutput", "value_chunk"]
