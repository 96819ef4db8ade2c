"""The memo's charts: matplotlib (Agg, no pyplot state), returned as base64 PNG strings.

``*_figure`` builds a chart's :class:`~matplotlib.figure.Figure` (call it inside
:func:`~valuation.pledge.fonts.chart_fonts`); ``*_chart`` draws it as PNG with the fonts set.

Each function reads only the :class:`~valuation.schema.pledge.Assessment`, so a memo can be
re-drawn from a filed ``assessment.json``. Text is drawn in DejaVu Sans with Noto Sans SC for
Chinese (:func:`valuation.pledge.fonts.chart_fonts`); names and ids with their hidden
characters made visible; item labels wrapped and shrunk until they fit the left margin.
Probability axes start at 0. The charts carry no titles: the memo's caption names each one.
"""

from __future__ import annotations

import base64
import functools
import io
import textwrap
from collections.abc import Callable
from typing import Any

from valuation.pledge.fonts import chart_fonts
from valuation.pledge.shown_text import visible
from valuation.schema.pledge import Assessment, CollateralAssessment

_DPI = 110
_METHOD_STYLE = {"income": ("#1f77b4", "o"), "cost": ("#2ca02c", "s"), "market": ("#9467bd", "^")}
_BETTER, _WORSE = "#2ca02c", "#d62728"
# Item labels: at most this share of the figure's width, in 10 to 6 point type; a name wraps
# at this many characters, an id (one word) only when it alone is longer.
_MAX_LABEL_SHARE = 0.42
_LABEL_SIZES = (10.0, 9.0, 8.0, 7.0, 6.0)
_NAME_WRAP = 30
_ID_WRAP = 44


def _as_png(build: Callable[[Assessment], Any]) -> Callable[[Assessment], str]:
    """Turn a figure builder into a chart function: the figure drawn as base64 PNG."""

    @functools.wraps(build)
    def draw(a: Assessment) -> str:
        with chart_fonts():
            return _png(build(a))

    return draw


def _figure(width: float = 7.0, height: float = 3.4, left: float = 0.1, top: float = 0.95) -> Any:
    from matplotlib.figure import Figure

    # Fixed margins: a layout engine costs a few hundred milliseconds a chart.
    fig = Figure(figsize=(width, height), dpi=_DPI)
    fig.subplots_adjust(left=left, right=0.95, bottom=0.16, top=top, hspace=0.45)
    return fig


def item_label(item: CollateralAssessment) -> str:
    """Return an item's axis label: its name (wrapped) over its id, hidden characters shown."""
    ident = visible(item.product_id)
    lines = (
        textwrap.wrap(ident, _ID_WRAP, break_on_hyphens=False) if len(ident) > _ID_WRAP else [ident]
    )
    if item.name:
        lines = textwrap.wrap(visible(item.name), _NAME_WRAP) + lines
    return "\n".join(lines)


def _fit_labels(fig: Any, axes: list[Any]) -> None:
    """Shrink the y tick labels of ``axes`` until they fit, and set the left margin to them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(fig).get_renderer()
    width = fig.get_figwidth() * fig.dpi
    labels = [label for ax in axes for label in ax.get_yticklabels()]
    widest = 0.0
    for size in _LABEL_SIZES:
        for label in labels:
            label.set_fontsize(size)
        widest = max((t.get_window_extent(renderer).width for t in labels), default=0.0)
        if widest + 12 <= _MAX_LABEL_SHARE * width:
            break
    fig.subplots_adjust(left=max(0.08, (widest + 12) / width))


def _png(fig: Any) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    # No software/date metadata: the same assessment draws the same bytes.
    fig.savefig(buffer, format="png", metadata={"Software": None}, pil_kwargs={"compress_level": 1})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _millions(ax: Any, axis: str = "x") -> None:
    from matplotlib.ticker import FuncFormatter

    fmt = FuncFormatter(lambda v, _pos: f"{v / 1e6:,.1f}m")
    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(fmt)


def reconciliation_figure(a: Assessment) -> Any:
    """Each eligible item's method values, concluded value and P10-P90 range."""
    rows = [c for c in a.collateral if c.valuation is not None and c.eligible]
    labels = [item_label(item) for item in rows]
    lines = sum(label.count("\n") + 1 for label in labels)
    fig = _figure(7.0, 1.2 + 0.35 * max(lines, 1) + 0.25 * len(rows), top=0.97)
    fig.subplots_adjust(bottom=min(0.5, 0.55 / fig.get_figheight()))
    ax = fig.add_subplot()
    for y, item in enumerate(rows):
        v = item.valuation
        assert v is not None
        if v.range is not None:
            ax.plot([v.range.p10, v.range.p90], [y, y], color="#999999", lw=6, alpha=0.5)
        for method, (colour, marker) in _METHOD_STYLE.items():
            m = getattr(v.methods, method)
            if m.value is not None:
                weight = getattr(v.weights, method)
                ax.scatter(
                    [m.value], [y], color=colour, marker=marker, s=30 + 120 * weight,
                    label=method if y == 0 else None, zorder=3,
                )  # fmt: skip
        if v.concluded_value is not None:
            ax.scatter(
                [v.concluded_value], [y], color="black", marker="D", s=40, zorder=4,
                label="concluded" if y == 0 else None,
            )  # fmt: skip
    ax.set_yticks(range(len(rows)), labels)
    ax.set_ylim(max(len(rows), 1) - 0.5, -0.5)
    _millions(ax)
    ax.set_xlabel(f"value ({a.currency}); marker size = reconciliation weight; bar = P10-P90")
    ax.grid(axis="x", alpha=0.3)
    if rows:
        ax.legend(loc="best", fontsize=8)
    _fit_labels(fig, [ax])
    return fig


def ltv_fan_figure(a: Assessment) -> Any:
    """Quantiles of the loan-to-value over the tenor, with the covenant and the policy max."""
    fig = _figure()
    ax = fig.add_subplot()
    s = a.stress
    if s is not None:
        q = s.value_quantiles
        levels = q.levels
        profile = s.exposure_profile
        exposure = [a.loan_amount * p for p in profile]

        def ltv(level: float) -> list[float]:
            # The LTV's q quantile is exposure over the value's 1 - q quantile.
            row = q.values[levels.index(round(1.0 - level, 10))]
            return [e / v if v > 0 else float("nan") for e, v in zip(exposure, row, strict=True)]

        ax.fill_between(q.months, ltv(0.05), ltv(0.95), color="#1f77b4", alpha=0.15, label="5-95%")
        ax.fill_between(q.months, ltv(0.25), ltv(0.75), color="#1f77b4", alpha=0.3, label="25-75%")
        ax.plot(q.months, ltv(0.5), color="#1f77b4", lw=2, label="median")
        ax.plot(q.months, ltv(0.99), color="#1f77b4", lw=1, ls=":", label="99%")
        ax.axhline(
            a.policy.margin_call_ltv, color="#d62728", lw=1.5, label="margin call (covenant)"
        )
        ax.axhline(a.policy.max_ltv, color="#ff7f0e", lw=1, ls="--", label="policy max LTV")
        ax.set_xlim(q.months[0], q.months[-1])
        ax.set_ylim(0, max(1.2 * a.policy.margin_call_ltv, min(max(ltv(0.95)) * 1.1, 3.0)))
        ax.legend(loc="upper left", fontsize=8, ncol=2)
    ax.set_xlabel("months from origination")
    ax.set_ylabel("loan-to-value")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return fig


def loss_figure(a: Assessment) -> Any:
    """Histogram of the loss given default, with the expected loss, VaR and ES marked."""
    fig = _figure()
    ax = fig.add_subplot()
    s = a.stress
    if s is None or s.loss_histogram.defaulted == s.loss_histogram.zero_loss:
        ax.text(0.5, 0.5, "no loss on any simulated path", ha="center", va="center")
        ax.set_axis_off()
        return fig
    h = s.loss_histogram
    widths = [b - a_ for a_, b in zip(h.edges[:-1], h.edges[1:], strict=True)]
    ax.bar(h.edges[:-1], h.counts, width=widths, align="edge", color="#7f7f7f", alpha=0.7)
    for value, label, colour in (
        (s.expected_loss, "expected loss", "#2ca02c"),
        (s.loss_var, f"VaR {s.confidence:.0%}", "#ff7f0e"),
        (s.loss_es, f"ES {s.confidence:.0%}", "#d62728"),
    ):
        ax.axvline(value, color=colour, lw=1.5, label=f"{label} {value:,.0f}")
    _millions(ax)
    ax.set_xlabel(f"loss given default ({a.currency})")
    ax.set_ylabel(f"paths, of {h.paths:,}")
    ax.set_xlim(left=0)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return fig


def favours_lender(kind: str, end: float, base: float) -> bool:
    """Return whether a tornado bar's end favours the lender: more value, or a lower breach."""
    return end > base if kind == "value" else end < base


def _tornado_limits(kind: str, rows: list[Any]) -> tuple[float, float]:
    """Return a tornado panel's x range.

    Value: 1.6 times the widest move either side of the base. Probability: from 0 to past the
    highest end, with room on the right for the labels.
    """
    if not rows:
        return (0.0, 1.0)
    if kind != "value":
        top = max(max(s.low, s.high, s.base) for s in rows)
        return (0.0, 1.7 * top if top > 0 else 0.01)
    base = rows[0].base
    span = max(max(abs(s.low - s.base), abs(s.high - s.base)) for s in rows) or abs(base) or 1.0
    return (base - 1.6 * span, base + 1.6 * span)


def tornado_figure(a: Assessment) -> Any:
    """Two tornado panels: the pooled value and the breach probability against their drivers.

    A bar's half is green where the move favours the lender (value up, breach probability
    down) and red where it works against it, whichever of the driver's settings causes it.
    """
    from matplotlib.patches import Patch
    from matplotlib.ticker import PercentFormatter

    fig = _figure(7.0, 4.8, left=0.2, top=0.86)
    axes = fig.subplots(2, 1)
    for ax, kind, title in (
        (axes[0], "value", f"collateral value ({a.currency})"),
        (axes[1], "breach_probability", "breach probability"),
    ):
        rows = [s for s in a.sensitivity if s.kind == kind]
        rows.sort(key=lambda s: abs(s.high - s.low))
        low_limit, high_limit = _tornado_limits(kind, rows)
        for y, s in enumerate(rows):
            for end in (s.low, s.high):
                colour = _BETTER if favours_lender(kind, end, s.base) else _WORSE
                ax.barh(y, end - s.base, left=s.base, color=colour, alpha=0.7)
            if kind != "value":
                # probabilities crowd near 0: both settings with their outcome, on the right
                text = f" {s.low_label}: {s.low:.2%} · {s.high_label}: {s.high:.2%}"
                ax.text(max(s.low, s.high, s.base), y, text, ha="left", va="center", fontsize=7)
                continue
            # each label sits at the end of its own bar (a "low" setting can raise the outcome)
            for end, label in ((s.low, s.low_label), (s.high, s.high_label)):
                left = end < s.base or (end == s.base and label == s.low_label)
                text = f"{label} " if left else f" {label}"
                ax.text(end, y, text, ha="right" if left else "left", va="center", fontsize=7)
        ax.set_yticks(range(len(rows)), [s.driver for s in rows])
        ax.set_xlim(low_limit, high_limit)
        if rows:
            ax.axvline(rows[0].base, color="black", lw=1)
        if kind == "value":
            _millions(ax)
        else:
            ax.xaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set_title(title, fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    fig.legend(
        handles=[
            Patch(color=_BETTER, alpha=0.7, label="favours the lender"),
            Patch(color=_WORSE, alpha=0.7, label="against the lender"),
        ],
        loc="upper center",
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    return fig


def scenario_figure(a: Assessment) -> Any:
    """Breach probability of the base case and every named scenario against the target."""
    from matplotlib.ticker import PercentFormatter

    fig = _figure(7.0, 2.8, left=0.2)
    ax = fig.add_subplot()
    names = [visible(s.name) for s in a.scenarios]
    target = a.policy.target_breach_probability
    values = [s.breach_probability for s in a.scenarios]
    colours = [_WORSE if v > target else "#1f77b4" for v in values]
    ax.barh(names, values, color=colours, alpha=0.7)
    ax.axvline(target, color="#d62728", lw=1.5, ls="--", label="target")
    ax.invert_yaxis()
    ax.set_xlim(0, max([target, *values]) * 1.15)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_xlabel("probability of a covenant breach within the tenor")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    _fit_labels(fig, [ax])
    return fig


reconciliation_chart = _as_png(reconciliation_figure)
ltv_fan_chart = _as_png(ltv_fan_figure)
loss_chart = _as_png(loss_figure)
tornado_chart = _as_png(tornado_figure)
scenario_chart = _as_png(scenario_figure)

CHARTS: tuple[tuple[str, str, Any], ...] = (
    ("reconciliation", "Method reconciliation", reconciliation_chart),
    ("ltv_fan", "LTV fan chart with the covenant line", ltv_fan_chart),
    ("loss", "Loss distribution", loss_chart),
    ("tornado", "Sensitivity (tornado) of value and breach probability", tornado_chart),
    ("scenarios", "Breach probability by scenario", scenario_chart),
)


def draw_all(a: Assessment) -> dict[str, str]:
    """Return every chart of the memo as ``{name: base64 PNG}``."""
    return {name: draw(a) for name, _title, draw in CHARTS}


__all__ = [
    "CHARTS",
    "draw_all",
    "favours_lender",
    "item_label",
    "loss_chart",
    "loss_figure",
    "ltv_fan_chart",
    "ltv_fan_figure",
    "reconciliation_chart",
    "reconciliation_figure",
    "scenario_chart",
    "scenario_figure",
    "tornado_chart",
    "tornado_figure",
]
