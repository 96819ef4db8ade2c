"""The loan columns of a revalued product: LTV, stress, max loan and grade.

A product with a loan is stressed exactly as ``dpv pledge`` stresses a one-item pledge of it:
:func:`valuation.pledge.api.stress_request` turns the product, its concluded value and the loan
into the :class:`~valuation.schema.stress.StressRequest` (the collateral process of the
calibration's parameters), and the base case of :func:`valuation.stress` is computed by the same
functions it uses (:func:`~valuation.risk.model.build_model`,
:func:`~valuation.risk.api.simulate`, and of :func:`~valuation.risk.api.summarise` the
:func:`~valuation.risk.api.headline` figures a row shows) without the fan chart, scenarios and
tail measures a book does not need. The grade is the pledge's
:func:`~valuation.pledge.decision.risk_grade`; the largest loan is the pledge's binding limit,
the smaller of ``max_ltv × value`` and the risk limit at the target breach probability.

Each loan's paths are keyed by ``(seed, product id, path)``, so a row does not depend on its
chunk, its worker or the thread count.

``loan_status`` says what was computed: ``stressed``; ``no_value`` (no concluded value, no LTV);
``matured`` (repaid before the valuation date); ``certificate_expired`` (the certificate
lapsed before the valuation date: LTV only, the stress needs a live certificate);
``currency_mismatch`` (the loan is in another currency than the product: nothing computed).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from valuation.revalue.loans import LoanTerms

STRESSED = "stressed"
NO_VALUE = "no_value"
MATURED = "matured"
CERTIFICATE_EXPIRED = "certificate_expired"
CURRENCY_MISMATCH = "currency_mismatch"
STATUSES = (STRESSED, NO_VALUE, MATURED, CERTIFICATE_EXPIRED, CURRENCY_MISMATCH)

LOAN_COLUMNS = (
    "loan_id",
    "loan_amount",
    "loan_status",
    "remaining_tenor_months",
    "ltv",
    "breach_probability",
    "breach_probability_se",
    "default_probability",
    "expected_loss",
    "expected_loss_rate",
    "max_loan",
    "max_loan_risk",
    "grade",
    "stress_paths",
)


def remaining_months(loan: LoanTerms, as_of: dt.date) -> int:
    """Whole months from ``as_of`` to the loan's maturity, rounded up (0: matured).

    Without a start date the loan runs its full tenor from ``as_of``; a loan drawn after
    ``as_of`` is stressed over its full tenor from ``as_of``.
    """
    from valuation.pledge.eligibility import add_months

    if loan.start is None:
        return loan.tenor_months
    maturity = add_months(loan.start, loan.tenor_months)
    if maturity <= as_of:
        return 0
    months = (maturity.year - as_of.year) * 12 + maturity.month - as_of.month
    while add_months(as_of, months) < maturity:
        months += 1
    while months > 1 and add_months(as_of, months - 1) >= maturity:
        months -= 1
    return min(max(months, 1), loan.tenor_months)


def empty_loan_columns() -> dict[str, Any]:
    """Return the loan columns of a product without a loan (all null)."""
    return dict.fromkeys(LOAN_COLUMNS)


def loan_columns(
    product: Any,
    value: float | None,
    loan: LoanTerms,
    *,
    as_of: dt.date,
    params: Mapping[str, Any],
    policy: Any,
    paths: int,
    seed: int,
    simulate_options: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the loan columns of ``product`` valued at ``value`` and pledged for ``loan``.

    Parameters
    ----------
    product
        The validated :class:`~valuation.schema.product.Product`.
    value
        Its concluded value (``None`` or ≤ 0: no LTV, no stress).
    loan
        The loan's terms.
    as_of
        Valuation date: the stress starts here, over the tenor left.
    params
        The resolved parameters (calibration overrides applied): the collateral process.
    policy
        The :class:`~valuation.schema.pledge.Policy` (margin call, target breach probability,
        liquidation, grade bounds, ``max_ltv``).
    paths, seed
        Monte Carlo paths and seed.
    simulate_options
        Passed through to :func:`~valuation.risk.api.simulate` as keyword arguments (for
        options of the stress engine such as where it runs).
    """
    from valuation.pledge.api import stress_request
    from valuation.pledge.decision import risk_grade
    from valuation.risk.api import headline, simulate
    from valuation.risk.model import build_model
    from valuation.schema._base import parse_model
    from valuation.schema.pledge import PledgeRequest

    row = empty_loan_columns()
    row["loan_id"] = loan.loan_id
    row["loan_amount"] = loan.amount
    if loan.currency is not None and loan.currency != product.currency:
        row["loan_status"] = CURRENCY_MISMATCH
        return row
    remaining = remaining_months(loan, as_of)
    row["remaining_tenor_months"] = remaining
    if remaining == 0:
        row["loan_status"] = MATURED
        return row
    if value is None or not value > 0.0:
        row["loan_status"] = NO_VALUE
        return row
    row["ltv"] = loan.amount / value
    if product.certificate.expires_on <= as_of:
        row["loan_status"] = CERTIFICATE_EXPIRED
        return row
    request = parse_model(
        PledgeRequest,
        {
            "request_id": loan.loan_id,
            "as_of": as_of,
            "borrower": {
                "borrower_id": "book",
                "annual_pd": loan.annual_pd,
                "wrong_way": loan.wrong_way,
            },
            "loan": {
                "amount": loan.amount,
                "currency": product.currency,
                "tenor_months": remaining,
                "annual_rate": loan.annual_rate,
                "amortization": loan.amortization,
            },
            "collateral": [{"product_id": product.product_id}],
            "policy": policy,
            "simulation": {"paths": paths, "seed": seed},
        },
    )
    sreq = stress_request(request, [(product, value)], params, scenarios=[], paths=paths)
    model = build_model(sreq)
    stats = simulate(
        model, paths, store_pool=False, store_terminal=False, **dict(simulate_options or {})
    )
    base = headline(model, stats, policy.target_breach_probability)
    el_rate = base.expected_loss / loan.amount
    risk_max = base.max_loan
    row.update(
        loan_status=STRESSED,
        breach_probability=base.breach_probability,
        breach_probability_se=base.breach_probability_se,
        default_probability=base.default_probability,
        expected_loss=base.expected_loss,
        expected_loss_rate=el_rate,
        max_loan=min(policy.max_ltv * value, math.inf if risk_max is None else risk_max),
        max_loan_risk=risk_max,
        grade=risk_grade(base.breach_probability, el_rate, policy),
        stress_paths=paths,
    )
    return row


__all__ = [
    "CERTIFICATE_EXPIRED",
    "CURRENCY_MISMATCH",
    "LOAN_COLUMNS",
    "MATURED",
    "NO_VALUE",
    "STATUSES",
    "STRESSED",
    "empty_loan_columns",
    "loan_columns",
    "remaining_months",
]
