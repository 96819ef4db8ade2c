"""dpv's valuation engine: the public API.

Value a registered data product by the income, cost and market methods, with a reconciled
value, its range and the reasons behind it (:func:`value`, :func:`value_many`); stress-test a
loan secured on data products by Monte Carlo (:func:`stress`); assess a pledge request from
collateral to decision and credit memo (:func:`assess_pledge`).
"""

from valuation._valuate import value, value_many
from valuation._version import __version__
from valuation.pledge.api import assess_pledge
from valuation.risk.api import stress
from valuation.schema.product import Product
from valuation.schema.results import ValuationResult

__all__ = [
    "Product",
    "ValuationResult",
    "__version__",
    "assess_pledge",
    "stress",
    "value",
    "value_many",
]
