"""Versioned JSON forms of fitted estimators: the header every ``to_dict`` writes and checks.

No pickle anywhere: a fitted estimator is its hyper-parameters, a few arrays as lists and, for
LightGBM, the booster's own text format. ``format_version`` changes whenever the layout does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from models.exceptions import (
    MSG_FORMAT_VERSION,
    MSG_MISSING_KEY,
    MSG_WRONG_ESTIMATOR,
    SerializationError,
)


def header(estimator: str, format_version: int) -> dict[str, Any]:
    """Return the keys every serialised estimator starts with."""
    return {"estimator": estimator, "format_version": format_version}


def check_header(data: Mapping[str, Any], estimator: str, format_version: int) -> None:
    """Refuse a serialised form of another estimator or of an unsupported version."""
    found = data.get("estimator")
    if found != estimator:
        raise SerializationError(MSG_WRONG_ESTIMATOR.format(found=found, expected=estimator))
    version = data.get("format_version")
    if version != format_version:
        raise SerializationError(
            MSG_FORMAT_VERSION.format(estimator=estimator, found=version, supported=format_version)
        )


def require(data: Mapping[str, Any], key: str, estimator: str) -> Any:
    """Return ``data[key]`` or raise a :class:`SerializationError` naming the key."""
    if key not in data:
        raise SerializationError(MSG_MISSING_KEY.format(estimator=estimator, key=key))
    return data[key]
