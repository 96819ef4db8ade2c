"""The sectors a product or a collateral item belongs to (a plain ``Literal``, no models).

Its own module so that the stress request (:mod:`valuation.schema.stress`) can name it without
building the Product models; :mod:`valuation.schema.product` re-exports it.
"""

from __future__ import annotations

from typing import Literal

Sector = Literal[
    "ai", "biopharma", "finance", "education", "culture", "transport", "manufacturing", "other"
]

__all__ = ["Sector"]
