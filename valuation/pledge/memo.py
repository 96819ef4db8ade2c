"""The credit memo: one self-contained, printable HTML page a committee member files.

Jinja2 with autoescaping on (a product name with ``<script>`` renders as text), the charts of
:mod:`valuation.pledge.charts` embedded as base64 PNG, no external resources.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from valuation.schema.pledge import Assessment

TEMPLATE = "memo.html.j2"

DECISION_TITLES = {
    "approve": "APPROVE",
    "approve_with_conditions": "APPROVE WITH CONDITIONS",
    "decline": "DECLINE",
}


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}%}"


def _environment() -> Any:
    import jinja2

    text = resources.files("valuation.pledge").joinpath("templates", TEMPLATE).read_text("utf-8")
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["money"] = _money
    env.filters["pct"] = _pct
    return env.from_string(text)


def render_memo(assessment: Assessment, charts: dict[str, str] | None = None) -> str:
    """Render the credit memo of an assessment as one HTML document.

    Parameters
    ----------
    assessment
        The assessment to present.
    charts
        ``{name: base64 PNG}``; drawn from the assessment when omitted.
    """
    from valuation.pledge.charts import CHARTS, draw_all
    from valuation.pledge.decision import APPRAISAL_DISAGREES, APPRAISAL_STALE
    from valuation.risk.scenarios import NAMED_SCENARIOS

    images = charts if charts is not None else draw_all(assessment)
    return _environment().render(
        a=assessment,
        decision_title=DECISION_TITLES[assessment.decision],
        charts=[(name, title, images[name]) for name, title, _ in CHARTS],
        scenario_descriptions={k: v.description for k, v in NAMED_SCENARIOS.items()},
        appraisal_codes=(APPRAISAL_DISAGREES, APPRAISAL_STALE),
    )


__all__ = ["DECISION_TITLES", "render_memo"]
