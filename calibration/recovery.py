"""Recovery of a known value: the engine's values against the synthetic market's truth.

The synthetic market's ``economic_value`` is the income method's formula at the truth's
parameters (``truth.json["conventions"]["economic_value"]``), so valuing the market's products
and comparing is a test of whether the engine values a product right: the median ratio of the
concluded value to the truth (overall and per category), how often the P10-P90 range holds
the truth, and each method's log error. :func:`method_errors` turns the per-method errors into
the ``method_error`` parameters (the log sd of each method's error beyond its sampled inputs)
that weight the reconciliation and widen the range.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from valuation.kernels.valuation import METHODS

_Z90 = 1.2815515655446004  # standard normal 0.9 quantile


def robust_sd(x: np.ndarray) -> float:
    """Return the normal-equivalent sd from the 10 % and 90 % quantiles (robust to tails)."""
    if x.size < 2:
        return math.nan
    lo, hi = np.quantile(x, [0.1, 0.9])
    return float((hi - lo) / (2.0 * _Z90))


def recovery_report(
    results: Sequence[Any], truth: dict[str, float], categories: Sequence[str]
) -> dict[str, Any]:
    """Compare valuation results with the true economic values.

    Parameters
    ----------
    results
        :class:`~valuation.schema.results.ValuationResult` objects.
    truth
        True economic value by product id (``product_truth.csv``).
    categories
        Each result's product category, in the same order.

    Returns
    -------
    dict
        ``n`` (products with a positive truth and a positive concluded value),
        ``n_unvalued``, ``median_ratio``, ``log_error_sd`` (robust), ``range_coverage``
        (share with P10 <= truth <= P90), ``median_p90_p10``, ``by_category`` (each with
        ``n``, ``median_ratio``, ``range_coverage``) and ``methods`` (per method ``n``,
        ``median_ratio``, ``log_error_sd``).
    """
    ratio: list[float] = []
    inside: list[bool] = []
    width: list[float] = []
    cats: list[str] = []
    per_method: dict[str, list[float]] = {m: [] for m in METHODS}
    unvalued = 0
    for r, category in zip(results, categories, strict=True):
        t = truth.get(r.product_id)
        if t is None or not t > 0:
            continue
        if not r.concluded_value or r.concluded_value <= 0:
            unvalued += 1
            continue
        ratio.append(r.concluded_value / t)
        cats.append(category)
        if r.range is not None:
            inside.append(r.range.p10 <= t <= r.range.p90)
            if r.range.p10 > 0:
                width.append(r.range.p90 / r.range.p10)
        for m in METHODS:
            v = getattr(r.methods, m).value
            if v is not None and v > 0:
                per_method[m].append(math.log(v / t))
    ratios = np.array(ratio)
    cat_arr = np.array(cats)
    ins = np.array(inside, dtype=bool)
    by_category = {}
    for c in sorted(set(cats)):
        sel = cat_arr == c
        by_category[c] = {
            "n": int(sel.sum()),
            "median_ratio": float(np.median(ratios[sel])),
            "range_coverage": float(ins[sel].mean()) if ins.size == ratios.size else math.nan,
        }
    return {
        "n": int(ratios.size),
        "n_unvalued": unvalued,
        "median_ratio": float(np.median(ratios)) if ratios.size else math.nan,
        "log_error_sd": robust_sd(np.log(ratios)) if ratios.size else math.nan,
        "range_coverage": float(ins.mean()) if ins.size else math.nan,
        "median_p90_p10": float(np.median(width)) if width else math.nan,
        "by_category": by_category,
        "methods": {
            m: {
                "n": len(e),
                "median_ratio": float(np.exp(np.median(e))) if e else math.nan,
                "log_error_sd": robust_sd(np.array(e)),
            }
            for m, e in per_method.items()
        },
    }


def method_errors(results: Sequence[Any], truth: dict[str, float]) -> dict[str, float]:
    """Measure each method's log error beyond its stated input uncertainty.

    For each method, the robust mean square of ``log(value / truth)`` (its squared median,
    the bias, plus its robust variance) less the mean variance
    the method already states for its inputs (``sigma_log`` without its model part is not
    separable after the fact, so this uses the stated ``sigma_log`` of a valuation run with
    ``method_error`` set to zero), floored at zero.
    """
    out: dict[str, float] = {}
    for m in METHODS:
        errors: list[float] = []
        stated: list[float] = []
        for r in results:
            t = truth.get(r.product_id)
            method = getattr(r.methods, m)
            if t is None or not t > 0 or method.value is None or method.value <= 0:
                continue
            errors.append(math.log(method.value / t))
            stated.append(float(method.sigma_log or 0.0) ** 2)
        if len(errors) < 20:
            continue
        e = np.array(errors)
        # mean squared error around 0 (bias counts against a method), robust to the tails
        var = robust_sd(e) ** 2 + float(np.median(e)) ** 2 - float(np.mean(stated))
        out[m] = round(math.sqrt(max(var, 0.0)), 4)
    return out


__all__ = ["method_errors", "recovery_report", "robust_sd"]
