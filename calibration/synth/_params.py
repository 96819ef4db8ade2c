"""The generator's vocabularies and the truth dictionary as arrays (:class:`Params`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calibration.synth._draw import _day, _probs
from valuation.schema.product import CATEGORIES, COST_ITEMS, QUALITY_DIMENSIONS, SECTORS

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
