"""Pydantic boundary models: what enters and leaves dpv as JSON."""

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
