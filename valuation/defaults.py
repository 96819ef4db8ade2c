"""Every default parameter of the valuation core, kept as data in one place.

A product may omit any assumption; what it omits comes from here, and the result says so (the
``source`` of each key input is ``product``, ``history``, ``default`` or ``calibration``). A
CalibrationSet replaces these numbers through the same interface: it is a mapping with the same
keys (:func:`parameters`), so the methods never know which one they were given.

Each number carries a comment on where it comes from. Where no published figure exists for data
assets, the number is a documented analyst convention and is marked so: calibration replaces it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

DEFAULTS: dict[str, Any] = {
    "format_version": 1,
    # ---- discount-rate build-up: r = risk_free + equity_risk_premium * beta + size + data ----
    # China 10-year government bond yield, about 1.7-1.9% through 2025 (ChinaBond yield curve).
    "risk_free_rate": 0.018,
    # Mature-market ERP plus China country premium: Damodaran's January 2025 table gives
    # about 4.3% + 1.0%; CAS valuation reports commonly use 6-7%. Convention: 6.5%.
    "equity_risk_premium": 0.065,
    # Unlevered-to-relevered sector betas, rounded from Damodaran's China industry betas
    # (software / internet ~1.2-1.4, drugs ~1.0-1.1, banks/financial services ~0.9-1.0,
    # education ~1.0, media ~1.0, transport ~0.8, machinery ~0.9). Analyst convention.
    "sector_beta": {
        "ai": 1.3,
        "biopharma": 1.1,
        "finance": 1.0,
        "education": 1.0,
        "culture": 1.0,
        "transport": 0.8,
        "manufacturing": 0.9,
        "other": 1.0,
    },
    # Small-company premium: data-IP holders are mostly SMEs (SPEC §1: loans of 5-20 m CNY).
    # Kroll/Duff & Phelps size premia for the smallest decile run ~3-5%. Convention: 3%.
    "size_premium": 0.03,
    # Data-specific premium (CAS 2023 Guiding Opinions art. 23: management, circulation, data
    # security and regulatory risks). Algorithms carry model risk and the fastest obsolescence.
    # Analyst convention pending calibration.
    "data_premium": {"data_collection": 0.04, "data_product": 0.05, "data_algorithm": 0.07},
    # ---- income method ----
    # PRC Enterprise Income Tax Law: 25% standard rate, 15% for certified high-tech enterprises.
    "tax_rate": 0.25,
    "tax_rate_high_tech": 0.15,
    # Share of the product's revenue attributable to the data (revenue-share / royalty form).
    # The 25% rule of thumb of licensing practice; the SPEC example uses 0.25. Convention.
    "royalty_rate": {"data_collection": 0.30, "data_product": 0.25, "data_algorithm": 0.20},
    # Revenue growth when the product's history cannot tell: China's digital-economy core
    # industries grew ~8-10%/yr (CAICT white papers 2023-24); AI faster. Convention.
    "growth": {
        "ai": 0.15,
        "biopharma": 0.08,
        "finance": 0.06,
        "education": 0.05,
        "culture": 0.04,
        "transport": 0.05,
        "manufacturing": 0.05,
        "other": 0.05,
    },
    # Annual decay of the attributable share (obsolescence) applied on top of a *default*
    # growth; history-based or explicit growth already carries the product's own decay.
    "decay": {"data_collection": 0.10, "data_product": 0.15, "data_algorithm": 0.20},
    # Remaining economic life of the data (years). The certificate is not the life: it enters
    # the income method as revocation, renewal and lapse events (``certificate`` below and
    # ``collateral_process``). CAS 2023 practice uses 3-5 year lives for data assets.
    "economic_life_years": {"data_collection": 5.0, "data_product": 4.0, "data_algorithm": 3.0},
    # Operating margin for the direct and excess-earnings forms when none is given. Convention.
    "operating_margin": 0.30,
    # Margin of the data's own licensing revenue: the licence income less the costs of
    # producing and delivering it (CAS 2023 direct income). Licensing a data set costs little
    # at the margin once it is built: listed data and analytics vendors report operating
    # margins of ~35-45% on the whole business (RELX Risk ~37%, Verisk ~40-45% EBITDA margin
    # less its services) and higher on pure licensing; algorithms need more delivery support.
    # Convention pending calibration (the transaction tables do not identify it).
    "licensing_margin": {"data_collection": 0.55, "data_product": 0.50, "data_algorithm": 0.45},
    # The certificate as events of the value process (SPEC §5, §6): the hazards, losses and the
    # renewal probability are collateral_process's, shared with the stress test; these are the
    # rest. SPEC §1: a certificate is valid three years. The share of objections that end in a
    # revocation has no published figure: convention.
    "certificate": {"validity_years": 3.0, "objection_revocation_probability": 0.25},
    # Between-product sd of net revenue growth around its segment's: the growth estimated from a
    # product's short, noisy history is shrunk towards the segment's by precision weights
    # (empirical Bayes). Convention pending calibration.
    "history_growth_prior_sd": 0.05,
    # Tax amortisation: PRC EIT Implementation Regulations art. 67, intangibles over >= 10 years.
    "tax_life_years": 10,
    # Growth estimated from history is clipped to this band (a three-point history can say
    # anything; the clip keeps one lucky year from valuing a product at infinity).
    "history_growth_bounds": [-0.5, 1.0],
    # A revenue history older than this many years before the valuation date is stale.
    "stale_revenue_years": 2.0,
    # ---- cost method ----
    # Cost index per cost item (annual change of the cost to reproduce it): labour-dominated
    # items follow urban wages (NBS: average wage growth ~4-6%/yr 2021-24, use 4%); storage and
    # compute fall (cloud storage list prices ~-10%/yr, use -8%); opportunity and tax costs are
    # nominal and not indexed.
    "cost_index": {
        "planning": 0.04,
        "collection": 0.04,
        "storage": -0.08,
        "processing": 0.02,
        "development": 0.04,
        "compliance": 0.04,
        "security": 0.03,
        "operations": 0.03,
        "opportunity": 0.0,
        "tax": 0.0,
    },
    # Return on cost (developer's profit). CAS Expert Guide No. 9 examples and Chinese appraisal
    # reports use cost-profit rates of roughly 8-15%. Convention: 10%.
    "return_on_cost": 0.10,
    # Quality weights of the six CAS dimensions (sum 1). Convention pending calibration.
    "quality_weights": {
        "accuracy": 0.25,
        "consistency": 0.15,
        "completeness": 0.20,
        "conformity": 0.10,
        "timeliness": 0.15,
        "accessibility": 0.15,
    },
    # Quality score assumed when a product states none (and widened uncertainty below).
    "quality_score_missing": 0.75,
    # ---- market method ----
    # Price of a licence relative to an outright transfer of the asset (rights factor), for a
    # licence as long as the asset's remaining life. Convention pending the calibrated
    # hedonic model.
    "rights_factor": {"transfer": 1.0, "exclusive": 0.6, "non_exclusive": 0.25},
    # Elasticities of price: to quality (proportional), to records (economies of scale: the DaDaDa
    # listings show price rising far less than proportionally with volume), to licence term.
    "elasticity": {"quality": 1.0, "volume": 0.3, "term": 0.6},
    # Data-product price index growth per year, for the date adjustment. Convention.
    "price_index_growth": 0.03,
    # ---- uncertainty (for the range and the reconciliation weights) ----
    "uncertainty": {
        "royalty_rate_rel_given": 0.10,
        "royalty_rate_rel_default": 0.30,
        "growth_abs_given": 0.03,
        "growth_abs_default": 0.06,
        "growth_abs_history_floor": 0.02,
        "decay_abs": 0.03,
        "discount_abs_given": 0.015,
        "discount_abs_default": 0.025,
        "cost_index_abs": 0.02,
        "return_on_cost_abs": 0.03,
        "quality_abs_given": 0.05,
        "quality_abs_default": 0.12,
        # log-price dispersion of one comparable after adjustment when too few comps to measure
        # (the DaDaDa listings' residual log-price sd is well above 1; explicit, hand-picked
        # comps are far closer). Convention.
        "comparable_dispersion_default": 0.5,
        "comparable_dispersion_floor": 0.1,
        "elasticity_level": 0.15,
        # relative (log) sd of the economic life and of a default licensing margin: the
        # model uncertainty the range carries beside the inputs'. Conventions.
        "life_rel": 0.25,
        "licensing_margin_rel_default": 0.25,
    },
    # ---- measured accuracy of each method (log sd of its error beyond the sampled inputs) ----
    # Measured by back-test on the synthetic market (benchmarks/bench_recovery.py, products
    # valued against the generator's economic value); a calibration measures its own. The
    # reconciliation weights each method by 1/(sd_inputs^2 + method_error^2) and the range
    # samples this error beside the inputs, so that P10-P90 holds the value ~80 % of the time.
    # "market" applies to a product's own explicit comparables (the synthetic market, whose
    # products have none, cannot measure it: the measured model error is used), "market_model"
    # to comparables from the deal history or the price model.
    "method_error": {"income": 0.47, "cost": 1.5, "market": 0.69, "market_model": 0.69},
    # ---- collateral value process for the Monte Carlo stress (SPEC §6) ----
    # Used when a pledge's collateral is valued by dpv and its process is not given. Drift is
    # the sector growth less the category decay above (E[V_t] = V_0·e^{drift·t}).
    "collateral_process": {
        # Annual volatility of value by sector. Listed Chinese software / internet equities run
        # ~35-50% a year, drugs ~30-40%, banks ~20-25%; a single data product is less
        # diversified than a listed company. Convention pending calibration.
        "volatility": {
            "ai": 0.45,
            "biopharma": 0.40,
            "finance": 0.30,
            "education": 0.35,
            "culture": 0.35,
            "transport": 0.30,
            "manufacturing": 0.30,
            "other": 0.35,
        },
        # Regulatory / market shocks: one every five years, lognormal size, mean loss ~25%.
        "jump_intensity": 0.2,
        "jump_mean": -0.3,
        "jump_volatility": 0.25,
        # Certificate revocation: SPEC §1 says certificates "can be objected to or revoked";
        # no published rate exists. 1.5% a year, total loss of the registered right.
        "revocation_hazard": 0.015,
        "revocation_loss": 1.0,
        # At expiry inside the tenor: renewal with this probability, else this loss.
        "renewal_probability": 0.7,
        "lapse_loss": 0.5,
        # Correlation of items of the same sector through the shared sector factor.
        "correlation": 0.3,
    },
    # ---- reconciliation ----
    "reconciliation": {
        # warn and escalate when the highest method value exceeds the lowest by this factor
        "disagreement_ratio": 2.0,
        # warn when the certificate expires within this many months of the valuation date
        "expiry_warning_months": 12,
        # warn when P90 / P10 exceeds this. The measured accuracy of the concluded value (log
        # error sd ~0.55 on the synthetic market, benchmarks/bench_recovery.py) gives a typical
        # product an honest P90/P10 of ~4; beyond 5 a product is known worse than usual.
        "wide_range_ratio": 5.0,
        "samples": 2000,
        "seed": 20240101,
    },
}


# ---- limits: what one request may ask of the engine, and what an input may plausibly be ----
# Policy, not parameters: they bound the work a request can cause and refuse typing errors
# before any work starts (exit 2 naming the field). No calibration replaces them, and they are
# not part of DEFAULTS (so not of the built-in calibration id).
#
# Dates: nothing is valued before the first digital data products (1970) or after 2199 (loans
# and economic lives run decades, not centuries); a date outside is a typing error.
EARLIEST_DATE = "1970-01-01"
LATEST_DATE = "2199-12-31"
# Range samples of one valuation (2,000 by default): a million take about 2 s end to end for
# one product on a 2-vCPU machine (0.2 s more than the default), a billion several minutes and
# 32 GB of samples.
MAX_RANGE_SAMPLES = 1_000_000
# Path-steps of one stress run: paths x time steps x collateral items x scenario runs. 10^10
# is about a minute at the engine's measured 115-176 M path-steps/s on two cores.
MAX_STRESS_PATH_STEPS = 10_000_000_000
# Largest amount (revenue, cost, price, loan, collateral value) one input may carry, by
# currency: about 10^13 CNY (1.4 trillion USD), above the annual revenue of any company.
# Larger numbers are unit or typing errors, refused rather than valued.
MAX_AMOUNT: dict[str, float] = {
    "CNY": 1e13,
    "HKD": 1e13,
    "USD": 2e12,
    "EUR": 2e12,
    "GBP": 2e12,
    "CHF": 2e12,
    "SGD": 2e12,
    "JPY": 3e14,
    "KRW": 3e15,
}
# A currency without a stated bound gets the loosest (weak currencies run to 10^4 per CNY).
MAX_AMOUNT_OTHER = 1e17
# Smallest collateral value or loan amount: a hundredth of a currency unit (one fen / cent).
MIN_AMOUNT = 0.01


def max_amount(currency: str | None) -> float:
    """Return the largest plausible amount in ``currency`` (:data:`MAX_AMOUNT`)."""
    if currency is None:
        return max(MAX_AMOUNT.values())
    return MAX_AMOUNT.get(currency, MAX_AMOUNT_OTHER)


def parameters(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a deep copy of the defaults, with ``overrides`` merged key by key.

    Parameters
    ----------
    overrides
        A (possibly nested) mapping with a subset of :data:`DEFAULTS`' keys, e.g. from a
        CalibrationSet. Unknown keys are an error.
    """
    merged = copy.deepcopy(DEFAULTS)
    for key, value in (overrides or {}).items():
        if key not in merged:
            raise KeyError(f"unknown parameter {key!r}")
        if isinstance(merged[key], dict) and isinstance(value, dict):
            unknown = set(value) - set(merged[key])
            if unknown:
                raise KeyError(f"unknown keys under {key!r}: {sorted(unknown)}")
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def default_calibration_id() -> str:
    """Return the calibration id of the built-in defaults: ``defaults-<sha256[:12]>``."""
    digest = hashlib.sha256(json.dumps(DEFAULTS, sort_keys=True).encode()).hexdigest()
    return f"defaults-{digest[:12]}"


__all__ = [
    "DEFAULTS",
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAX_AMOUNT",
    "MAX_AMOUNT_OTHER",
    "MAX_RANGE_SAMPLES",
    "MAX_STRESS_PATH_STEPS",
    "MIN_AMOUNT",
    "default_calibration_id",
    "max_amount",
    "parameters",
]
