"""The memo's charts: matplotlib (Agg, no pyplot state), returned as base64 PNG strings.

Each function reads only the :class:`~valuation.schema.pledge.Assessment`, so a memo can be
re-drawn from a filed ``assessment.json``.
"""

from __future__ import annotations

import base64
import io
from typing import Any

from valuation.schema.pledge import Assessment

_DPI = 110
_METHOD_STYLE = {"income": ("#1f77b4", "o"), "cost": ("#2ca02c", "s"), "market": ("#9467bd", "^")}


def _figure(width: float = 7.0, height: float = 3.4, left: float = 0.1) -> Any:
    from matplotlib.figure import Figure

    # Fixed margins: a layout engine costs a few hundred milliseconds a chart.
    fig = Figure(figsize=(width, height), dpi=_DPI)
    fig.subplots_adjust(left=left, right=0.97, bottom=0.16, top=0.9, hspace=0.45)
    return fig


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


def reconciliation_chart(a: Assessment) -> str:
    """Each eligible item's method values, concluded value and P10-P90 range."""
    rows = [c for c in a.collateral if c.valuation is not None and c.eligible]
    fig = _figure(7.0, 1.4 + 0.6 * max(len(rows), 1), left=0.25)
    ax = fig.add_subplot()
    labels = []
    for y, item in enumerate(rows):
        v = item.valuation
        assert v is not None
        labels.append(item.product_id)
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
    ax.invert_yaxis()
    _millions(ax)
    ax.set_xlabel(f"value ({a.currency}); marker size = reconciliation weight; bar = P10-P90")
    ax.grid(axis="x", alpha=0.3)
    if rows:
        ax.legend(loc="best", fontsize=8)
    ax.set_title("Method reconciliation")
    return _png(fig)


def ltv_fan_chart(a: Assessment) -> str:
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
    ax.grid(alpha=0.3)
    ax.set_title("LTV fan chart over the tenor")
    return _png(fig)


def loss_chart(a: Assessment) -> str:
    """Histogram of the loss given default, with the expected loss, VaR and ES marked."""
    fig = _figure()
    ax = fig.add_subplot()
    s = a.stress
    if s is None or s.loss_histogram.defaulted == s.loss_histogram.zero_loss:
        ax.text(0.5, 0.5, "no loss on any simulated path", ha="center", va="center")
        ax.set_axis_off()
        return _png(fig)
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
    ax.set_xlabel(
        f"loss ({a.currency}); {h.defaulted:,} of {h.paths:,} paths default, "
        f"{h.zero_loss:,} of them with no loss (sale covers the exposure)"
    )
    ax.set_ylabel("paths with a loss")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    ax.set_title("Loss distribution given default")
    return _png(fig)


def tornado_chart(a: Assessment) -> str:
    """Two tornado panels: the pooled value and the breach probability against their drivers."""
    fig = _figure(7.0, 4.6, left=0.2)
    axes = fig.subplots(2, 1)
    for ax, kind, title in (
        (axes[0], "value", f"collateral value ({a.currency})"),
        (axes[1], "breach_probability", "breach probability"),
    ):
        rows = [s for s in a.sensitivity if s.kind == kind]
        rows.sort(key=lambda s: abs(s.high - s.low))
        for y, s in enumerate(rows):
            ax.barh(y, s.low - s.base, left=s.base, color="#d62728", alpha=0.7)
            ax.barh(y, s.high - s.base, left=s.base, color="#2ca02c", alpha=0.7)
            # each label sits at the end of its own bar (a "low" setting can raise the outcome)
            for end, label in ((s.low, s.low_label), (s.high, s.high_label)):
                left = end < s.base or (end == s.base and label == s.low_label)
                text = f"{label} " if left else f" {label}"
                ax.text(end, y, text, ha="right" if left else "left", va="center", fontsize=7)
        ax.set_yticks(range(len(rows)), [s.driver for s in rows])
        if rows:
            ax.axvline(rows[0].base, color="black", lw=1)
            span = max(max(abs(s.low - s.base), abs(s.high - s.base)) for s in rows) or 1.0
            ax.set_xlim(rows[0].base - 1.6 * span, rows[0].base + 1.6 * span)
        if kind == "value":
            _millions(ax)
        ax.set_title(f"Sensitivity of the {title}", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def scenario_chart(a: Assessment) -> str:
    """Breach probability of the base case and every named scenario against the target."""
    fig = _figure(7.0, 2.8, left=0.2)
    ax = fig.add_subplot()
    names = [s.name for s in a.scenarios]
    ax.barh(names, [s.breach_probability for s in a.scenarios], color="#1f77b4", alpha=0.7)
    ax.axvline(a.policy.target_breach_probability, color="#d62728", lw=1.5, label="target")
    ax.invert_yaxis()
    ax.set_xlabel("probability of a covenant breach within the tenor")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Scenarios")
    return _png(fig)


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
    "loss_chart",
    "ltv_fan_chart",
    "reconciliation_chart",
    "scenario_chart",
    "tornado_chart",
]
