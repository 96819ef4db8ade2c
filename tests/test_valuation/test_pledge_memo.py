"""The credit memo: decision on top, every chart embedded, hostile text escaped."""

from __future__ import annotations

import base64
import io
import re
from html import unescape

import pytest
from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont
from hypothesis import given, settings
from hypothesis import strategies as st
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba

from tests.test_valuation.pledges import example, product, registry, request
from valuation import assess_pledge
from valuation.pledge.charts import (
    CHARTS,
    favours_lender,
    loss_figure,
    ltv_fan_figure,
    reconciliation_figure,
    scenario_figure,
    tornado_figure,
)
from valuation.pledge.fonts import chart_fonts
from valuation.pledge.memo import captions, render_memo
from valuation.pledge.shown_text import html_text, is_hidden, marker, visible
from valuation.schema.pledge import Assessment

FIGURES = {
    "reconciliation": reconciliation_figure,
    "ltv_fan": ltv_fan_figure,
    "loss": loss_figure,
    "tornado": tornado_figure,
    "scenarios": scenario_figure,
}

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


# --- layout, the borrower, the run's own numbers, the charts' reading --------------------------

CHINESE_NAME = "浙江省交通物流数据产品"
BORROWER_NAME = "杭州示例数据科技有限公司"


@pytest.fixture(scope="module")
def example_assessment() -> Assessment:
    # More paths than the histogram's former cap of 20,000: the chart must still cover them all.
    doc = example(paths=30_000)
    doc["borrower"]["name"] = BORROWER_NAME
    return assess_pledge(doc, registry=registry())


@pytest.fixture(scope="module")
def example_memo(example_assessment: Assessment) -> str:
    return render_memo(example_assessment)


def test_printed_on_a4():
    html = render_memo(assess_pledge(request([{"product": product("P1")}], paths=500)))
    assert re.search(r"@page\s*\{\s*size:\s*A4;", html)


def test_borrower_name_and_id(example_assessment: Assessment, example_memo: str):
    assert example_assessment.borrower_name == BORROWER_NAME
    html = example_memo
    line = html[html.index('id="borrower"') :][:400]
    assert f'<bdi>{BORROWER_NAME}</bdi> (<bdi class="id">B-77</bdi>)' in line


def test_borrower_without_a_name_shows_its_id(assessment: Assessment, memo: str):
    assert assessment.borrower_name is None
    line = memo[memo.index('id="borrower"') :][:200]
    assert 'Borrower <bdi class="id">B-1</bdi> · loan' in line


def test_loss_histogram_covers_every_path_of_the_run(
    example_assessment: Assessment, example_memo: str
):
    s = example_assessment.stress
    assert s is not None
    h = s.loss_histogram
    assert h.paths == s.paths == example_assessment.audit.paths == 30_000
    # the same paths as the statistics: the defaulted count is the default probability's
    assert h.defaulted == round(s.default_probability * s.paths)
    assert h.defaulted > h.zero_loss
    assert sum(h.counts) == h.defaulted - h.zero_loss
    caption = captions(example_assessment)["loss"]
    assert "the run's 30,000" in caption and f"({h.defaulted:,} default" in caption
    html = example_memo
    assert "30,000 paths. Note:" in html
    assert "20,000" not in html


def test_captions_explain_and_charts_carry_no_title(
    example_assessment: Assessment, example_memo: str
):
    html = example_memo
    for name, title, _draw in CHARTS:
        caption = re.search(
            rf'id="chart-{name}">.*?<figcaption><strong>{re.escape(title)}.</strong> ([^<]+)',
            html,
            re.S,
        )
        assert caption is not None and len(caption.group(1)) > 40
        assert title not in caption.group(1)
        with chart_fonts():
            fig = FIGURES[name](example_assessment)
        assert not fig.texts or all(t.get_text() != title for t in fig.texts)
        assert all(ax.get_title() not in (title, name) for ax in fig.axes)


def test_tornado_red_is_worse_for_the_lender(example_assessment: Assessment):
    assert favours_lender("value", 2.0, 1.0) and not favours_lender("value", 0.5, 1.0)
    assert favours_lender("breach_probability", 0.01, 0.02)
    assert not favours_lender("breach_probability", 0.03, 0.02)
    red, green = to_rgba("#d62728", 0.7), to_rgba("#2ca02c", 0.7)
    with chart_fonts():
        fig = FIGURES["tornado"](example_assessment)
    value_ax, breach_ax = fig.axes
    for ax, up in ((value_ax, green), (breach_ax, red)):
        bars = [p for p in ax.patches if p.get_width() != 0]
        assert len(bars) >= 6
        for bar in bars:
            expected = up if bar.get_width() > 0 else (green if up == red else red)
            assert bar.get_facecolor() == pytest.approx(expected), ax.get_title()
    # the breach panel's biggest mover raises the breach: drawn red, to the right
    assert any(p.get_width() > 0.01 for p in breach_ax.patches)


def test_probability_axes_start_at_zero(example_assessment: Assessment):
    a = example_assessment
    with chart_fonts():
        tornado = FIGURES["tornado"](a)
        scenarios = FIGURES["scenarios"](a)
    assert tornado.axes[1].get_xlim()[0] == 0.0
    assert scenarios.axes[0].get_xlim()[0] == 0.0
    top = max(s.breach_probability for s in a.scenarios)
    assert scenarios.axes[0].get_xlim()[1] >= top


def test_long_ids_and_names_fit_the_chart(assessment: Assessment):
    long_id = "ZJ-DA-2025-000087-" + "X" * 46
    item = assessment.collateral[0].model_copy(
        update={"product_id": long_id, "name": "浙江省交通物流数据产品与服务平台年度运营数据集合"}
    )
    a = assessment.model_copy(update={"collateral": [item, *assessment.collateral[1:]]})
    with chart_fonts():
        fig = FIGURES["reconciliation"](a)
        renderer = FigureCanvasAgg(fig).get_renderer()
        labels = fig.axes[0].get_yticklabels()
        assert any(long_id in label.get_text().replace("\n", "") for label in labels)
        for label in labels:
            box = label.get_window_extent(renderer)
            assert box.x0 >= 0 and box.x1 <= fig.axes[0].get_window_extent(renderer).x0


# --- hidden characters: kept in the data, shown, never acting on the display --------------------

RLO, PDF_MARK = "\u202e", "\u202c"


def test_bidi_override_in_a_name_cannot_spell_another_word(assessment: Assessment):
    spoofed_id = f"ZJ-{RLO}780000-5202-AD{PDF_MARK}"
    item = assessment.collateral[0].model_copy(
        update={"name": f"{RLO}DENILCED", "product_id": spoofed_id}
    )
    reason = assessment.reasons[0].model_copy(update={"message": f"see {RLO}DENILCED"})
    a = assessment.model_copy(
        update={
            "collateral": [item, *assessment.collateral[1:]],
            "borrower_name": "A\x00B\x1b[31m",
            "reasons": [reason, *assessment.reasons[1:]],
        }
    )
    assert a.collateral[0].name == f"{RLO}DENILCED"  # the data keeps the name as given
    html = render_memo(a)
    for char in (RLO, PDF_MARK, "\x00", "\x1b"):
        assert char not in html
    mark = '<span class="hidden-char" title="U+202E right-to-left override">U+202E</span>'
    assert f"<bdi>{mark}DENILCED</bdi>" in html
    assert f'<bdi class="id">ZJ-{mark}780000-5202-AD' in html
    assert "U+202C</span></bdi>" in html
    assert "<bdi>A<span" in html and "U+0000</span>B" in html and "U+001B</span>[31m" in html
    assert "see ⟨U+202E⟩DENILCED" in html  # any other text the memo prints: a plain marker


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_shown_text_carries_no_hidden_character(text: str):
    shown = str(html_text(text))
    assert not any(is_hidden(c) for c in shown) and not any(is_hidden(c) for c in visible(text))
    # the markup taken away: the text, each hidden character replaced by its code
    expected = "".join(marker(c) if is_hidden(c) else c for c in text)
    assert unescape(re.sub(r"<[^>]*>", "", shown)) == expected
    assert shown.startswith("<bdi>") and shown.endswith("</bdi>")


def test_visible_marks_only_hidden_characters():
    assert visible(f"{RLO}DENILCED") == "⟨U+202E⟩DENILCED"
    assert visible("a\tb\u2028c\u200bd") == "a⟨U+0009⟩b⟨U+2028⟩c⟨U+200B⟩d"
    # joiners that scripts need, and ordinary text in any script, are left alone
    for text in ("क्‍ष", "👩‍💻", "شركة البيانات", CHINESE_NAME, "Ünïcödé — ≤ ×"):
        assert visible(text) == text
        assert str(html_text(text)) == f"<bdi>{text}</bdi>"


# --- the Chinese font embedded in the HTML -------------------------------------------------------


def test_chinese_text_gets_an_embedded_font_subset(example_memo: str):
    html = example_memo
    face = re.search(
        r'@font-face \{ font-family: "dpv memo CJK";.*?base64,([A-Za-z0-9+/=]+)\) format\("woff"\);'
        r"\s*unicode-range: ([^;]+);",
        html,
        re.S,
    )
    assert face is not None
    used = {c for c in html if ord(c) >= 0x2E80}
    assert used >= set(BORROWER_NAME)
    ranges = [r.strip().removeprefix("U+").split("-") for r in face.group(2).split(",")]
    in_range = {
        chr(code)
        for bounds in ranges
        for code in range(int(bounds[0], 16), int(bounds[-1], 16) + 1)
    }
    assert in_range == used
    font = TTFont(io.BytesIO(base64.b64decode(face.group(1))))
    assert font.flavor == "woff"
    cmap = font.getBestCmap()
    glyphs = font.getGlyphSet()
    for char in used:
        pen = BoundsPen(glyphs)
        glyphs[cmap[ord(char)]].draw(pen)
        assert pen.bounds is not None, char  # an outline, not an empty glyph
    assert len(face.group(1)) < 60_000  # a subset, not the 8 MB font
    assert '"dpv memo CJK"' in html[html.index("body { font-family:") :][:200]
    assert "SIL Open Font License" in html


def test_no_chinese_text_no_font(memo: str):
    assert "@font-face" not in memo
