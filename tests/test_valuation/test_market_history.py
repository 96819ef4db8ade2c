"""The market method without explicit comparables: comparables selected from the calibration's
deal history (``comparables.json``), adjusted by its hedonic model, else the model alone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from valuation import value
from valuation.calibration_set import (
    CalibrationSet,
    load_calibration,
    resolve_calibration_with_model,
)
from valuation.defaults import DEFAULTS
from valuation.methods.market_model import (
    MIN_QUALIFIED,
    MIN_SIMILARITY,
    N_COMPARABLES,
    SELECTION_FEATURES,
    MarketModel,
    feature_row,
    model_feature_names,
    select_comparables,
)
from valuation.schema.product import Product

AS_OF = "2026-11-01"
LIFE = DEFAULTS["economic_life_years"]
SAMPLE = Path(__file__).resolve().parents[2] / "valuation" / "data" / "sample" / "products.jsonl"
HISTORY_NAME = "comparables from the calibration's deal history"
QUALITY = {
    d: 0.8
    for d in (
        "accuracy",
        "consistency",
        "completeness",
        "conformity",
        "timeliness",
        "accessibility",
    )
}


@pytest.fixture(scope="module")
def cal() -> CalibrationSet:
    return load_calibration()


@pytest.fixture(scope="module")
def market(cal: CalibrationSet) -> MarketModel:
    model = cal.market_model()
    assert isinstance(model, MarketModel) and model.deals is not None and len(model.deals) > 0
    return model


def _attributes_only(**attributes: Any) -> dict[str, Any]:
    return {
        "product_id": "SH-DP-2025-009001",
        "name": "Consumer credit behaviour index",
        "category": "data_product",
        "sector": "finance",
        "certificate": {
            "number": "SHDIP-2025-9001",
            "registered_on": "2025-03-01",
            "expires_on": "2028-03-01",
            "status": "valid",
        },
        "attributes": attributes or {"records": 2_000_000, "fields": 30, "quality": QUALITY},
    }


def _sample_product(product_id: str) -> Product:
    with SAMPLE.open(encoding="utf-8") as handle:
        for line in handle:
            if product_id in line:
                product = Product.model_validate_json(line)
                if product.product_id == product_id:
                    return product
    raise LookupError(product_id)


def _select(
    market: MarketModel, product: Product, as_of: dt.date
) -> tuple[list[int], np.ndarray, dict[str, Any], str | None]:
    names = model_feature_names(market.hedonic)
    subject = np.array(feature_row(product, as_of, names, DEFAULTS["quality_weights"], LIFE))
    return select_comparables(market, product, subject, as_of, names)


def _a_product_whose_own_deals_are_nearest(market: MarketModel) -> tuple[Product, list[int]]:
    """A sample product whose own deals would be selected were they not its own."""
    assert market.deals is not None
    as_of = dt.date.fromisoformat(AS_OF)
    seen = 0
    for pid in dict.fromkeys(market.deals.product_id.tolist()):
        seen += 1
        if seen > 300:
            break
        product = _sample_product(pid)
        own = set(np.flatnonzero(market.deals.product_id == pid).tolist())
        stranger = product.model_copy(update={"product_id": "XX-DP-2099-0000001"})
        rows, *_ = _select(market, stranger, as_of)
        if own & set(rows):
            return product, sorted(own)
    pytest.fail("no sample product has its own deals among its nearest")


def test_selection_excludes_the_subjects_own_deals(market: MarketModel) -> None:
    assert market.deals is not None
    product, own = _a_product_whose_own_deals_are_nearest(market)
    rows, sims, summary, why = _select(market, product, dt.date.fromisoformat(AS_OF))
    assert why is None and len(rows) >= MIN_QUALIFIED
    assert not set(rows) & set(own)
    assert all(market.deals.product_id[r] != product.product_id for r in rows)
    assert summary["qualified"] == len(rows) and len(sims) == len(rows)


def test_selection_excludes_deals_after_the_valuation_date(market: MarketModel) -> None:
    assert market.deals is not None
    product, _ = _a_product_whose_own_deals_are_nearest(market)
    late, *_ = _select(market, product, dt.date.fromisoformat(AS_OF))
    latest = max(market.deals.date[late]).astype(dt.date)
    early_date = latest - dt.timedelta(days=1)  # the latest of them is now in the future
    early, _, summary, _ = _select(market, product, early_date)
    assert all(market.deals.date[r].astype(dt.date) <= early_date for r in early)
    assert early != late
    dated = market.deals.date <= np.datetime64(early_date)
    assert summary["candidates"] <= int(dated.sum())


def test_similarity_is_one_over_one_plus_the_rms_standardised_distance(
    market: MarketModel,
) -> None:
    assert market.deals is not None
    product = Product.model_validate(_attributes_only())
    as_of = dt.date.fromisoformat(AS_OF)
    rows, sims, summary, why = _select(market, product, as_of)
    assert why is None and len(rows) == N_COMPARABLES
    names = model_feature_names(market.hedonic)
    subject = np.array(feature_row(product, as_of, names, DEFAULTS["quality_weights"], LIFE))
    used = summary["features"]
    assert used == [n for n in SELECTION_FEATURES if math.isfinite(subject[names.index(n)])]
    table = market.deals.features
    cols = [market.deals.feature_names.index(n) for n in used]
    scale = []
    for c in cols:
        x = table[:, c]
        scale.append(np.std(x[np.isfinite(x)]))
    z = (table[np.ix_(rows, cols)] - subject[[names.index(n) for n in used]]) / np.array(scale)
    distance = np.sqrt(np.mean(z**2, axis=1))
    np.testing.assert_allclose(sims, 1.0 / (1.0 + distance), rtol=1e-9)
    assert np.all(sims >= MIN_SIMILARITY) and np.all(np.diff(sims) <= 1e-12)  # nearest first
    # same category and sector only
    for feature in ("category", "sector"):
        c = market.deals.feature_names.index(feature)
        assert np.all(table[rows, c] == subject[names.index(feature)])


def test_attributes_only_product_lists_the_comparables_ids(
    market: MarketModel, cal: CalibrationSet
) -> None:
    assert market.deals is not None
    r = value(_attributes_only(), as_of=AS_OF, market_model=market)
    m = r.methods.market
    assert m.value and m.value > 0 and r.concluded_value
    assert HISTORY_NAME in m.name
    assert m.comparables and len(m.comparables) >= MIN_QUALIFIED
    ids = set(market.deals.deal_id.tolist())
    listed = [c.deal_id for c in m.comparables]
    assert all(i in ids for i in listed)
    selection = m.inputs["comparables_selection"]["value"]
    assert selection["deal_ids"] == listed
    assert selection["k"] == N_COMPARABLES and selection["min_similarity"] == MIN_SIMILARITY
    assert selection["qualified"] == len(listed) <= N_COMPARABLES
    assert m.inputs["comparables"]["value"] == len(listed)
    assert "_history_comparables" not in m.inputs  # the listing is in comparables only
    for c in m.comparables:
        assert c.product_id and c.product_id != r.product_id
        assert c.date <= dt.date.fromisoformat(AS_OF)
        assert c.similarity is not None and c.similarity >= MIN_SIMILARITY
    # the result document carries the ids
    doc = json.loads(r.model_dump_json())
    assert [c["deal_id"] for c in doc["methods"]["market"]["comparables"]] == listed
    assert r.audit.calibration_id and cal.id.startswith("cal-")


def test_adjusted_price_is_price_times_the_factors(market: MarketModel) -> None:
    r = value(_attributes_only(), as_of=AS_OF, market_model=market, samples=0)
    m = r.methods.market
    assert m.comparables and m.value
    for c in m.comparables:
        assert c.adjusted_price == pytest.approx(c.price * math.prod(c.factors.values()), rel=1e-12)
        assert c.factors["category"] == 1.0 and c.factors["sector"] == 1.0
        assert set(c.factors) >= {"rights", "territory", "volume", "quality", "date", "term"}
    weights = [c.weight or 0.0 for c in m.comparables]
    assert sum(weights) == pytest.approx(1.0)
    sims = np.array([c.similarity or 0.0 for c in m.comparables])
    np.testing.assert_allclose(weights, sims / sims.sum())
    # the value is the similarity-weighted geometric mean (a valid certificate keeps all of it)
    log_mean = sum(
        w * math.log(c.adjusted_price) for w, c in zip(weights, m.comparables, strict=True)
    )
    assert m.value == pytest.approx(math.exp(log_mean), rel=1e-9)


def test_factors_are_the_hedonic_models_price_ratios(market: MarketModel) -> None:
    assert market.deals is not None
    r = value(_attributes_only(), as_of=AS_OF, market_model=market, samples=0)
    c = (r.methods.market.comparables or [])[0]
    row = int(np.flatnonzero(market.deals.deal_id == c.deal_id)[0])
    names = model_feature_names(market.hedonic)
    product = Product.model_validate(_attributes_only())
    subject = np.array(
        feature_row(product, dt.date.fromisoformat(AS_OF), names, DEFAULTS["quality_weights"], LIFE)
    )
    base = market.deals.features[row][[market.deals.feature_names.index(n) for n in names]]
    moved = base.copy()
    k = names.index("license_rank")
    moved[k] = subject[k]
    ratio = math.exp(
        float(market.hedonic.predict(moved[None])[0] - market.hedonic.predict(base[None])[0])
    )
    assert c.factors["rights"] == pytest.approx(ratio, rel=1e-9)


def test_log_sd_is_floored_by_the_model_band_and_covers_the_spread(market: MarketModel) -> None:
    r = value(_attributes_only(), as_of=AS_OF, market_model=market, samples=0)
    m = r.methods.market
    assert m.comparables and m.sigma_log
    selection = m.inputs["comparables_selection"]["value"]
    w = np.array([c.weight or 0.0 for c in m.comparables])
    x = np.log([c.adjusted_price for c in m.comparables])
    n_eff = 1.0 / float(w @ w)
    spread = math.sqrt(float(w @ (x - w @ x) ** 2) * n_eff / (n_eff - 1.0) / n_eff)
    assert selection["n_eff"] == pytest.approx(n_eff, rel=1e-5)
    assert selection["log_sd_spread"] == pytest.approx(spread, rel=1e-5)
    band = m.inputs["model_band_80"]["value"]
    band_sd = (math.log(band[1]) - math.log(band[0])) / (2 * 1.2815515655446004)
    assert selection["log_sd_model_band"] == pytest.approx(band_sd, rel=1e-5)
    # the method's sd: the larger of the two, with the measured method error on top
    method_error = DEFAULTS["method_error"]["market"]
    own = math.sqrt(m.sigma_log**2 - method_error**2)
    assert own == pytest.approx(max(spread, band_sd), rel=1e-6)
    assert own >= spread and own >= band_sd


def test_too_few_qualify_falls_back_to_the_model(market: MarketModel) -> None:
    r = value(_attributes_only(records=10**13, fields=5000), as_of=AS_OF, market_model=market)
    m = r.methods.market
    assert m.value and m.value > 0
    assert "hedonic price model" in m.name and HISTORY_NAME not in m.name
    assert m.comparables is None
    selection = m.inputs["comparables_selection"]["value"]
    assert selection["qualified"] < MIN_QUALIFIED
    assert "qualify" in selection["fallback"]
    assert "qualify" in m.inputs["price_model"]["value"]
    # the same value as the model alone
    alone = value(
        _attributes_only(records=10**13, fields=5000), as_of=AS_OF, market_model=market.hedonic
    )
    assert m.value == pytest.approx(alone.methods.market.value)


def test_empty_table_falls_back_to_the_model(market: MarketModel) -> None:
    assert market.deals is not None
    empty = dataclasses.replace(
        market.deals,
        **{
            f.name: getattr(market.deals, f.name)[:0]
            for f in dataclasses.fields(market.deals)
            if f.name != "feature_names"
        },
    )
    assert len(empty) == 0
    r = value(_attributes_only(), as_of=AS_OF, market_model=MarketModel(market.hedonic, empty))
    m = r.methods.market
    assert "hedonic price model" in m.name and m.value and m.value > 0
    assert "empty" in m.inputs["comparables_selection"]["value"]["fallback"]
    # a product valued before any deal of its segment: no candidates either
    early = value(_attributes_only(), as_of="2019-01-02", market_model=market)
    assert "hedonic price model" in early.methods.market.name
    assert early.methods.market.inputs["comparables_selection"]["value"]["candidates"] == 0


def test_bare_hedonic_model_says_it_has_no_deal_table(market: MarketModel) -> None:
    r = value(_attributes_only(), as_of=AS_OF, market_model=market.hedonic)
    m = r.methods.market
    assert "hedonic price model" in m.name and m.comparables is None
    assert "no deal table" in m.inputs["comparables_selection"]["value"]["fallback"]


def test_explicit_comparables_come_first(market: MarketModel) -> None:
    product = _attributes_only()
    product["comparables"] = [{"price": 3_000_000, "date": "2026-05-01", "license": "transfer"}]
    m = value(product, as_of=AS_OF, market_model=market).methods.market
    assert m.name == "market approach (explicit comparables)"
    assert m.comparables and m.comparables[0].deal_id is None


def test_dpv_value_takes_the_sets_deal_history() -> None:
    _, _, model = resolve_calibration_with_model(None)
    assert isinstance(model, MarketModel) and model.deals is not None
    # the bundle still answers as the hedonic model
    assert model.feature_names == model.hedonic.feature_names


def test_cli_lists_the_comparables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from valuation.cli import main

    path = tmp_path / "product.json"
    path.write_text(json.dumps(_attributes_only()), encoding="utf-8")
    assert main(["value", str(path), "--as-of", AS_OF, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    market = doc["methods"]["market"]
    assert HISTORY_NAME in market["name"]
    assert all(c["deal_id"] and c["product_id"] for c in market["comparables"])
