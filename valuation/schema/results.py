"""Result documents: what dpv writes back (the JSON contract of ``dpv value``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import Field

from valuation.audit import Audit
from valuation.schema._base import Frozen


class ValueRange(Frozen):
    """P10 / P50 / P90 of a simulated value."""

    p10: float
    p50: float
    p90: float


class Note(Frozen):
    """A warning with a stable machine-readable code and a sentence for people."""

    code: str
    message: str


class ComparableAdjustment(Frozen):
    """One comparable with the multiplicative factors applied to its price.

    A comparable selected from the calibration's deal history also carries its ``deal_id``,
    ``product_id``, ``similarity`` to the product and ``weight`` in the mean; its ``factors``
    are the hedonic model's, one per attribute, and ``adjusted_price`` is the price times them.
    """

    deal_id: str | None = None
    product_id: str | None = None
    similarity: float | None = None
    weight: float | None = None
    price: float
    date: dt.date
    license: str
    factors: dict[str, float]
    adjusted_price: float


class MethodResult(Frozen):
    """One valuation method: its value (or why it was skipped), formula and key inputs."""

    value: float | None = None
    skipped: str | None = None
    name: str
    formula: str
    sigma_log: float | None = Field(
        default=None, description="log-value standard deviation used for the weights"
    )
    range: ValueRange | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    comparables: list[ComparableAdjustment] | None = None


class Methods(Frozen):
    """The three methods."""

    income: MethodResult
    cost: MethodResult
    market: MethodResult


class Weights(Frozen):
    """Reconciliation weights (inverse variance; zero for a skipped method)."""

    income: float
    cost: float
    market: float


class ValuationResult(Frozen):
    """The valuation of one product (``dpv value --json``)."""

    product_id: str
    name: str | None
    valuation_date: dt.date
    currency: str
    profile: str
    profile_title: str
    methods: Methods
    concluded_value: float | None
    weights: Weights
    range: ValueRange | None
    samples: int
    warnings: list[Note]
    audit: Audit


__all__ = [
    "ComparableAdjustment",
    "MethodResult",
    "Methods",
    "Note",
    "ValuationResult",
    "ValueRange",
    "Weights",
]
