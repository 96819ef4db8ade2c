"""How accurately each valuation method recovers value, measured on a market with known truth.

A real history has no true values to score against. So the calibration draws a synthetic
market from its own fitted processes (:func:`calibrated_truth`: the revenue processes of every
segment, the certificate hazards and renewal probability, the royalty-rate model in place of the
default truth's), values it with the fitted parameters and price model, and compares every
method with the market's ``economic_value`` — the same income formula at the drawn truth
(:mod:`calibration.recovery`). The root mean square log error of each method beyond its stated
input uncertainty becomes ``valuation.method_error`` of the CalibrationSet: it weights the
reconciliation and widens the range. A second valuation with those errors in force reports the
range's coverage and the median ratio, written into the manifest's metrics and the model card.
"""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from calibration.recovery import method_errors, recovery_report
from calibration.synth import default_truth, generate_market
from valuation import value_many
from valuation.defaults import DEFAULTS
from valuation.schema.product import Product

ACCURACY_PRODUCTS = 3000
"""Products of the synthetic market the accuracy is measured on."""
ACCURACY_SAMPLES = 500
"""Range samples per product when measuring the coverage."""


def calibrated_truth(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """Return the default truth with the calibration's fitted processes in its place.

    Revenue segments take the fitted net growth (as growth, with no separate decay: revenue
    identifies only the difference), volatility and jump parameters; the hazards and renewal
    probability are the fitted ones; the royalty-rate model's intercept and effects replace the
    default truth's. Everything the history does not identify stays at the default truth.
    """
    truth = default_truth()
    fitted = parameters.get("revenue", {}).get("segments", {})
    for key, seg in truth["revenue"]["segments"].items():
        fit = fitted.get(key)
        if not fit:
            continue
        net = float(fit["net_growth"])
        seg.update(
            growth=net,
            decay=0.0,
            net_growth=net,
            volatility=float(fit["volatility"]),
            jump_intensity=float(fit["jump_intensity"]),
            jump_mean=float(fit["jump_mean"]),
            jump_sd=float(fit["jump_sd"]),
        )
    hazards = parameters.get("hazards", {})
    for key in ("objection", "revocation", "delisting", "renewal_probability"):
        if hazards.get(key) is not None:
            truth["hazards"][key] = float(hazards[key])
    royalty = parameters.get("royalty_rate", {})
    for key in ("intercept", "quality_score"):
        if royalty.get(key) is not None:
            truth["royalty_rate"][key] = float(royalty[key])
    for key in ("category", "license"):
        if isinstance(royalty.get(key), dict):
            truth["royalty_rate"][key].update({k: float(v) for k, v in royalty[key].items()})
    return truth


def _value(
    products: list[Product],
    as_of: str,
    overrides: dict[str, Any],
    market_model: Any,
    samples: int,
) -> list[Any]:
    return value_many(
        products,
        as_of=as_of,
        parameters_override=overrides,
        calibration_id="accuracy",
        market_model=market_model,
        samples=samples,
    )


def measure_accuracy(
    parameters: Mapping[str, Any],
    market_model: Any,
    *,
    seed: int,
    n_products: int = ACCURACY_PRODUCTS,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Measure each method's error on a synthetic market drawn from the calibration.

    Parameters
    ----------
    parameters
        The calibration's ``parameters.json`` content (its ``valuation`` overrides included).
    market_model
        The fitted hedonic price model (or None).
    seed
        Seed of the synthetic market.
    n_products
        Its size.

    Returns
    -------
    method_error, report
        The set's ``method_error``: the measured ``income``, ``cost`` and ``market_model`` (the
        market method without comparables of its own: deal history or price model) over the
        calibration's own or the default errors (methods measured on too few products keep
        those), and the recovery report of a valuation with them in force (its
        ``method_error`` lists only what was measured).
    """
    truth = calibrated_truth(parameters)
    overrides = copy.deepcopy(dict(parameters.get("valuation", {})))
    with tempfile.TemporaryDirectory(prefix="dpv-accuracy-") as tmp:
        market = Path(tmp) / "market"
        generate_market(n_products, seed, market, truth=truth)
        with open(market / "products.jsonl", encoding="utf-8") as handle:
            products = [Product.model_validate_json(line) for line in handle if line.strip()]
        table = pq.read_table(market / "product_truth.parquet").to_pydict()
    true_value = dict(zip(table["product_id"], table["economic_value"], strict=True))
    as_of = str(truth["calendar"]["as_of"])
    zero = {"income": 0.0, "cost": 0.0, "market": 0.0, "market_model": 0.0}
    raw = _value(products, as_of, {**overrides, "method_error": zero}, market_model, 0)
    # the synthetic products have no comparables of their own: the market method measured here
    # is the deal-history / price-model path (``market_model``), not explicit comparables
    measured = method_errors(raw, true_value)
    if "market" in measured:
        measured["market_model"] = measured.pop("market")
    errors = {**DEFAULTS["method_error"], **dict(overrides.get("method_error", {}))}
    errors.update(measured)
    checked = _value(
        products, as_of, {**overrides, "method_error": errors}, market_model, ACCURACY_SAMPLES
    )
    report = recovery_report(checked, true_value, [p.category for p in products])
    report.update(products=n_products, seed=seed, method_error=measured)
    return errors, report


__all__ = ["ACCURACY_PRODUCTS", "calibrated_truth", "measure_accuracy"]
