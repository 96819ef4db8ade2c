"""The calibration pipeline: history -> fitted models and parameters (a :class:`Calibration`).

Every stage is a plain function of the history; the seed fixes the only randomness (the
hedonic model's calibration split and LightGBM), so the same history and seed give identical
artifacts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calibration.history import CATEGORIES, LICENSES, SECTORS, History
from calibration.processes import (
    HazardResults,
    MertonFit,
    RecoveryFit,
    ci95,
    fit_hazards,
    fit_merton,
    fit_recoveries,
    fit_revenue_segments,
)
from valuation.dates import DAYS_PER_YEAR
from valuation.defaults import DEFAULTS
from valuation.schema.product import QUALITY_DIMENSIONS

DEFAULT_SEED = 20241201
QUALITY_CENTER = 0.8
TERRITORIES = ("CN-REGION", "CN", "GLOBAL")  # ranked by reach
HEDONIC_FEATURES = (
    "category",
    "sector",
    "license_rank",
    "territory_rank",
    "log_records",
    "log_fields",
    "quality_score",
    "log_term_months",
    "log_revenue",
    "years_since_2024",
)
# Price does not fall with exclusivity, reach, volume, quality, term or the product's revenue.
HEDONIC_MONOTONE = (
    "license_rank",
    "territory_rank",
    "log_records",
    "quality_score",
    "log_term_months",
    "log_revenue",
)
ROYALTY_FEATURES = ("data_collection", "data_algorithm", "exclusive", "transfer", "quality_score")
MIN_ROYALTY_DEALS = 10
MIN_HEDONIC_DEALS = 40


def segments() -> list[str]:
    """Every ``sector/category`` pair, in truth.json's order."""
    return [f"{s}/{c}" for s in SECTORS for c in CATEGORIES]


def _index(values: NDArray[np.str_], levels: tuple[str, ...]) -> NDArray[np.float64]:
    lookup = {v: float(i) for i, v in enumerate(levels)}
    return np.array([lookup.get(v, math.nan) for v in values.tolist()], dtype=np.float64)


def quality_score(products: dict[str, NDArray[Any]]) -> NDArray[np.float64]:
    """Weighted CAS quality score (valuation's default weights); NaN where one is missing."""
    weights = DEFAULTS["quality_weights"]
    n = products["product_id"].size
    score = np.zeros(n)
    for dim in QUALITY_DIMENSIONS:
        column = products.get(f"quality_{dim}")
        score += weights[dim] * (np.full(n, np.nan) if column is None else column)
    return score


@dataclass(frozen=True)
class DealFeatures:
    """Hedonic and royalty features of deals (rows aligned with the deals table, masked)."""

    X: NDArray[np.float64]
    log_price: NDArray[np.float64]
    royalty_X: NDArray[np.float64]
    royalty_rate: NDArray[np.float64]
    dates: NDArray[np.datetime64]


def deal_features(history: History, deals_mask: NDArray[np.bool_] | None = None) -> DealFeatures:
    """Build the hedonic features of the deals (joined with products and revenue).

    The revenue feature is the product's total revenue in the latest reported calendar year
    before the deal's year (what was known when the deal was struck); NaN when none.
    """
    products = history["products"]
    deals = history["deals"]
    if deals_mask is not None:
        deals = {k: v[deals_mask] for k, v in deals.items()}
    pids = products["product_id"]
    order = np.argsort(pids, kind="stable")
    sorted_ids = pids[order]
    pos = np.searchsorted(sorted_ids, deals["product_id"])
    pos = np.clip(pos, 0, max(sorted_ids.size - 1, 0))
    known = sorted_ids.size > 0
    found = (sorted_ids[pos] == deals["product_id"]) if known else np.zeros(0, bool)
    row = order[pos]

    def take(column: NDArray[Any], fill: Any) -> NDArray[Any]:
        out = column[row] if known else np.array([])
        return np.where(found, out, fill)

    n = deals["deal_id"].size
    records = take(products.get("records", np.full(pids.size, np.nan)), np.nan)
    fields = take(products.get("fields", np.full(pids.size, np.nan)), np.nan)
    quality = take(quality_score(products), np.nan)
    category = take(products["category"], "")
    sector = take(products["sector"], "")
    license_ = deals["license"]
    # a transfer sells the asset for its economic life (valuation's category default): its
    # term is that life, so that the licence effects are rights factors at equal terms
    life_months = 12.0 * np.array(
        [float(DEFAULTS["economic_life_years"].get(c, 1.0)) for c in category.tolist()]
    )
    term = np.where(license_ == "transfer", life_months, deals["term_months"])
    deal_year = deals["date"].astype("datetime64[Y]").astype(np.int64) + 1970
    # revenue of the latest year before the deal year
    revenue = history["revenue"]
    rev_year = revenue["period_end"].astype("datetime64[Y]").astype(np.int64) + 1970
    total = np.nan_to_num(revenue["licensing"]) + np.nan_to_num(revenue["services"])
    rev_pid = np.searchsorted(sorted_ids, revenue["product_id"]) if known else np.zeros(0, int)
    key_rev = rev_pid.astype(np.int64) * 10_000 + rev_year
    srt = np.argsort(key_rev, kind="stable")
    key_rev, total_sorted = key_rev[srt], total[srt]
    key_deal = pos.astype(np.int64) * 10_000 + deal_year - 1
    idx = np.searchsorted(key_rev, key_deal, side="right") - 1
    ok = (idx >= 0) & found
    idx_safe = np.clip(idx, 0, max(key_rev.size - 1, 0))
    same_product = ok & (key_rev.size > 0)
    if key_rev.size:
        same_product &= (key_rev[idx_safe] // 10_000) == pos
    last_revenue = np.where(
        same_product, total_sorted[idx_safe] if key_rev.size else np.nan, np.nan
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        X = (
            np.column_stack(
                [
                    _index(category, CATEGORIES),
                    _index(sector, SECTORS),
                    _index(license_, LICENSES),
                    _index(deals["territory"], TERRITORIES),
                    np.log(records / 1e6),
                    np.log(fields / 10.0),
                    quality,
                    np.log(term / 12.0),
                    np.where(last_revenue > 0, np.log(last_revenue / 1e6), np.nan),
                    (deals["date"] - np.datetime64("2024-01-01")).astype(np.float64)
                    / DAYS_PER_YEAR,
                ]
            )
            if n
            else np.zeros((0, len(HEDONIC_FEATURES)))
        )
        log_price = np.log(deals["price"])
    royalty_X = (
        np.column_stack(
            [
                (category == "data_collection").astype(np.float64),
                (category == "data_algorithm").astype(np.float64),
                (license_ == "exclusive").astype(np.float64),
                (license_ == "transfer").astype(np.float64),
                np.nan_to_num(quality - QUALITY_CENTER),
            ]
        )
        if n
        else np.zeros((0, len(ROYALTY_FEATURES)))
    )
    return DealFeatures(X, log_price, royalty_X, deals["royalty_rate"], deals["date"])


@dataclass
class Calibration:
    """The fitted calibration, before it is written as a CalibrationSet."""

    parameters: dict[str, Any]
    hedonic: Any
    royalty: Any
    metrics: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    # the priced deals the market method selects comparables from (comparables.json): the
    # deals table's deal_id, product_id, date, price, license, term_months and territory
    # columns and ``features``, their hedonic rows (HEDONIC_FEATURES order); None: no table
    comparables: dict[str, NDArray[Any]] | None = None
    # the listing price model of ``dpv price`` (valuation.pricing.model.ListingPriceModel),
    # fitted on real exchange listings when there are some; None: the set has none
    listing_model: Any = None


def _finite(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _revenue_section(fits: dict[str, MertonFit]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Estimates and, per parameter, the Hessian standard error and the 95% interval.

    The interval is the fit's profile-likelihood interval (``MertonFit.interval``; the normal
    ``estimate ± 1.96 se`` only where none was computed); a parameter shared by the segments
    (the pooled jump mean and sd) is marked ``"pooled": true`` and has the same interval in
    every segment.
    """
    est: dict[str, Any] = {}
    se: dict[str, Any] = {}
    for name, fit in fits.items():
        keys = ("net_growth", "volatility", "jump_intensity", "jump_mean", "jump_sd")
        est[name] = {k: _finite(fit.estimate[k]) for k in keys}
        est[name]["mu"] = _finite(fit.estimate["mu"])
        est[name]["n_increments"] = fit.n_increments
        se[name] = {}
        for k in keys:
            interval = fit.interval.get(k) or ci95(fit.estimate[k], fit.standard_error[k])
            se[name][k] = {
                "se": _finite(fit.standard_error[k]),
                "ci95": [_finite(v) for v in interval],
            }
            if k in fit.pooled:
                se[name][k]["pooled"] = True
    return est, se


def _growth_and_decay(fits: dict[str, MertonFit]) -> tuple[dict[str, float], dict[str, float]]:
    """Split segment net growth into sector growth and category decay (weighted LS).

    Revenue identifies ``net_growth = log E[R_(t+1)/R_t]`` per segment, fitted here as
    ``log(1 + growth_s) + log(1 − decay_c)`` so that valuation's ``(1+g)(1−d)`` equals
    ``exp(net_growth)``. Only the sum is identified: the data_collection decay is anchored at
    valuation's default and the rest follows from the segments.
    """
    rows, target, weight = [], [], []
    n_s, n_c = len(SECTORS), len(CATEGORIES)
    for i, s in enumerate(SECTORS):
        for j, c in enumerate(CATEGORIES):
            fit = fits[f"{s}/{c}"]
            ng, se = fit.estimate["net_growth"], fit.standard_error["net_growth"]
            if not (math.isfinite(ng) and math.isfinite(se) and se > 0):
                continue
            row = np.zeros(n_s + n_c - 1)
            row[i] = 1.0
            if j > 0:
                row[n_s + j - 1] = -1.0
            rows.append(row)
            # log-growth of the sector; the anchored category's log-decay moves to the target
            anchor = -math.log1p(-DEFAULTS["decay"][CATEGORIES[0]]) if j == 0 else 0.0
            target.append(ng + anchor)
            weight.append(1.0 / se**2)
    growth = dict(DEFAULTS["growth"])
    decay = dict(DEFAULTS["decay"])
    if len(rows) < n_s + n_c - 1:
        return growth, decay
    a = np.array(rows)
    w = np.sqrt(np.array(weight))
    coef, *_ = np.linalg.lstsq(a * w[:, None], np.array(target) * w, rcond=None)
    seen: NDArray[np.bool_] = np.asarray(a.any(axis=0))
    for i, s in enumerate(SECTORS):
        if seen[i]:
            growth[s] = round(math.expm1(float(coef[i])), 6)
    for j, c in enumerate(CATEGORIES[1:], start=1):
        if seen[n_s + j - 1]:
            decay[c] = round(-math.expm1(-float(coef[n_s + j - 1])), 6)
    return growth, decay


def _collateral_process(fits: dict[str, MertonFit], hazards: HazardResults) -> dict[str, Any]:
    volatility = dict(DEFAULTS["collateral_process"]["volatility"])
    for s in SECTORS:
        parts = [fits[f"{s}/{c}"] for c in CATEGORIES]
        parts = [f for f in parts if f.n_increments >= 30 and math.isfinite(f.estimate["mu"])]
        if parts:
            n = np.array([f.n_increments for f in parts], dtype=np.float64)
            v = np.array([f.estimate["volatility"] for f in parts])
            volatility[s] = round(float((n * v).sum() / n.sum()), 6)
    usable = [f for f in fits.values() if f.n_increments >= 30 and math.isfinite(f.estimate["mu"])]
    out: dict[str, Any] = {"volatility": volatility}
    if usable:
        n = np.array([f.n_increments for f in usable], dtype=np.float64)
        lam = np.array([f.estimate["jump_intensity"] for f in usable])
        expected_jumps = n * lam
        out["jump_intensity"] = round(float((n * lam).sum() / n.sum()), 6)
        if expected_jumps.sum() > 0:
            w = expected_jumps / expected_jumps.sum()
            out["jump_mean"] = round(float(w @ [f.estimate["jump_mean"] for f in usable]), 6)
            out["jump_volatility"] = round(float(w @ [f.estimate["jump_sd"] for f in usable]), 6)
    if math.isfinite(hazards.revocation.rate):
        out["revocation_hazard"] = round(hazards.revocation.rate, 6)
    if math.isfinite(hazards.renewal_probability):
        out["renewal_probability"] = round(hazards.renewal_probability, 6)
    return out


def _hazard_section(hazards: HazardResults) -> tuple[dict[str, Any], dict[str, Any]]:
    lo, hi = hazards.renewal_interval()
    est = {
        "objection": _finite(hazards.objection.rate),
        "revocation": _finite(hazards.revocation.rate),
        "delisting": _finite(hazards.delisting.rate),
        "renewal_probability": _finite(hazards.renewal_probability),
        "lapse_probability": _finite(1.0 - hazards.renewal_probability),
    }
    detail = {
        "objection": hazards.objection.as_dict(),
        "revocation": hazards.revocation.as_dict(),
        "delisting": hazards.delisting.as_dict(),
        "renewal_probability": {
            "renewals": hazards.renewals,
            "lapses": hazards.lapses,
            "ci95": [_finite(lo), _finite(hi)],
        },
    }
    return est, detail


def _recovery_section(rec: RecoveryFit) -> dict[str, Any]:
    identified = math.isfinite(rec.mean_log) and rec.n_defaults - rec.n_censored >= 3
    section: dict[str, Any] = {
        "n_defaults": rec.n_defaults,
        "n_recovery_capped": rec.n_censored,
        "identified": (
            "only the distribution of (1 - liquidation_discount) * exp(value shock) is "
            "identified by recoveries (and recoveries are capped at 1)"
        ),
    }
    if not identified:
        section["liquidation_discount"] = None
        section["note"] = "too few uncapped recoveries of defaulted loans to estimate"
        return section
    section.update(
        {
            "realised_value_log_mean": rec.mean_log,
            "realised_value_log_sd": rec.sd_log,
            "realised_value_log_mean_ci95": ci95(rec.mean_log, rec.mean_log_se),
            "realised_value_log_sd_ci95": ci95(rec.sd_log, rec.sd_log_se),
            "liquidation_discount": {
                "mean": rec.implied_liquidation_discount,
                "assumes": "the collateral's value at default equals its appraisal on average",
            },
        }
    )
    return section


def _fit_hedonic(features: DealFeatures, seed: int, n_jobs: int) -> Any:
    from models import HedonicPriceModel

    ok = np.isfinite(features.log_price)
    if int(ok.sum()) < MIN_HEDONIC_DEALS:
        raise ValueError(
            f"{int(ok.sum())} priced deals: the hedonic model needs {MIN_HEDONIC_DEALS}"
        )
    model = HedonicPriceModel(
        monotone_increasing=HEDONIC_MONOTONE,
        feature_names=HEDONIC_FEATURES,
        coverage=0.8,
        random_state=seed,
        n_jobs=n_jobs,
    )
    return model.fit(features.X[ok], features.log_price[ok])


def _fit_royalty(features: DealFeatures) -> Any:
    from models import RoyaltyRateModel

    rate = features.royalty_rate
    ok = np.isfinite(rate) & (rate > 0) & (rate < 1)
    if int(ok.sum()) < MIN_ROYALTY_DEALS:
        raise ValueError(f"{int(ok.sum())} deals report a royalty rate: need {MIN_ROYALTY_DEALS}")
    return RoyaltyRateModel(alpha=1.0).fit(features.royalty_X[ok], rate[ok])


def hedonic_effects(model: Any, X: NDArray[np.float64]) -> dict[str, Any]:
    """Average partial effects of the hedonic model on log price, keyed like truth.json.

    Levels: the mean predicted log price with every deal set to the level, less the base
    level's. Slopes: mean central difference of predicted log price per unit of the feature.
    """
    if X.shape[0] > 5000:
        X = X[np.linspace(0, X.shape[0] - 1, 5000).astype(np.int64)]
    col = {name: i for i, name in enumerate(HEDONIC_FEATURES)}

    def level_effects(name: str, levels: tuple[str, ...], base: str) -> dict[str, float]:
        means = {}
        for i, level in enumerate(levels):
            Z = X.copy()
            Z[:, col[name]] = i
            means[level] = float(model.predict(Z).mean())
        return {lv: round(means[lv] - means[base], 6) for lv in levels}

    def slope(name: str, step: float) -> float:
        up, down = X.copy(), X.copy()
        up[:, col[name]] += step
        down[:, col[name]] -= step
        ok = np.isfinite(X[:, col[name]])
        diff = model.predict(up[ok]) - model.predict(down[ok])
        return round(float(diff.mean() / (2 * step)), 6)

    return {
        "category": level_effects("category", CATEGORIES, "data_collection"),
        "sector": level_effects("sector", SECTORS, "transport"),
        "license": level_effects("license_rank", LICENSES, "non_exclusive"),
        "territory": level_effects("territory_rank", TERRITORIES, "CN"),
        "log_records": slope("log_records", 0.5),
        "log_fields": slope("log_fields", 0.5),
        "quality_score": slope("quality_score", 0.05),
        "log_term_months": slope("log_term_months", 0.35),
        "log_revenue": slope("log_revenue", 0.5),
        "years_since_2024": slope("years_since_2024", 0.5),
    }


def _royalty_section(model: Any) -> dict[str, Any]:
    coef = dict(zip(ROYALTY_FEATURES, (float(c) for c in model.coef_), strict=True))
    return {
        "intercept": float(model.intercept_),
        "category": {
            "data_collection": coef["data_collection"],
            "data_product": 0.0,
            "data_algorithm": coef["data_algorithm"],
        },
        "license": {
            "non_exclusive": 0.0,
            "exclusive": coef["exclusive"],
            "transfer": coef["transfer"],
        },
        "quality_score": coef["quality_score"],
        "quality_center": QUALITY_CENTER,
        "residual_sd": float(model.residual_std_),
    }


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def fit_calibration(
    history: History,
    *,
    seed: int = DEFAULT_SEED,
    n_jobs: int = 1,
    progress: Callable[[str], None] | None = None,
    revenue: bool = True,
) -> Calibration:
    """Fit every model and parameter of a CalibrationSet from a history.

    Parameters
    ----------
    history
        The loaded tables (:func:`calibration.history.load_history`).
    seed
        Seed of the hedonic model's split and LightGBM.
    n_jobs
        LightGBM threads (the result does not depend on it).
    progress
        Called with the name of each stage as it starts.
    revenue
        Estimate the revenue processes (the back-test, which does not score them, skips it).

    Returns
    -------
    Calibration
        Parameters (truth.json's keys, standard errors, valuation overrides), the fitted
        hedonic and royalty models, in-sample metrics and the seconds per stage.
    """
    timings: dict[str, float] = {}

    def stage(name: str) -> float:
        if progress is not None:
            progress(name)
        return time.perf_counter()

    t = stage("revenue")
    fits = (
        fit_revenue_segments(history, segments())
        if revenue
        else {name: fit_merton(np.empty(0)) for name in segments()}
    )
    timings["revenue_mle"] = time.perf_counter() - t
    t = stage("hazards")
    hazards = fit_hazards(history)
    recoveries = fit_recoveries(history)
    timings["hazards_and_recoveries"] = time.perf_counter() - t
    t = stage("features")
    features = deal_features(history)
    timings["features"] = time.perf_counter() - t
    t = stage("hedonic")
    hedonic = _fit_hedonic(features, seed, n_jobs)
    ok = np.isfinite(features.log_price)
    effects = hedonic_effects(hedonic, features.X[ok])
    residual = features.log_price[ok] - hedonic.predict(features.X[ok])
    timings["hedonic"] = time.perf_counter() - t
    t = stage("royalty")
    royalty = _fit_royalty(features)
    timings["royalty"] = time.perf_counter() - t
    deals = history["deals"]
    columns = ("deal_id", "product_id", "date", "price", "license", "term_months", "territory")
    comparables = {name: np.asarray(deals[name])[ok] for name in columns}
    comparables["features"] = features.X[ok]

    t = stage("parameters")
    revenue_est, revenue_se = _revenue_section(fits)
    hazard_est, hazard_detail = _hazard_section(hazards)
    royalty_params = _royalty_section(royalty)
    growth, decay = _growth_and_decay(fits)
    mean_quality = float(np.nanmean(features.X[ok, HEDONIC_FEATURES.index("quality_score")]))
    lic = effects["license"]
    valuation: dict[str, Any] = {
        "growth": growth,
        "decay": decay,
        "royalty_rate": {
            c: round(_expit(royalty_params["intercept"] + royalty_params["category"][c]), 6)
            for c in CATEGORIES
        },
        "rights_factor": {
            "transfer": 1.0,
            "exclusive": round(math.exp(lic["exclusive"] - lic["transfer"]), 6),
            "non_exclusive": round(math.exp(lic["non_exclusive"] - lic["transfer"]), 6),
        },
        "elasticity": {
            "quality": round(effects["quality_score"] * mean_quality, 6),
            "volume": effects["log_records"],
            "term": effects["log_term_months"],
        },
        "price_index_growth": round(math.expm1(effects["years_since_2024"]), 6),
        "collateral_process": _collateral_process(fits, hazards),
    }
    hedonic_params = {
        **effects,
        "residual_sd_in_sample": float(np.std(residual)),
        "note": (
            "average partial effects of the LightGBM model on log price; the product effect "
            "and the deal noise are identified only jointly (residual_sd)"
        ),
    }
    parameters: dict[str, Any] = {
        "format_version": 1,
        "revenue": {"segments": revenue_est},
        "hazards": hazard_est,
        "royalty_rate": royalty_params,
        "hedonic": hedonic_params,
        "loans": {"liquidation": _recovery_section(recoveries)},
        "standard_errors": {
            "revenue": {
                "segments": revenue_se,
                "ci95": (
                    "profile likelihood: the values whose profile log-likelihood (every other "
                    "parameter re-optimised within its bounds) is within chi2(1, 0.95)/2 = 1.92 "
                    "of the maximum; an interval may end at a bound. 'se' is the Hessian "
                    "(Wald) standard error, unreliable for the jump parameters. 'pooled': one "
                    "value shared by all segments (jump mean and sd), estimated jointly"
                ),
            },
            "hazards": hazard_detail,
        },
        "identification": {
            "growth_decay": (
                "revenue identifies net_growth = growth - decay only; valuation.growth and "
                "valuation.decay split it with the data_collection decay anchored at the "
                "default"
            ),
            "jumps": (
                "jump intensity, mean and sd are weakly identified from annual increments; "
                "see their profile-likelihood intervals (standard_errors.revenue)"
            ),
            "liquidation": "recoveries identify (1 - liquidation_discount) * exp(value shock)",
            "hedonic": "product effect and deal noise only jointly (residual_sd_in_sample)",
        },
        "valuation": valuation,
    }
    timings["parameters"] = time.perf_counter() - t
    metrics = {
        "history": {name: history.n_rows(name) for name in sorted(history.tables)},
        "as_of": history.as_of.isoformat(),
        "hedonic_in_sample": {
            "deals": int(ok.sum()),
            "r2": float(1.0 - residual.var() / features.log_price[ok].var()),
            "residual_sd": float(np.std(residual)),
        },
        "royalty_deals": int(
            np.count_nonzero(np.isfinite(features.royalty_rate) & (features.royalty_rate > 0))
        ),
        "revenue_increments": int(sum(f.n_increments for f in fits.values())),
    }
    return Calibration(parameters, hedonic, royalty, metrics, timings, comparables)


__all__ = [
    "DEFAULT_SEED",
    "HEDONIC_FEATURES",
    "Calibration",
    "deal_features",
    "fit_calibration",
    "hedonic_effects",
    "segments",
]
