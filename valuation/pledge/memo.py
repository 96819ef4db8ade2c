"""The credit memo: one self-contained, printable HTML page a committee member files.

Jinja2 with autoescaping on (a product name with ``<script>`` renders as text), the charts of
:mod:`valuation.pledge.charts` embedded as base64 PNG, the Chinese font subset to the memo's
characters embedded as a WOFF ``@font-face`` (:mod:`valuation.pledge.fonts`), no external
resources; A4 pages when printed. Names and ids are shown through
:mod:`valuation.pledge.shown_text`: bidi-isolated, control characters made visible, ids never
broken across lines.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from markupsafe import Markup

from valuation.pledge.fonts import HTML_FAMILY, font_face_css
from valuation.pledge.shown_text import html_text, visible
from valuation.schema.pledge import Assessment

TEMPLATE = "memo.html.j2"

# Ids up to this many characters are never broken across lines (the 64 hex digits of a hash
# fit the audit table); a longer one may wrap, anywhere, where it does not fit.
ID_ONE_LINE_MAX = 64

DECISION_TITLES = {
    "approve": "APPROVE",
    "approve_with_conditions": "APPROVE WITH CONDITIONS",
    "decline": "DECLINE",
}


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def _count(value: int) -> str:
    return f"{value:,}"


def _ident(text: str) -> Markup:
    # Kept on one line; one longer than an A4 table column can hold wraps rather than be cut.
    return html_text(text, "id" if len(text) <= ID_ONE_LINE_MAX else "id-long")


def _finalize(value: Any) -> Any:
    # Every other string the memo prints (reason messages quote names): hidden characters
    # become a plain-text marker, which is safe in any context (titles, attributes).
    return visible(value) if isinstance(value, str) and not isinstance(value, Markup) else value


def _environment() -> Any:
    import jinja2

    text = resources.files("valuation.pledge").joinpath("templates", TEMPLATE).read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, finalize=_finalize)
    env.filters["money"] = _money
    env.filters["pct"] = _pct
    env.filters["count"] = _count
    env.filters["user"] = html_text
    env.filters["ident"] = _ident
    return env.from_string(text)


def captions(a: Assessment) -> dict[str, str]:
    """Return the sentence under each chart: how to read it, with the run's own numbers."""
    captions = {
        "reconciliation": (
            "Each eligible item's value by method (marker size: its weight in the "
            "reconciliation), the concluded value and the P10-P90 range of the value."
        ),
        "ltv_fan": (
            "Quantiles of the loan-to-value month by month over the tenor, against the "
            "margin-call covenant and the policy's maximum LTV."
        ),
        "loss": "No simulated path defaults with a loss.",
        "tornado": (
            "Each driver moved down and up alone. Green: the move favours the lender (higher "
            "value, lower breach probability); red: it works against the lender."
        ),
        "scenarios": (
            f"Probability of a covenant breach within the tenor under each named scenario, "
            f"against the target of {a.policy.target_breach_probability:.1%}."
        ),
    }
    if a.stress is not None:
        h = a.stress.loss_histogram
        if h.defaulted > h.zero_loss:
            captions["loss"] = (
                f"Losses of the {h.defaulted - h.zero_loss:,} paths, of the run's {h.paths:,}, "
                f"where the borrower defaults and the sale of the collateral does not cover "
                f"the exposure ({h.defaulted:,} default; in {h.zero_loss:,} of them the sale "
                f"covers it); expected loss, VaR and ES over all paths marked."
            )
    return captions


def render_memo(assessment: Assessment, charts: dict[str, str] | None = None) -> str:
    """Render the credit memo of an assessment as one HTML document.

    Parameters
    ----------
    assessment
        The assessment to present.
    charts
        ``{name: base64 PNG}``; drawn from the assessment when omitted.

    Returns
    -------
    str
        The HTML page, with the subset of the Chinese font that its text needs embedded.
    """
    from valuation.pledge.charts import CHARTS, draw_all
    from valuation.pledge.decision import APPRAISAL_DISAGREES, APPRAISAL_STALE
    from valuation.risk.scenarios import NAMED_SCENARIOS

    images = charts if charts is not None else draw_all(assessment)
    text = captions(assessment)
    template = _environment()
    context = {
        "a": assessment,
        "decision_title": DECISION_TITLES[assessment.decision],
        "charts": [(name, title, text[name], images[name]) for name, title, _ in CHARTS],
        "scenario_descriptions": {k: v.description for k, v in NAMED_SCENARIOS.items()},
        "appraisal_codes": (APPRAISAL_DISAGREES, APPRAISAL_STALE),
        "cjk_family": HTML_FAMILY,
    }
    # Rendered once to learn which characters the page shows, then with their font.
    page = template.render(**context, font_face=Markup(""))
    font_face = font_face_css(page)
    return template.render(**context, font_face=Markup(font_face)) if font_face else page


__all__ = ["DECISION_TITLES", "ID_ONE_LINE_MAX", "captions", "render_memo"]
