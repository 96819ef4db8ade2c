"""The generated market follows its truth: estimates within 4 standard errors of the truth.

One market of 40,000 products (seed 2024) is generated once for the module. Each check
estimates a parameter from the written tables only (as calibration will) and compares it with
``truth.json`` at a tolerance of 4 standard errors for that sample size, so a wrong
generator fails and a right one passes except with probability ~1e-4 per check.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest

from calibration.synth import generate_market

N = 40_000
SEED = 2024
Z = 4.0
_DAY = np.timedelta64(1, "D")


def _within(estimate: float, expected: float, se: float, what: str) -> None:
    assert abs(estimate - expected) <= Z * se, (
        f"{what}: estimate {estimate:.5g}, truth {expected:.5g}, "
        f"{abs(estimate - expected) / se:.1f} standard errors apart (se {se:.3g})"
    )


def _read(folder: Path, table: str) -> dict[str, np.ndarray]:
    t = pq.read_table(folder / f"{table}.parquet")
    return {c: t[c].to_numpy(zero_copy_only=False) for c in t.column_names}


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("synth") / "market"
    generate_market(N, SEED, out, "parquet")
    data: dict[str, Any] = {
        t: _read(out, t)
        for t in ("products", "product_truth", "revenue", "deals", "events", "listings", "loans")
    }
    data["truth"] = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    data["as_of"] = np.datetime64(data["truth"]["calendar"]["as_of"], "D")
    return data


def _years(delta: np.ndarray) -> np.ndarray:
    return (delta / _DAY).astype(np.float64) / 365.25


def _event_dates(market: dict[str, Any], kind: str) -> np.ndarray:
    """Date of the product's event of ``kind`` (NaT when none), aligned with products."""
    ev = market["events"]
    pid = market["products"]["product_id"]
    out = np.full(len(pid), np.datetime64("NaT"), dtype="datetime64[D]")
    sel = ev["kind"] == kind
    pos = {p: i for i, p in enumerate(pid)}
    for p, d in zip(ev["product_id"][sel], ev["date"][sel], strict=True):
        out[pos[p]] = d
    return out


def _min_dates(*dates: np.ndarray) -> np.ndarray:
    far = np.datetime64("2999-12-31")
    stacked = np.stack([np.where(np.isnat(d), far, d) for d in dates])
    return stacked.min(axis=0)


def test_revenue_log_growth_and_volatility_per_segment(market: dict[str, Any]) -> None:
    check_revenue(market, market["truth"])


def check_revenue(market: dict[str, Any], truth: dict[str, Any]) -> None:
    rev = market["revenue"]
    total = rev["licensing"] + rev["services"]
    pid = rev["product_id"]
    same = pid[1:] == pid[:-1]
    ok = same & (total[1:] > 0) & (total[:-1] > 0)
    step = np.log(total[1:][ok]) - np.log(total[:-1][ok])
    seg_of = dict(zip(market["products"]["product_id"], market["products"]["segment"], strict=True))
    seg = np.array([seg_of[p] for p in pid[1:][ok]])
    checked = 0
    for name, s in truth["revenue"]["segments"].items():
        x = step[seg == name]
        if len(x) < 200:
            continue
        checked += 1
        lam, jm, js, vol = s["jump_intensity"], s["jump_mean"], s["jump_sd"], s["volatility"]
        mu = s["growth"] - s["decay"] - vol**2 / 2 - lam * (math.exp(jm + js**2 / 2) - 1)
        mean = mu + lam * jm
        var = vol**2 + lam * (jm**2 + js**2)
        _within(float(x.mean()), mean, math.sqrt(var / len(x)), f"{name} mean log growth")
        # the sample variance's standard error from the sample's fourth central moment
        m4 = float(np.mean((x - x.mean()) ** 4))
        _within(float(x.var(ddof=1)), var, math.sqrt((m4 - var**2) / len(x)), f"{name} variance")
        # net growth, the key calibration compares: E[R[t+1]/R[t]] = exp(growth - decay)
        assert s["net_growth"] == pytest.approx(s["growth"] - s["decay"], abs=1e-9)
    assert checked >= 6


def _hazard_check(events: int, exposure_years: float, rate: float, what: str) -> None:
    expected = rate * exposure_years
    _within(events, expected, math.sqrt(expected), what)


def test_certificate_hazards(market: dict[str, Any]) -> None:
    check_certificate_hazards(market, market["truth"])


def check_certificate_hazards(market: dict[str, Any], truth: dict[str, Any]) -> None:
    prod = market["products"]
    hz = truth["hazards"]
    as_of = market["as_of"]
    start = prod["registered_on"] + market["truth"]["calendar"]["announcement_days"] * _DAY
    objection = _event_dates(market, "objection")
    revocation = _event_dates(market, "revocation")
    lapse = _event_dates(market, "lapse")
    renewal = _event_dates(market, "renewal")
    as_of_arr = np.full(len(start), as_of)

    end = _min_dates(as_of_arr, revocation, lapse, objection)
    exposure = np.clip(_years(end - start), 0, None).sum()
    _hazard_check(int((~np.isnat(objection)).sum()), exposure, hz["objection"], "objection")

    end = _min_dates(as_of_arr, revocation, lapse)
    exposure = np.clip(_years(end - start), 0, None).sum()
    _hazard_check(int((~np.isnat(revocation)).sum()), exposure, hz["revocation"], "revocation")

    renewed, lapsed = int((~np.isnat(renewal)).sum()), int((~np.isnat(lapse)).sum())
    p = hz["renewal_probability"]
    n = renewed + lapsed
    assert n > 200
    _within(renewed / n, p, math.sqrt(p * (1 - p) / n), "renewal probability")


def test_statuses_agree_with_events(market: dict[str, Any]) -> None:
    prod = market["products"]
    status = prod["status"]
    as_of = market["as_of"]
    revoked = ~np.isnat(_event_dates(market, "revocation"))
    lapsed = ~np.isnat(_event_dates(market, "lapse"))
    renewed = ~np.isnat(_event_dates(market, "renewal"))
    objected = ~np.isnat(_event_dates(market, "objection"))
    np.testing.assert_array_equal(status == "revoked", revoked)
    np.testing.assert_array_equal(status == "expired", lapsed & ~revoked)
    assert np.all(objected[status == "objected"])
    announced = prod["registered_on"] + 15 * _DAY > as_of
    np.testing.assert_array_equal(status == "announced", announced)
    validity = (prod["expires_on"] - prod["registered_on"]) / _DAY
    three_years = (validity >= 365 * 3) & (validity <= 366 * 3)
    assert np.all(three_years[~renewed])
    assert np.all((validity[renewed] >= 365 * 6) & (validity[renewed] <= 366 * 6 + 1))
    assert prod["registered_on"].min() >= np.datetime64("2023-03-01")
    assert prod["registered_on"].max() <= as_of
    # registrations rise over time: most of them in 2024-2026
    year = prod["registered_on"].astype("datetime64[Y]").astype(int) + 1970
    assert np.mean(year >= 2024) > 0.85


def test_delisting_hazard_and_never_traded_share(market: dict[str, Any]) -> None:
    check_listing_life(market, market["truth"])


def check_listing_life(market: dict[str, Any], truth: dict[str, Any]) -> None:
    registered = market["listings"]["product_id"] != None  # noqa: E711
    lst = {k: v[registered] for k, v in market["listings"].items()}
    as_of = market["as_of"]
    delisting = _event_dates(market, "delisting")
    pos = {p: i for i, p in enumerate(market["products"]["product_id"])}
    delist = delisting[[pos[p] for p in lst["product_id"]]]
    end = _min_dates(np.full(len(delist), as_of), delist)
    active = np.clip(_years(end - lst["date"]), 0, None)
    _hazard_check(
        int((~np.isnat(delist)).sum()), active.sum(), truth["hazards"]["delisting"], "delisting"
    )

    traded = set(market["deals"]["listing_id"][market["deals"]["listing_id"] != None])  # noqa: E711
    never = np.array([lid not in traded for lid in lst["listing_id"]])
    p_never = np.exp(-truth["listings"]["trade_rate_per_year"] * active)
    se = math.sqrt(float(np.sum(p_never * (1 - p_never)))) / len(p_never)
    _within(float(never.mean()), float(p_never.mean()), se, "never-traded share")
    assert never.mean() > 0.7  # most listings never trade (DaDaDa README)


def test_listing_price_modes_and_placeholders(market: dict[str, Any]) -> None:
    check_listing_prices(market, market["truth"])


def check_listing_prices(market: dict[str, Any], truth: dict[str, Any]) -> None:
    lst = market["listings"]
    spec = truth["listings"]
    for exchange, ex in spec["exchanges"].items():
        here = lst["exchange"] == exchange
        n = int(here.sum())
        assert n > 500, exchange
        for mode, share in ex["price_mode_shares"].items():
            observed = float(np.mean(lst["price_mode"][here] == mode))
            se = math.sqrt(max(share * (1 - share), 1e-4) / n)
            _within(observed, share, se, f"{exchange} {mode} share")
    one_off = (lst["price_mode"] == "one_off") & (lst["price"] > 0)
    placeholder = one_off & np.isin(lst["price"], spec["placeholder_prices"])
    n = int(one_off.sum())
    p = spec["exchanges"]["Zhejiang Big Data Exchange"]["placeholder_share"]
    _within(placeholder.sum() / n, p, math.sqrt(p * (1 - p) / n), "placeholder share")
    # negotiable listings carry price 0 (= no price), as in the source data
    assert np.all(lst["price"][lst["price_mode"] == "negotiable"] == 0)
    # unknown sizes are 0, as in the real files: Beijing never reports a size
    beijing = lst["exchange"] == "Beijing International Data Exchange"
    assert np.all(lst["size_bytes"][beijing] == 0)
    assert np.mean(lst["volume"] == 0) > 0.9


def test_hedonic_licence_premia_within_products(market: dict[str, Any]) -> None:
    """Within a product the price effect cancels: compare licence kinds by demeaned log price."""
    deals = market["deals"]
    hd = market["truth"]["hedonic"]
    life = market["truth"]["valuation"]["economic_life_years"]
    category = dict(
        zip(market["products"]["product_id"], market["products"]["category"], strict=True)
    )
    x = np.log(deals["price"])
    # remove the known terms that vary within a product: a licence's term against the
    # product's economic life (a transfer is the asset for its life), and the territory
    life_months = np.array([12.0 * life[category[p]] for p in deals["product_id"]])
    term = np.where(np.isnan(deals["term_months"].astype(float)), life_months, deals["term_months"])
    terr = np.array([hd["territory"][t] for t in deals["territory"]])
    y = x - hd["log_term_months"] * np.log(term / life_months) - terr
    # the product's revenue changes between deal years; regress on licence dummies within products
    pid = deals["product_id"]
    _, inv, counts = np.unique(pid, return_inverse=True, return_counts=True)
    keep = counts[inv] >= 2
    lic = deals["license"]
    cols = [np.ones(len(y)), (lic == "exclusive").astype(float), (lic == "transfer").astype(float)]
    design = np.column_stack(cols)[keep]
    group = inv[keep]
    yy = y[keep]

    def demean(v: np.ndarray) -> np.ndarray:
        sums = np.bincount(group, weights=v)
        cnt = np.bincount(group)
        return v - (sums / np.maximum(cnt, 1))[group]

    xd = np.column_stack([demean(design[:, j]) for j in (1, 2)])
    yd = demean(yy)
    beta, *_ = np.linalg.lstsq(xd, yd, rcond=None)
    resid = yd - xd @ beta
    dof = len(yd) - len(np.unique(group)) - 2
    sigma2 = float(resid @ resid) / dof
    cov = sigma2 * np.linalg.inv(xd.T @ xd)
    # the within-product residual also carries revenue changes between deal years (independent
    # of the licence kind), so it only widens the standard error
    for j, key in enumerate(("exclusive", "transfer")):
        _within(float(beta[j]), hd["license"][key], math.sqrt(cov[j, j]), f"licence {key}")


def test_royalty_rates_follow_the_logit_model(market: dict[str, Any]) -> None:
    deals = market["deals"]
    rr = market["truth"]["royalty_rate"]
    known = ~np.isnan(deals["royalty_rate"].astype(float))
    assert not np.any(known & (deals["license"] == "transfer"))
    share = known[deals["license"] != "transfer"].mean()
    n = int((deals["license"] != "transfer").sum())
    p = rr["reported_share"]
    _within(float(share), p, math.sqrt(p * (1 - p) / n), "royalty reported share")
    logit = np.log(deals["royalty_rate"][known] / (1 - deals["royalty_rate"][known]))
    lic = deals["license"][known]
    ex, ne = logit[lic == "exclusive"], logit[lic == "non_exclusive"]
    se = math.sqrt(ex.var() / len(ex) + ne.var() / len(ne))
    _within(float(ex.mean() - ne.mean()), rr["license"]["exclusive"], se, "exclusive royalty")


def test_loan_defaults_follow_pd(market: dict[str, Any]) -> None:
    loans = market["loans"]
    p_default = 1 - (1 - loans["annual_pd"]) ** (loans["tenor_months"] / 12)
    defaults = int(np.sum(loans["outcome"] == "defaulted"))
    expected = float(p_default.sum())
    _within(defaults, expected, math.sqrt(float(np.sum(p_default * (1 - p_default)))), "defaults")
    d = loans["outcome"] == "defaulted"
    assert np.all(~np.isnat(loans["default_date"][d])) and np.all(
        np.isnat(loans["default_date"][~d])
    )
    assert np.all(loans["default_date"][d] >= loans["start"][d])
    assert np.all((loans["recovery"][d] >= 0) & (loans["recovery"][d] <= 1))


def test_magnitudes_are_anchored(market: dict[str, Any]) -> None:
    """SPEC §1 and market-facts: Shanghai-like values, loans of 5-20 m CNY, about a year."""
    value = market["product_truth"]["economic_value"]
    # Shanghai: 837 products ~ 19.6 bn CNY (~23 m each), heavy-tailed
    assert 10e6 < value.mean() < 40e6
    assert np.median(value) < value.mean() / 3
    assert np.quantile(value, 0.99) > 20 * np.median(value)
    loans = market["loans"]
    amount = loans["amount"]
    assert 10e6 < amount.mean() < 25e6  # Shanghai ~22 m each
    assert 0.5 < np.mean((amount >= 5e6) & (amount <= 20e6))
    assert np.median(loans["tenor_months"]) == 12
    assert 0.4 < np.median(loans["pledge_rate"]) < 0.55  # ~50% in published cases
    assert np.mean((loans["pledge_rate"] >= 0.1) & (loans["pledge_rate"] <= 0.6)) > 0.95
    assert np.all(loans["start"] + loans["tenor_months"] * 31 * _DAY >= loans["start"])
    end = loans["start"] + np.round(loans["tenor_months"] * 365.25 / 12).astype(int) * _DAY
    assert np.all(end <= market["as_of"])  # outcomes are known by the as-of date
    # a thin market: pledged products are a few per cent (Shanghai 16 of 837)
    assert 0.005 < len(amount) / N < 0.05


def _set(truth: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(truth)
    *parents, last = path.split(".")
    node = out
    for key in parents:
        node = node[key]
    node[last] = value(node[last])
    return out


@pytest.mark.parametrize(
    ("check", "path", "change"),
    [
        (check_revenue, "revenue.segments.ai/data_product.growth", lambda g: g + 0.05),
        (check_revenue, "revenue.segments.ai/data_collection.volatility", lambda v: v * 1.15),
        (check_certificate_hazards, "hazards.objection", lambda h: h * 1.3),
        (check_certificate_hazards, "hazards.revocation", lambda h: h * 1.5),
        (check_certificate_hazards, "hazards.renewal_probability", lambda p: p - 0.08),
        (check_listing_life, "hazards.delisting", lambda h: h * 1.3),
        (check_listing_life, "listings.trade_rate_per_year", lambda r: r * 1.3),
        (
            check_listing_prices,
            "listings.exchanges.Zhejiang Big Data Exchange.placeholder_share",
            lambda p: p - 0.05,
        ),
    ],
)
def test_checks_reject_a_wrong_truth(
    market: dict[str, Any], check: Any, path: str, change: Any
) -> None:
    """Each check can fail: it rejects the market against a moderately wrong parameter."""
    wrong = _set(market["truth"], path, change)
    with pytest.raises(AssertionError):
        check(market, wrong)


def test_unregistered_listings(market: dict[str, Any]) -> None:
    lst = market["listings"]
    spec = market["truth"]["listings"]
    unregistered = lst["product_id"] == None  # noqa: E711
    p = spec["unregistered_per_product"]
    _within(float(unregistered.sum()) / N, p, math.sqrt(p * (1 - p) / N), "unregistered listings")
    assert np.all(np.char.startswith(lst["listing_id"][unregistered].astype(str), "LU"))
    assert len(set(lst["listing_id"])) == len(lst["listing_id"])
    traded = set(market["deals"]["listing_id"][market["deals"]["listing_id"] != None])  # noqa: E711
    assert not traded & set(lst["listing_id"][unregistered])
    assert lst["date"][unregistered].min() >= np.datetime64(spec["unregistered_from"])


def test_listing_metadata_explains_little_of_price(market: dict[str, Any]) -> None:
    """DaDaDa README: a model of price on listing metadata reaches R^2 of ~0-0.25.

    Even with the product's full attributes (records, fields, quality from the products
    table, far more than the listings show), asking prices stay mostly unexplained.
    """
    lst = market["listings"]
    prod = market["products"]
    pos = {p: i for i, p in enumerate(prod["product_id"])}
    priced = (lst["price_mode"] == "one_off") & (lst["price"] > 0) & (lst["product_id"] != None)  # noqa: E711
    rows = np.array([pos[p] for p in lst["product_id"][priced]])
    records = prod["records"][rows].astype(float)
    fields = prod["fields"][rows].astype(float)
    quality = prod["quality_accuracy"][rows].astype(float)
    ok = ~np.isnan(records) & ~np.isnan(fields) & ~np.isnan(quality) & (records > 0)
    y = np.log(lst["price"][priced][ok])
    x = np.column_stack([np.ones(ok.sum()), np.log(records[ok]), np.log(fields[ok]), quality[ok]])
    beta, *_ = np.linalg.lstsq(x, y, rcond=None)
    r2 = 1 - np.sum((y - x @ beta) ** 2) / np.sum((y - y.mean()) ** 2)
    assert ok.sum() > 1000
    assert -0.05 < r2 < 0.25
