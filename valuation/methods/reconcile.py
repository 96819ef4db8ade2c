"""Reconciliation: the concluded value, its weights and range, and the warnings around it."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, NamedTuple

import numpy as np

from valuation.audit import Audit
from valuation.dates import months_between
from valuation.kernels.valuation import METHODS
from valuation.methods.inputs import ProductContext, comparable_factors, economic_life
from valuation.methods.market_model import HISTORY_LISTING
from valuation.methods.profiles import INCOME_SHARE_TEXT, Profile
from valuation.schema.product import Product
from valuation.schema.results import (
    ComparableAdjustment,
    MethodResult,
    Methods,
    Note,
    ValuationResult,
    ValueRange,
    Weights,
)


def certificate_warnings(product: Product, as_of: dt.date, params: dict[str, Any]) -> list[Note]:
    """Warnings about the certificate: its status and how soon it expires."""
    return [
        Note(code=code, message=message)
        for code, message in _certificate_notes(product, as_of, params)
    ]


def _certificate_notes(
    product: Product, as_of: dt.date, params: dict[str, Any]
) -> list[tuple[str, str]]:
    cert = product.certificate
    notes = []
    if cert.status != "valid":
        notes.append(
            (f"certificate_{cert.status}", f"certificate status is {cert.status!r}, not 'valid'")
        )
    months_left = months_between(as_of, cert.expires_on)
    limit = params["reconciliation"]["expiry_warning_months"]
    if months_left <= 0:
        notes.append(("certificate_expired", f"certificate expired on {cert.expires_on}"))
    elif months_left < limit:
        notes.append(
            (
                "certificate_expires_soon",
                f"certificate expires on {cert.expires_on}, {months_left:.1f} months "
                f"after the valuation date (threshold {limit} months)",
            )
        )
    if as_of < cert.registered_on:
        notes.append(
            (
                "valuation_before_registration",
                f"valuation date precedes registration ({cert.registered_on})",
            )
        )
    return notes


MARKET_NAMES = {
    "comparables": "market approach (explicit comparables)",
    "history": (
        "market approach (comparables from the calibration's deal history, hedonic adjustments)"
    ),
    "model": "market approach (hedonic price model of the calibration)",
}
"""The market method's name by where its value came from (``ProductContext.market_source``)."""
HISTORY_FORMULA = (
    "V = Σ s_j·P_j·Π_k a_jk / Σ s_j over the deals selected from the history, s_j = 1/(1 + d_j) "
    "their similarity, a_jk = exp(f(x_j with attribute k of the product) − f(x_j)) the hedonic "
    "model f's adjustment factors (outright transfer, home territory, valuation date)"
)
"""The market method's formula when its comparables come from the calibration's deal history."""


def _history_table(ctx: ProductContext) -> list[ComparableAdjustment]:
    """Return the comparables selected from the deal history, as the result lists them.

    The listing travels in the market inputs under ``HISTORY_LISTING`` and is taken out of them
    here (the inputs keep the selection's summary and the deal ids).
    """
    listing = ctx.inputs["market"].pop(HISTORY_LISTING, {}).get("value", ())
    return [
        ComparableAdjustment(
            deal_id=c.deal_id,
            product_id=c.product_id,
            similarity=c.similarity,
            weight=c.weight,
            price=c.price,
            date=c.date,
            license=c.license,
            factors=dict(c.factors),
            adjusted_price=c.adjusted_price,
        )
        for c in listing
    ]


def _market_table(
    product: Product,
    as_of: dt.date,
    params: dict[str, Any],
    profile: Profile,
    ctx: ProductContext | None = None,
) -> list[ComparableAdjustment]:
    if ctx is not None and ctx.market_source == "history":
        return _history_table(ctx)
    e = params["elasticity"]
    log_index = math.log1p(params["price_index_growth"])
    usable = [c for c in product.comparables if c.date <= as_of]
    life, _ = economic_life(product, as_of, params, False)
    table = []
    for comp, row in zip(usable, comparable_factors(product, as_of, params, life), strict=True):
        logs = {
            "quality": e["quality"] * row["log_quality_ratio"],
            "volume": e["volume"] * row["log_volume_ratio"],
            "date": row["years_ago"] * log_index,
            "rights": row["rights"],
            "term": row["term"],
            "supply_demand": row["supply_demand"],
            "other": row["other"],
        }
        factors = {
            label: math.exp(sum(logs[part] for part in parts))
            for label, parts in profile.market_factors.items()
        }
        table.append(
            ComparableAdjustment(
                price=comp.price,
                date=comp.date,
                license=comp.license,
                factors=factors,
                adjusted_price=comp.price * math.exp(sum(logs.values())),
            )
        )
    return table


class Conclusion(NamedTuple):
    """What the reconciliation concludes for one product, before its result document is built.

    The figures :func:`build_result` writes into the :class:`ValuationResult` and that a batch
    row takes without the document (``dpv revalue``): one computation for both.

    Attributes
    ----------
    values : tuple of (float or None)
        Each method's value, in :data:`~valuation.kernels.valuation.METHODS` order (income,
        cost, market); None for a skipped method.
    concluded_value : float or None
        The concluded value; None when no method applies.
    weights : tuple of float
        Each method's reconciliation weight, in the same order.
    range : tuple of float or None
        P10, P50 and P90 of the concluded value; None without range samples or without a value.
    market_source : str
        Where the market method's value comes from: a key of :data:`MARKET_NAMES`.
    notes : list of (str, str)
        The warnings' codes and messages, in the order the result lists them.
    """

    values: tuple[float | None, float | None, float | None]
    concluded_value: float | None
    weights: tuple[float, float, float]
    range: tuple[float, float, float] | None
    market_source: str
    notes: list[tuple[str, str]]


def conclude(
    product: Product,
    ctx: ProductContext,
    *,
    as_of: dt.date,
    params: dict[str, Any],
    values: np.ndarray,
    weights: np.ndarray,
    concluded: float,
    has: np.ndarray,
    quantiles: np.ndarray | None,
) -> Conclusion:
    """Return the concluded figures and the warnings of one product from the kernels' outputs.

    ``quantiles``: the product's rows of :func:`~valuation.kernels.range.range_batch`, the
    conclusion's last (the methods' rows before it, if any, are not read here).

    Raises
    ------
    ValueError
        A figure is not finite (a result document holds no NaN or infinity).
    """
    notes = list(ctx.warnings)
    notes.extend(_certificate_notes(product, as_of, params))
    rec = params["reconciliation"]
    income, cost, market = (float(values[m]) if has[m] else None for m in range(3))
    method_values = (income, cost, market)
    available = [v for v in method_values if v is not None]
    concluded_value: float | None = float(concluded)
    value_range = None
    if not available:
        concluded_value = None
        notes.append(
            (
                "no_method_applicable",
                "no method has the inputs it needs: "
                + "; ".join(f"{k}: {v}" for k, v in ctx.skipped.items()),
            )
        )
    else:
        positive = [v for v in available if v > 0]
        spread = max(positive) / min(positive) if len(positive) >= 2 else 1.0
        if spread > rec["disagreement_ratio"]:
            notes.append(
                (
                    "methods_disagree",
                    f"method values differ by a factor of {spread:.2f}"
                    f" (> {rec['disagreement_ratio']:g}): escalate to a human valuer",
                )
            )
        if quantiles is not None:
            p10, p50, p90 = (float(quantiles[-1, k]) for k in range(3))  # the conclusion's
            value_range = (p10, p50, p90)
            if p10 > 0 and p90 / p10 > rec["wide_range_ratio"]:
                notes.append(
                    (
                        "wide_range",
                        f"P90/P10 = {p90 / p10:.2f} "
                        f"(> {rec['wide_range_ratio']:g}): the value is uncertain",
                    )
                )
    method_weights = (float(weights[0]), float(weights[1]), float(weights[2]))
    figures = [*available, *method_weights, *(value_range or ())]
    if concluded_value is not None:
        figures.append(concluded_value)
    if not all(map(math.isfinite, figures)):
        raise ValueError(f"product {product.product_id!r}: a concluded figure is not finite")
    return Conclusion(
        values=method_values,
        concluded_value=concluded_value,
        weights=method_weights,
        range=value_range,
        market_source=ctx.market_source if ctx.market_source in MARKET_NAMES else "model",
        notes=notes,
    )


def build_result(
    product: Product,
    ctx: ProductContext,
    *,
    as_of: dt.date,
    params: dict[str, Any],
    profile: Profile,
    values: np.ndarray,
    sigmas: np.ndarray,
    weights: np.ndarray,
    concluded: float,
    has: np.ndarray,
    quantiles: np.ndarray | None,
    samples: int,
    audit: Audit,
) -> ValuationResult:
    """Assemble the result document of one product from the kernels' outputs."""
    c = conclude(
        product,
        ctx,
        as_of=as_of,
        params=params,
        values=values,
        weights=weights,
        concluded=concluded,
        has=has,
        quantiles=quantiles,
    )
    mode = ctx.income_mode
    formulas = {
        "income": profile.income_formula.format(share=INCOME_SHARE_TEXT[mode]),
        "cost": profile.cost_formula,
        "market": HISTORY_FORMULA if ctx.market_source == "history" else profile.market_formula,
    }
    names = {
        "income": profile.income_names[mode],
        "cost": "cost approach",
        "market": MARKET_NAMES[c.market_source],
    }
    results: dict[str, MethodResult] = {}
    for m, method in enumerate(METHODS):
        common: dict[str, Any] = {
            "name": names[method],
            "formula": formulas[method],
            "inputs": ctx.inputs[method],
        }
        if has[m]:
            rng = None
            if quantiles is not None:
                rng = ValueRange(
                    p10=float(quantiles[m, 0]),
                    p50=float(quantiles[m, 1]),
                    p90=float(quantiles[m, 2]),
                )
            comparables = (
                _market_table(product, as_of, params, profile, ctx)
                if method == "market" and ctx.market_source in ("comparables", "history")
                else None
            )
            results[method] = MethodResult(
                value=c.values[m],
                sigma_log=float(sigmas[m]),
                range=rng,
                comparables=comparables,
                **common,
            )
        else:
            results[method] = MethodResult(skipped=ctx.skipped[method], **common)
    value_range = None
    if c.range is not None:
        value_range = ValueRange(p10=c.range[0], p50=c.range[1], p90=c.range[2])
    return ValuationResult(
        product_id=product.product_id,
        name=product.name,
        valuation_date=as_of,
        currency=product.currency,
        profile=profile.name,
        profile_title=profile.title,
        methods=Methods(**results),
        concluded_value=c.concluded_value,
        weights=Weights(**dict(zip(METHODS, c.weights, strict=True))),
        range=value_range,
        samples=samples if quantiles is not None else 0,
        warnings=[Note(code=code, message=message) for code, message in c.notes],
        audit=audit,
    )


__all__ = ["MARKET_NAMES", "Conclusion", "build_result", "certificate_warnings", "conclude"]
