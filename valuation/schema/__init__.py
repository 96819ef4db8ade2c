"""Pydantic boundary models: what enters and leaves dpv as JSON.

The names are imported on first use (PEP 562): the stress request
(:mod:`valuation.schema.stress`) does not pay for building the Product models.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from valuation.schema._base import canonical_json, parse_model, read_json
    from valuation.schema.product import (
        CATEGORIES,
        COST_ITEMS,
        LICENSE_KINDS,
        QUALITY_DIMENSIONS,
        SECTORS,
        Certificate,
        Comparable,
        CostItem,
        IncomeAssumptions,
        Product,
        Quality,
        RevenuePeriod,
    )

_LAZY: dict[str, str] = {
    "canonical_json": "valuation.schema._base",
    "parse_model": "valuation.schema._base",
    "read_json": "valuation.schema._base",
    **dict.fromkeys(
        (
            "CATEGORIES",
            "COST_ITEMS",
            "LICENSE_KINDS",
            "QUALITY_DIMENSIONS",
            "SECTORS",
            "Certificate",
            "Comparable",
            "CostItem",
            "IncomeAssumptions",
            "Product",
            "Quality",
            "RevenuePeriod",
        ),
        "valuation.schema.product",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'valuation.schema' has no attribute {name!r}")
    attribute = getattr(importlib.import_module(module), name)
    globals()[name] = attribute
    return attribute


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "CATEGORIES",
    "COST_ITEMS",
    "LICENSE_KINDS",
    "QUALITY_DIMENSIONS",
    "SECTORS",
    "Certificate",
    "Comparable",
    "CostItem",
    "IncomeAssumptions",
    "Product",
    "Quality",
    "RevenuePeriod",
    "canonical_json",
    "parse_model",
    "read_json",
]
