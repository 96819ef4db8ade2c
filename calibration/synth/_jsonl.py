"""The product documents (SPEC §4) as JSON Lines, formatted with Arrow string kernels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from calibration.synth._arrow import _concat, _days, _join_lists, _text
from valuation.schema.product import QUALITY_DIMENSIONS


def _product_jsonl(
    *,
    products: dict[str, Any],
    ledger_hash: list[str],
    quality: NDArray[np.float64],
    costs: dict[str, Any],
    cost_prod: NDArray[np.int64],
    revenue: dict[str, Any],
    rev_prod: NDArray[np.int64],
) -> str:
    """Format the product documents as JSON Lines with Arrow string kernels.

    No pydantic object is built (too slow for millions of rows). Every string written here
    comes from a fixed vocabulary or a generated identifier, none of which needs JSON escaping;
    the tests parse and validate every line of the bundled sample.
    """
    p = products
    n = len(p["product_id"])
    records, records_missing = p["records"]
    fields, fields_missing = p["fields"]
    quality_missing = p["quality_accuracy"][1]
    holder = _concat(
        '{"holder_id":"',
        _text(p["holder_id"]),
        '","kind":"',
        _text(p["holder_kind"]),
        '","high_tech":',
        _text(np.where(p["high_tech"], "true", "false")),
        "}",
    )
    certificate = _concat(
        '{"number":"',
        _text(p["certificate_number"]),
        '","registered_on":"',
        _text(_days(p["registered_on"])),
        '","expires_on":"',
        _text(_days(p["expires_on"])),
        '","status":"',
        _text(p["status"]),
        '","ledger_hash":"',
        _text(ledger_hash),
        '"}',
    )
    q_parts: list[pa.Array | str] = []
    for j, dim in enumerate(QUALITY_DIMENSIONS):
        q_parts += [("{" if j == 0 else ",") + f'"{dim}":', _text(quality[:, j], quality_missing)]
    attributes = _concat(
        _concat('"records":', _text(records, records_missing)),
        _concat('"fields":', _text(fields, fields_missing)),
        _concat('"update_frequency_days":', _text(p["update_frequency_days"])),
        _concat('"coverage_years":', _text(p["coverage_years"])),
        _concat('"quality":', *q_parts, "}"),
        sep=",",
        skip_nulls=True,
    )
    cost_items = _concat(
        '{"item":"',
        _text(costs["item"]),
        '","amount":',
        _text(costs["amount"].astype(np.int64)),
        ',"incurred_on":"',
        _text(_days(costs["incurred_on"])),
        '"}',
    )
    rev_items = _concat(
        '{"period_end":"',
        _text(_days(revenue["period_end"])),
        '","licensing":',
        _text(revenue["licensing"].astype(np.int64)),
        ',"services":',
        _text(revenue["services"].astype(np.int64)),
        "}",
    )
    lines = _concat(
        '{"product_id":"',
        _text(p["product_id"]),
        '","name":"',
        _text(p["name"]),
        '","category":"',
        _text(p["category"]),
        '","sector":"',
        _text(p["sector"]),
        '","currency":"CNY","holder":',
        holder,
        ',"certificate":',
        certificate,
        ',"attributes":{',
        attributes,
        '},"costs":[',
        _join_lists(cost_items, cost_prod, n),
        '],"revenue":[',
        _join_lists(rev_items, rev_prod, n),
        "]}",
    )
    return "\n".join(lines.to_pylist()) + "\n"
