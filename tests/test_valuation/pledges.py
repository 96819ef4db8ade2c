"""Crafted pledge requests for the pledge tests (small path counts, fixed seeds)."""

from __future__ import annotations

import copy
import json
from typing import Any

from valuation.examples import load_example_pledge, load_example_registry
from valuation.schema.product import Product

AS_OF = "2026-11-01"
PATHS = 2000


def product(
    product_id: str,
    *,
    status: str = "valid",
    registered_on: str = "2025-06-01",
    expires_on: str = "2028-06-01",
    currency: str = "CNY",
    number: str | None = None,
    name: str | None = None,
    sector: str = "ai",
) -> dict[str, Any]:
    """The example data algorithm under another id, with the certificate given."""
    with open(_example_path(), encoding="utf-8") as handle:
        doc: dict[str, Any] = json.load(handle)
    doc["product_id"] = product_id
    doc["currency"] = currency
    doc["sector"] = sector
    if name is not None:
        doc["name"] = name
    doc["certificate"] = {
        "number": number or f"CERT-{product_id}",
        "registered_on": registered_on,
        "expires_on": expires_on,
        "status": status,
    }
    return doc


def _example_path() -> str:
    from valuation.examples import example_path

    return example_path("data_algorithm")


def request(
    collateral: list[dict[str, Any]],
    *,
    amount: float = 1_000_000.0,
    tenor_months: int = 12,
    annual_pd: float = 0.03,
    policy: dict[str, Any] | None = None,
    paths: int = PATHS,
    seed: int = 7,
) -> dict[str, Any]:
    """A pledge request with the given collateral entries."""
    return {
        "request_id": "PR-TEST-1",
        "as_of": AS_OF,
        "borrower": {"borrower_id": "B-1", "sector": "ai", "annual_pd": annual_pd},
        "loan": {
            "amount": amount,
            "currency": "CNY",
            "tenor_months": tenor_months,
            "annual_rate": 0.045,
            "amortization": "bullet",
        },
        "collateral": collateral,
        "policy": policy or {},
        "simulation": {"paths": paths, "seed": seed, "steps_per_year": 12},
    }


def example(paths: int = PATHS, amount: float | None = None) -> dict[str, Any]:
    """The bundled example pledge on fewer paths (its ids refer to :func:`registry`)."""
    doc = copy.deepcopy(load_example_pledge())
    doc["simulation"]["paths"] = paths
    if amount is not None:
        doc["loan"]["amount"] = amount
    return doc


def registry() -> list[Product]:
    """The bundled example registry."""
    return load_example_registry()
