"""The ground truth of the synthetic market: every parameter that generates it, as data.

:func:`default_truth` returns a fresh JSON-serialisable dictionary. ``truth.json`` is this
dictionary plus the generator's run record; calibration writes its estimates under the same
keys so that the two can be compared key by key. The comment beside each parameter says where
its magnitude comes from: a published figure (SPEC §1, ``market-facts/ip_market_stats.csv``,
the DaDaDa exchange listings) or, where nothing is published, the judgement it encodes.

Conventions (also written into ``truth.json["conventions"]``):

* time is in years, rates are decimals, amounts are CNY;
* a segment is ``"<sector>/<category>"`` (8 sectors x 3 categories = 24 segments);
* annual total revenue ``R`` (licensing + services) of a product follows, year on year,
  ``log R[t+1] = log R[t] + mu + volatility * eps + sum_{k=1..N} Y_k`` with
  ``eps ~ N(0, 1)``, ``N ~ Poisson(jump_intensity)``, ``Y_k ~ N(jump_mean, jump_sd**2)`` and
  ``mu = growth - decay - volatility**2 / 2 - jump_intensity * (exp(jump_mean + jump_sd**2/2) - 1)``
  (Merton's convention, as SPEC §6: ``E[R[t+1] / R[t]] = exp(growth - decay)``). Growth and
  decay enter revenue only through ``net_growth = growth - decay``; each segment carries all
  three so that the estimable difference can be compared.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from valuation.defaults import DEFAULTS
from valuation.schema.product import CATEGORIES, QUALITY_DIMENSIONS, SECTORS

TRUTH_SCHEMA_VERSION = 1

AS_OF = "2026-10-31"
"""The observation date of the synthetic market (the last day of history)."""

CONVENTIONS: dict[str, str] = {
    "units": "time in years, rates as decimals, amounts in CNY, dates ISO YYYY-MM-DD",
    "segment": "'<sector>/<category>', e.g. 'ai/data_product'; every pair is a segment",
    "revenue_process": (
        "annual total revenue R = licensing + services (revenue table, one row per calendar "
        "year ending period_end); log R[t+1] = log R[t] + mu + volatility*eps + "
        "sum_{k<=N} Y_k, eps ~ N(0,1), N ~ Poisson(jump_intensity), "
        "Y ~ N(jump_mean, jump_sd^2), mu = growth - decay - volatility^2/2 - "
        "jump_intensity*(exp(jump_mean + jump_sd^2/2) - 1), so E[R[t+1]/R[t]] = "
        "exp(growth - decay) = exp(net_growth); only net_growth is identified from revenue"
    ),
    "revenue_level": (
        "log R in the launch year ~ N(log_median + category_shift, log_sd^2); amounts are "
        "rounded to whole CNY; licensing = R * licensing_share (per product, Beta)"
    ),
    "hazards": (
        "constant intensities per year. objection and revocation run from the end of the "
        "15-day announcement to min(as_of, lapse); at expiry a certificate is renewed with "
        "renewal_probability (event 'renewal', validity + 3 years) or lapses (event 'lapse'); "
        "delisting runs from the listing date to as_of. Each product has at most one event "
        "of each kind"
    ),
    "royalty_rate": (
        "logit(royalty_rate) = intercept + category[c] + license[l] + "
        "quality_score_coef*(quality_score - quality_center) + product effect ~ N(0, "
        "product_sd^2) + deal noise ~ N(0, noise_sd^2); the product's own (true) rate is the "
        "non-exclusive rate without deal noise"
    ),
    "hedonic": (
        "log(price) = log V(deal date) + log rights_factor[l] + log_term_months*log(term / "
        "(12*economic_life_years[category])) (neither for a transfer, which is the asset for "
        "its life) + territory[t] + product effect ~ N(0, product_sd^2) + noise ~ N(0, "
        "noise_sd^2), with V the product's economic value at the deal date (the same income "
        "formula as economic_value: the deal year's latent revenue, the certificate alive with "
        "its expiry ahead). license[l] = log(rights_factor[l] / rights_factor[non_exclusive]) "
        "is the premium over a non-exclusive licence of the same term. Deals happen before "
        "any revocation or lapse"
    ),
    "quality_score": "sum_d quality_weights[d] * quality[d] over the six CAS 2023 dimensions",
    "listing_price": (
        "asking prices: with probability placeholder_share a priced one_off listing shows a "
        "placeholder (1000 or 5000 CNY), otherwise log(price) = intercept[mode] + "
        "log_records*log(records/1e6) + quality_score*(q - quality_center) + N(0, noise_sd^2); "
        "subscription price = 12 months, usage price = one call; negotiable listings carry "
        "price 0 (= no price; the source data's 'free' listings are folded into negotiable "
        "because SPEC §4 has no 'free' mode); volume, size_bytes and fields 0 = unknown"
    ),
    "trades": (
        "exchange trades of a listing arrive as Poisson(trade_rate_per_year) over the "
        "listing's active life (listing date to min(delisting, as_of)): the expected share of "
        "never-traded listings is mean(exp(-trade_rate_per_year * active_years))"
    ),
    "economic_value": (
        "product_truth.economic_value = the engine's income method (valuation.kernels."
        "valuation.income_point, SPEC §5) at the truth's parameters: base = latent total "
        "revenue R of the as-of calendar year (period ending 31 December), rolled to as_of at "
        "exp(net_growth); attributable after-tax share (1 - tax)*(licensing_margin[category]*"
        "licensing_share + royalty_rate*(1 - licensing_share)), tax 15 % for high-tech holders "
        "else 25 %; growth = exp(net_growth) - 1, no separate decay; mid-year discounting at "
        "the build-up rate risk_free + ERP*beta[sector] + size + data_premium[category]; over "
        "the economic life of the category (not the certificate); the certificate as events: "
        "revocation hazard with revocation_loss, and at each expiry (every validity_years) "
        "renewal with renewal_probability or lapse_loss; an objected certificate has already "
        "lost objection_revocation_probability*revocation_loss; a revoked or lapsed one has "
        "no further event (its loss is already in revenue). 0 before registration"
    ),
    "event_losses": (
        "revenue falls to (1 - revocation_loss) after a revocation and to (1 - lapse_loss) "
        "after a lapse, from the calendar year of the event on"
    ),
    "loans": (
        "amount = pledge_rate * appraised value (economic value at the loan's start year), "
        "rounded to 100k CNY and capped; default time ~ Exp(-log(1 - annual_pd)); "
        "annual_pd = logistic(logit(base_annual_pd) + pledge_rate_slope*(pledge_rate - 0.5)); "
        "recovery = min(1, value_at_default*(1 - liquidation_discount) / exposure_at_default), "
        "value_at_default = appraised * exp(N(mean_log, sd_log^2)), liquidation_discount ~ Beta; "
        "from recoveries alone only the product (1 - liquidation_discount) * exp(value shock) "
        "is identified (and recoveries are capped at 1)"
    ),
    "identification": (
        "parameters that the tables identify only jointly: growth and decay (through "
        "net_growth); liquidation_discount and value_at_default (through recoveries); the "
        "hedonic product effect and noise (separately only with repeated deals per product)"
    ),
}

# Growth (a sector's market growth, per year, before obsolescence). AI dominates applications
# (SPEC §1: 60%+) and grows fastest; the rest follow sector digitisation. No published revenue
# growth of data products exists; the range 5-25% brackets the 19%/yr of IP-pledge financing
# (market-facts, 13th FYP average) and the 6% of the DHL relief-from-royalty case.
_SECTOR_GROWTH = {
    "ai": 0.25,
    "biopharma": 0.14,
    "finance": 0.12,
    "education": 0.08,
    "culture": 0.07,
    "transport": 0.10,
    "manufacturing": 0.09,
    "other": 0.06,
}
# Volatility of annual log revenue: young, thin-market products; AI the most uncertain.
_SECTOR_VOLATILITY = {
    "ai": 0.45,
    "biopharma": 0.35,
    "finance": 0.30,
    "education": 0.30,
    "culture": 0.40,
    "transport": 0.28,
    "manufacturing": 0.30,
    "other": 0.35,
}
# Obsolescence decay per year by category: data sets age slowly, algorithms fastest (models are
# superseded); a judgement consistent with the 3-5 year economic lives in CAS 2023 practice.
_CATEGORY_DECAY = {"data_collection": 0.06, "data_product": 0.10, "data_algorithm": 0.18}
_CATEGORY_GROWTH_SHIFT = {"data_collection": -0.02, "data_product": 0.0, "data_algorithm": 0.05}
_CATEGORY_VOLATILITY_FACTOR = {"data_collection": 0.9, "data_product": 1.0, "data_algorithm": 1.2}
# Jumps: regulatory and market shocks (a data-security finding, a client loss), mostly down.
_SECTOR_JUMP_INTENSITY = {
    "ai": 0.20,
    "biopharma": 0.15,
    "finance": 0.15,
    "education": 0.20,
    "culture": 0.10,
    "transport": 0.10,
    "manufacturing": 0.10,
    "other": 0.10,
}
_JUMP_MEAN = -0.35
_JUMP_SD = 0.25


_PROCESS = DEFAULTS["collateral_process"]
_RIGHTS = DEFAULTS["rights_factor"]
_VALUATION_KEYS = (
    "risk_free_rate",
    "equity_risk_premium",
    "sector_beta",
    "size_premium",
    "data_premium",
    "tax_rate",
    "tax_rate_high_tech",
    "licensing_margin",
    "economic_life_years",
)


def _valuation_truth() -> dict[str, Any]:
    """Return the valuation parameters the tables cannot identify: the engine's defaults.

    The discount-rate build-up, tax rates, the licensing margin and the economic lives leave no
    trace in deals, revenue or events, so no calibration can recover them; the truth states
    the engine's defaults for them, and the recovery test measures everything else.
    """
    out: dict[str, Any] = {k: copy.deepcopy(DEFAULTS[k]) for k in _VALUATION_KEYS}
    out["validity_years"] = DEFAULTS["certificate"]["validity_years"]
    out["mid_year"] = True
    return out


ANCHORS: dict[str, str] = {
    "calendar.registration_start": (
        "SPEC §1: Zhejiang/Beijing pilots from 2023, Shanghai registration from December 2024"
    ),
    "calendar.announcement_days": "SPEC §1: 15-day public announcement",
    "calendar.validity_years": "SPEC §1: certificates are valid three years",
    "mix.sector_shares": "SPEC §1: AI is 60%+ of applications; other sectors as listed there",
    "revenue.initial_log_median": (
        "SPEC §1: Shanghai 837 products ~ 19.6 bn CNY economic value (~23 m each); "
        "summary.economic_value_mean reports the generated mean"
    ),
    "revenue.segments": (
        "judgement: growth 5-25%/yr brackets IP-pledge financing growth (19%/yr, market-facts) "
        "and the DHL RFR case (6%); decay by category (algorithms age fastest)"
    ),
    "royalty_rate": "SPEC §4 example royalty 0.25; revenue shares of 10-35%",
    "hedonic": "prices follow economic value through the engine's rights factors and term "
    "elasticity (valuation/defaults.py); product and deal noise are judgements",
    "listings.exchanges": (
        "DaDaDa listings (ZJU-DIVER/DaDaDa, Apache-2.0): price-mode shares and unknown (0) "
        "shares per exchange file; 'free' folded into negotiable"
    ),
    "listings.placeholder_weights": "DaDaDa Zhejiang: 271 listings at 1,000 and 151 at 5,000",
    "listings.trade_rate_per_year": (
        "market-facts: 10-13% of brokered patent packages sold per year; most data listings "
        "never trade (DaDaDa README)"
    ),
    "listings.price": "DaDaDa quartiles of asking prices by price mode; metadata R^2 ~ 0-0.25",
    "loans.pledge_rate": "SPEC §1: pledge rates 10-60%, ~50% in published data-asset cases",
    "loans.max_amount": (
        "SPEC §1 and market-facts: data-asset loans 5-20 m CNY (Shanghai ~22 m each), "
        ">80% of IP loans < 20 m CNY"
    ),
    "loans.tenor_months_shares": "SPEC §1 and market-facts: tenor about one year (<= 1 year)",
    "loans.base_annual_pd": "SPEC §4 pledge example: borrower annual_pd 0.03",
    "loans.liquidation_discount": "SPEC §4 pledge policy example: liquidation_discount 0.35",
    "loans.pledge_probability": "SPEC §1: Shanghai 16 borrowers against 837 products (~2%)",
    "valuation": "the engine's defaults (valuation/defaults.py): not identified by the tables",
}
"""Where each magnitude comes from, by dotted key (written into ``truth.json``)."""


def _segments() -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for sector in SECTORS:
        for category in CATEGORIES:
            growth = _SECTOR_GROWTH[sector] + _CATEGORY_GROWTH_SHIFT[category]
            decay = _CATEGORY_DECAY[category]
            out[f"{sector}/{category}"] = {
                "growth": round(growth, 4),
                "decay": decay,
                "net_growth": round(growth - decay, 4),
                "volatility": round(
                    _SECTOR_VOLATILITY[sector] * _CATEGORY_VOLATILITY_FACTOR[category], 4
                ),
                "jump_intensity": _SECTOR_JUMP_INTENSITY[sector],
                "jump_mean": _JUMP_MEAN,
                "jump_sd": _JUMP_SD,
            }
    return out


_TRUTH: dict[str, Any] = {
    "calendar": {
        "as_of": AS_OF,
        # Zhejiang and Beijing pilots registered from 2023, Shanghai from December 2024
        # (SPEC §1); registrations rise over time: linear density, end weight / start weight.
        "registration_start": "2023-03-01",
        "registration_density_ratio": 6.0,
        "announcement_days": 15,  # SPEC §1: 15-day public announcement
        "validity_years": 3,  # SPEC §1: valid three years
        # Products exist before they are registered: launch = registration - Uniform(0, max).
        "launch_lead_years_max": 4.0,
        "first_revenue_year": 2019,
        "last_revenue_year": 2025,  # the last full calendar year before as_of
    },
    "mix": {
        # SPEC §1: AI is 60%+ of applications; the rest in the order SPEC lists them.
        "sector_shares": {
            "ai": 0.60,
            "biopharma": 0.07,
            "finance": 0.10,
            "education": 0.05,
            "culture": 0.04,
            "transport": 0.06,
            "manufacturing": 0.06,
            "other": 0.02,
        },
        "category_shares": {"data_collection": 0.45, "data_product": 0.40, "data_algorithm": 0.15},
        # Region of the holder; the exchange a product lists on follows the region (Jiangsu
        # lists in Shanghai). Shanghai, Zhejiang, Beijing, Jiangsu, Guangdong run pilots.
        "region_shares": {"SH": 0.30, "ZJ": 0.22, "BJ": 0.20, "JS": 0.10, "GD": 0.18},
        "holder_kind_shares": {
            "enterprise": 0.85,
            "institution": 0.07,
            "government": 0.06,
            "individual": 0.02,
        },
        "high_tech_share": 0.45,
        "products_per_holder": 3.0,  # holders register portfolios (Shanghai: 837 products)
    },
    "revenue": {
        # Shanghai: 837 products ~ 19.6 bn CNY of economic value (SPEC §1), ~23 m CNY each on
        # average and heavy-tailed: a log-sd of 1.8 puts the mean ~5x the median; with the
        # royalty and growth below the mean economic value lands near 20-30 m CNY.
        "initial_log_median": round(math.log(3.0e6), 6),
        "initial_log_sd": 1.8,
        "category_level_shift": {
            "data_collection": 0.0,
            "data_product": 0.3,
            "data_algorithm": 0.5,
        },
        "licensing_share_beta": [6.0, 2.0],  # licensing ~75% of revenue, services the rest
        "segments": _segments(),
    },
    "attributes": {
        # Records, fields: log-normal. Shanghai listings show fields 10-300 (DaDaDa).
        "records_log_median": round(math.log(5.0e6), 6),
        "records_log_sd": 2.5,
        "fields_log_median": round(math.log(30.0), 6),
        "fields_log_sd": 1.0,
        "update_frequency_days": {"1": 0.35, "7": 0.15, "30": 0.25, "90": 0.10, "365": 0.15},
        "coverage_years_range": [1, 15],
        "missing_share": {"records": 0.08, "fields": 0.08, "quality": 0.05, "costs": 0.10},
    },
    "quality": {
        # CAS 2023 six dimensions; weights of the value-adjustment coefficient (equal-ish,
        # accuracy and completeness a little heavier as in the guidance's examples).
        "weights": {
            "accuracy": 0.20,
            "consistency": 0.15,
            "completeness": 0.20,
            "conformity": 0.15,
            "timeliness": 0.15,
            "accessibility": 0.15,
        },
        # Each dimension = logistic(center_logit + common + own), common and own normal.
        "center_logit": round(math.log(0.85 / 0.15), 6),
        "common_sd": 0.5,
        "own_sd": 0.4,
        "quality_center": 0.8,
    },
    "costs": {
        # Replacement cost: total cost ~ 0.8 x launch-year revenue (median), spread over 3-6
        # items incurred in the two years before launch (Wenzhou: loan ~4x the cost-based
        # carrying value, market-facts: cost is well below economic value).
        "total_to_revenue_log_median": round(math.log(0.8), 6),
        "total_log_sd": 0.6,
        "items_min": 3,
        "items_max": 6,
        "item_weights": {
            "planning": 0.06,
            "collection": 0.22,
            "storage": 0.08,
            "processing": 0.18,
            "development": 0.20,
            "compliance": 0.07,
            "security": 0.07,
            "operations": 0.08,
            "opportunity": 0.02,
            "tax": 0.02,
        },
    },
    "royalty_rate": {
        # Revenue-share deals: 10-35% of licensee revenue, centred near 20-25% (SPEC §4
        # example 0.25; the DHL trademark case used 1%, data is closer to a core input).
        "intercept": round(math.log(0.22 / 0.78), 6),
        "category": {"data_collection": -0.2, "data_product": 0.0, "data_algorithm": 0.25},
        "license": {"non_exclusive": 0.0, "exclusive": 0.4, "transfer": 0.0},
        "quality_score": 2.0,
        "product_sd": 0.25,
        "noise_sd": 0.2,
        "reported_share": 0.35,  # share of licence deals whose royalty rate is known
    },
    "hedonic": {
        # One economic model: a deal prices the product's economic value at the deal date
        # (the income formula at the truth's parameters, certificate alive) through the
        # engine's own market conventions (valuation.defaults rights_factor and the term
        # elasticity): a transfer at the value, a licence at rights_factor x (term / economic
        # life)^term_elasticity of it. Relative to a non-exclusive licence of the same term:
        "license": {
            "non_exclusive": 0.0,
            "exclusive": round(math.log(_RIGHTS["exclusive"] / _RIGHTS["non_exclusive"]), 6),
            "transfer": round(math.log(_RIGHTS["transfer"] / _RIGHTS["non_exclusive"]), 6),
        },
        "rights_factor": dict(_RIGHTS),
        "territory": {"CN": 0.0, "CN-REGION": -0.3, "GLOBAL": 0.3},
        "log_term_months": DEFAULTS["elasticity"]["term"],
        "years_since_2024": 0.0,  # no price index of its own: prices follow value
        # Negotiation and information: a product's deals share an effect, each deal its noise.
        "product_sd": 0.5,
        "noise_sd": 0.6,
    },
    "deals": {
        # Thin market: a product licenses about once every three years outside the exchanges.
        "otc_rate_per_year": 0.35,
        "license_shares": {"non_exclusive": 0.72, "exclusive": 0.18, "transfer": 0.10},
        "term_months_shares": {"6": 0.15, "12": 0.55, "24": 0.2, "36": 0.1},
        "territory_shares": {"CN": 0.7, "CN-REGION": 0.25, "GLOBAL": 0.05},
    },
    "hazards": {
        # Objections are rare but real (SPEC §1: certificates can be objected to or revoked);
        # no published rates: judgements in the range of patent invalidation requests.
        "objection": 0.05,
        "revocation": 0.015,
        "delisting": 0.12,
        "renewal_probability": 0.7,
        "objection_pending_days_mean": 120.0,
        # What the events cost (revenue falls by the loss from the event's calendar year on):
        # the engine's defaults, shared with the stress test (valuation.defaults
        # collateral_process and certificate). The tables do not identify them.
        "revocation_loss": _PROCESS["revocation_loss"],
        "lapse_loss": _PROCESS["lapse_loss"],
        "objection_revocation_probability": DEFAULTS["certificate"][
            "objection_revocation_probability"
        ],
    },
    "listings": {
        "listed_share": 0.6,
        # Exchanges list far more than registered data IP (Shanghai Data Exchange lists
        # thousands of products, 837 registered products by 2025): unregistered listings, with
        # no product id, per registered product, listed from 2022 on.
        "unregistered_per_product": 0.5,
        "unregistered_from": "2022-01-01",
        "listing_delay_days_mean": 90.0,
        # Patent brokered market: 10-13% of packages sold per year (market-facts); most data
        # listings never trade (DaDaDa README).
        "trade_rate_per_year": 0.15,
        "placeholder_prices": [1000.0, 5000.0],
        # Zhejiang one-off: 271 at 1,000 and 151 at 5,000 of 450 priced listings (DaDaDa).
        "placeholder_weights": [0.642, 0.358],
        "exchanges": {
            # Price-mode shares from the DaDaDa files ('free' folded into negotiable);
            # unknown_share: the share of 0 (unknown) values per column in each file.
            "Shanghai Data Exchange": {
                "price_mode_shares": {"negotiable": 1.0},
                "placeholder_share": 0.93,
                "unknown_share": {"volume": 0.97, "size_bytes": 0.01, "fields": 0.0},
                "no_update_share": 0.15,
            },
            "Zhejiang Big Data Exchange": {
                "price_mode_shares": {"one_off": 0.879, "usage": 0.117, "negotiable": 0.004},
                "placeholder_share": 0.93,  # 422 of 450 priced one-off listings
                "unknown_share": {"volume": 0.97, "size_bytes": 0.93, "fields": 1.0},
                "no_update_share": 0.9,
            },
            "Beijing International Data Exchange": {
                "price_mode_shares": {"negotiable": 0.714, "usage": 0.277, "one_off": 0.009},
                "placeholder_share": 0.93,
                "unknown_share": {"volume": 0.97, "size_bytes": 1.0, "fields": 0.0},
                "no_update_share": 1.0,
            },
            "Canton Data Exchange": {
                "price_mode_shares": {
                    "negotiable": 0.982,
                    "subscription": 0.009,
                    "usage": 0.006,
                    "one_off": 0.003,
                },
                "placeholder_share": 0.93,
                "unknown_share": {"volume": 0.97, "size_bytes": 1.0, "fields": 1.0},
                "no_update_share": 0.07,
            },
        },
        "region_exchange": {
            "SH": "Shanghai Data Exchange",
            "JS": "Shanghai Data Exchange",
            "ZJ": "Zhejiang Big Data Exchange",
            "BJ": "Beijing International Data Exchange",
            "GD": "Canton Data Exchange",
        },
        # Asking prices of priced, non-placeholder listings (DaDaDa quartiles: one-off
        # 3,000 / 9,500 / 200,000 CNY; usage 0.09 / 0.3 / 1 CNY per call; subscriptions
        # ~1,000 to 1.9 m per year). The large noise keeps R^2 of metadata at ~0.1.
        "price": {
            "intercept": {
                "one_off": round(math.log(9500.0), 6),
                "subscription": round(math.log(20000.0), 6),
                "usage": round(math.log(0.3), 6),
            },
            "log_records": 0.1,
            "quality_score": 1.0,
            "noise_sd": {"one_off": 2.2, "subscription": 2.0, "usage": 1.2},
        },
    },
    "valuation": _valuation_truth(),
    "loans": {
        # Shanghai: 16 enterprises borrowed 355 m CNY against 837 products (~2%, ~22 m each);
        # loans 5-20 m CNY, about one year (SPEC §1; market-facts: > 80% of IP loans < 20 m).
        "pledge_probability": 0.20,  # among products appraised at >= min_appraised_value
        "min_appraised_value": 1.0e7,
        "max_amount": 3.0e7,
        "amount_rounding": 1.0e5,
        # Pledge rates 10-60%, ~50% in published data-asset cases: a Beta on [low, high].
        "pledge_rate": {"low": 0.1, "high": 0.6, "beta": [5.0, 2.0]},
        "tenor_months_shares": {"6": 0.15, "12": 0.65, "24": 0.15, "36": 0.05},
        "annual_rate_range": [0.035, 0.065],
        "amortization_shares": {"bullet": 0.7, "annuity": 0.15, "linear": 0.15},
        "base_annual_pd": 0.03,  # SPEC §4 pledge example: borrower annual_pd 0.03
        "pledge_rate_slope": 2.0,
        # SPEC §4 pledge policy example: liquidation_discount 0.35.
        "liquidation_discount": {"mean": 0.35, "beta": [3.5, 6.5]},
        "value_at_default": {"mean_log": -0.3, "sd_log": 0.5},
    },
}


def default_truth() -> dict[str, Any]:
    """Return a fresh copy of the default ground truth (a JSON-serialisable dictionary).

    Returns
    -------
    dict
        Every generating parameter in named keys; see the module docstring for conventions.

    Examples
    --------
    >>> truth = default_truth()
    >>> truth["revenue"]["segments"]["ai/data_product"]["net_growth"]
    0.15
    """
    truth = copy.deepcopy(_TRUTH)
    truth["conventions"] = dict(CONVENTIONS)
    truth["anchors"] = dict(ANCHORS)
    truth["quality"]["dimensions"] = list(QUALITY_DIMENSIONS)
    return truth


def segment_keys() -> tuple[str, ...]:
    """Return the segment keys in generator order (sector-major)."""
    return tuple(f"{s}/{c}" for s in SECTORS for c in CATEGORIES)


__all__ = [
    "ANCHORS",
    "AS_OF",
    "CONVENTIONS",
    "TRUTH_SCHEMA_VERSION",
    "default_truth",
    "segment_keys",
]
