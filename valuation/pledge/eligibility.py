"""Eligibility of each pledged item, each failure a reason code.

An item is eligible when its certificate is ``valid`` and stays valid until the loan's maturity
plus the policy's margin, it is in the loan's currency, and it is not pledged twice in the same
request. The rules are plain functions of the product, the loan and the policy.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from valuation.dates import add_months
from valuation.schema.pledge import PledgeLoan, Policy, Reason
from valuation.schema.product import Product

# Reason codes of an ineligible item.
CERTIFICATE_ANNOUNCED = "certificate_announced"
CERTIFICATE_OBJECTED = "certificate_objected"
CERTIFICATE_REVOKED = "certificate_revoked"
CERTIFICATE_EXPIRED = "certificate_expired"
CERTIFICATE_NOT_YET_REGISTERED = "certificate_not_yet_registered"
CERTIFICATE_EXPIRES_TOO_SOON = "certificate_expires_before_maturity"
DUPLICATE_COLLATERAL = "duplicate_collateral"
CURRENCY_MISMATCH = "currency_mismatch"
NOT_VALUED = "no_valuation"

INELIGIBLE_CODES: tuple[str, ...] = (
    CERTIFICATE_ANNOUNCED,
    CERTIFICATE_OBJECTED,
    CERTIFICATE_REVOKED,
    CERTIFICATE_EXPIRED,
    CERTIFICATE_NOT_YET_REGISTERED,
    CERTIFICATE_EXPIRES_TOO_SOON,
    DUPLICATE_COLLATERAL,
    CURRENCY_MISMATCH,
    NOT_VALUED,
)

_STATUS_TEXT = {
    "announced": "is still in its 15-day public announcement",
    "objected": "has been objected to",
    "revoked": "has been revoked",
    "expired": "has expired",
}


@dataclass(frozen=True)
class Eligibility:
    """The verdict on one item: eligible or not, and the reasons."""

    eligible: bool
    reasons: tuple[Reason, ...]


def certificate_required_until(as_of: dt.date, loan: PledgeLoan, policy: Policy) -> dt.date:
    """Return the date a certificate must stay valid until: maturity plus the margin."""
    return add_months(as_of, loan.tenor_months + policy.min_certificate_months_after_maturity)


def item_reasons(
    product: Product, *, as_of: dt.date, loan: PledgeLoan, policy: Policy, duplicate: bool
) -> list[Reason]:
    """Return every reason that makes ``product`` ineligible (empty when eligible)."""
    cert = product.certificate
    pid = product.product_id
    reasons: list[Reason] = []
    if cert.status != "valid":
        reasons.append(
            Reason(
                code=f"certificate_{cert.status}",
                message=f"certificate {cert.number} {_STATUS_TEXT[cert.status]}; "
                "only a valid certificate can be pledged",
                product_id=pid,
            )
        )
    elif cert.expires_on <= as_of:
        reasons.append(
            Reason(
                code=CERTIFICATE_EXPIRED,
                message=f"certificate {cert.number} expired on {cert.expires_on}",
                product_id=pid,
            )
        )
    if as_of < cert.registered_on:
        reasons.append(
            Reason(
                code=CERTIFICATE_NOT_YET_REGISTERED,
                message=f"certificate {cert.number} is registered on {cert.registered_on}, "
                f"after the assessment date {as_of}",
                product_id=pid,
            )
        )
    required = certificate_required_until(as_of, loan, policy)
    if as_of < cert.expires_on < required:
        margin = policy.min_certificate_months_after_maturity
        reasons.append(
            Reason(
                code=CERTIFICATE_EXPIRES_TOO_SOON,
                message=f"certificate expires on {cert.expires_on}, before {required} (loan "
                f"maturity after {loan.tenor_months} months plus a {margin}-month margin)",
                product_id=pid,
            )
        )
    if product.currency != loan.currency:
        reasons.append(
            Reason(
                code=CURRENCY_MISMATCH,
                message=f"product in {product.currency}, loan in {loan.currency}",
                product_id=pid,
            )
        )
    if duplicate:
        reasons.append(
            Reason(
                code=DUPLICATE_COLLATERAL,
                message=f"{pid} (certificate {cert.number}) is pledged more than once in this "
                "request; only its first entry counts",
                product_id=pid,
            )
        )
    return reasons


def assess_eligibility(
    products: list[Product], *, as_of: dt.date, loan: PledgeLoan, policy: Policy
) -> list[Eligibility]:
    """Return the eligibility of every item, in order.

    The second and later entries of the same product (same product id or same certificate
    number) are ineligible as duplicates; the first entry is judged on its own merits.
    """
    seen_ids: set[str] = set()
    seen_certificates: set[str] = set()
    out = []
    for product in products:
        duplicate = (
            product.product_id in seen_ids or product.certificate.number in seen_certificates
        )
        seen_ids.add(product.product_id)
        seen_certificates.add(product.certificate.number)
        reasons = item_reasons(product, as_of=as_of, loan=loan, policy=policy, duplicate=duplicate)
        out.append(Eligibility(eligible=not reasons, reasons=tuple(reasons)))
    return out


__all__ = [
    "CERTIFICATE_ANNOUNCED",
    "CERTIFICATE_EXPIRED",
    "CERTIFICATE_EXPIRES_TOO_SOON",
    "CERTIFICATE_NOT_YET_REGISTERED",
    "CERTIFICATE_OBJECTED",
    "CERTIFICATE_REVOKED",
    "CURRENCY_MISMATCH",
    "DUPLICATE_COLLATERAL",
    "INELIGIBLE_CODES",
    "NOT_VALUED",
    "Eligibility",
    "add_months",
    "assess_eligibility",
    "certificate_required_until",
    "item_reasons",
]
