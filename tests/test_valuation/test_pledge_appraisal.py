"""An outside appraisal with a pledged item: validation, the comparison with the engine's value,
escalation on either side of the policy's factor, the stale flag, the memo and reproduction.

Expected numbers are derived from the engine's own result (the concluded values change as the
valuation methods do), never written down.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from tests.test_valuation import pledges
from tests.test_valuation.pledges import product, request
from valuation import assess_pledge
from valuation.cli import main
from valuation.examples import example_registry_path
from valuation.exceptions import DpvInputError
from valuation.pledge.decision import APPRAISAL_DISAGREES, APPRAISAL_STALE, compare_appraisal
from valuation.pledge.eligibility import add_months
from valuation.pledge.memo import render_memo
from valuation.pledge.reproduce import reproduce
from valuation.schema.pledge import Appraisal, Assessment, Policy

AMOUNT = 3_000_000.0
AS_OF = dt.date.fromisoformat(pledges.AS_OF)
RECENT = str(add_months(AS_OF, -1))
FACTOR = Policy().appraisal_disagreement_factor
HOSTILE = '<b onmouseover="x">Orient & Co.</b>'


def _appraisal(value: float, date: str = RECENT, appraiser: str = "Orient Appraisal Co.") -> dict:
    return {"value": value, "appraiser": appraiser, "date": date, "method": "income"}


def _with_appraisals(appraisals: list[dict | None], **policy: Any) -> dict[str, Any]:
    """The example request (3 items) with the given appraisals, item by item."""
    doc = pledges.example(amount=AMOUNT)
    for entry, appraisal in zip(doc["collateral"], appraisals, strict=True):
        if appraisal is not None:
            entry["appraisal"] = appraisal
    doc["policy"].update(policy)
    return doc


def _assess(doc: dict[str, Any]) -> Assessment:
    return assess_pledge(doc, registry=pledges.registry())


@pytest.fixture(scope="module")
def base() -> Assessment:
    """The example without appraisals: the engine's values the appraisals are set from."""
    a = _assess(pledges.example(amount=AMOUNT))
    assert not _escalations(a)
    assert all(c.eligible and c.appraisal is None for c in a.collateral)
    assert all(c.appraisal_comparison is None for c in a.collateral)
    return a


def _values(a: Assessment) -> list[float]:
    out = []
    for c in a.collateral:
        assert c.valuation is not None and c.valuation.concluded_value is not None
        out.append(c.valuation.concluded_value)
    return out


def _escalations(a: Assessment) -> list[tuple[str, str | None]]:
    """The appraisal's escalation reasons (the others depend on the engine's values)."""
    codes = (APPRAISAL_DISAGREES, APPRAISAL_STALE)
    return [(r.code, r.product_id) for r in a.escalation.reasons if r.code in codes]


def _others_unchanged(a: Assessment, base: Assessment) -> None:
    """The escalation reasons other than the appraisal's are those without appraisals."""
    assert a.escalation.reasons[: len(base.escalation.reasons)] == base.escalation.reasons


# --- the comparison as a plain function, exactly at the factor -------------------------------


def test_exactly_at_the_factor_is_within_and_just_beyond_is_not():
    policy = Policy()
    at = Appraisal(value=3_000_000.0, appraiser="A", date=AS_OF, method="market")
    c = compare_appraisal(at, 2_000_000.0, AS_OF, policy)
    assert (c.ratio, c.disagreement, c.within_factor) == (1.5, 1.5, True)
    low = Appraisal(value=2_000_000.0, appraiser="A", date=AS_OF, method="cost")
    c = compare_appraisal(low, 3_000_000.0, AS_OF, policy)
    assert c.ratio == 2_000_000.0 / 3_000_000.0
    assert (c.disagreement, c.within_factor) == (1.5, True)
    tighter = Policy(appraisal_disagreement_factor=1.4999)
    assert compare_appraisal(at, 2_000_000.0, AS_OF, tighter).within_factor is False
    assert compare_appraisal(low, 3_000_000.0, AS_OF, tighter).within_factor is False


def test_no_engine_value_no_ratio():
    a = Appraisal(value=1.0, appraiser="A", date=AS_OF, method="mixed")
    c = compare_appraisal(a, None, AS_OF, Policy())
    assert (c.engine_value, c.ratio, c.disagreement, c.within_factor) == (None, None, None, None)
    assert c.stale is False and c.age_days == 0


# --- escalation on the example request -------------------------------------------------------


def test_escalates_exactly_for_the_items_beyond_the_factor(base: Assessment):
    v = _values(base)
    ids = [c.product_id for c in base.collateral]
    # item 0 just within above, item 1 just beyond above, item 2 just beyond below
    appraised = [v[0] * FACTOR * 0.99, v[1] * FACTOR * 1.01, v[2] / (FACTOR * 1.01)]
    a = _assess(_with_appraisals([_appraisal(x) for x in appraised]))
    assert a.escalate is True and a.escalation.required is True
    assert _escalations(a) == [(APPRAISAL_DISAGREES, ids[1]), (APPRAISAL_DISAGREES, ids[2])]
    _others_unchanged(a, base)
    for c, x, engine in zip(a.collateral, appraised, v, strict=True):
        cmp = c.appraisal_comparison
        assert c.appraisal is not None and c.appraisal.value == x
        assert cmp is not None
        assert cmp.appraisal_value == x and cmp.engine_value == engine
        assert cmp.ratio == x / engine
        assert cmp.disagreement == max(x / engine, engine / x)
        assert cmp.factor == FACTOR and cmp.stale is False
    assert [c.appraisal_comparison.within_factor for c in a.collateral] == [True, False, False]  # type: ignore[union-attr]
    # the message names both values and the ratio (the item is the reason's product_id)
    for reason, i in zip(a.escalation.reasons[-2:], (1, 2), strict=True):
        assert f"{appraised[i]:,.0f}" in reason.message
        assert f"{v[i]:,.0f}" in reason.message
        assert f"{appraised[i] / v[i]:.3f}" in reason.message
        assert "Orient Appraisal Co." in reason.message


def test_no_escalation_when_every_item_is_within_the_factor(base: Assessment):
    v = _values(base)
    appraised = [v[0] / (FACTOR * 0.99), v[1] * FACTOR * 0.99, v[2]]
    a = _assess(_with_appraisals([_appraisal(x) for x in appraised]))
    assert a.escalation == base.escalation
    assert [c.appraisal_comparison.within_factor for c in a.collateral] == [True, True, True]  # type: ignore[union-attr]


def test_the_factor_is_the_policys(base: Assessment):
    v = _values(base)
    beyond_default = _appraisal(v[0] * FACTOR * 1.01)
    wider = FACTOR * 1.02
    a = _assess(_with_appraisals([beyond_default, None, None], appraisal_disagreement_factor=wider))
    assert a.escalation == base.escalation
    assert a.collateral[0].appraisal_comparison.factor == wider  # type: ignore[union-attr]
    assert a.collateral[1].appraisal is None and a.collateral[1].appraisal_comparison is None


def test_the_appraisal_is_a_check_not_an_input(base: Assessment):
    v = _values(base)
    a = _assess(_with_appraisals([_appraisal(x * 3.0) for x in v]))
    assert a.escalate is True and len(_escalations(a)) == 3
    assert _values(a) == v
    assert a.collateral_value == base.collateral_value
    assert a.ltv == base.ltv
    assert a.max_loan == base.max_loan
    assert a.stress == base.stress
    assert a.scenarios == base.scenarios
    assert (a.decision, a.reasons, a.conditions, a.grade) == (
        base.decision,
        base.reasons,
        base.conditions,
        base.grade,
    )


def test_escalation_follows_the_existing_reasons():
    disagreeing = product("P1")
    doc = request(
        [{"product": disagreeing, "appraisal": _appraisal(1.0)}],
        amount=12_000_000.0,
    )
    a = assess_pledge(doc)
    reasons = [(r.code, r.product_id) for r in a.escalation.reasons]
    assert reasons[0] == ("loan_above_internal_valuation_limit", None)
    assert reasons[-1] == (APPRAISAL_DISAGREES, "P1")


# --- the stale flag ---------------------------------------------------------------------------


def test_stale_flag_at_the_policy_age(base: Assessment):
    v = _values(base)
    oldest = add_months(AS_OF, -Policy().appraisal_max_age_months)
    dates = [str(oldest), str(oldest - dt.timedelta(days=1)), pledges.AS_OF]
    a = _assess(_with_appraisals([_appraisal(x, date=d) for x, d in zip(v, dates, strict=True)]))
    cmps = [c.appraisal_comparison for c in a.collateral]
    assert [c.stale for c in cmps] == [False, True, False]  # type: ignore[union-attr]
    assert [c.age_days for c in cmps] == [(AS_OF - dt.date.fromisoformat(d)).days for d in dates]  # type: ignore[union-attr]
    assert _escalations(a) == [(APPRAISAL_STALE, base.collateral[1].product_id)]
    _others_unchanged(a, base)
    assert dates[1] in a.escalation.reasons[-1].message
    # a longer allowed age: not stale
    longer = _assess(
        _with_appraisals(
            [_appraisal(x, date=d) for x, d in zip(v, dates, strict=True)],
            appraisal_max_age_months=Policy().appraisal_max_age_months + 1,
        )
    )
    assert longer.escalation == base.escalation
    assert not any(c.appraisal_comparison.stale for c in longer.collateral)  # type: ignore[union-attr]


def test_ineligible_item_carries_its_appraisal_without_escalation():
    doc = request(
        [
            {"product": product("P1")},
            {
                "product": product("P2", status="revoked"),
                "appraisal": _appraisal(1.0, "2020-01-01"),
            },
        ],
        amount=500_000.0,
    )
    a = assess_pledge(doc)
    item = a.collateral[1]
    assert item.eligible is False and item.appraisal is not None
    assert item.appraisal_comparison is not None
    assert item.appraisal_comparison.engine_value is None
    assert item.appraisal_comparison.within_factor is None
    assert item.appraisal_comparison.stale is True
    assert _escalations(a) == []


# --- validation -------------------------------------------------------------------------------


BAD_APPRAISAL = [
    ("collateral[1].appraisal.value", lambda a: a.update(value=0)),
    ("collateral[1].appraisal.value", lambda a: a.update(value=-12_000_000)),
    ("collateral[1].appraisal.value", lambda a: a.update(value="lots")),
    ("collateral[1].appraisal.appraiser", lambda a: a.update(appraiser="")),
    ("collateral[1].appraisal.appraiser", lambda a: a.update(appraiser="   ")),
    ("collateral[1].appraisal.method", lambda a: a.update(method="dcf")),
    ("collateral[1].appraisal.date", lambda a: a.update(date="2026-13-01")),
    ("collateral[1].appraisal.date", lambda a: a.update(date=str(AS_OF + dt.timedelta(days=1)))),
    ("collateral[1].appraisal.currency", lambda a: a.update(currency="CNY")),
    ("collateral[1].appraisal.method", lambda a: a.pop("method")),
]


@pytest.mark.parametrize(("field", "edit"), BAD_APPRAISAL, ids=[f"{i}" for i in range(10)])
def test_bad_appraisal_exits_2_naming_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, edit: Any
):
    appraisal = _appraisal(12_000_000.0)
    edit(appraisal)
    doc = _with_appraisals([None, appraisal, None])
    req = tmp_path / "req.json"
    req.write_text(json.dumps(doc, ensure_ascii=False))
    out = tmp_path / "out"
    args = ["pledge", str(req), "--out", str(out), "--registry", example_registry_path()]
    assert main(args) == 2
    assert f"req.json: {field}: " in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["req.json"]


def test_future_date_names_the_field_and_both_dates():
    doc = _with_appraisals([_appraisal(1.0, date="2026-11-02"), None, None])
    with pytest.raises(DpvInputError) as err:
        assess_pledge(doc, registry=pledges.registry())
    assert err.value.field == "collateral[0].appraisal.date"
    assert "2026-11-02" in err.value.problem and pledges.AS_OF in err.value.problem


def test_appraisal_dated_on_the_as_of_is_accepted(base: Assessment):
    v = _values(base)
    a = _assess(_with_appraisals([_appraisal(v[0], date=pledges.AS_OF), None, None]))
    assert a.collateral[0].appraisal_comparison.age_days == 0  # type: ignore[union-attr]


def test_schema_describes_the_appraisal(capsys: pytest.CaptureFixture[str]):
    assert main(["schema", "pledge"]) == 0
    schema = json.loads(capsys.readouterr().out)
    appraisal = schema["$defs"]["Appraisal"]
    assert appraisal["additionalProperties"] is False
    assert set(appraisal["required"]) == {"value", "appraiser", "date", "method"}
    assert appraisal["properties"]["method"]["enum"] == ["income", "cost", "market", "mixed"]
    assert appraisal["properties"]["value"]["exclusiveMinimum"] == 0.0
    assert "appraisal" in schema["$defs"]["CollateralEntry"]["properties"]
    policy = schema["$defs"]["Policy"]["properties"]
    assert policy["appraisal_disagreement_factor"]["default"] == 1.5
    assert policy["appraisal_max_age_months"]["default"] == 12


# --- memo, CLI output and reproduction --------------------------------------------------------


def test_memo_shows_both_values_and_the_escalation_escaped(base: Assessment):
    v = _values(base)
    appraised = v[1] * FACTOR * 1.01
    doc = _with_appraisals([None, _appraisal(appraised, appraiser=HOSTILE), None])
    a = _assess(doc)
    html = render_memo(a)
    section = html[html.index('id="appraisals"') : html.index("<h2>Valuation and risk</h2>")]
    row = section[section.index(base.collateral[1].product_id) :]
    assert f"{appraised:,.0f}" in row and f"{v[1]:,.0f}" in row
    assert f"{appraised / v[1]:.3f}" in row
    assert APPRAISAL_DISAGREES in row
    escalation = html[html.index('id="escalation"') : html.index("<h2>Key figures</h2>")]
    assert APPRAISAL_DISAGREES in escalation and f"{appraised:,.0f}" in escalation
    assert HOSTILE not in html and "<b onmouseover" not in html
    assert "&lt;b onmouseover=&#34;x&#34;&gt;Orient &amp; Co.&lt;/b&gt;" in section


def test_memo_without_appraisals_has_no_section(base: Assessment):
    assert 'id="appraisals"' not in render_memo(base)


def _cli(tmp_path: Path, name: str, doc: dict[str, Any]) -> dict[str, Any]:
    req = tmp_path / f"{name}.json"
    req.write_text(json.dumps(doc, ensure_ascii=False))
    out = tmp_path / name
    args = ["pledge", str(req), "--registry", example_registry_path(), "--out", str(out)]
    assert main(args) == 0
    filed: dict[str, Any] = json.loads((out / "assessment.json").read_text())
    return filed


def test_cli_writes_the_comparison_and_reproduces(tmp_path: Path):
    # the CLI values with the bundled calibration set: the appraisals are set from its values
    plain = Assessment.model_validate(_cli(tmp_path, "plain", pledges.example(amount=AMOUNT)))
    v = _values(plain)
    appraisals = [_appraisal(v[0] * 2.0), None, _appraisal(v[2], date="2024-06-30")]
    filed = _cli(tmp_path, "out", _with_appraisals(appraisals))
    out = tmp_path / "out"
    assert filed["escalate"] is True
    assert [r["code"] for r in filed["escalation"]["reasons"]][-2:] == [
        APPRAISAL_DISAGREES,
        APPRAISAL_STALE,
    ]
    assert _escalations(Assessment.model_validate(filed)) == [
        (APPRAISAL_DISAGREES, plain.collateral[0].product_id),
        (APPRAISAL_STALE, plain.collateral[2].product_id),
    ]
    first, second, third = filed["collateral"]
    assert first["appraisal"] == {**appraisals[0], "value": v[0] * 2.0}
    assert first["appraisal_comparison"]["ratio"] == 2.0
    assert first["appraisal_comparison"]["within_factor"] is False
    assert second["appraisal"] is None and second["appraisal_comparison"] is None
    assert third["appraisal_comparison"]["stale"] is True
    assert filed["audit"]["request"]["collateral"][0]["appraisal"]["date"] == RECENT
    assert main(["reproduce", str(out / "assessment.json")]) == 0
    # the appraisal is part of the audited request: changing it is a difference
    tampered = copy.deepcopy(filed)
    tampered["audit"]["request"]["collateral"][0]["appraisal"]["value"] = v[0]
    identical, found = reproduce(tampered)
    assert identical is False
    paths = [d.path for d in found]
    assert "collateral[0].appraisal.value" in paths
    assert "collateral[0].appraisal_comparison.within_factor" in paths
    assert "escalation.reasons (length)" in paths
