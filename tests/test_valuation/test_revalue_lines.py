"""A JSON line of ``dpv revalue`` is accepted or refused exactly as
:func:`~valuation.schema._base.parse_model` accepts or refuses the line decoded by Python's
``json``, and gives the same Product: for well-formed lines, for lines that differ only in how
their numbers and strings are written, and for the JSON that Python and pydantic's parser
could read differently (byte order mark, duplicated keys, NaN, overflowing numbers, invalid
UTF-8, control characters, lone surrogates, trailing data)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from valuation.calibration_set import DEFAULT_SET
from valuation.exceptions import DpvInputError
from valuation.revalue.chunk import _parse_batch, _parse_line
from valuation.schema._base import parse_model
from valuation.schema.product import Product

SAMPLE = Path(DEFAULT_SET).parents[1] / "sample" / "products.jsonl"
LINES = SAMPLE.read_bytes().splitlines()
LINE = LINES[0]
PRODUCT_ID = json.loads(LINE)["product_id"].encode()


def _reference(raw: bytes) -> Product | None:
    """The product that decoding with ``json`` and ``parse_model`` gives, or None."""
    try:
        return parse_model(Product, json.loads(raw.decode("utf-8")))
    except (UnicodeDecodeError, ValueError, DpvInputError):
        return None


def _check(raw: bytes) -> None:
    expected = _reference(raw)
    product, rejection = _parse_line(raw, 7)
    if expected is None:
        assert product is None and rejection is not None and rejection["line"] == 7
    else:
        assert rejection is None and product is not None
        assert product == expected
        assert product.model_dump_json() == expected.model_dump_json()


def _in_id(extra: bytes) -> bytes:
    return LINE.replace(PRODUCT_ID, PRODUCT_ID + extra, 1)


def _number(name: bytes, token: bytes) -> bytes:
    match = re.search(rb'"' + name + rb'": ?(-?[0-9][0-9.eE+-]*)', LINE)
    assert match is not None
    return LINE[: match.start(1)] + token + LINE[match.end(1) :]


EDGES = {
    "as written": LINE,
    "spaces around": b" \t" + LINE + b" \r",
    "key given twice, last kept": LINE[:-1] + b',"product_id":"X-2"}',
    "key given twice, first invalid": b'{"product_id":5,' + LINE[1:],
    "key given twice, last invalid": LINE[:-1] + b',"product_id":5}',
    "byte order mark": b"\xef\xbb\xbf" + LINE,
    "trailing data": LINE + b" {}",
    "no-break space before": b"\xc2\xa0" + LINE,
    "form feed before": b"\x0c" + LINE,
    "invalid UTF-8": _in_id(b"\xff"),
    "overlong UTF-8": _in_id(b"\xc0\xaf"),
    "UTF-8 of a surrogate": _in_id(b"\xed\xa0\x80"),
    "escaped lone surrogate": _in_id(b"\\ud800"),
    "escaped surrogate pair": _in_id(b"\\ud83d\\ude00"),
    "escaped letter": _in_id(b"\\u00e9"),
    "invalid escape": _in_id(b"\\x"),
    "raw tab in a string": _in_id(b"\t"),
    "raw control character": _in_id(b"\x01"),
    "raw DEL": _in_id(b"\x7f"),
    "NaN": _number(b"accuracy", b"NaN"),
    "Infinity": _number(b"accuracy", b"Infinity"),
    "-Infinity": _number(b"accuracy", b"-Infinity"),
    "overflowing number": _number(b"accuracy", b"1e400"),
    "negative zero integer": _number(b"accuracy", b"-0"),
    "negative zero": _number(b"accuracy", b"-0.0"),
    "integer as float": _number(b"accuracy", b"1"),
    "upper-case exponent": _number(b"accuracy", b"1E-1"),
    "subnormal": _number(b"accuracy", b"5e-324"),
    "halfway to the smallest normal": _number(b"accuracy", b"2.2250738585072011e-308"),
    "more digits than a double": _number(b"accuracy", b"0.99999999999999999999999"),
    "float for an integer": _number(b"records", b"153633.0"),
    "exponent for an integer": _number(b"records", b"1E5"),
    "integer beyond 64 bits": _number(b"records", b"99999999999999999999999"),
    "leading zero": _number(b"records", b"0153633"),
    "plus sign": _number(b"records", b"+153633"),
    "boolean for an integer": _number(b"records", b"true"),
    "not an object": b"[" + LINE + b"]",
    "truncated": LINE[:-1],
}


@pytest.mark.parametrize("name", list(EDGES))
def test_edge_cases_as_parse_model(name: str) -> None:
    _check(EDGES[name])


def test_decimal_spellings_as_parse_model() -> None:
    rng = random.Random(20261204)
    for _ in range(300):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 30)))
        exponent = f"e-{rng.randint(0, 30)}" if rng.random() < 0.3 else ""
        _check(_number(b"accuracy", f"0.{digits}{exponent}".encode()))


@pytest.mark.parametrize("kind", [pa.binary(), pa.string()])
def test_sample_lines_as_parse_model(kind: Any) -> None:
    lines = LINES[::20]
    cells = lines if kind == pa.binary() else [x.decode() for x in lines]
    batch = pa.record_batch(
        {
            "line": pa.array(range(1, len(lines) + 1), pa.int64()),
            "product": pa.array(cells, kind),
        }
    )
    products, numbers, rejected = _parse_batch(batch)
    assert rejected == []
    assert numbers == list(range(1, len(lines) + 1))
    expected = [_reference(raw) for raw in lines]
    assert products == expected
    assert [p.model_dump_json() for p in products] == [
        e.model_dump_json() for e in expected if e is not None
    ]
