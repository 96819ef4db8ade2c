"""Method profiles: which valuation standard a result follows, and the formula of each method.

A profile is data: the names and formulas an appraiser cites, and the few switches that change
the arithmetic. The three profiles differ where the standards differ:

``cas-2023``
    China Appraisal Society, *Guiding Opinions on Data Asset Valuation* (2023). Income in four
    forecasting modes (direct, revenue share, excess earnings, incremental); cost value
    ``replacement cost × (1 + r) × K`` with ``K`` from the quality dimensions and remaining
    life; market factors quality / supply-demand / date / volume / other.
``cas-guide-9``
    CAS *Expert Guide No. 9* (2019): cost ``total cost × (1 + return on cost) × utility`` on
    the costs as incurred (not indexed), utility from quality and remaining life; market
    factors technical / value density / date / capacity / other.
``ivs-210``
    IVS 210 Intangible Assets: relief-from-royalty, multi-period excess earnings,
    with-and-without; replacement cost (with entrepreneurial profit) less obsolescence, with
    no quality coefficient (IVS has none: functional shortfalls are obsolescence).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

ProfileName = Literal["cas-2023", "cas-guide-9", "ivs-210"]
DEFAULT_PROFILE: ProfileName = "cas-2023"


@dataclass(frozen=True)
class Profile:
    """What a valuation standard calls each method and how its arithmetic differs."""

    name: str
    title: str
    income_names: MappingProxyType[str, str]
    income_formula: str
    cost_formula: str
    cost_indexed: bool
    cost_uses_quality: bool
    market_formula: str
    # the standard's market factor names, each the product of our factors named in the tuple
    market_factors: MappingProxyType[str, tuple[str, ...]]


_INCOME_FORMULA = (
    "V = Σ_t B·a·((1+g)(1−d))^(t+ρ)·E[M(t−τ)] / (1+k)^(t−τ) over the data's economic life "
    "(τ = ½ mid-year, ρ = years from the base period's end to the valuation date), "
    "a = {share}; E[M] the expected share of income kept through the certificate's "
    "revocation, renewal and lapse events; × 1/(1 − T/L·AF(k,L)) with a tax-amortisation benefit"
)

PROFILES: MappingProxyType[str, Profile] = MappingProxyType(
    {
        "cas-2023": Profile(
            name="cas-2023",
            title="CAS Guiding Opinions on Data Asset Valuation (2023)",
            income_names=MappingProxyType(
                {
                    "revenue_share": "revenue share (分成收益法)",
                    "direct": "direct income forecast (直接收益预测)",
                    "mixed": "direct income on licensing, revenue share on services "
                    "(直接收益 + 分成收益)",
                    "excess_earnings": "excess earnings (超额收益法)",
                    "incremental": "incremental income (增量收益法)",
                }
            ),
            income_formula=_INCOME_FORMULA,
            cost_formula=(
                "V = Σ_i RC_i × (1 + r) × K_i, RC_i = cost_i·(1+index_i)^age_i, "
                "K_i = K_quality × remaining/(age_i + remaining)"
            ),
            cost_indexed=True,
            cost_uses_quality=True,
            market_formula="V = Σ w_j·P_j·Π factors_j / Σ w_j, w_j = 1/(1 + Σ|log factor_j|)",
            market_factors=MappingProxyType(
                {
                    "quality": ("quality",),
                    "supply_demand": ("supply_demand",),
                    "date": ("date",),
                    "volume": ("volume",),
                    "other": ("rights", "term", "other"),
                }
            ),
        ),
        "cas-guide-9": Profile(
            name="cas-guide-9",
            title="CAS Expert Guide No. 9: Data Asset Valuation (2019)",
            income_names=MappingProxyType(
                {
                    "revenue_share": "revenue share",
                    "direct": "direct income",
                    "mixed": "direct income on licensing, revenue share on services",
                    "excess_earnings": "excess earnings",
                    "incremental": "incremental income",
                }
            ),
            income_formula=_INCOME_FORMULA,
            cost_formula=(
                "V = Σ_i TC_i × (1 + R) × U_i, TC_i = cost_i as incurred, "
                "U_i = K_quality × remaining/(age_i + remaining)"
            ),
            cost_indexed=False,
            cost_uses_quality=True,
            market_formula="V = Σ w_j·P_j·Π factors_j / Σ w_j, w_j = 1/(1 + Σ|log factor_j|)",
            market_factors=MappingProxyType(
                {
                    "technical": ("quality",),
                    "value_density": ("supply_demand",),
                    "date": ("date",),
                    "capacity": ("volume",),
                    "other": ("rights", "term", "other"),
                }
            ),
        ),
        "ivs-210": Profile(
            name="ivs-210",
            title="IVS 210 Intangible Assets",
            income_names=MappingProxyType(
                {
                    "revenue_share": "relief-from-royalty",
                    "direct": "direct cash flow",
                    "mixed": "direct cash flow on licensing, relief-from-royalty on services",
                    "excess_earnings": "multi-period excess earnings (MPEEM)",
                    "incremental": "with-and-without",
                }
            ),
            income_formula=_INCOME_FORMULA,
            cost_formula=(
                "V = Σ_i RC_i × (1 + r) × (1 − obsolescence_i), RC_i = cost_i·(1+index_i)^age_i, "
                "obsolescence_i = age_i/(age_i + remaining)"
            ),
            cost_indexed=True,
            cost_uses_quality=False,
            market_formula="V = Σ w_j·P_j·Π factors_j / Σ w_j, w_j = 1/(1 + Σ|log factor_j|)",
            market_factors=MappingProxyType(
                {
                    "quality": ("quality",),
                    "volume": ("volume",),
                    "date": ("date",),
                    "rights": ("rights",),
                    "term": ("term",),
                    "supply_demand": ("supply_demand",),
                    "other": ("other",),
                }
            ),
        ),
    }
)

INCOME_SHARE_TEXT: MappingProxyType[str, str] = MappingProxyType(
    {
        "revenue_share": "royalty_rate·(1 − tax)",
        "direct": "licensing_margin·(1 − tax)",
        "mixed": "(licensing_margin·L + royalty_rate·S)/(L + S)·(1 − tax)",
        "excess_earnings": "operating_margin·(1 − tax) − Σ contributory_asset·return / revenue",
        "incremental": "(1 − tax), B = incremental_profit",
    }
)


def get_profile(name: str) -> Profile:
    """Return the profile called ``name`` or raise ``KeyError`` listing the known ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)}") from None


__all__ = [
    "DEFAULT_PROFILE",
    "INCOME_SHARE_TEXT",
    "PROFILES",
    "Profile",
    "ProfileName",
    "get_profile",
]
