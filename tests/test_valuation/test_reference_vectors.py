"""Every row of valuation_vectors.csv reproduced through the engine's own code.

Source of the rows: `tests/data/reference-vectors/valuation_vectors.csv` — one published
excess-earnings example (CFA Level II) and closed-form identities for relief-from-royalty and
the tax-amortisation benefit (derived), plus numpy-financial's NPV/IRR congruence property.
Expected values are rounded to 10 decimals; they are checked to 1e-9 relative (README beside
the data).
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import pytest

from valuation.kernels.valuation import income_value
from valuation.methods import finance

VECTORS = Path(__file__).parents[1] / "data" / "reference-vectors" / "valuation_vectors.csv"
RELATIVE = 1e-9
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _load() -> dict[str, dict[str, str]]:
    with VECTORS.open(newline="", encoding="utf-8") as handle:
        return {row["id"]: row for row in csv.DictReader(handle)}


ROWS = _load()


def _pairs(text: str) -> dict[str, float]:
    """``key=number`` pairs of a free-text field; ``key`` is the text's last word before ``=``."""
    return {key: float(value) for key, value in re.findall(rf"(\w+)\s*=\s*({_NUMBER})", text)}


def _inputs(row_id: str) -> dict[str, float]:
    """The numeric inputs of a row; ``same`` inherits those of the row above."""
    ids = list(ROWS)
    text = ROWS[row_id]["inputs"]
    inherited = _inputs(ids[ids.index(row_id) - 1]) if text.startswith("same") else {}
    return {**inherited, **_pairs(text)}


def _mid_year(row_id: str) -> float:
    return 1.0 if "mid-year" in ROWS[row_id]["inputs"] else 0.0


def _expected(row_id: str) -> float:
    return float(ROWS[row_id]["expected"])


def _royalty_case(row_id: str) -> tuple[float, float, float, float, float]:
    """(base, after-tax royalty rate, growth, discount, life) of a relief-from-royalty row."""
    inputs = _inputs(row_id)
    life = inputs.get("n", math.inf)
    return inputs["R0"], inputs["royalty"] * (1.0 - inputs["tax"]), inputs["g"], inputs["k"], life


def test_every_row_has_a_check() -> None:
    checked = {
        "EEM_CFA_L2",
        "RFR_perpetuity",
        "RFR_10y",
        "RFR_10y_midyear",
        "TAB_factor_L15",
        "TAB_factor_L15_midyear",
        "TAB_factor_L10",
        "TAB_factor_L10_midyear",
        "NPV_IRR_congruence",
    }
    assert set(ROWS) == checked


def test_row_inputs_are_read_as_published() -> None:
    assert _royalty_case("RFR_perpetuity") == (1000.0, 0.05 * 0.75, 0.03, 0.12, math.inf)
    assert _royalty_case("RFR_10y_midyear") == (1000.0, 0.05 * 0.75, 0.03, 0.12, 10.0)
    assert _mid_year("RFR_10y_midyear") == 1.0
    assert _mid_year("RFR_10y") == 0.0
    assert _inputs("TAB_factor_L10_midyear") == {"tax": 0.25, "k": 0.12, "L": 10.0}


@pytest.mark.parametrize("row_id", ["RFR_perpetuity", "RFR_10y", "RFR_10y_midyear"])
def test_relief_from_royalty_through_the_engine(row_id: str) -> None:
    base, rate, growth, discount, life = _royalty_case(row_id)
    value, _ = income_value(base, rate, growth, 0.0, discount, life, _mid_year(row_id), 0.0, 0.0)
    assert value == pytest.approx(_expected(row_id), rel=RELATIVE)


def test_relief_from_royalty_perpetuity_formula() -> None:
    # V = R0(1+g)·ρ(1−t)/(k−g), the formula in the row's notes
    base, rate, growth, discount, _ = _royalty_case("RFR_perpetuity")
    formula = base * (1.0 + growth) * rate / (discount - growth)
    assert formula == pytest.approx(_expected("RFR_perpetuity"), rel=RELATIVE)


@pytest.mark.parametrize("row_id", ["RFR_10y", "RFR_10y_midyear"])
def test_relief_from_royalty_year_by_year(row_id: str) -> None:
    base, rate, growth, discount, life = _royalty_case(row_id)
    shift = 0.5 if _mid_year(row_id) else 0.0
    years = range(1, int(life) + 1)
    flows = [base * rate * (1.0 + growth) ** t for t in years]
    explicit = sum(f / (1.0 + discount) ** (t - shift) for f, t in zip(flows, years, strict=True))
    assert explicit == pytest.approx(_expected(row_id), rel=RELATIVE)
    # the same sum through finance.npv (first flow at t = 0, hence the leading 0)
    through_npv = finance.npv(discount, [0.0, *flows]) * (1.0 + discount) ** shift
    assert through_npv == pytest.approx(_expected(row_id), rel=RELATIVE)


def test_mid_year_is_end_year_times_half_a_year_of_discount() -> None:
    _, _, _, discount, _ = _royalty_case("RFR_10y")
    ratio = _expected("RFR_10y_midyear") / _expected("RFR_10y")
    assert ratio == pytest.approx(math.sqrt(1.0 + discount), rel=RELATIVE)


TAB_ROWS = ["TAB_factor_L15", "TAB_factor_L15_midyear", "TAB_factor_L10", "TAB_factor_L10_midyear"]


@pytest.mark.parametrize("life", [math.inf, 10.0, 3.5])
@pytest.mark.parametrize("row_id", TAB_ROWS)
def test_tab_factor_through_the_engine(row_id: str, life: float) -> None:
    # The factor does not depend on the cash flows: any royalty stream with the row's
    # discount rate and timing must be scaled by it.
    inputs = _inputs(row_id)
    base, rate, growth, _, _ = _royalty_case("RFR_perpetuity")
    common = (base, rate, growth, 0.0, inputs["k"], life, _mid_year(row_id))
    without, _ = income_value(*common, 0.0, 0.0)
    with_tab, _ = income_value(*common, inputs["tax"], inputs["L"])
    assert with_tab / without == pytest.approx(_expected(row_id), rel=RELATIVE)


@pytest.mark.parametrize("row_id", TAB_ROWS)
def test_tab_factor_from_the_annuity_factor(row_id: str) -> None:
    # 1/(1 − t/L·AF(k, L)), AF from finance.pv (end-year), times (1+k)^½ when mid-year
    inputs = _inputs(row_id)
    annuity = -finance.pv(inputs["k"], inputs["L"], 1.0)
    if _mid_year(row_id):
        annuity *= math.sqrt(1.0 + inputs["k"])
    factor = 1.0 / (1.0 - inputs["tax"] / inputs["L"] * annuity)
    assert factor == pytest.approx(_expected(row_id), rel=RELATIVE)


def test_excess_earnings_cfa_level_2() -> None:
    row = ROWS["EEM_CFA_L2"]
    charges = {
        name: (float(amount), float(rate))
        for name, amount, rate in re.findall(rf"(\w+)=({_NUMBER})@({_NUMBER})", row["inputs"])
    }
    assert charges == {"WC": (300_000.0, 0.06), "FA": (1_000_000.0, 0.1)}
    inputs = _pairs(row["inputs"])
    earnings, growth, discount = inputs["earnings"], inputs["g"], inputs["rate"]
    assert (earnings, growth, discount) == (130_000.0, 0.05, 0.14)
    expected = {key: float(value) for key, value in _named(row["expected"]).items()}

    excess = earnings - sum(amount * rate for amount, rate in charges.values())
    assert excess == pytest.approx(expected["excess earnings"], rel=RELATIVE)
    assert excess == pytest.approx(12_000.0, rel=RELATIVE)
    # excess earnings of year 0 grow at g and are capitalised at the intangible rate
    intangibles, _ = income_value(excess, 1.0, growth, 0.0, discount, math.inf, 0.0, 0.0, 0.0)
    assert intangibles == pytest.approx(expected["intangibles"], rel=RELATIVE)
    assert intangibles == pytest.approx(140_000.0, rel=RELATIVE)
    firm = sum(amount for amount, _ in charges.values()) + intangibles
    assert firm == pytest.approx(expected["firm value"], rel=RELATIVE)
    assert firm == pytest.approx(1_440_000.0, rel=RELATIVE)


def _named(text: str) -> dict[str, str]:
    """``name with spaces=value`` pairs separated by ``;``."""
    pairs = (part.split("=", 1) for part in (p.strip() for p in text.split(";")) if part)
    return {key.strip(): value.strip() for key, value in pairs}


def test_npv_irr_congruence() -> None:
    row = ROWS["NPV_IRR_congruence"]
    flows = [float(v) for v in re.findall(_NUMBER, row["inputs"])]
    assert flows == [-40_000.0, 5_000.0, 8_000.0, 12_000.0, 30_000.0]
    expected = _named(row["expected"])
    bound = re.search(rf"<\s*({_NUMBER})", row["notes"])
    assert bound is not None
    rate = finance.irr(flows)
    assert rate == pytest.approx(float(expected["irr"]), abs=1e-12)
    assert abs(finance.npv(rate, flows)) < float(bound.group(1))
