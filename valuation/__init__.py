"""dpv's valuation engine: the public API.

Value a registered data product by the income, cost and market methods, with a reconciled
value, its range and the reasons behind it (:func:`value`, :func:`value_many`); stress-test a
loan secured on data products by Monte Carlo (:func:`stress`); assess a pledge request from
collateral to decision and credit memo (:func:`assess_pledge`).

The names are imported on first use (PEP 562), so ``import valuation.risk`` (the stress path)
does not pay for the valuation methods, and ``import valuation`` alone is cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from valuation._version import __version__

if TYPE_CHECKING:
    from valuation._valuate import value, value_many
    from valuation.pledge.api import assess_pledge
    from valuation.risk.api import stress
    from valuation.schema.product import Product
    from valuation.schema.results import ValuationResult

_LAZY: dict[str, str] = {
    "Product": "valuation.schema.product",
    "ValuationResult": "valuation.schema.results",
    "assess_pledge": "valuation.pledge.api",
    "stress": "valuation.risk.api",
    "value": "valuation._valuate",
    "value_many": "valuation._valuate",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'valuation' has no attribute {name!r}")
    attribute = getattr(importlib.import_module(module), name)
    globals()[name] = attribute
    return attribute


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Product",
    "ValuationResult",
    "__version__",
    "assess_pledge",
    "stress",
    "value",
    "value_many",
]
