"""Errors raised on purpose by :mod:`models`.

Every error is also a :class:`ValueError`, so scikit-learn's generic input checks (which expect
``ValueError`` for bad data) and callers that catch ``ValueError`` both see it. Message texts
that recur are constants here.
"""

from __future__ import annotations

MSG_FORMAT_VERSION = (
    "{estimator}: unsupported format_version {found!r} (this version reads {supported!r})"
)
MSG_WRONG_ESTIMATOR = "serialised estimator is {found!r}, expected {expected!r}"
MSG_MISSING_KEY = "{estimator}: serialised form lacks the key {key!r}"
MSG_COVERAGE = "coverage must lie strictly between 0 and 1, got {value!r}"
MSG_RATE_RANGE = "royalty rates must lie strictly between 0 and 1; got {value!r} at row {row}"
MSG_NEGATIVE = "{name} must be non-negative and finite; got {value!r} at row {row}"
MSG_UNKNOWN_FEATURE = "monotone feature {feature!r} is not a column of X (columns: {columns})"


class ModelsError(ValueError):
    """Base class of every error raised on purpose by :mod:`models`."""


class SerializationError(ModelsError):
    """A serialised estimator is malformed, of another kind or of an unsupported version."""


class DataError(ModelsError):
    """Input data violate what an estimator or loader needs (range, shape, missing column)."""


__all__ = [
    "MSG_COVERAGE",
    "MSG_FORMAT_VERSION",
    "MSG_MISSING_KEY",
    "MSG_NEGATIVE",
    "MSG_RATE_RANGE",
    "MSG_UNKNOWN_FEATURE",
    "MSG_WRONG_ESTIMATOR",
    "DataError",
    "ModelsError",
    "SerializationError",
]
