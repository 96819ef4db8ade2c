"""Example products for each category, shipped inside the package (``dpv demo`` uses them)."""

from __future__ import annotations

import json
from importlib import resources

from valuation.schema.product import Product

EXAMPLES: tuple[str, ...] = ("data_product", "data_collection", "data_algorithm")


def example_path(name: str) -> str:
    """Return the file path of the example ``name`` (one of :data:`EXAMPLES`)."""
    if name not in EXAMPLES:
        raise KeyError(f"unknown example {name!r}; choose one of {', '.join(EXAMPLES)}")
    return str(resources.files("valuation.examples").joinpath(f"{name}.json"))


def load_example(name: str) -> Product:
    """Load and validate the example product ``name``."""
    with open(example_path(name), encoding="utf-8") as handle:
        return Product.model_validate(json.load(handle))


__all__ = ["EXAMPLES", "example_path", "load_example"]
