"""The credit memo: decision on top, every chart embedded, hostile text escaped."""

from __future__ import annotations

import base64
import re

import pytest

from tests.test_valuation.pledges import product, request
from valuation import assess_pledge
from valuation.pledge.charts import CHARTS
from valuation.pledge.memo import render_memo
from valuation.schema.pledge import Assessment

HOSTILE = '<script>alert("x")</script>'
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def assessment() -> Assessment:
    doc = request(
        [
            {"product": product("P1", name=HOSTILE)},
            {"product": product("P2", status="revoked", name="<img src=x onerror=alert(1)>")},
        ],
        amount=800_000.0,
        paths=1000,
    )
    return assess_pledge(doc)


@pytest.fixture(scope="module")
def memo(assessment: Assessment) -> str:
    return render_memo(assessment)


def test_decision_and_reasons_come_first(assessment: Assessment, memo: str):
    assert assessment.decision == "approve_with_conditions"
    decision = memo.index('id="decision"')
    assert "APPROVE WITH CONDITIONS" in memo[decision : decision + 300]
    assert decision < memo.index("<h2>Collateral</h2>") < memo.index("<figure")
    for reason in assessment.reasons:
        assert reason.code in memo
    for condition in assessment.conditions:
        assert condition.code in memo


def test_every_chart_is_an_embedded_png(memo: str):
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', memo)
    assert [alt for alt, _ in images] == [title for _, title, _ in CHARTS]
    for _, data in images:
        assert base64.b64decode(data).startswith(PNG_MAGIC)
    for name in ("reconciliation", "ltv_fan", "loss", "tornado", "scenarios"):
        assert f'id="chart-{name}"' in memo


def test_self_contained_and_printable(memo: str):
    assert "http://" not in memo and "https://" not in memo
    assert "<link" not in memo and "<script" not in memo
    assert "@media print" in memo


def test_hostile_text_is_escaped(memo: str):
    assert HOSTILE not in memo
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in memo
    assert "<img src=x" not in memo
    assert "&lt;img src=x onerror=alert(1)&gt;" in memo


def test_scenarios_and_audit_blocks(assessment: Assessment, memo: str):
    for s in assessment.scenarios:
        assert f"<td>{s.name}</td>" in memo
    assert assessment.audit.input_sha256 in memo
    assert assessment.audit.calibration_id in memo


def test_declined_request_without_stress_still_renders():
    a = assess_pledge(request([{"product": product("P1", status="objected")}], paths=500))
    html = render_memo(a)
    assert "DECLINE" in html and "no_eligible_collateral" in html
    assert html.count("data:image/png;base64,") == len(CHARTS)
