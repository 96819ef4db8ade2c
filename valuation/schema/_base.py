"""Shared pydantic configuration and the boundary helpers that turn files into models."""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from valuation.defaults import EARLIEST_DATE, LATEST_DATE, max_amount
from valuation.exceptions import (
    MSG_FILE_NOT_FOUND,
    MSG_MALFORMED_JSON,
    MSG_NOT_A_FILE,
    DpvInputError,
)

M = TypeVar("M", bound=BaseModel)

STDIN = "-"

# The deepest nesting of arrays and objects a JSON input may have. A Product nests five levels,
# a pledge request eight, an assessment a dozen; 64 leaves room and keeps every parser's
# recursion far from Python's limit.
MAX_JSON_DEPTH = 64

MSG_TOO_DEEP = "JSON nested deeper than {limit} levels"
MSG_DUPLICATE_KEY = "duplicate key {key!r} in one object (JSON readers disagree on which wins)"


# A calendar date dpv can work with (valuation.defaults.EARLIEST_DATE to LATEST_DATE).
Date = Annotated[
    dt.date,
    Field(ge=dt.date.fromisoformat(EARLIEST_DATE), le=dt.date.fromisoformat(LATEST_DATE)),
]

# Printable text for ids: no control characters (C0, DEL, C1), no bidirectional controls
# (U+061C, U+200E-F, U+202A-E, U+2066-9), which make an id display as another, no invisible
# format characters (zero-width spaces and joiners, U+2060-206F, U+FEFF) or line separators;
# no leading or trailing white space.
_CONTROLS = r"\x00-\x1f\x7f-\x9f\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
ID_PATTERN = rf"^[^\s{_CONTROLS}](?:[^{_CONTROLS}]*[^\s{_CONTROLS}])?$"
Identifier = Annotated[str, Field(min_length=1, max_length=128, pattern=ID_PATTERN)]


def refuse_implausible(
    model: str, amounts: Iterable[tuple[tuple[str | int, ...], float]], currency: str | None
) -> None:
    """Raise a ValidationError naming every amount beyond :func:`~valuation.defaults.max_amount`.

    ``amounts`` are ``(location, value)`` pairs, the location relative to the model.
    """
    bound = max_amount(currency)
    errors = [
        InitErrorDetails(
            type=PydanticCustomError(
                "implausible_amount",
                "{value:g} is beyond the plausible magnitude {bound:g} {currency} "
                "(valuation.defaults.MAX_AMOUNT): a unit or typing error?",
                {"value": value, "bound": bound, "currency": currency or ""},
            ),
            loc=loc,
            input=value,
        )
        for loc, value in amounts
        if value > bound
    ]
    if errors:
        raise ValidationError.from_exception_data(model, errors)


class Frozen(BaseModel):
    """Base of every boundary model: immutable, unknown fields rejected, no NaN or infinity."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


def _loc_to_field(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def json_depth(doc: Any) -> int:
    """Return how deeply ``doc`` nests arrays and objects (0 for a scalar), iteratively."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            break
        stack.extend((child, depth) for child in children)
    return deepest


def loads_json(text: str | bytes, *, source: str | None = None) -> Any:
    """Decode one JSON document strictly: no duplicated keys, at most ``MAX_JSON_DEPTH`` deep.

    Raises
    ------
    DpvInputError
        Malformed JSON, a key given twice in one object, or nesting beyond the limit.
    """
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except RecursionError:
        raise DpvInputError(MSG_TOO_DEEP.format(limit=MAX_JSON_DEPTH), source=source) from None
    except _DuplicateKeyError as exc:
        raise DpvInputError(MSG_DUPLICATE_KEY.format(key=exc.key), source=source) from None
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise DpvInputError(MSG_MALFORMED_JSON.format(detail=exc), source=source) from None
    if json_depth(doc) > MAX_JSON_DEPTH:
        raise DpvInputError(MSG_TOO_DEEP.format(limit=MAX_JSON_DEPTH), source=source)
    return doc


def read_json(source: str | Path) -> tuple[Any, bytes, str]:
    """Read a JSON document from a file path or ``"-"`` (standard input).

    Returns
    -------
    tuple
        ``(document, raw_bytes, source_name)``.

    Raises
    ------
    DpvInputError
        The file is missing, not valid JSON, gives a key twice in one object or nests deeper
        than :data:`MAX_JSON_DEPTH`. ``NaN`` and ``Infinity`` tokens are decoded here and
        rejected by validation, which names their field.
    """
    name = "<stdin>" if str(source) == STDIN else str(source)
    if str(source) == STDIN:
        raw = sys.stdin.buffer.read()
    else:
        path = Path(source)
        if not path.exists():
            raise DpvInputError(MSG_FILE_NOT_FOUND, source=name)
        if not path.is_file():
            raise DpvInputError(MSG_NOT_A_FILE, source=name)
        raw = path.read_bytes()
    # NaN and Infinity are decoded (Python's json accepts them) so that validation can reject
    # them with the name of the field they stand in.
    return loads_json(raw, source=name), raw, name


def parse_model(model: type[M], data: Any, *, source: str | None = None) -> M:
    """Validate ``data`` into ``model`` or raise one :class:`DpvInputError` naming the fields.

    Parameters
    ----------
    model
        The pydantic model class.
    data
        The decoded JSON (or a mapping built in Python).
    source
        The file the data came from, for the message.

    Notes
    -----
    Data made only of JSON values (what :func:`read_json` returns) is validated in pydantic's
    strict JSON mode: a number must be a JSON number (not a string, not ``true``), an integer
    an integer, a boolean ``true`` or ``false``. Data holding Python objects (dates, models),
    as an API caller may pass, is validated in the usual lax Python mode.
    """
    if isinstance(data, model):
        return data
    try:
        try:
            text = json.dumps(data, allow_nan=True)
        except (TypeError, ValueError, RecursionError):
            return model.model_validate(data)
        return model.model_validate_json(text, strict=True)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        first = errors[0]
        field = _loc_to_field(tuple(first["loc"])) or None
        problem = first["msg"]
        if len(errors) > 1:
            more = "; ".join(
                f"{_loc_to_field(tuple(e['loc'])) or '<document>'}: {e['msg']}" for e in errors[1:5]
            )
            problem += f" (also: {more}{'; …' if len(errors) > 5 else ''})"
        raise DpvInputError(problem, source=source, field=field) from None


def canonical_json(data: Any) -> bytes:
    """Serialise ``data`` canonically (sorted keys, no spaces, UTF-8) for hashing."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
