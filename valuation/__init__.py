"""dpv's valuation engine: the public API.

Value a registered data product by the income, cost and market methods with a reconciled value
and a range (:func:`value`), and more as later capabilities land.
"""

from valuation._version import __version__

__all__ = ["__version__"]
