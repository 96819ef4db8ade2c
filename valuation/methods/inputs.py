"""From validated products to the kernels' arrays, with the reasons and sources a report needs.

This is the only place where the assumptions a product omits are filled from the parameters
(defaults or a calibration), and where each input's ``source`` is recorded: ``product`` (given
in the product), ``history`` (estimated from its revenue history), ``default`` or
``calibration``. The arithmetic itself lives in :mod:`valuation.kernels.valuation`.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np

from valuation.dates import years_between
from valuation.kernels.rng import entity_key
from valuation.kernels.valuation import CostInputs, IncomeInputs, MarketInputs
from valuation.methods.market_model import HISTORY_LISTING, market_estimates
from valuation.methods.profiles import Profile
from valuation.schema.product import QUALITY_DIMENSIONS, Product, RevenuePeriod


@dataclass
class ProductContext:
    """What the report says about one product beside the numbers: inputs, sources, reasons."""

    skipped: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(
        default_factory=lambda: {"income": {}, "cost": {}, "market": {}}
    )
    warnings: list[tuple[str, str]] = field(default_factory=list)
    income_mode: str = "revenue_share"
    market_source: str = "comparables"
    events: CertificateEvents | None = None

    def note(self, method: str, name: str, value: Any, source: str) -> None:
        """Record a key input of ``method`` with where it came from."""
        self.inputs[method][name] = {"value": value, "source": source}


@dataclass
class Prepared:
    """The arrays of a batch and the per-product contexts."""

    has: np.ndarray
    income: IncomeInputs
    cost: CostInputs
    market: MarketInputs
    entity: np.ndarray
    contexts: list[ProductContext]


def _source(given: Any, calibrated: bool) -> str:
    if given is not None:
        return "product"
    return "calibration" if calibrated else "default"


def quality_score(product: Product, params: dict[str, Any]) -> tuple[float, bool]:
    """Return the weighted quality score of ``product`` and whether it was given."""
    quality = product.attributes.quality
    if quality is None:
        return float(params["quality_score_missing"]), False
    weights = params["quality_weights"]
    total = sum(weights[d] for d in QUALITY_DIMENSIONS)
    score = sum(weights[d] * getattr(quality, d) for d in QUALITY_DIMENSIONS) / total
    return float(score), True


def history_growth(
    product: Product, as_of: dt.date, params: dict[str, Any]
) -> tuple[float, float] | None:
    """Estimate annual growth (and its standard error) from the revenue history.

    Log-linear least squares of total revenue on time over the positive periods up to the
    valuation date; two periods give their ratio. The slope is the drift of log revenue; the
    expected growth adds back the process's convexity, ``σ²/2 + λ·(E[jump factor] − 1)``
    with the sector's volatility and the jumps of ``collateral_process`` (Merton's convention,
    SPEC §6: the same process the stress test simulates). Returns None with fewer than two.
    """
    points = sorted(
        (r.period_end, r.total) for r in product.revenue if r.period_end <= as_of and r.total > 0
    )
    if len(points) < 2:
        return None
    t = np.array([years_between(points[0][0], p[0]) for p in points])
    y = np.log(np.array([p[1] for p in points]))
    lo, hi = params["history_growth_bounds"]
    floor_sd = params["uncertainty"]["growth_abs_history_floor"]
    if len(points) == 2:
        slope = (y[1] - y[0]) / (t[1] - t[0])
        se = params["uncertainty"]["growth_abs_default"]
    else:
        # ndarray.mean() is np.add.reduce over the count: called directly, without its wrapper
        n = len(points)
        tc = t - np.add.reduce(t) / n
        yc = y - np.add.reduce(y) / n
        stt = tc @ tc
        slope = float(tc @ yc / stt)
        resid = yc - slope * tc
        se = float(math.sqrt(resid @ resid / (n - 2) / stt))
    proc = params["collateral_process"]
    vol = float(proc["volatility"][product.sector])
    jump_factor = math.expm1(proc["jump_mean"] + 0.5 * proc["jump_volatility"] ** 2)
    convexity = 0.5 * vol * vol + proc["jump_intensity"] * jump_factor
    # np.clip of one number, without its array machinery (NaN still passes through)
    growth = float(min(max(math.expm1(slope + convexity), lo), hi))
    return growth, max(se * (1.0 + growth), floor_sd)


def economic_life(
    product: Product, as_of: dt.date, params: dict[str, Any], calibrated: bool
) -> tuple[float, str]:
    """Return the remaining economic life in years and a sentence on where it came from.

    The data's own life (the product's ``economic_life_years``, else the category's default or
    calibrated life): the certificate is not the life but events of the value process
    (:func:`certificate_events`). With ``income_assumptions.life = "certificate"`` the life
    stops at the certificate's expiry, for appraisers who must (no life once it has expired or
    been revoked).
    """
    ia = product.income_assumptions
    cert = product.certificate
    given = ia.economic_life_years is not None
    life = float(ia.economic_life_years or params["economic_life_years"][product.category])
    source = "product" if given else ("calibration" if calibrated else "default")
    if ia.life == "certificate":
        if cert.status in ("revoked", "expired"):
            return 0.0, f"life stops at the certificate (life: certificate), which is {cert.status}"
        remaining = max(years_between(as_of, cert.expires_on), 0.0)
        if remaining < life:
            return (
                remaining,
                f"stops at the certificate's expiry {cert.expires_on} (life: certificate)",
            )
    return life, f"economic life of the data ({source})"


@dataclass(frozen=True)
class CertificateEvents:
    """The certificate's future events and the share of value already lost to past ones."""

    hazard: float
    revoke_keep: float
    first_expiry: float
    validity: float
    renew_p: float
    lapse_keep: float
    keep: float
    note: str


def certificate_events(
    product: Product, as_of: dt.date, params: dict[str, Any], base_end: dt.date | None
) -> CertificateEvents:
    """Return the certificate's events as the value process models them (SPEC §5, §6).

    A live certificate (``valid``, ``announced``, ``objected``) can be revoked at the
    ``collateral_process`` hazard and is renewed at each expiry with its probability, else it
    lapses: the same parameters the stress test simulates. An ``objected`` one has already lost
    the expected share ``objection_revocation_probability × revocation_loss``. An ``expired``
    certificate has lapsed: its lapse loss applies unless the revenue base already postdates the
    lapse (``base_end``). A ``revoked`` one keeps ``1 − revocation_loss``. With
    ``life: certificate`` the life stops at the expiry and no event is modelled.
    """
    proc = params["collateral_process"]
    cert = params["certificate"]
    status = product.certificate.status
    revoke_keep = 1.0 - float(proc["revocation_loss"])
    lapse_keep = 1.0 - float(proc["lapse_loss"])
    renew_p = float(proc["renewal_probability"])
    if product.income_assumptions.assume_renewal:
        renew_p = 1.0
    validity = float(cert["validity_years"])
    expires = product.certificate.expires_on
    none_ahead = dict(hazard=0.0, first_expiry=math.inf, validity=validity)
    if product.income_assumptions.life == "certificate":
        return CertificateEvents(
            **none_ahead,
            revoke_keep=1.0,
            renew_p=1.0,
            lapse_keep=1.0,
            keep=1.0,
            note="life stops at the certificate's expiry: no event modelled",
        )
    if status == "revoked":
        return CertificateEvents(
            **none_ahead,
            revoke_keep=1.0,
            renew_p=1.0,
            lapse_keep=1.0,
            keep=revoke_keep,
            note=f"revoked: keeps {revoke_keep:.0%} of its value (revocation loss)",
        )
    if status == "expired" or (expires <= as_of and status != "announced"):
        lapsed_after_base = base_end is None or expires > base_end
        keep = lapse_keep if lapsed_after_base else 1.0
        why = (
            f"lapsed on {expires}: keeps {lapse_keep:.0%} of its value (lapse loss)"
            if lapsed_after_base
            else f"lapsed on {expires}, before the revenue base period ended: already in revenue"
        )
        return CertificateEvents(
            **none_ahead, revoke_keep=1.0, renew_p=1.0, lapse_keep=1.0, keep=keep, note=why
        )
    keep = 1.0
    note = (
        f"revocation hazard {proc['revocation_hazard']:g}/yr (loss {proc['revocation_loss']:g}); "
        f"expiry {expires}, then every {validity:g} years: renewed with probability "
        f"{renew_p:g}, else lapse loss {proc['lapse_loss']:g}"
    )
    if status == "objected":
        p_obj = float(cert["objection_revocation_probability"])
        keep = 1.0 - p_obj * float(proc["revocation_loss"])
        note += f"; objected: expected loss {1.0 - keep:.0%} (revocation in {p_obj:.0%} of cases)"
    return CertificateEvents(
        hazard=float(proc["revocation_hazard"]),
        revoke_keep=revoke_keep,
        first_expiry=max(years_between(as_of, expires), 0.0),
        validity=validity,
        renew_p=renew_p,
        lapse_keep=lapse_keep,
        keep=keep,
        note=note,
    )


def discount_rate(product: Product, params: dict[str, Any]) -> tuple[float, dict[str, float]]:
    """Return the build-up discount rate and its components."""
    parts = {
        "risk_free_rate": params["risk_free_rate"],
        "equity_risk_premium_x_beta": params["equity_risk_premium"]
        * params["sector_beta"][product.sector],
        "size_premium": params["size_premium"],
        "data_premium": params["data_premium"][product.category],
    }
    return float(sum(parts.values())), parts


def resolve_mode(product: Product, latest: RevenuePeriod | None) -> tuple[str, str]:
    """Return the income mode and why: the user's, or the one the revenue's kind calls for.

    Licensing revenue is the data's own income: the direct mode (income less the cost of
    producing and delivering it). Services revenue is a business the data supports: a revenue
    share (relief from royalty). A history of both takes each part by its own mode (``mixed``).
    """
    ia = product.income_assumptions
    if ia.mode != "auto":
        return ia.mode, "named by the product"
    if latest is None:
        return "revenue_share", "no revenue history: revenue share by default"
    if latest.services <= 0.0:
        return "direct", "revenue is licensing of the data itself: direct income (CAS 2023)"
    if latest.licensing <= 0.0:
        return "revenue_share", "revenue is of services the data supports: revenue share"
    share = latest.licensing / latest.total
    return (
        "mixed",
        f"licensing ({share:.0%} of revenue) by direct income, services by revenue share",
    )


def _prepare_income(
    product: Product,
    as_of: dt.date,
    params: dict[str, Any],
    calibrated: bool,
    ctx: ProductContext,
    row: dict[str, float],
) -> bool:
    ia = product.income_assumptions
    unc = params["uncertainty"]
    high_tech = product.holder is not None and product.holder.high_tech
    tax = (
        ia.tax_rate
        if ia.tax_rate is not None
        else params["tax_rate_high_tech" if high_tech else "tax_rate"]
    )
    life, life_note = economic_life(product, as_of, params, calibrated)
    if life <= 0.0:
        ctx.skipped["income"] = f"no remaining economic life: {life_note}"
        return False
    revenue = sorted(
        (r for r in product.revenue if r.period_end <= as_of), key=lambda r: r.period_end
    )
    mode, why = resolve_mode(product, revenue[-1] if revenue else None)
    ctx.income_mode = mode
    default_source = "calibration" if calibrated else "default"
    roll = 0.0
    if mode == "incremental":
        if ia.incremental_profit is None:
            ctx.skipped["income"] = "incremental mode needs income_assumptions.incremental_profit"
            return False
        base = ia.incremental_profit
        rate = 1.0 - tax
        sd_rate = unc["royalty_rate_rel_given"]
        ctx.note("income", "incremental_profit", base, "product")
    else:
        if not revenue:
            ctx.skipped["income"] = "no revenue history up to the valuation date"
            return False
        latest = revenue[-1]
        base = latest.total
        if base <= 0.0:
            ctx.skipped["income"] = f"latest revenue (period ending {latest.period_end}) is zero"
            return False
        roll = years_between(latest.period_end, as_of)
        ctx.note("income", "base_revenue", base, "product")
        ctx.note("income", "base_period_end", latest.period_end.isoformat(), "product")
        if years_between(latest.period_end, as_of) > params["stale_revenue_years"]:
            ctx.warnings.append(
                (
                    "stale_revenue",
                    f"latest revenue period ended {latest.period_end}, over "
                    f"{params['stale_revenue_years']:g} years before the valuation date",
                )
            )
        royalty = (
            ia.royalty_rate
            if ia.royalty_rate is not None
            else params["royalty_rate"][product.category]
        )
        sd_royalty = unc[
            "royalty_rate_rel_given" if ia.royalty_rate is not None else "royalty_rate_rel_default"
        ]
        if mode in ("direct", "mixed"):
            margin_given = ia.operating_margin is not None
            margin = float(
                ia.operating_margin
                if ia.operating_margin is not None
                else params["licensing_margin"][product.category]
            )
            sd_margin = unc[
                "royalty_rate_rel_given" if margin_given else "licensing_margin_rel_default"
            ]
            ctx.note("income", "licensing_margin", margin, _source(ia.operating_margin, calibrated))
            if mode == "direct":
                share, sd_rate = margin, sd_margin
            else:
                lic = latest.licensing / base
                share = margin * lic + royalty * (1.0 - lic)
                w = margin * lic / share if share > 0 else 0.0
                sd_rate = math.hypot(w * sd_margin, (1.0 - w) * sd_royalty)
                ctx.note("income", "licensing_share", lic, "product")
                ctx.note("income", "royalty_rate", royalty, _source(ia.royalty_rate, calibrated))
            rate = share * (1.0 - tax)
        elif mode == "revenue_share":
            rate = royalty * (1.0 - tax)
            sd_rate = sd_royalty
            ctx.note("income", "royalty_rate", royalty, _source(ia.royalty_rate, calibrated))
        else:
            margin = (
                ia.operating_margin
                if ia.operating_margin is not None
                else params["operating_margin"]
            )
            rate = margin * (1.0 - tax)
            sd_rate = unc[
                "royalty_rate_rel_given"
                if ia.operating_margin is not None
                else "royalty_rate_rel_default"
            ]
            ctx.note("income", "operating_margin", margin, _source(ia.operating_margin, calibrated))
            if mode == "excess_earnings":
                charges = sum(a.amount * a.required_return for a in ia.contributory_assets)
                ctx.note("income", "contributory_charges", charges, "product")
                rate -= charges / base
        if rate <= 0.0:
            ctx.skipped["income"] = (
                "after-tax earnings attributable to the data are not positive "
                "(rate, margin too low or contributory charges too high)"
            )
            return False
    ctx.note("income", "mode", mode, why)
    tax_source = "default (high-tech enterprise rate)" if high_tech else "default"
    ctx.note("income", "tax_rate", tax, "product" if ia.tax_rate is not None else tax_source)
    ctx.note("income", "attributable_share_after_tax", rate, "derived")

    prior_growth = params["growth"][product.sector]
    prior_decay = params["decay"][product.category]
    if ia.growth is not None:
        growth, sd_growth, g_source = ia.growth, unc["growth_abs_given"], "product"
    else:
        estimate = history_growth(product, as_of, params) if mode != "incremental" else None
        if estimate is not None:
            # shrink the history's net growth towards the segment's (precision weights)
            hist, se = estimate
            prior_net = (1.0 + prior_growth) * (1.0 - prior_decay) - 1.0
            tau = float(params["history_growth_prior_sd"])
            w = tau * tau / (tau * tau + se * se)
            growth = w * hist + (1.0 - w) * prior_net
            sd_growth = max(math.sqrt(1.0 / (1.0 / (tau * tau) + 1.0 / (se * se))), 1e-4)
            g_source = f"history ({w:.0%}) shrunk to the segment's {default_source} growth"
            ctx.note("income", "history_growth", hist, "history")
        else:
            growth = prior_growth
            sd_growth = unc["growth_abs_default"]
            g_source = default_source
    if ia.decay is not None:
        decay, d_source = ia.decay, "product"
    elif g_source == default_source:
        decay, d_source = prior_decay, g_source
    else:
        decay, d_source = 0.0, "none (growth net of decay: from history or the product)"
    ctx.note("income", "growth", growth, g_source)
    ctx.note("income", "decay", decay, d_source)

    if ia.discount_rate is not None:
        k, sd_k = ia.discount_rate, unc["discount_abs_given"]
        ctx.note("income", "discount_rate", k, "product")
    else:
        k, parts = discount_rate(product, params)
        sd_k = unc["discount_abs_default"]
        ctx.note("income", "discount_rate", k, default_source)
        ctx.note("income", "discount_rate_build_up", parts, "default")
    ctx.note("income", "life_years", life, life_note)
    ctx.note(
        "income",
        "life_convention",
        ia.life,
        "product" if "life" in ia.model_fields_set else "default",
    )
    ctx.note("income", "mid_year", ia.mid_year, "product")
    events = ctx.events
    assert events is not None  # set by prepare() before the methods
    ctx.note("income", "certificate", events.note, default_source)
    if roll > 0.0:
        ctx.note("income", "roll_forward_years", roll, "base period end to the valuation date")
    tab_life = float(ia.tax_life_years or params["tax_life_years"])
    if ia.tax_amortisation_benefit:
        ctx.note(
            "income",
            "tax_amortisation_life_years",
            tab_life,
            _source(ia.tax_life_years, calibrated),
        )
    sd_life = 0.0 if ia.economic_life_years is not None else unc["life_rel"]
    row.update(
        base=base,
        rate=rate,
        growth=growth,
        decay=decay,
        discount=k,
        life=life,
        mid_year=1.0 if ia.mid_year else 0.0,
        tab_tax=tax if ia.tax_amortisation_benefit else 0.0,
        tab_life=tab_life,
        sd_rate=sd_rate,
        sd_growth=sd_growth,
        sd_decay=unc["decay_abs"] if decay > 0.0 or d_source != "product" else 0.0,
        sd_discount=sd_k,
        roll=roll,
        hazard=events.hazard,
        revoke_keep=events.revoke_keep,
        first_expiry=events.first_expiry,
        validity=events.validity,
        renew_p=events.renew_p,
        lapse_keep=events.lapse_keep,
        sd_life=sd_life,
        sd_model=float(params["method_error"]["income"]),
    )
    return True


def _prepare_cost(
    product: Product,
    as_of: dt.date,
    params: dict[str, Any],
    profile: Profile,
    calibrated: bool,
    ctx: ProductContext,
    row: dict[str, float],
    items: list[tuple[float, float, float]],
) -> bool:
    unc = params["uncertainty"]
    costs = [c for c in product.costs if c.incurred_on <= as_of]
    if len(costs) < len(product.costs):
        ctx.warnings.append(
            ("future_costs_ignored", "cost items incurred after the valuation date are ignored")
        )
    if not costs:
        ctx.skipped["cost"] = "no cost items incurred up to the valuation date"
        return False
    total = sum(c.amount for c in costs)
    if total <= 0.0:
        ctx.skipped["cost"] = "cost items sum to zero"
        return False
    ca = product.cost_assumptions
    if ca.remaining_life_years is not None:
        remaining, r_source = ca.remaining_life_years, "product"
    else:
        remaining, note = economic_life(product, as_of, params, calibrated)
        r_source = note
    if remaining <= 0.0:
        ctx.skipped["cost"] = f"no remaining life ({r_source})"
        return False
    ret = ca.return_on_cost if ca.return_on_cost is not None else params["return_on_cost"]
    if profile.cost_uses_quality:
        k_quality, given = quality_score(product, params)
        sd_q = unc["quality_abs_given" if given else "quality_abs_default"]
        ctx.note("cost", "quality_factor", k_quality, "product" if given else "default")
    else:
        k_quality, sd_q = 1.0, 0.0
    for c in costs:
        items.append((c.amount, years_between(c.incurred_on, as_of), params["cost_index"][c.item]))
    ctx.note("cost", "total_cost", total, "product")
    ctx.note("cost", "indexed", profile.cost_indexed, profile.name)
    ctx.note("cost", "return_on_cost", ret, _source(ca.return_on_cost, calibrated))
    ctx.note("cost", "remaining_life_years", remaining, r_source)
    row.update(
        indexed=1.0 if profile.cost_indexed else 0.0,
        return_on_cost=ret,
        quality_factor=k_quality,
        remaining_life=remaining,
        sd_index=unc["cost_index_abs"],
        sd_return=unc["return_on_cost_abs"],
        sd_quality=sd_q,
    )
    return True


def comparable_factors(
    product: Product, as_of: dt.date, params: dict[str, Any], life_years: float
) -> list[dict[str, float]]:
    """Return the log adjustment factors of each usable comparable (dated up to ``as_of``).

    Keys: ``price``, ``years_ago``, ``log_quality_ratio``, ``log_volume_ratio``, ``rights``,
    ``term``, ``supply_demand``, ``other`` (the last four as logs of multiplicative factors).
    The subject is valued as an outright transfer of the asset for its remaining economic life
    ``life_years``: a licence price is scaled from its term to that life by the term
    elasticity, then to an outright transfer by the rights factor.
    """
    subject_quality, _ = quality_score(product, params)
    subject_records = product.attributes.records or 0
    rights = params["rights_factor"]
    e_term = params["elasticity"]["term"]
    life_months = max(life_years * 12.0, 1.0)
    rows = []
    for comp in product.comparables:
        if comp.date > as_of:
            continue
        q = comp.attributes.quality_score
        r = comp.attributes.records
        term = 0.0
        if comp.license != "transfer" and comp.term_months is not None:
            term = e_term * math.log(life_months / comp.term_months)
        rows.append(
            {
                "price": comp.price,
                "years_ago": years_between(comp.date, as_of),
                "log_quality_ratio": math.log(subject_quality / q) if q and q > 0 else 0.0,
                "log_volume_ratio": math.log(subject_records / r)
                if r and subject_records > 0
                else 0.0,
                "rights": math.log(rights["transfer"] / rights[comp.license]),
                "term": term,
                "supply_demand": math.log(comp.adjustments.supply_demand),
                "other": math.log(comp.adjustments.other),
            }
        )
    return rows


def _note_method_errors(
    contexts: list[ProductContext], has: np.ndarray, params: dict[str, Any], calibrated: bool
) -> None:
    """Record each available method's measured error: the basis of its reconciliation weight."""
    source = (
        "calibration: measured on a synthetic market drawn from its fitted processes"
        if calibrated
        else "default: measured against the synthetic market's truth (bench_recovery)"
    )
    errors = params["method_error"]
    for i, ctx in enumerate(contexts):
        for m, method in enumerate(("income", "cost", "market")):
            if has[i, m]:
                key = "market_model" if m == 2 and ctx.market_source != "comparables" else method
                ctx.note(method, "method_error", float(errors[key]), source)


def _columns(
    rows: list[dict[str, float]], keys: Sequence[str], fills: dict[str, float]
) -> dict[str, np.ndarray]:
    """Return each of ``keys`` as a float64 column over ``rows`` (``fills`` or 0 if absent)."""
    # one pass over the rows: a row with every key read by one itemgetter call
    every = itemgetter(*keys)
    pairs = [(k, fills.get(k, 0.0)) for k in keys]
    table = np.array(
        [every(r) if len(r) == len(keys) else [r.get(k, f) for k, f in pairs] for r in rows],
        dtype=np.float64,
    ).reshape(len(rows), len(keys))
    return {k: table[:, j].copy() for j, k in enumerate(keys)}


_COST_KEYS = (
    "indexed",
    "return_on_cost",
    "quality_factor",
    "remaining_life",
    "sd_index",
    "sd_return",
    "sd_quality",
)
"""The per-product cost inputs :func:`_prepare_cost` writes (a skipped product: none)."""


def _deal_ids(comparables: Sequence[Any]) -> list[str]:
    """Return the deal ids of a market estimate's comparables (without building records)."""
    ids = getattr(comparables, "deal_ids", None)
    return list(ids) if ids is not None else [c.deal_id for c in comparables]


def prepare(
    products: Sequence[Product],
    as_of: dt.date,
    params: dict[str, Any],
    profile: Profile,
    *,
    calibrated: bool = False,
    market_model: Any | None = None,
) -> Prepared:
    """Turn validated products into the kernels' arrays and per-product contexts.

    Parameters
    ----------
    products
        Validated products.
    as_of
        The valuation date (one date for the batch).
    params
        Parameters with the keys of :data:`valuation.defaults.DEFAULTS`.
    profile
        The valuation standard followed.
    calibrated
        True when ``params`` come from a CalibrationSet (sources say ``calibration``).
    market_model
        The calibration's hedonic price model (:class:`models.HedonicPriceModel`): prices the
        products without usable comparables (:mod:`valuation.methods.market_model`).
    """
    n = len(products)
    has = np.zeros((n, 3), dtype=np.bool_)
    income_rows: list[dict[str, float]] = []
    cost_rows: list[dict[str, float]] = []
    cost_items: list[tuple[float, float, float]] = []
    cost_offsets = [0]
    comps: list[dict[str, float]] = []
    comp_offsets = [0]
    contexts = []
    unc = params["uncertainty"]
    keep = np.ones(n)
    model_rows: list[int] = []
    for i, product in enumerate(products):
        ctx = ProductContext()
        contexts.append(ctx)
        base_ends = [r.period_end for r in product.revenue if r.period_end <= as_of]
        ctx.events = certificate_events(product, as_of, params, max(base_ends, default=None))
        keep[i] = ctx.events.keep
        inc_row: dict[str, float] = {}
        has[i, 0] = _prepare_income(product, as_of, params, calibrated, ctx, inc_row)
        income_rows.append(inc_row)
        cost_row: dict[str, float] = {}
        has[i, 1] = _prepare_cost(
            product, as_of, params, profile, calibrated, ctx, cost_row, cost_items
        )
        cost_rows.append(cost_row)
        cost_offsets.append(len(cost_items))
        life, life_note = economic_life(product, as_of, params, calibrated)
        if life <= 0.0:
            ctx.skipped["market"] = f"no remaining economic life: {life_note}"
        else:
            rows = comparable_factors(product, as_of, params, life)
            if rows:
                comps.extend(rows)
                has[i, 2] = True
                ctx.note("market", "comparables", len(rows), "product")
                ctx.note(
                    "market",
                    "elasticity",
                    dict(params["elasticity"]),
                    "calibration" if calibrated else "default",
                )
                ctx.note(
                    "market",
                    "price_index_growth",
                    params["price_index_growth"],
                    "calibration" if calibrated else "default",
                )
                ctx.note("market", "basis", "outright transfer of the asset", "method")
            elif market_model is not None:
                model_rows.append(i)
            elif product.comparables:
                ctx.skipped["market"] = "every comparable is dated after the valuation date"
            else:
                ctx.skipped["market"] = (
                    "no comparables given and no calibration with a price model in force"
                )
        comp_offsets.append(len(comps))

    ones = np.ones(n)

    fills = {
        "tab_life": 1.0,
        "revoke_keep": 1.0,
        "first_expiry": math.inf,
        "validity": 3.0,
        "renew_p": 1.0,
        "lapse_keep": 1.0,
    }
    income_keys = [k for k in IncomeInputs._fields if k != "keep"]
    income = IncomeInputs(keep=keep, **_columns(income_rows, income_keys, fills))
    items = np.array(cost_items, dtype=np.float64).reshape(-1, 3)
    cost = CostInputs(
        offsets=np.array(cost_offsets, dtype=np.int64),
        amount=items[:, 0].copy(),
        age_years=items[:, 1].copy(),
        index_rate=items[:, 2].copy(),
        **_columns(cost_rows, _COST_KEYS, {"quality_factor": 1.0}),
        sd_model=ones * params["method_error"]["cost"],
    )
    model_value = np.zeros(n)
    model_sd = np.zeros(n)
    if model_rows:
        estimates = market_estimates(
            market_model,
            [products[i] for i in model_rows],
            as_of,
            params["quality_weights"],
            params["economic_life_years"],
        )
        for est, i in zip(estimates, model_rows, strict=True):
            ctx = contexts[i]
            if est.source == "none":
                ctx.skipped["market"] = "the calibration's price model gives no finite price"
                continue
            has[i, 2] = True
            model_value[i] = est.value
            model_sd[i] = est.sigma
            ctx.market_source = est.source
            ctx.note("market", "basis", "outright transfer of the asset, home territory", "method")
            if est.source == "history":
                ctx.note("market", "comparables", len(est.comparables), "calibration")
                ctx.note(
                    "market",
                    "comparables_selection",
                    {**est.selection, "deal_ids": _deal_ids(est.comparables)},
                    "calibration's deal history (no comparables given)",
                )
                ctx.note(
                    "market",
                    "adjustments",
                    "hedonic model of the calibration: ratio of predicted prices per attribute",
                    "calibration",
                )
                # the listing itself, for the result's comparables table (reconcile pops it)
                ctx.inputs["market"][HISTORY_LISTING] = {"value": est.comparables}
            else:
                ctx.note(
                    "market",
                    "price_model",
                    "hedonic model of the calibration's deal history (no comparables given; "
                    f"none from the history: {est.fallback})",
                    "calibration",
                )
                ctx.note(
                    "market",
                    "comparables_selection",
                    {**est.selection, "fallback": est.fallback},
                    "calibration's deal history (no comparables given)",
                )
            ctx.note("market", "model_band_80", [est.band[0], est.band[1]], "calibration")
    fixed = np.array([c["rights"] + c["term"] + c["supply_demand"] + c["other"] for c in comps])
    market = MarketInputs(
        offsets=np.array(comp_offsets, dtype=np.int64),
        log_price=np.log(np.array([c["price"] for c in comps], dtype=np.float64)),
        log_fixed=fixed.astype(np.float64).reshape(-1),
        log_quality_ratio=np.array([c["log_quality_ratio"] for c in comps], dtype=np.float64),
        log_volume_ratio=np.array([c["log_volume_ratio"] for c in comps], dtype=np.float64),
        years_ago=np.array([c["years_ago"] for c in comps], dtype=np.float64),
        e_quality=ones * params["elasticity"]["quality"],
        e_volume=ones * params["elasticity"]["volume"],
        index_growth=ones * params["price_index_growth"],
        sd_default=ones * unc["comparable_dispersion_default"],
        sd_floor=ones * unc["comparable_dispersion_floor"],
        sd_level=ones * unc["elasticity_level"],
        sd_model=np.where(
            model_value > 0.0,
            params["method_error"]["market_model"],
            params["method_error"]["market"],
        ),
        model_value=model_value,
        model_sd=model_sd,
    )
    _note_method_errors(contexts, has, params, calibrated)
    entity = np.array([entity_key(p.product_id) for p in products], dtype=np.uint64)
    return Prepared(
        has=has, income=income, cost=cost, market=market, entity=entity, contexts=contexts
    )


__all__ = [
    "Prepared",
    "ProductContext",
    "comparable_factors",
    "discount_rate",
    "economic_life",
    "history_growth",
    "prepare",
    "quality_score",
    "years_between",
]
