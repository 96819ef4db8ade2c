"""Draw one block of the synthetic market: products, revenue, deals, events, listings, loans.

Products are generated in blocks of :data:`STREAM_BLOCK` consecutive products. Block ``b`` of a
market with seed ``s`` draws from its own stream, ``PCG64(SeedSequence(s, spawn_key=(b,)))``, so
a product's history depends only on the seed, the block it falls in and the block's size: the
files do not depend on how many blocks are generated or written together (``chunk_size``).

Everything is vectorised over the products of a block; the only per-row Python is the
formatting of the product JSON documents.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from valuation.schema.product import CATEGORIES, COST_ITEMS, QUALITY_DIMENSIONS, SECTORS

STREAM_BLOCK = 4096
"""Products per random stream (and per written batch at most ``chunk_size``)."""

_DAYS_PER_YEAR = 365.25
_EPOCH = np.datetime64("1970-01-01", "D")
REGIONS: tuple[str, ...] = ("SH", "ZJ", "BJ", "JS", "GD")
_REGION_CODE = {"SH": "3100", "ZJ": "3300", "BJ": "1100", "JS": "3200", "GD": "4400"}
HOLDER_KINDS: tuple[str, ...] = ("enterprise", "institution", "government", "individual")
LICENSES: tuple[str, ...] = ("non_exclusive", "exclusive", "transfer")
TERRITORIES: tuple[str, ...] = ("CN", "CN-REGION", "GLOBAL")
PRICE_MODES: tuple[str, ...] = ("one_off", "subscription", "usage", "negotiable")
EVENT_KINDS: tuple[str, ...] = ("objection", "revocation", "renewal", "lapse", "delisting")
AMORTIZATIONS: tuple[str, ...] = ("bullet", "annuity", "linear")
STATUSES: tuple[str, ...] = ("announced", "valid", "objected", "revoked", "expired")
_CATEGORY_CODE = {"data_collection": "DC", "data_product": "DP", "data_algorithm": "DA"}
_UPDATE_DAYS = (1, 7, 30, 90, 365)
_UPDATE_LABELS = ("daily", "weekly", "monthly", "irregular", "yearly", "no-update")

# Names are built from a small vocabulary so that titles look like the real listings.
_SECTOR_CN = {
    "ai": "智能",
    "biopharma": "医药",
    "finance": "金融",
    "education": "教育",
    "culture": "文旅",
    "transport": "交通",
    "manufacturing": "工业",
    "other": "城市",
}
_LISTING_CATEGORY = {
    "ai": "信息传输、软件和信息技术服务业",
    "biopharma": "医疗健康",
    "finance": "金融",
    "education": "教育",
    "culture": "文化旅游",
    "transport": "航运交通",
    "manufacturing": "工业制造",
    "other": "综合",
}
_TOPICS = (
    "企业画像",
    "风险指数",
    "客流统计",
    "信用评分",
    "设备运行",
    "舆情监测",
    "价格指数",
    "知识图谱",
    "影像标注",
    "行为分析",
    "供应链",
    "气象融合",
)
_FORM_CN = {"data_collection": "数据集", "data_product": "数据产品", "data_algorithm": "算法模型"}
_TITLE_SUFFIX = ("", "", "", " V2", "（API）", "-标准版", "（月度）")
_COVERAGE = ("CN", "CN", "CN,HK,MO", "GLOBAL")


@dataclass(frozen=True)
class Params:
    """The truth dictionary as arrays, in the generator's index order."""

    truth: dict[str, Any]
    as_of: int  # days since 1970-01-01
    registration_start: int
    sector_p: NDArray[np.float64]
    category_p: NDArray[np.float64]
    region_p: NDArray[np.float64]
    holder_kind_p: NDArray[np.float64]
    seg_growth: NDArray[np.float64]
    seg_decay: NDArray[np.float64]
    seg_volatility: NDArray[np.float64]
    seg_jump_intensity: NDArray[np.float64]
    seg_jump_mean: NDArray[np.float64]
    seg_jump_sd: NDArray[np.float64]
    seg_mu: NDArray[np.float64]
    seg_annuity: NDArray[np.float64]
    revenue_years: NDArray[np.int64]  # first_revenue_year .. as_of year (latent)
    last_reported_year: int
    quality_weights: NDArray[np.float64]
    cost_weights: NDArray[np.float64]
    exchange_names: tuple[str, ...]
    region_exchange: NDArray[np.int64]
    exchange_mode_p: NDArray[np.float64]  # (exchange, PRICE_MODES)
    exchange_unknown: NDArray[np.float64]  # (exchange, [volume, size_bytes, fields])
    exchange_no_update: NDArray[np.float64]
    exchange_placeholder: NDArray[np.float64]


def _day(iso: str) -> int:
    return int((np.datetime64(iso, "D") - _EPOCH).astype(np.int64))


def _probs(shares: dict[str, float], keys: tuple[str, ...]) -> NDArray[np.float64]:
    p = np.array([float(shares.get(k, 0.0)) for k in keys])
    return p / p.sum()


def build_params(truth: dict[str, Any]) -> Params:
    """Turn a truth dictionary into the arrays the generator uses."""
    cal = truth["calendar"]
    mix = truth["mix"]
    segs = truth["revenue"]["segments"]
    keys = [f"{s}/{c}" for s in SECTORS for c in CATEGORIES]
    g = np.array([segs[k]["growth"] for k in keys])
    d = np.array([segs[k]["decay"] for k in keys])
    v = np.array([segs[k]["volatility"] for k in keys])
    lam = np.array([segs[k]["jump_intensity"] for k in keys])
    jm = np.array([segs[k]["jump_mean"] for k in keys])
    js = np.array([segs[k]["jump_sd"] for k in keys])
    mu = g - d - 0.5 * v**2 - lam * (np.exp(jm + 0.5 * js**2) - 1.0)
    val = truth["valuation"]
    life = int(val["economic_life_years"])
    k = np.arange(1, life + 1)
    annuity = (np.exp(np.outer(g - d, k)) / (1.0 + val["discount_rate"]) ** (k - 0.5)[None, :]).sum(
        axis=1
    ) * (1.0 - val["tax_rate"])
    as_of = _day(cal["as_of"])
    as_of_year = int(str(np.datetime64(cal["as_of"], "Y")))
    lst = truth["listings"]
    names = tuple(lst["exchanges"])
    ex = [lst["exchanges"][n] for n in names]
    return Params(
        truth=truth,
        as_of=as_of,
        registration_start=_day(cal["registration_start"]),
        sector_p=_probs(mix["sector_shares"], SECTORS),
        category_p=_probs(mix["category_shares"], CATEGORIES),
        region_p=_probs(mix["region_shares"], REGIONS),
        holder_kind_p=_probs(mix["holder_kind_shares"], HOLDER_KINDS),
        seg_growth=g,
        seg_decay=d,
        seg_volatility=v,
        seg_jump_intensity=lam,
        seg_jump_mean=jm,
        seg_jump_sd=js,
        seg_mu=mu,
        seg_annuity=annuity,
        revenue_years=np.arange(int(cal["first_revenue_year"]), as_of_year + 1),
        last_reported_year=int(cal["last_revenue_year"]),
        quality_weights=np.array([truth["quality"]["weights"][q] for q in QUALITY_DIMENSIONS]),
        cost_weights=_probs(truth["costs"]["item_weights"], COST_ITEMS),
        exchange_names=names,
        region_exchange=np.array([names.index(lst["region_exchange"][r]) for r in REGIONS]),
        exchange_mode_p=np.array([_probs(e["price_mode_shares"], PRICE_MODES) for e in ex]),
        exchange_unknown=np.array(
            [[e["unknown_share"][c] for c in ("volume", "size_bytes", "fields")] for e in ex]
        ),
        exchange_no_update=np.array([e["no_update_share"] for e in ex]),
        exchange_placeholder=np.array([e["placeholder_share"] for e in ex]),
    )


def block_rng(seed: int, block: int) -> np.random.Generator:
    """Return the random stream of block ``block`` of a market with ``seed``."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block,))))


def _add_months(days: NDArray[np.int64], months: NDArray[np.int64] | int) -> NDArray[np.int64]:
    """Add calendar months to day numbers, clipping the day to the target month's end."""
    d = days.astype("datetime64[D]")
    m = d.astype("datetime64[M]")
    offset = (d - m.astype("datetime64[D]")).astype(np.int64)
    target = m + np.asarray(months)
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    out = target.astype("datetime64[D]") + np.minimum(offset, month_len - 1)
    return (out - _EPOCH).astype(np.int64)


def _year_of(days: NDArray[np.int64]) -> NDArray[np.int64]:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _years(days: NDArray[np.int64] | NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(days, dtype=np.float64) / _DAYS_PER_YEAR


def _exp_days(rng: np.random.Generator, rate_per_year: float, n: int) -> NDArray[np.float64]:
    """Return waiting times in days of a Poisson process (infinite when the rate is 0)."""
    if rate_per_year <= 0.0:
        return np.full(n, np.inf)
    return rng.exponential(_DAYS_PER_YEAR / rate_per_year, n)


def _choice(rng: np.random.Generator, p: NDArray[np.float64], n: int) -> NDArray[np.int64]:
    return np.searchsorted(np.cumsum(p), rng.random(n) * p.sum(), side="right").clip(0, len(p) - 1)


def _choice_rows(rng: np.random.Generator, p: NDArray[np.float64]) -> NDArray[np.int64]:
    """Draw one index per row of an (n, k) probability matrix."""
    cp = np.cumsum(p, axis=1)
    u = np.asarray(rng.random(p.shape[0]))[:, None] * cp[:, -1:]
    return np.minimum((u >= cp).sum(axis=1), p.shape[1] - 1)


def _logistic(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-x))


def _segment_lookup(table: dict[str, float], keys: tuple[str, ...]) -> NDArray[np.float64]:
    return np.array([float(table[k]) for k in keys])


@dataclass
class Block:
    """The tables of one block: columns as NumPy arrays (dates as day numbers) and JSON lines."""

    products: dict[str, Any]
    product_truth: dict[str, Any]
    costs: dict[str, Any]
    revenue: dict[str, Any]
    deals: dict[str, Any]
    events: dict[str, Any]
    listings: dict[str, Any]
    loans: dict[str, Any]
    jsonl: str
    stats: dict[str, NDArray[Any]]


def _asking_prices(
    rng: np.random.Generator,
    params: Params,
    mode: NDArray[np.int64],
    exchange: NDArray[np.int64],
    records: NDArray[np.int64],
    quality_score: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Draw asking prices: placeholders, a weak hedonic signal under heavy noise, 0 = none."""
    ls = params.truth["listings"]
    n = len(mode)
    placeholder = (rng.random(n) < params.exchange_placeholder[exchange]) & (
        mode == PRICE_MODES.index("one_off")
    )
    placeholder_pick = _choice(rng, np.array(ls["placeholder_weights"]), n)
    lp = ls["price"]
    intercept = np.array([lp["intercept"].get(m, 0.0) for m in PRICE_MODES])[mode]
    noise_sd = np.array([lp["noise_sd"].get(m, 0.0) for m in PRICE_MODES])[mode]
    asking = np.exp(
        intercept
        + lp["log_records"] * np.log(np.maximum(records, 1) / 1e6)
        + lp["quality_score"] * (quality_score - params.truth["quality"]["quality_center"])
        + noise_sd * rng.standard_normal(n)
    )
    asking = np.where(
        placeholder, np.array(ls["placeholder_prices"])[placeholder_pick], np.round(asking, 2)
    )
    return np.where(mode == PRICE_MODES.index("negotiable"), 0.0, np.maximum(asking, 0.01))


def generate_block(params: Params, seed: int, block: int, n: int) -> Block:
    """Generate products ``block*STREAM_BLOCK .. +n`` and all their history.

    Parameters
    ----------
    params
        The truth as arrays (:func:`build_params`).
    seed
        The market's seed.
    block
        The block index; the block's first product has global index ``block*STREAM_BLOCK``.
    n
        Products in this block (``STREAM_BLOCK`` except in the last block).
    """
    t = params.truth
    rng = block_rng(seed, block)
    first = block * STREAM_BLOCK
    gidx = np.arange(first, first + n, dtype=np.int64)
    as_of = params.as_of

    # --- identity, holders, segment -------------------------------------------------------
    sector = _choice(rng, params.sector_p, n)
    category = _choice(rng, params.category_p, n)
    segment = sector * len(CATEGORIES) + category
    n_holders = max(1, math.ceil(n / float(t["mix"]["products_per_holder"])))
    holder_of = rng.integers(0, n_holders, n)
    holder_region = _choice(rng, params.region_p, n_holders)
    holder_kind = _choice(rng, params.holder_kind_p, n_holders)
    holder_high_tech = rng.random(n_holders) < t["mix"]["high_tech_share"]
    region = holder_region[holder_of]

    # --- calendar: registration (linear rising density), launch ----------------------------
    cal = t["calendar"]
    span = as_of - params.registration_start
    a = (float(cal["registration_density_ratio"]) - 1.0) / 2.0
    u = rng.random(n)
    x = u if a == 0 else (-1.0 + np.sqrt(1.0 + 4.0 * a * u * (1.0 + a))) / (2.0 * a)
    registered = params.registration_start + np.floor(x * span).astype(np.int64)
    lead = np.floor(rng.random(n) * cal["launch_lead_years_max"] * _DAYS_PER_YEAR).astype(np.int64)
    first_year_day = _day(f"{int(params.revenue_years[0])}-01-01")
    launched = np.maximum(registered - lead, first_year_day)
    launch_year = _year_of(launched)
    announced_end = registered + int(cal["announcement_days"])
    expires0 = _add_months(registered, 12 * int(cal["validity_years"]))

    # --- latent revenue paths --------------------------------------------------------------
    rv = t["revenue"]
    years = params.revenue_years
    n_years = len(years)
    launch_col = launch_year - years[0]
    cat_shift = _segment_lookup(rv["category_level_shift"], CATEGORIES)[category]
    level = rv["initial_log_median"] + cat_shift + rv["initial_log_sd"] * rng.standard_normal(n)
    eps = rng.standard_normal((n, n_years - 1))
    n_jumps = rng.poisson(params.seg_jump_intensity[segment][:, None], (n, n_years - 1))
    z = rng.standard_normal((n, n_years - 1))
    inc = (
        params.seg_mu[segment][:, None]
        + params.seg_volatility[segment][:, None] * eps
        + n_jumps * params.seg_jump_mean[segment][:, None]
        + np.sqrt(n_jumps) * params.seg_jump_sd[segment][:, None] * z
    )
    step_col = np.arange(1, n_years)[None, :]
    inc = np.where(step_col > launch_col[:, None], inc, 0.0)
    log_rev = level[:, None] + np.concatenate([np.zeros((n, 1)), np.cumsum(inc, axis=1)], axis=1)
    licensing_share = rng.beta(rv["licensing_share_beta"][0], rv["licensing_share_beta"][1], n)

    # --- attributes and quality ------------------------------------------------------------
    at = t["attributes"]
    records = np.round(
        np.exp(at["records_log_median"] + at["records_log_sd"] * rng.standard_normal(n))
    ).astype(np.int64)
    fields = np.maximum(
        1, np.round(np.exp(at["fields_log_median"] + at["fields_log_sd"] * rng.standard_normal(n)))
    ).astype(np.int64)
    upd_keys = tuple(int(k) for k in at["update_frequency_days"])
    upd_p = np.array([at["update_frequency_days"][str(k)] for k in upd_keys])
    update_days = np.array(upd_keys)[_choice(rng, upd_p, n)]
    lo, hi = at["coverage_years_range"]
    coverage_years = rng.integers(int(lo), int(hi) + 1, n)
    qt = t["quality"]
    common = qt["common_sd"] * rng.standard_normal(n)
    own = qt["own_sd"] * rng.standard_normal((n, len(QUALITY_DIMENSIONS)))
    quality = np.round(_logistic(qt["center_logit"] + common[:, None] + own), 3)
    quality_score = quality @ params.quality_weights
    miss = at["missing_share"]
    records_missing = rng.random(n) < miss["records"]
    fields_missing = rng.random(n) < miss["fields"]
    quality_missing = rng.random(n) < miss["quality"]
    costs_missing = rng.random(n) < miss["costs"]

    # --- costs -------------------------------------------------------------------------------
    ct = t["costs"]
    n_items = rng.integers(int(ct["items_min"]), int(ct["items_max"]) + 1, n)
    n_items = np.where(costs_missing, 0, n_items)
    gumbel = np.log(params.cost_weights)[None, :] + rng.gumbel(size=(n, len(COST_ITEMS)))
    order = np.argsort(-gumbel, axis=1, kind="stable")
    take = np.arange(len(COST_ITEMS))[None, :] < n_items[:, None]
    total_cost = np.exp(
        level + ct["total_to_revenue_log_median"] + ct["total_log_sd"] * rng.standard_normal(n)
    )
    share_raw = rng.gamma(1.0, 1.0, (n, len(COST_ITEMS))) * take
    share = share_raw / np.maximum(share_raw.sum(axis=1, keepdims=True), 1e-300)
    cost_day_raw = launched[:, None] - np.floor(rng.random((n, len(COST_ITEMS))) * 730).astype(
        np.int64
    )
    cost_prod = np.repeat(np.arange(n), n_items)
    # `take` is a prefix mask per row: the j-th item of product i is the kind order[i, j].
    cost_kind = order[take]
    cost_amount = np.round(total_cost[cost_prod] * share[take]).astype(np.int64)
    cost_day = cost_day_raw[take]
    srt = np.lexsort((cost_kind, cost_day, cost_prod))
    cost_prod, cost_kind, cost_amount, cost_day = (
        cost_prod[srt],
        cost_kind[srt],
        cost_amount[srt],
        cost_day[srt],
    )

    # --- certificate events ------------------------------------------------------------------
    hz = t["hazards"]
    t_objection = announced_end + _exp_days(rng, hz["objection"], n)
    t_revocation = announced_end + _exp_days(rng, hz["revocation"], n)
    objection_pending = rng.exponential(hz["objection_pending_days_mean"], n)
    renew_draw = rng.random(n) < hz["renewal_probability"]
    expiry_due = expires0 <= as_of
    revoked_before_expiry = t_revocation < expires0
    renewed = expiry_due & ~revoked_before_expiry & renew_draw
    lapsed = expiry_due & ~revoked_before_expiry & ~renew_draw
    alive_end = np.where(lapsed, expires0, as_of).astype(np.float64)  # end of revocation risk
    revoked = t_revocation <= alive_end
    revoked_day = np.floor(np.where(revoked, t_revocation, np.inf))
    objection_end = np.minimum(alive_end, np.where(revoked, t_revocation, np.inf))
    objected = t_objection <= objection_end
    expires = np.where(renewed, _add_months(expires0, 12 * int(cal["validity_years"])), expires0)
    end_day = np.minimum(alive_end, revoked_day)  # last day of the certificate (or as_of)
    status = np.full(n, STATUSES.index("valid"))
    objection_open = objected & (as_of < t_objection + objection_pending)
    status[objection_open] = STATUSES.index("objected")
    status[lapsed] = STATUSES.index("expired")
    status[revoked] = STATUSES.index("revoked")
    status[announced_end > as_of] = STATUSES.index("announced")

    # --- listings ----------------------------------------------------------------------------
    ls = t["listings"]
    listed_on = announced_end + np.floor(rng.exponential(ls["listing_delay_days_mean"], n)).astype(
        np.int64
    )
    listed = (rng.random(n) < ls["listed_share"]) & (listed_on <= as_of) & (listed_on < end_day)
    t_delist = listed_on + _exp_days(rng, hz["delisting"], n)
    delisted = listed & (t_delist <= as_of)
    listing_end = np.where(delisted, t_delist, float(as_of))
    exchange = params.region_exchange[region]
    mode = _choice_rows(rng, params.exchange_mode_p[exchange])
    unknown = rng.random((n, 3)) < params.exchange_unknown[exchange]
    no_update = rng.random(n) < params.exchange_no_update[exchange]
    asking = _asking_prices(rng, params, mode, exchange, records, quality_score)
    listed_years = _years(np.maximum(listing_end - listed_on, 0.0))
    trades = rng.poisson(ls["trade_rate_per_year"] * listed_years)
    trades = np.where(listed, trades, 0)
    title_suffix = rng.integers(0, len(_TITLE_SUFFIX), n)
    topic = rng.integers(0, len(_TOPICS), n)
    coverage_pick = rng.integers(0, len(_COVERAGE), n)

    # --- deals: over-the-counter licences and exchange trades --------------------------------
    dl = t["deals"]
    otc_years = _years(np.maximum(end_day - launched, 0))
    otc = rng.poisson(dl["otc_rate_per_year"] * otc_years)
    deal_prod = np.concatenate([np.repeat(np.arange(n), otc), np.repeat(np.arange(n), trades)])
    n_otc = int(otc.sum())
    n_deals = len(deal_prod)
    on_exchange = np.arange(n_deals) >= n_otc
    w_start = np.where(on_exchange, listed_on[deal_prod], launched[deal_prod]).astype(np.float64)
    w_end = np.where(on_exchange, listing_end[deal_prod], end_day[deal_prod])
    deal_day = np.floor(w_start + rng.random(n_deals) * (w_end - w_start)).astype(np.int64)
    deal_day = np.minimum(deal_day, as_of)
    lic_keys = LICENSES
    license_ = _choice(rng, _probs(dl["license_shares"], lic_keys), n_deals)
    term_keys = tuple(int(k) for k in dl["term_months_shares"])
    term_p = np.array([dl["term_months_shares"][str(k)] for k in term_keys])
    term = np.array(term_keys)[_choice(rng, term_p, n_deals)]
    is_transfer = license_ == LICENSES.index("transfer")
    territory = _choice(rng, _probs(dl["territory_shares"], TERRITORIES), n_deals)
    territory = np.where(on_exchange, TERRITORIES.index("CN"), territory)
    hd = t["hedonic"]
    price_effect = hd["product_sd"] * rng.standard_normal(n)
    deal_year = _year_of(deal_day)
    deal_col = np.clip(deal_year - years[0], 0, n_years - 1)
    log_r_deal = log_rev[deal_prod, deal_col]
    c_d = category[deal_prod]
    log_price = (
        hd["intercept"]
        + _segment_lookup(hd["category"], CATEGORIES)[c_d]
        + _segment_lookup(hd["sector"], SECTORS)[sector[deal_prod]]
        + _segment_lookup(hd["license"], LICENSES)[license_]
        + _segment_lookup(hd["territory"], TERRITORIES)[territory]
        + hd["log_records"] * np.log(np.maximum(records[deal_prod], 1) / 1e6)
        + hd["log_fields"] * np.log(fields[deal_prod] / 10.0)
        + hd["quality_score"] * (quality_score[deal_prod] - qt["quality_center"])
        + hd["log_term_months"] * np.log(np.where(is_transfer, 12, term) / 12.0)
        + hd["log_revenue"] * (log_r_deal - math.log(1e6))
        + hd["years_since_2024"] * _years(deal_day - _day("2024-01-01"))
        + price_effect[deal_prod]
        + hd["noise_sd"] * rng.standard_normal(n_deals)
    )
    deal_price = np.maximum(np.round(np.exp(log_price)), 1.0)
    rr = t["royalty_rate"]
    royalty_effect = rr["product_sd"] * rng.standard_normal(n)
    royalty_base = (
        rr["intercept"]
        + _segment_lookup(rr["category"], CATEGORIES)[category]
        + rr["quality_score"] * (quality_score - qt["quality_center"])
        + royalty_effect
    )
    royalty_true = _logistic(royalty_base)
    deal_royalty = np.round(
        _logistic(
            royalty_base[deal_prod]
            + _segment_lookup(rr["license"], LICENSES)[license_]
            + rr["noise_sd"] * rng.standard_normal(n_deals)
        ),
        4,
    )
    royalty_known = (rng.random(n_deals) < rr["reported_share"]) & ~is_transfer
    srt = np.lexsort((on_exchange, deal_day, deal_prod))
    deal_prod, deal_day, license_, term, territory = (
        deal_prod[srt],
        deal_day[srt],
        license_[srt],
        term[srt],
        territory[srt],
    )
    deal_price, deal_royalty, royalty_known, on_exchange, is_transfer = (
        deal_price[srt],
        deal_royalty[srt],
        royalty_known[srt],
        on_exchange[srt],
        is_transfer[srt],
    )
    deal_rank = np.arange(n_deals) - np.searchsorted(deal_prod, deal_prod, side="left")

    # --- events table ------------------------------------------------------------------------
    ev_parts = [
        (objected, t_objection, "objection"),
        (revoked, t_revocation, "revocation"),
        (renewed, expires0.astype(np.float64), "renewal"),
        (lapsed, expires0.astype(np.float64), "lapse"),
        (delisted, t_delist, "delisting"),
    ]
    ev_prod = np.concatenate([np.nonzero(m)[0] for m, _, _ in ev_parts])
    ev_day = np.concatenate([np.floor(d[m]).astype(np.int64) for m, d, _ in ev_parts])
    ev_kind = np.concatenate(
        [np.full(int(m.sum()), EVENT_KINDS.index(k)) for m, _, k in ev_parts]
    ).astype(np.int64)
    srt = np.lexsort((ev_kind, ev_day, ev_prod))
    ev_prod, ev_day, ev_kind = ev_prod[srt], ev_day[srt], ev_kind[srt]

    # --- economic value and pledged loans ----------------------------------------------------
    value_factor = royalty_true * params.seg_annuity[segment]
    as_of_col = n_years - 1
    economic_value = np.where(
        registered <= as_of, value_factor * np.exp(log_rev[:, as_of_col]), 0.0
    )
    ln = t["loans"]
    tenor_keys = tuple(int(k) for k in ln["tenor_months_shares"])
    tenor_p = np.array([ln["tenor_months_shares"][str(k)] for k in tenor_keys])
    tenor = np.array(tenor_keys)[_choice(rng, tenor_p, n)]
    tenor_days = np.round(tenor * _DAYS_PER_YEAR / 12.0).astype(np.int64)
    start_lo = registered + 30
    start_hi = as_of - tenor_days
    loan_start = np.floor(start_lo + rng.random(n) * (start_hi - start_lo)).astype(np.int64)
    start_col = np.clip(_year_of(loan_start) - years[0], 0, n_years - 1)
    appraised = value_factor * np.exp(log_rev[np.arange(n), start_col])
    pledged = (
        (start_hi > start_lo)
        & (loan_start >= launched)
        & (loan_start < end_day)
        & (appraised >= ln["min_appraised_value"])
        & (rng.random(n) < ln["pledge_probability"])
    )
    prl = ln["pledge_rate"]
    pledge_draw = prl["low"] + (prl["high"] - prl["low"]) * rng.beta(
        prl["beta"][0], prl["beta"][1], n
    )
    step = float(ln["amount_rounding"])
    amount = np.minimum(np.round(pledge_draw * appraised / step) * step, ln["max_amount"])
    amount = np.maximum(amount, step)
    pledge_rate = np.where(pledged, amount / np.maximum(appraised, 1.0), 0.5)
    logit_pd = math.log(ln["base_annual_pd"] / (1.0 - ln["base_annual_pd"]))
    annual_pd = _logistic(logit_pd + ln["pledge_rate_slope"] * (pledge_rate - 0.5))
    t_default = rng.exponential(1.0, n) / -np.log1p(-annual_pd) * _DAYS_PER_YEAR
    defaulted = t_default < tenor_days
    lo_r, hi_r = ln["annual_rate_range"]
    annual_rate = np.round((lo_r + (hi_r - lo_r) * rng.random(n)) / 0.0005) * 0.0005
    amort = _choice(rng, _probs(ln["amortization_shares"], AMORTIZATIONS), n)
    months_paid = np.floor(t_default / (_DAYS_PER_YEAR / 12.0))
    i_m = annual_rate / 12.0
    growth_n = (1.0 + i_m) ** tenor
    growth_m = (1.0 + i_m) ** np.minimum(months_paid, tenor)
    ead = np.select(
        [amort == AMORTIZATIONS.index("bullet"), amort == AMORTIZATIONS.index("linear")],
        [amount, amount * (1.0 - np.minimum(months_paid, tenor) / tenor)],
        amount * (growth_n - growth_m) / (growth_n - 1.0),
    )
    ead = np.maximum(np.round(ead), 1.0)
    lq = ln["liquidation_discount"]
    discount = rng.beta(lq["beta"][0], lq["beta"][1], n)
    vd = ln["value_at_default"]
    value_at_default = appraised * np.exp(vd["mean_log"] + vd["sd_log"] * rng.standard_normal(n))
    recovery = np.round(np.minimum(1.0, value_at_default * (1.0 - discount) / ead), 4)
    loan_idx = np.nonzero(pledged)[0]

    # --- listings of unregistered products: no certificate, no product id, never traded ----
    extra = np.nonzero(rng.random(n) < ls["unregistered_per_product"])[0]
    m = len(extra)
    x_region = _choice(rng, params.region_p, m)
    x_exchange = params.region_exchange[x_region]
    x_mode = _choice_rows(rng, params.exchange_mode_p[x_exchange])
    x_sector = _choice(rng, params.sector_p, m)
    x_category = _choice(rng, params.category_p, m)
    x_topic = rng.integers(0, len(_TOPICS), m)
    x_suffix = rng.integers(0, len(_TITLE_SUFFIX), m)
    x_records = np.round(
        np.exp(at["records_log_median"] + at["records_log_sd"] * rng.standard_normal(m))
    ).astype(np.int64)
    x_fields = np.maximum(
        1, np.round(np.exp(at["fields_log_median"] + at["fields_log_sd"] * rng.standard_normal(m)))
    ).astype(np.int64)
    x_quality = _logistic(qt["center_logit"] + qt["common_sd"] * rng.standard_normal(m))
    x_unknown = rng.random((m, 3)) < params.exchange_unknown[x_exchange]
    x_update = _choice(rng, upd_p, m)
    x_update[rng.random(m) < params.exchange_no_update[x_exchange]] = len(_UPDATE_DAYS)
    x_coverage = rng.integers(0, len(_COVERAGE), m)
    x_start = _day(ls["unregistered_from"])
    x_date = x_start + np.floor(rng.random(m) * (as_of - x_start)).astype(np.int64)
    x_asking = _asking_prices(rng, params, x_mode, x_exchange, x_records, x_quality)

    # --- assemble: strings are built by Arrow kernels, never row by row in Python ------------
    region_names = _labels(region, REGIONS)
    category_names = _labels(category, CATEGORIES)
    sector_names = _labels(sector, SECTORS)
    year_text = _text(_year_of(registered))
    index_text = _pad(gidx, 7)
    cat_code = _labels(category, [_CATEGORY_CODE[c] for c in CATEGORIES])
    pid = _concat(region_names, "-", cat_code, "-", year_text, "-", index_text)
    cert_number = _concat(region_names, "DIP-", year_text, "-", index_text)
    holder_pool = _concat(
        "91",
        _labels(holder_region, [_REGION_CODE[r] for r in REGIONS]),
        f"{block:06d}",
        _pad(np.arange(n_holders), 6),
    )
    holder_id = holder_pool.take(pa.array(holder_of))
    ledger_hash = _fixed_width(rng.bytes(32 * n).hex().encode("ascii"), 64, n)
    name = _concat(
        _labels(sector, [_SECTOR_CN[x] for x in SECTORS]),
        _labels(topic, _TOPICS),
        _labels(category, [_FORM_CN[c] for c in CATEGORIES]),
    )
    seg_names = _labels(segment, [f"{x}/{c}" for x in SECTORS for c in CATEGORIES])
    exchange_names = _labels(exchange, params.exchange_names)

    # revenue rows: reported years launch_year .. last_reported_year
    rep_cols = params.last_reported_year - years[0] + 1
    rev_mask = np.arange(rep_cols)[None, :] >= launch_col[:, None]
    rev_prod, rev_col = np.nonzero(rev_mask)
    rev_total = np.round(np.exp(log_rev[rev_prod, rev_col]))
    rev_lic = np.round(rev_total * licensing_share[rev_prod])
    rev_srv = rev_total - rev_lic
    rev_end = np.array([_day(f"{int(y)}-12-31") for y in years])[rev_col]

    products = {
        "product_id": pid,
        "name": name,
        "category": category_names,
        "sector": sector_names,
        "segment": seg_names,
        "region": region_names,
        "holder_id": holder_id,
        "holder_kind": _labels(holder_kind[holder_of], HOLDER_KINDS),
        "high_tech": holder_high_tech[holder_of],
        "certificate_number": cert_number,
        "registered_on": registered,
        "expires_on": expires,
        "status": _labels(status, STATUSES),
        "launched_on": launched,
        "records": (records, records_missing),
        "fields": (fields, fields_missing),
        "update_frequency_days": update_days,
        "coverage_years": coverage_years,
        **{
            f"quality_{q}": (quality[:, j], quality_missing)
            for j, q in enumerate(QUALITY_DIMENSIONS)
        },
        "listed_on": (listed_on, ~listed),
        "exchange": (exchange_names, ~listed),
    }
    product_truth = {
        "product_id": pid,
        "segment": seg_names,
        "quality_score": np.round(quality_score, 6),
        "royalty_rate": np.round(royalty_true, 6),
        "price_effect": np.round(price_effect, 6),
        "economic_value": np.round(economic_value),
        "listed": listed,
        "trades": trades,
    }
    costs = {
        "product_id": _take(pid, cost_prod),
        "item": _labels(cost_kind, COST_ITEMS),
        "amount": cost_amount.astype(np.float64),
        "incurred_on": cost_day,
    }
    revenue = {
        "product_id": _take(pid, rev_prod),
        "period_end": rev_end,
        "licensing": rev_lic,
        "services": rev_srv,
    }
    listing_ids = _concat("L", index_text)
    deals = {
        "deal_id": _concat("D", _take(index_text, deal_prod), "-", _pad(deal_rank, 3)),
        "product_id": _take(pid, deal_prod),
        "date": deal_day,
        "price": deal_price,
        "license": _labels(license_, LICENSES),
        "term_months": (term, is_transfer),
        "territory": _labels(territory, TERRITORIES),
        "royalty_rate": (deal_royalty, ~royalty_known),
        "listing_id": (_take(listing_ids, deal_prod), ~on_exchange),
    }
    events = {
        "product_id": _take(pid, ev_prod),
        "date": ev_day,
        "kind": _labels(ev_kind, EVENT_KINDS),
    }
    li = np.nonzero(listed)[0]
    size_bytes = np.exp2(np.round(np.log2(np.maximum(records * fields * 16.0, 1024.0)))).astype(
        np.int64
    )
    update_label = np.searchsorted(np.array(_UPDATE_DAYS), update_days)
    update_label[no_update] = len(_UPDATE_DAYS)
    x_size = np.exp2(np.round(np.log2(np.maximum(x_records * x_fields * 16.0, 1024.0))))
    x_title = _concat(
        _labels(x_sector, [_SECTOR_CN[x] for x in SECTORS]),
        _labels(x_topic, _TOPICS),
        _labels(x_category, [_FORM_CN[c] for c in CATEGORIES]),
        _labels(x_suffix, _TITLE_SUFFIX),
    )
    listings = {
        "listing_id": _cat_arrays(_take(listing_ids, li), _concat("LU", _take(index_text, extra))),
        "exchange": _labels(np.concatenate([exchange[li], x_exchange]), params.exchange_names),
        "title": _cat_arrays(
            _concat(_take(name, li), _labels(title_suffix[li], _TITLE_SUFFIX)), x_title
        ),
        "category": _labels(
            np.concatenate([sector[li], x_sector]), [_LISTING_CATEGORY[x] for x in SECTORS]
        ),
        "price": np.concatenate([asking[li], x_asking]),
        "price_mode": _labels(np.concatenate([mode[li], x_mode]), PRICE_MODES),
        "volume": np.concatenate(
            [np.where(unknown[li, 0], 0, records[li]), np.where(x_unknown[:, 0], 0, x_records)]
        ),
        "size_bytes": np.concatenate(
            [
                np.where(unknown[li, 1], 0, size_bytes[li]),
                np.where(x_unknown[:, 1], 0, x_size).astype(np.int64),
            ]
        ),
        "fields": np.concatenate(
            [np.where(unknown[li, 2], 0, fields[li]), np.where(x_unknown[:, 2], 0, x_fields)]
        ),
        "update_frequency": _labels(np.concatenate([update_label[li], x_update]), _UPDATE_LABELS),
        "coverage": _labels(np.concatenate([coverage_pick[li], x_coverage]), _COVERAGE),
        "date": np.concatenate([listed_on[li], x_date]),
        "product_id": _cat_arrays(_take(pid, li), pa.nulls(m, pa.string())),
    }
    default_day = loan_start + np.floor(t_default).astype(np.int64)
    d_l = defaulted[loan_idx]
    loans = {
        "loan_id": _concat("LN", _take(index_text, loan_idx)),
        "product_id": _take(pid, loan_idx),
        "borrower": _take(holder_id, loan_idx),
        "amount": amount[loan_idx],
        "start": loan_start[loan_idx],
        "tenor_months": tenor[loan_idx],
        "annual_rate": np.round(annual_rate[loan_idx], 4),
        "amortization": _labels(amort[loan_idx], AMORTIZATIONS),
        "appraised_value": np.round(appraised[loan_idx]),
        "pledge_rate": np.round(pledge_rate[loan_idx], 4),
        "annual_pd": np.round(annual_pd[loan_idx], 6),
        "outcome": _labels(d_l.astype(np.int64), ("repaid", "defaulted")),
        "default_date": (default_day[loan_idx], ~d_l),
        "exposure_at_default": (ead[loan_idx], ~d_l),
        "recovery": (recovery[loan_idx], ~d_l),
    }
    stats = {
        "status": status,
        "listing_mode": np.concatenate([mode[li], x_mode]),
        "listing_price": np.concatenate([asking[li], x_asking]),
        "loan_defaulted": d_l,
        "loan_amount": amount[loan_idx],
    }

    jsonl = _product_jsonl(
        products=products,
        ledger_hash=ledger_hash,
        quality=quality,
        costs=costs,
        cost_prod=cost_prod,
        revenue=revenue,
        rev_prod=rev_prod,
    )
    return Block(
        products, product_truth, costs, revenue, deals, events, listings, loans, jsonl, stats
    )


def _labels(index: NDArray[np.int64], names: Any) -> pa.Array:
    """Return ``names[index]`` as an Arrow string array."""
    return pa.array(list(names), type=pa.string()).take(pa.array(index))


def _cat_arrays(*arrays: pa.Array) -> pa.Array:
    return pa.concat_arrays(list(arrays))


def _take(values: pa.Array, index: NDArray[np.int64]) -> pa.Array:
    return values.take(pa.array(index))


def _pad(values: NDArray[np.int64], width: int) -> pa.Array:
    """Return whole numbers as zero-padded decimal strings."""
    return pc.utf8_lpad(_text(np.asarray(values, dtype=np.int64)), width, "0")


def _fixed_width(data: bytes, width: int, n: int) -> pa.Array:
    """Cut ``n`` strings of ``width`` ASCII characters out of ``data``."""
    offsets = np.arange(0, width * n + 1, width, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def _text(values: Any, mask: Any = None) -> pa.Array:
    """Return ``values`` as an Arrow string array (numbers in shortest round-trip form)."""
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray) and values.dtype.kind in "iufb":
        return pc.cast(pa.array(values, mask=mask), pa.string())
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        return pc.cast(pa.array(values, type=pa.date32(), mask=mask), pa.string())
    return pa.array(values, type=pa.string(), mask=mask)


def _days(days: NDArray[np.int64]) -> NDArray[np.datetime64]:
    return np.asarray(days, dtype=np.int64).astype("datetime64[D]")


def _concat(*parts: pa.Array | str, sep: str = "", skip_nulls: bool = False) -> pa.Array:
    """Concatenate string arrays and literals element-wise (a null part gives null)."""
    args = [pa.scalar(p, pa.string()) if isinstance(p, str) else p for p in parts]
    handling = "skip" if skip_nulls else "emit_null"
    return pc.binary_join_element_wise(*args, sep, null_handling=handling)


def _join_lists(items: pa.Array, owner: NDArray[np.int64], n: int) -> pa.Array:
    """Join the item strings of each product (``owner`` sorted) with commas."""
    offsets = np.searchsorted(owner, np.arange(n + 1), side="left").astype(np.int32)
    return pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), items), ",")


def _product_jsonl(
    *,
    products: dict[str, Any],
    ledger_hash: list[str],
    quality: NDArray[np.float64],
    costs: dict[str, Any],
    cost_prod: NDArray[np.int64],
    revenue: dict[str, Any],
    rev_prod: NDArray[np.int64],
) -> str:
    """Format the product documents as JSON Lines with Arrow string kernels.

    No pydantic object is built (too slow for millions of rows). Every string written here
    comes from a fixed vocabulary or a generated identifier, none of which needs JSON escaping;
    the tests parse and validate every line of the bundled sample.
    """
    p = products
    n = len(p["product_id"])
    records, records_missing = p["records"]
    fields, fields_missing = p["fields"]
    quality_missing = p["quality_accuracy"][1]
    holder = _concat(
        '{"holder_id":"',
        _text(p["holder_id"]),
        '","kind":"',
        _text(p["holder_kind"]),
        '","high_tech":',
        _text(np.where(p["high_tech"], "true", "false")),
        "}",
    )
    certificate = _concat(
        '{"number":"',
        _text(p["certificate_number"]),
        '","registered_on":"',
        _text(_days(p["registered_on"])),
        '","expires_on":"',
        _text(_days(p["expires_on"])),
        '","status":"',
        _text(p["status"]),
        '","ledger_hash":"',
        _text(ledger_hash),
        '"}',
    )
    q_parts: list[pa.Array | str] = []
    for j, dim in enumerate(QUALITY_DIMENSIONS):
        q_parts += [("{" if j == 0 else ",") + f'"{dim}":', _text(quality[:, j], quality_missing)]
    attributes = _concat(
        _concat('"records":', _text(records, records_missing)),
        _concat('"fields":', _text(fields, fields_missing)),
        _concat('"update_frequency_days":', _text(p["update_frequency_days"])),
        _concat('"coverage_years":', _text(p["coverage_years"])),
        _concat('"quality":', *q_parts, "}"),
        sep=",",
        skip_nulls=True,
    )
    cost_items = _concat(
        '{"item":"',
        _text(costs["item"]),
        '","amount":',
        _text(costs["amount"].astype(np.int64)),
        ',"incurred_on":"',
        _text(_days(costs["incurred_on"])),
        '"}',
    )
    rev_items = _concat(
        '{"period_end":"',
        _text(_days(revenue["period_end"])),
        '","licensing":',
        _text(revenue["licensing"].astype(np.int64)),
        ',"services":',
        _text(revenue["services"].astype(np.int64)),
        "}",
    )
    lines = _concat(
        '{"product_id":"',
        _text(p["product_id"]),
        '","name":"',
        _text(p["name"]),
        '","category":"',
        _text(p["category"]),
        '","sector":"',
        _text(p["sector"]),
        '","currency":"CNY","holder":',
        holder,
        ',"certificate":',
        certificate,
        ',"attributes":{',
        attributes,
        '},"costs":[',
        _join_lists(cost_items, cost_prod, n),
        '],"revenue":[',
        _join_lists(rev_items, rev_prod, n),
        "]}",
    )
    return "\n".join(lines.to_pylist()) + "\n"


__all__ = ["STREAM_BLOCK", "Block", "Params", "block_rng", "build_params", "generate_block"]
