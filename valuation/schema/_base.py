"""Shared pydantic configuration and the boundary helpers that turn files into models."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from valuation.exceptions import (
    MSG_FILE_NOT_FOUND,
    MSG_MALFORMED_JSON,
    MSG_NOT_A_FILE,
    DpvInputError,
)

M = TypeVar("M", bound=BaseModel)

STDIN = "-"


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


def read_json(source: str | Path) -> tuple[Any, bytes, str]:
    """Read a JSON document from a file path or ``"-"`` (standard input).

    Returns
    -------
    tuple
        ``(document, raw_bytes, source_name)``.

    Raises
    ------
    DpvInputError
        The file is missing or not valid JSON. ``NaN`` and ``Infinity`` tokens are decoded
        here and rejected by validation, which names their field.
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
    try:
        # NaN and Infinity are decoded (Python's json accepts them) so that validation can
        # reject them with the name of the field they stand in.
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise DpvInputError(MSG_MALFORMED_JSON.format(detail=exc), source=name) from None
    return doc, raw, name


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
    """
    if isinstance(data, model):
        return data
    try:
        return model.model_validate(data)
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
