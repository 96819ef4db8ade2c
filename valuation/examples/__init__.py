"""Example products and the bundled synthetic sample, shipped inside the package.

``dpv demo``, the tests and the notebooks use them.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from valuation.schema.product import Product

EXAMPLES: tuple[str, ...] = ("data_product", "data_collection", "data_algorithm")


def example_path(name: str) -> str:
    """Return the file path of the example ``name`` (one of :data:`EXAMPLES`)."""
    if name not in EXAMPLES:
        raise KeyError(f"unknown example {name!r}; choose one of {', '.join(EXAMPLES)}")
    return str(resources.files("valuation.examples").joinpath(f"{name}.json"))


def sample_path(table: str = "products.jsonl") -> str:
    """Return the path of a file of the bundled synthetic sample (``valuation/data/sample``)."""
    return str(resources.files("valuation").joinpath("data", "sample", table))


def load_sample_products() -> list[Product]:
    """Load and validate the ~2,000 products of the bundled synthetic sample."""
    with open(sample_path(), encoding="utf-8") as handle:
        return [Product.model_validate_json(line) for line in handle if line.strip()]


def load_example(name: str) -> Product:
    """Load and validate the example product ``name``."""
    with open(example_path(name), encoding="utf-8") as handle:
        return Product.model_validate(json.load(handle))


PLEDGE_EXAMPLE = "pledge"
REGISTRY_EXAMPLE = "registry"


def _path(name: str) -> str:
    return str(resources.files("valuation.examples").joinpath(f"{name}.json"))


def example_pledge_path() -> str:
    """Return the file path of the example pledge request (three items, two by id)."""
    return _path(PLEDGE_EXAMPLE)


def example_registry_path() -> str:
    """Return the file path of the example registry (a JSON list of two sample products)."""
    return _path(REGISTRY_EXAMPLE)


def load_example_pledge() -> dict[str, Any]:
    """Load the example pledge request as a JSON document (its ids refer to the registry)."""
    with open(example_pledge_path(), encoding="utf-8") as handle:
        doc: dict[str, Any] = json.load(handle)
    return doc


def load_example_registry() -> list[Product]:
    """Load the products of the example registry."""
    with open(example_registry_path(), encoding="utf-8") as handle:
        return [Product.model_validate(doc) for doc in json.load(handle)]


__all__ = [
    "EXAMPLES",
    "example_path",
    "example_pledge_path",
    "example_registry_path",
    "load_example",
    "load_example_pledge",
    "load_example_registry",
    "load_sample_products",
    "sample_path",
]
