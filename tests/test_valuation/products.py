"""Hypothesis strategies for valid products."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import strategies as st

from valuation.schema.product import CATEGORIES, COST_ITEMS, QUALITY_DIMENSIONS, SECTORS

AS_OF = dt.date(2026, 11, 1)

amounts = st.floats(min_value=1e3, max_value=1e9, allow_nan=False)
shares = st.floats(min_value=0.05, max_value=1.0)


@st.composite
def products(draw: st.DrawFn, *, with_all_methods: bool = False) -> dict[str, Any]:
    registered = AS_OF - dt.timedelta(days=draw(st.integers(0, 900)))
    n_revenue = draw(st.integers(1 if with_all_methods else 0, 4))
    n_costs = draw(st.integers(1 if with_all_methods else 0, 5))
    n_comps = draw(st.integers(1 if with_all_methods else 0, 4))
    product: dict[str, Any] = {
        "product_id": f"P-{draw(st.integers(0, 10**9))}",
        "category": draw(st.sampled_from(CATEGORIES)),
        "sector": draw(st.sampled_from(SECTORS)),
        "certificate": {
            "number": "C-1",
            "registered_on": registered.isoformat(),
            "expires_on": (registered + dt.timedelta(days=3 * 365 + 1)).isoformat(),
            "status": "valid",
        },
        "attributes": {
            "records": draw(st.integers(1, 10**10)),
            "quality": {d: draw(shares) for d in QUALITY_DIMENSIONS},
        },
        "revenue": [
            {
                "period_end": dt.date(2025 - k, 12, 31).isoformat(),
                "licensing": draw(amounts),
                "services": draw(st.floats(0, 1e8)),
            }
            for k in range(n_revenue)
        ],
        "costs": [
            {
                "item": draw(st.sampled_from(COST_ITEMS)),
                "amount": draw(amounts),
                "incurred_on": (AS_OF - dt.timedelta(days=draw(st.integers(0, 2000)))).isoformat(),
            }
            for _ in range(n_costs)
        ],
        "comparables": [
            {
                "price": draw(amounts),
                "date": (AS_OF - dt.timedelta(days=draw(st.integers(0, 1500)))).isoformat(),
                "license": draw(st.sampled_from(["exclusive", "non_exclusive", "transfer"])),
                "term_months": draw(st.integers(1, 60)),
                "attributes": {
                    "records": draw(st.integers(1, 10**10)),
                    "quality_score": draw(shares),
                },
            }
            for _ in range(n_comps)
        ],
        "income_assumptions": {
            "royalty_rate": draw(st.floats(0.01, 0.6)),
            "growth": draw(st.floats(-0.3, 0.5)),
            "discount_rate": draw(st.floats(0.05, 0.4)),
            "economic_life_years": draw(st.floats(0.5, 10)),
            "assume_renewal": draw(st.booleans()),
            "mid_year": draw(st.booleans()),
            "tax_amortisation_benefit": draw(st.booleans()),
        },
    }
    return product
