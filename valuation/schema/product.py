"""The Product: a registered data product as it enters dpv (SPEC §4).

Field names are the public contract. Amounts are in the product's currency, dates are ISO
``YYYY-MM-DD`` and rates are decimals. Everything beyond identity, category, sector and the
certificate is optional; a valuation method that lacks its inputs is skipped with a reason.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from valuation.schema._base import Date, Frozen, Identifier, refuse_implausible
from valuation.schema.sectors import Sector

Category = Literal["data_collection", "data_product", "data_algorithm"]
CertificateStatus = Literal["announced", "valid", "objected", "revoked", "expired"]
CostItemKind = Literal[
    "planning",
    "collection",
    "storage",
    "processing",
    "development",
    "compliance",
    "security",
    "operations",
    "opportunity",
    "tax",
]
LicenseKind = Literal["exclusive", "non_exclusive", "transfer"]
IncomeMode = Literal["auto", "revenue_share", "direct", "mixed", "excess_earnings", "incremental"]
LifeConvention = Literal["economic", "certificate"]
HolderKind = Literal["enterprise", "institution", "government", "individual"]

CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]
SECTORS: tuple[str, ...] = Sector.__args__  # type: ignore[attr-defined]
COST_ITEMS: tuple[str, ...] = CostItemKind.__args__  # type: ignore[attr-defined]
LICENSE_KINDS: tuple[str, ...] = LicenseKind.__args__  # type: ignore[attr-defined]
QUALITY_DIMENSIONS: tuple[str, ...] = (
    "accuracy",
    "consistency",
    "completeness",
    "conformity",
    "timeliness",
    "accessibility",
)

Amount = Annotated[float, Field(ge=0.0)]
PositiveAmount = Annotated[float, Field(gt=0.0)]
Share = Annotated[float, Field(ge=0.0, le=1.0)]
Text = Annotated[str, Field(min_length=1, max_length=512)]


class Holder(Frozen):
    """The certificate holder."""

    holder_id: Identifier
    kind: HolderKind = "enterprise"
    high_tech: bool = False


class Certificate(Frozen):
    """The data-IP registration certificate (three-year validity, SPEC §1)."""

    number: Identifier
    registered_on: Date
    expires_on: Date
    status: CertificateStatus
    ledger_hash: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _expiry_after_registration(self) -> Certificate:
        if self.expires_on <= self.registered_on:
            raise ValueError(
                f"expires_on ({self.expires_on}) must be after registered_on ({self.registered_on})"
            )
        return self


class Quality(Frozen):
    """The six data-quality dimensions of the CAS 2023 guidance, each a score in [0, 1]."""

    accuracy: Share
    consistency: Share
    completeness: Share
    conformity: Share
    timeliness: Share
    accessibility: Share

    def as_tuple(self) -> tuple[float, ...]:
        """Return the scores in :data:`QUALITY_DIMENSIONS` order."""
        return tuple(getattr(self, d) for d in QUALITY_DIMENSIONS)


class Attributes(Frozen):
    """Descriptive attributes used by the market method and the cost method's quality factor."""

    records: Annotated[int, Field(ge=0)] | None = None
    fields: Annotated[int, Field(ge=0)] | None = None
    update_frequency_days: PositiveAmount | None = None
    coverage_years: Amount | None = None
    quality: Quality | None = None


class CostItem(Frozen):
    """One historical cost of building the product."""

    item: CostItemKind
    amount: Amount
    incurred_on: Date


class RevenuePeriod(Frozen):
    """Revenue of one twelve-month period ending on ``period_end``."""

    period_end: Date
    licensing: Amount = 0.0
    services: Amount = 0.0

    @property
    def total(self) -> float:
        """Licensing plus services."""
        return self.licensing + self.services


class ContributoryAsset(Frozen):
    """An asset that earns a return before the data product does (excess-earnings form)."""

    name: Text
    amount: Amount
    required_return: Share


class IncomeAssumptions(Frozen):
    """Optional assumptions of the income method; what is omitted comes from defaults.

    ``mode`` ``auto`` (the default) follows the revenue's kind: licensing revenue of the data
    itself by direct income (licence income less the cost of producing and delivering it,
    ``operating_margin`` or the category's ``licensing_margin``), services revenue of a
    business the data supports by revenue share (``royalty_rate``), both as ``mixed``.
    ``life`` ``economic`` (the default) values the data over its economic life with the
    certificate's revocation, renewal and lapse as events; ``certificate`` stops at the
    certificate's expiry, for appraisers who must.
    """

    mode: IncomeMode = "auto"
    royalty_rate: Share | None = None
    growth: Annotated[float, Field(gt=-1.0, le=1.0)] | None = None
    decay: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    economic_life_years: Annotated[float, Field(gt=0.0, le=50.0)] | None = None
    discount_rate: Annotated[float, Field(gt=0.0, le=1.0)] | None = None
    tax_rate: Annotated[float, Field(ge=0.0, lt=1.0)] | None = None
    life: LifeConvention = "economic"
    assume_renewal: bool = False
    mid_year: bool = True
    tax_amortisation_benefit: bool = False
    tax_life_years: Annotated[int, Field(ge=1, le=50)] | None = None
    operating_margin: Annotated[float, Field(ge=-1.0, le=1.0)] | None = None
    contributory_assets: tuple[ContributoryAsset, ...] = ()
    incremental_profit: Amount | None = None


class CostAssumptions(Frozen):
    """Optional assumptions of the cost method."""

    return_on_cost: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    remaining_life_years: Annotated[float, Field(ge=0.0, le=50.0)] | None = None


class ComparableAttributes(Frozen):
    """What is known of a comparable's attributes."""

    records: Annotated[int, Field(ge=0)] | None = None
    quality_score: Share | None = None


class ComparableAdjustments(Frozen):
    """Explicit appraiser factors (multiplicative, 1 = no adjustment)."""

    supply_demand: PositiveAmount = 1.0
    other: PositiveAmount = 1.0


class Comparable(Frozen):
    """A comparable licence or transaction given explicitly with the product."""

    price: PositiveAmount
    date: Date
    license: LicenseKind = "non_exclusive"
    term_months: Annotated[int, Field(ge=1, le=600)] | None = None
    attributes: ComparableAttributes = ComparableAttributes()
    adjustments: ComparableAdjustments = ComparableAdjustments()


class Product(Frozen):
    """A registered data product (SPEC §4).

    Examples
    --------
    >>> p = Product.model_validate({
    ...     "product_id": "P-1", "category": "data_product", "sector": "finance",
    ...     "certificate": {"number": "C-1", "registered_on": "2025-01-01",
    ...                     "expires_on": "2028-01-01", "status": "valid"}})
    >>> p.currency
    'CNY'
    """

    product_id: Identifier
    name: Text | None = None
    category: Category
    sector: Sector
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "CNY"
    holder: Holder | None = None
    certificate: Certificate
    attributes: Attributes = Attributes()
    costs: tuple[CostItem, ...] = ()
    revenue: tuple[RevenuePeriod, ...] = ()
    income_assumptions: IncomeAssumptions = IncomeAssumptions()
    cost_assumptions: CostAssumptions = CostAssumptions()
    comparables: tuple[Comparable, ...] = ()

    @model_validator(mode="after")
    def _revenue_periods_distinct(self) -> Product:
        ends = [r.period_end for r in self.revenue]
        if len(set(ends)) != len(ends):
            raise ValueError("revenue periods must have distinct period_end dates")
        return self

    @model_validator(mode="after")
    def _plausible_amounts(self) -> Product:
        ia = self.income_assumptions
        amounts: list[tuple[tuple[str | int, ...], float]] = [
            *((("costs", i, "amount"), c.amount) for i, c in enumerate(self.costs)),
            *((("revenue", i, "licensing"), r.licensing) for i, r in enumerate(self.revenue)),
            *((("revenue", i, "services"), r.services) for i, r in enumerate(self.revenue)),
            *((("comparables", i, "price"), c.price) for i, c in enumerate(self.comparables)),
            *(
                (("income_assumptions", "contributory_assets", i, "amount"), a.amount)
                for i, a in enumerate(ia.contributory_assets)
            ),
        ]
        if ia.incremental_profit is not None:
            amounts.append((("income_assumptions", "incremental_profit"), ia.incremental_profit))
        refuse_implausible(type(self).__name__, amounts, self.currency)
        return self
