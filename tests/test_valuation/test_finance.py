"""valuation.methods.finance against numpy-financial's published vectors and as an oracle.

Reference values: `tests/data/reference-vectors/numpy_financial_vectors.csv` (numpy-financial's
own test vectors, BSD-3-Clause; tolerances are absolute, see the README beside it).
Property tests use numpy_financial itself as the oracle (a test-only dependency).
"""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy_financial as npf
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from valuation.exceptions import DpvInputError
from valuation.methods import finance

VECTORS = Path(__file__).parents[1] / "data" / "reference-vectors" / "numpy_financial_vectors.csv"

# Positional inputs and the keyword names the CSV uses, per function.
POSITIONAL: dict[str, tuple[str, ...]] = {
    "irr": ("values",),
    "mirr": ("values", "finance_rate", "reinvest_rate"),
}
KEY_ALIASES: dict[str, str] = {
    "cashflows": "values",
    "finance": "finance_rate",
    "reinvest": "reinvest_rate",
}
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _scalar(text: str) -> float | str:
    """A number, a fraction of numbers (``0.08/12``) or a word (``end``)."""
    text = text.strip()
    if re.fullmatch(rf"{_NUMBER}(?:\s*/\s*{_NUMBER})?", text):
        numerator, _, denominator = text.partition("/")
        return float(numerator) / float(denominator) if denominator else float(numerator)
    if re.fullmatch(r"[a-z]+", text):
        return text
    raise ValueError(f"cannot read input value {text!r}")


def _value(text: str) -> Any:
    text = text.strip()
    if text.startswith("["):
        if not text.endswith("]"):
            raise ValueError(f"unterminated list {text!r}")
        return [float(_scalar(item)) for item in text[1:-1].split(",")]
    return _scalar(text)


def parse_inputs(function: str, text: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    """Turn the semi-structured ``inputs`` text of one row into keyword arguments."""
    kwargs: dict[str, Any] = {}
    positional = POSITIONAL.get(function, ())
    position = 0
    for token in (t.strip() for t in text.split(";")):
        if not token:
            continue
        if token == "same":
            if previous is None:
                raise ValueError(f"{function}: 'same' without a previous row")
            kwargs.update(previous)
        elif "=" in token:
            key, _, raw = token.partition("=")
            kwargs[KEY_ALIASES.get(key.strip(), key.strip())] = _value(raw)
        else:
            kwargs[positional[position]] = _value(token)
            position += 1
    return kwargs


def parse_tolerance(text: str) -> tuple[float | None, float | None, float | None]:
    """Return (absolute tolerance or None for NaN rows, a more precise value, its half-ulp)."""
    text = text.strip()
    if not text:
        return None, None, None
    if text == "exact":
        return 0.0, None, None
    match = re.match(_NUMBER, text)
    if match is None:
        raise ValueError(f"cannot read tolerance {text!r}")
    precise = re.search(rf"exact\s+({_NUMBER})", text)
    if precise is None:
        return float(match.group()), None, None
    digits = precise.group(1).split(".")[1] if "." in precise.group(1) else ""
    return float(match.group()), float(precise.group(1)), 0.5 * 10.0 ** -len(digits)


def load_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    previous: dict[str, dict[str, Any]] = {}
    with VECTORS.open(newline="", encoding="utf-8") as handle:
        for number, record in enumerate(csv.DictReader(handle), start=2):
            function = record["function"].strip()
            kwargs = parse_inputs(function, record["inputs"], previous.get(function))
            previous[function] = kwargs
            tolerance, precise, precise_tol = parse_tolerance(record["tolerance"])
            rows.append(
                {
                    "id": f"line{number}-{function}",
                    "function": function,
                    "kwargs": kwargs,
                    "expected": float(record["expected"]),
                    "tolerance": tolerance,
                    "precise": precise,
                    "precise_tol": precise_tol,
                    "notes": record["notes"],
                }
            )
    return rows


ROWS = load_rows()


def test_the_vectors_cover_every_function() -> None:
    covered = {row["function"] for row in ROWS}
    assert covered == set(finance.__all__) - {"When"}


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_reproduces_numpy_financial_vector(row: dict[str, Any]) -> None:
    function: Callable[..., Any] = getattr(finance, row["function"])
    variants = [row["kwargs"]]
    if "trailing zeros" in row["notes"]:
        padded = dict(row["kwargs"], values=[*row["kwargs"]["values"], 0.0, 0.0, 0.0])
        variants.append(padded)
    for kwargs in variants:
        actual = function(**kwargs)
        assert isinstance(actual, float)
        if math.isnan(row["expected"]):
            assert row["tolerance"] is None, "a NaN row carries no tolerance"
            assert math.isnan(actual), kwargs
            continue
        assert row["tolerance"] is not None
        if row["tolerance"] == 0.0:
            assert actual == row["expected"], kwargs
        else:
            assert abs(actual - row["expected"]) <= row["tolerance"], (kwargs, actual)
        if row["precise"] is not None:
            assert abs(actual - row["precise"]) <= row["precise_tol"], (kwargs, actual)


def test_parser_reads_the_semi_structured_inputs() -> None:
    assert parse_inputs("pmt", "rate=0.08/12; nper=60; pv=15000", None) == {
        "rate": 0.08 / 12,
        "nper": 60.0,
        "pv": 15000.0,
    }
    assert parse_inputs("mirr", "[1,-2]; 0.08; 0.055", None) == {
        "values": [1.0, -2.0],
        "finance_rate": 0.08,
        "reinvest_rate": 0.055,
    }
    assert parse_inputs("fv", "same; when=begin", {"rate": 0.1, "when": "end"}) == {
        "rate": 0.1,
        "when": "begin",
    }
    assert parse_tolerance("1e-2; exact 0.280948") == (1e-2, 0.280948, 5e-7)
    with pytest.raises(ValueError, match="cannot read"):
        parse_inputs("pv", "rate=abc1", None)


def test_arrays_broadcast() -> None:
    rates = np.array([0.0, 0.05, 0.1])
    result = finance.pmt(rates, 12, 1000.0)
    assert isinstance(result, np.ndarray)
    assert result.shape == (3,)
    np.testing.assert_allclose(result, [npf.pmt(r, 12, 1000.0) for r in rates], rtol=1e-12)
    flows = np.array([[-100.0, 60.0, 60.0], [-50.0, 10.0, 70.0]])
    npvs = finance.npv(0.1, flows)
    assert isinstance(npvs, np.ndarray)
    np.testing.assert_allclose(npvs, [npf.npv(0.1, row) for row in flows], rtol=1e-12)
    periods = np.arange(1, 13)
    schedule = finance.ppmt(0.01, periods, 12, 1000.0)
    assert isinstance(schedule, np.ndarray)
    assert schedule.sum() == pytest.approx(-1000.0, rel=1e-12)


def test_ipmt_is_nan_outside_the_schedule() -> None:
    assert math.isnan(finance.ipmt(0.01, 0, 12, 1000.0))
    assert math.isnan(finance.ipmt(0.01, 13, 12, 1000.0))
    assert math.isnan(finance.ppmt(0.01, 13, 12, 1000.0))


def test_when_is_checked() -> None:
    with pytest.raises(DpvInputError, match="when: must be 'end' or 'begin', got 'start'"):
        finance.fv(0.1, 10, -1.0, 0.0, when="start")  # type: ignore[arg-type]


def test_irr_finds_a_double_root() -> None:
    # NPV(r) = -(1 - 1/(1+r))^2 has a double root at r = 0, which the eigenvalue solver returns
    # as a nearly real pair: an exact `imag == 0` filter can miss it.
    assert finance.irr([-1.0, 2.0, -1.0]) == pytest.approx(0.0, abs=1e-7)
    assert math.isnan(finance.irr([0.0, 0.0]))
    assert math.isnan(finance.irr([1.0, 2.0]))


def test_mirr_is_nan_when_flows_have_one_sign() -> None:
    assert math.isnan(finance.mirr([-1.0, -2.0], 0.1, 0.1))
    assert math.isnan(finance.mirr([0.0, 2.0], 0.1, 0.1))


# numpy_financial is the oracle of the property tests below. Rates are at least 1e-3 away from 0
# (or exactly 0): numpy-financial computes ((1+r)^n − 1)/r directly, which loses digits for tiny
# r; ours uses expm1/log1p.
RATES = st.one_of(
    st.just(0.0),
    st.floats(0.001, 0.5),
    st.floats(-0.3, -0.001),
)
PERIODS = st.integers(1, 480)
# Money in whole cents: subnormal amounts (5e-324) only test the rounding of denormals.
AMOUNTS = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 2))
WHENS = st.sampled_from(["end", "begin"])
RELATIVE = 1e-9


def _factors(rate: float, nper: float) -> tuple[float, float]:
    """(1+r)^n and |((1+r)^n − 1)/r|, for the size of the terms."""
    compound = (1.0 + rate) ** nper
    accumulation = nper if rate == 0.0 else abs(((1.0 + rate) ** nper - 1.0) / rate)
    return compound, accumulation


def _oracle(function: Callable[..., Any], *args: Any) -> float:
    # numpy-financial evaluates both branches of its `rate == 0` switch and so divides by zero
    # at rate 0; that warning is its own, not ours.
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(function(*args))


def _close(ours: float, oracle: Any, scale: float) -> None:
    """Agree to 1e-9 of the size of the terms that make up the result.

    A result that is a difference of two large terms is only known to the precision of those
    terms; where the terms do not cancel, ``scale`` is the result's own size and this is a
    plain 1e-9 relative tolerance.
    """
    theirs = float(oracle)
    assert math.isfinite(ours) and math.isfinite(theirs)
    assert abs(ours - theirs) <= RELATIVE * max(scale, abs(theirs)), (ours, theirs, scale)


def _payment_scale(rate: float, nper: int, pv: float, fv: float, w: float) -> float:
    compound, accumulation = _factors(rate, nper)
    return (abs(fv) + abs(pv) * compound) / (abs(1.0 + rate * w) * accumulation)


@settings(max_examples=100, deadline=None)
@given(rate=RATES, values=st.lists(AMOUNTS, min_size=1, max_size=40))
def test_npv_matches_numpy_financial(rate: float, values: list[float]) -> None:
    scale = sum(abs(v) / (1.0 + rate) ** t for t, v in enumerate(values))
    _close(finance.npv(rate, values), _oracle(npf.npv, rate, values), scale)


@settings(max_examples=100, deadline=None)
@given(rate=RATES, nper=PERIODS, pmt=AMOUNTS, fv=AMOUNTS, when=WHENS)
def test_pv_matches_numpy_financial(
    rate: float, nper: int, pmt: float, fv: float, when: finance.When
) -> None:
    compound, accumulation = _factors(rate, nper)
    w = 1.0 if when == "begin" else 0.0
    scale = (abs(fv) + abs(pmt * (1.0 + rate * w)) * accumulation) / compound
    _close(finance.pv(rate, nper, pmt, fv, when), _oracle(npf.pv, rate, nper, pmt, fv, when), scale)


@settings(max_examples=100, deadline=None)
@given(rate=RATES, nper=PERIODS, pmt=AMOUNTS, pv=AMOUNTS, when=WHENS)
def test_fv_matches_numpy_financial(
    rate: float, nper: int, pmt: float, pv: float, when: finance.When
) -> None:
    compound, accumulation = _factors(rate, nper)
    w = 1.0 if when == "begin" else 0.0
    scale = abs(pv) * compound + abs(pmt * (1.0 + rate * w)) * accumulation
    _close(finance.fv(rate, nper, pmt, pv, when), _oracle(npf.fv, rate, nper, pmt, pv, when), scale)


@settings(max_examples=100, deadline=None)
@given(rate=RATES, nper=PERIODS, pv=AMOUNTS, fv=AMOUNTS, when=WHENS)
def test_pmt_matches_numpy_financial(
    rate: float, nper: int, pv: float, fv: float, when: finance.When
) -> None:
    w = 1.0 if when == "begin" else 0.0
    scale = _payment_scale(rate, nper, pv, fv, w)
    _close(finance.pmt(rate, nper, pv, fv, when), _oracle(npf.pmt, rate, nper, pv, fv, when), scale)


@st.composite
def schedules(draw: st.DrawFn) -> tuple[float, int, int, float, float, finance.When]:
    nper = draw(PERIODS)
    per = draw(st.integers(1, nper))
    return draw(RATES), per, nper, draw(AMOUNTS), draw(AMOUNTS), draw(WHENS)


def _interest_scale(rate: float, per: int, nper: int, pv: float, fv: float, w: float) -> float:
    payment = _payment_scale(rate, nper, pv, fv, w)
    compound, accumulation = _factors(rate, per - 1)
    return abs(rate) * (abs(pv) * compound + payment * abs(1.0 + rate * w) * accumulation)


@settings(max_examples=100, deadline=None)
@given(schedule=schedules())
def test_ipmt_and_ppmt_match_numpy_financial(
    schedule: tuple[float, int, int, float, float, finance.When],
) -> None:
    rate, per, nper, pv, fv, when = schedule
    w = 1.0 if when == "begin" else 0.0
    interest_scale = _interest_scale(rate, per, nper, pv, fv, w)
    payment_scale = _payment_scale(rate, nper, pv, fv, w)
    interest = finance.ipmt(rate, per, nper, pv, fv, when)
    principal = finance.ppmt(rate, per, nper, pv, fv, when)
    payment = finance.pmt(rate, nper, pv, fv, when)
    _close(interest, _oracle(npf.ipmt, rate, per, nper, pv, fv, when), interest_scale)
    oracle = _oracle(npf.ppmt, rate, per, nper, pv, fv, when)
    _close(principal, oracle, interest_scale + payment_scale)
    assert abs(principal + interest - payment) <= 1e-12 * (interest_scale + payment_scale)


@st.composite
def investments(draw: st.DrawFn) -> list[float]:
    """An outlay followed by mostly positive returns, sometimes with a negative one."""
    # Whole cents: a return of 1e-190 would put the rate within rounding of -100%.
    outlay = round(draw(st.floats(1.0, 1e6)), 2)
    returns = draw(st.lists(st.floats(-0.5 * outlay, outlay), min_size=1, max_size=30))
    return [-outlay, *(round(r, 2) for r in returns)]


@settings(max_examples=100, deadline=None)
@given(values=investments())
def test_npv_at_irr_is_zero(values: list[float]) -> None:
    rate = finance.irr(values)
    assume(math.isfinite(rate))
    assert rate > -1.0
    scale = sum(abs(v) / (1.0 + rate) ** t for t, v in enumerate(values))
    assert abs(finance.npv(rate, values)) <= RELATIVE * scale


@settings(max_examples=100, deadline=None)
@given(values=investments())
def test_irr_is_the_root_nearest_zero(values: list[float]) -> None:
    # numpy-financial keeps only the roots whose imaginary part is exactly 0 and returns the one
    # nearest zero; ours keeps nearly-real roots too, so it finds every root numpy-financial
    # finds and is never farther from zero.
    theirs = _oracle(npf.irr, values)
    ours = finance.irr(values)
    if math.isfinite(theirs):
        assert math.isfinite(ours)
        assert abs(ours) <= abs(theirs) + 1e-9
