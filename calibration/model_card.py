"""The model card of a CalibrationSet: Markdown a validator can read and sign off.

Generated from the set's manifest and parameters only (data used, segments, parameters with
confidence intervals, back-test metrics, real-listings results, known limitations, the date it
was fitted), so it can be regenerated from any set and always agrees with it.
"""

from __future__ import annotations

from typing import Any


def _num(x: Any, fmt: str = ".4f") -> str:
    return "—" if x is None else format(float(x), fmt)


def _ci(pair: Any, fmt: str = ".4f") -> str:
    if not pair or pair[0] is None or pair[1] is None:
        return "—"
    return f"[{format(float(pair[0]), fmt)}, {format(float(pair[1]), fmt)}]"


def _revenue_table(parameters: dict[str, Any]) -> list[str]:
    est = parameters["revenue"]["segments"]
    se = parameters["standard_errors"]["revenue"]["segments"]
    lines = [
        "| segment | increments | net growth (95% CI) | volatility (95% CI) | "
        "jump intensity (95% CI) | jump mean | jump sd |",
        "|---|---:|---|---|---|---:|---:|",
    ]
    pooled: dict[str, tuple[Any, Any]] = {}
    for name, e in est.items():
        s = se[name]
        lines.append(
            f"| {name} | {e['n_increments']} | {_num(e['net_growth'])} "
            f"{_ci(s['net_growth']['ci95'])} | {_num(e['volatility'])} "
            f"{_ci(s['volatility']['ci95'])} | {_num(e['jump_intensity'], '.3f')} "
            f"{_ci(s['jump_intensity']['ci95'], '.3f')} | "
            f"{_num(e['jump_mean'], '.3f')} | {_num(e['jump_sd'], '.3f')} |"
        )
        for key in ("jump_mean", "jump_sd"):
            if s[key].get("pooled") and e[key] is not None:
                pooled.setdefault(key, (e[key], s[key]["ci95"]))
    if pooled:
        lines += [
            "",
            "Pooled across segments (one jump-size law, estimated jointly): "
            + ", ".join(
                f"{key.replace('_', ' ')} {_num(value, '.3f')} {_ci(ci, '.3f')}"
                for key, (value, ci) in pooled.items()
            )
            + ".",
        ]
    return lines


def _hazard_table(parameters: dict[str, Any]) -> list[str]:
    detail = parameters["standard_errors"]["hazards"]
    lines = [
        "| hazard (per year) | events | exposure (years) | rate | 95% CI |",
        "|---|---:|---:|---:|---|",
    ]
    for kind in ("objection", "revocation", "delisting"):
        d = detail[kind]
        lines.append(
            f"| {kind} | {d['events']} | {_num(d['exposure_years'], '.1f')} | "
            f"{_num(d['rate'])} | {_ci(d['ci95'])} |"
        )
    r = detail["renewal_probability"]
    lines.append(
        f"| renewal probability | {r['renewals']} renewals, {r['lapses']} lapses | | "
        f"{_num(parameters['hazards']['renewal_probability'])} | {_ci(r['ci95'])} |"
    )
    return lines


def _backtest_lines(backtest: dict[str, Any] | None) -> list[str]:
    if not backtest:
        return ["No out-of-time back-test was run for this set (`dpv backtest` runs one)."]
    h = backtest.get("hedonic", {})
    lines = [
        f"Fitted on the history before **{backtest['cutoff']}**, scored on what happened from "
        f"then to {backtest['as_of']} (out of time, never a random split).",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| hedonic deals scored | {h.get('n', 0)} |",
        f"| hedonic MdAPE | {_num(h.get('mdape'), '.3f')} |",
        f"| hedonic R² (log price) | {_num(h.get('r2'), '.3f')} |",
        f"| 80% band coverage | {_num(h.get('coverage'), '.3f')} |",
        f"| 80% band mean width (log) | {_num(h.get('mean_width'), '.3f')} |",
    ]
    r = backtest.get("royalty", {})
    lines.append(f"| royalty rate MAE ({r.get('n', 0)} deals) | {_num(r.get('mae'), '.4f')} |")
    for kind, d in backtest.get("hazards", {}).items():
        lines.append(
            f"| {kind}: predicted / observed events | {_num(d.get('predicted'), '.1f')} / "
            f"{d.get('observed')} |"
        )
    loans = backtest.get("loans", {})
    if loans:
        lines.append(
            f"| loan defaults: predicted / observed ({loans.get('n', 0)} loans) | "
            f"{_num(loans.get('predicted_defaults'), '.2f')} / {loans.get('observed_defaults')} |"
        )
        engine = loans.get("stress_engine") or {}
        if engine:
            lines.append(
                f"| stress engine default frequency ({engine['loans_simulated']} loans) | "
                f"{_num(engine['predicted_default_frequency'])} (observed "
                f"{_num(loans.get('observed_default_frequency'))}) |"
            )
            lines.append(
                f"| stress engine LTV-breach frequency | "
                f"{_num(engine['predicted_breach_frequency'])} (not observable) |"
            )
        lines.append(f"| LTV breaches | {loans.get('breach', 'not observable')} |")
    return lines


def _accuracy_lines(accuracy: dict[str, Any] | None) -> list[str]:
    if not accuracy:
        return ["Not measured for this set (it runs with the back-test)."]
    errors = accuracy.get("method_error", {})
    lines = [
        f"Measured on a synthetic market of {accuracy.get('products', '?'):,} products drawn "
        "from this set's fitted processes (seed "
        f"{accuracy.get('seed', '?')}), each product's true value being the income formula at "
        "the drawn truth (`calibration.accuracy`). Root mean square log error of each method "
        "beyond its stated inputs, used as `valuation.method_error` (reconciliation weights and "
        "range): " + ", ".join(f"{m} {_num(v, '.3f')}" for m, v in errors.items()) + ".",
        "",
        f"With these in force: median ratio of concluded value to truth "
        f"{_num(accuracy.get('median_ratio'), '.3f')}, P10-P90 holds the truth for "
        f"{_num(accuracy.get('range_coverage'), '.3f')} of products (median P90/P10 "
        f"{_num(accuracy.get('median_p90_p10'), '.2f')}).",
        "",
        "| category | products | median ratio | P10-P90 coverage |",
        "|---|---|---|---|",
    ]
    for c, row in accuracy.get("by_category", {}).items():
        lines.append(
            f"| {c} | {row['n']:,} | {_num(row['median_ratio'], '.3f')} | "
            f"{_num(row['range_coverage'], '.3f')} |"
        )
    return lines


def _listings_lines(listings: dict[str, Any] | None) -> list[str]:
    if not listings:
        return ["Not evaluated for this set (run `dpv calibrate --listings DIR`)."]
    lines = [
        f"Hedonic model on {listings['n_fit_rows']} priced real exchange listings "
        f"({listings['scheme']}); {listings['n_placeholders']} placeholder asking prices "
        "(price points with more listings than a continuous price distribution allows, per "
        "exchange and price mode) were detected, kept out of the fit and scored separately.",
        "",
        f"R² of log price {_num(listings['r2'], '.3f')} (within price mode "
        f"{_num(listings['r2_within_mode'], '.3f')}), MdAPE {_num(listings['mdape'], '.3f')}.",
        "",
        "| band (nominal 80%) | n | coverage | strictly inside | width (log) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, key in (
        ("hedonic, without placeholders", "model_without"),
        ("hedonic, with placeholders", "model_with"),
        ("naive per category, without", "naive_without"),
        ("naive per category, with", "naive_with"),
    ):
        b = listings[key]
        lines.append(
            f"| {label} | {b['n']} | {_num(b['coverage'], '.3f')} | "
            f"{_num(b['strictly_inside'], '.3f')} | {_num(b['mean_width'], '.2f')} |"
        )
    return lines


def _listing_model_lines(model: dict[str, Any] | None) -> list[str]:
    if not model:
        return ["None in this set (fit one with `dpv calibrate --listings DIR`)."]
    return [
        f"`listing_model.json` (SHA-256 `{model['sha256'][:16]}…`): fitted on {model['fitted']} "
        f"of {model['listings']} listings of {len(model['exchanges'])} exchanges; "
        f"{model['placeholders']} placeholder or token prices kept out, {model['relabelled']} "
        "per-call prices re-read as one-off packages.",
        "",
        "Bands are Mondrian conformal by exchange and price mode and claim 80 % coverage only "
        "for a group with ten or more training listings; any other listing is flagged "
        "`out_of_distribution`. Measure them with `dpv backtest --listings DIR`.",
    ]


def render_model_card(manifest: dict[str, Any], parameters: dict[str, Any]) -> str:
    """Return the Markdown model card of a set from its manifest and parameters."""
    metrics = manifest.get("metrics", {})
    history = metrics.get("history", {})
    val = parameters["valuation"]
    liq = parameters["loans"]["liquidation"]
    hed = parameters["hedonic"]
    roy = parameters["royalty_rate"]
    lines = [
        f"# Model card — CalibrationSet `{manifest['id']}`",
        "",
        f"Fitted {manifest['created_at']} on history up to {metrics.get('as_of', '—')} "
        f"(data SHA-256 `{manifest['data_sha256'][:16]}…`), dpv "
        f"{manifest['libraries']['dpv']}, LightGBM {manifest['libraries']['lightgbm']}.",
        "",
        "## Data used",
        "",
        *(f"- `{name}`: {rows:,} rows" for name, rows in history.items()),
        "- revenue increments (consecutive calendar years): "
        f"{metrics.get('revenue_increments', 0):,}",
        f"- deals with a reported royalty rate: {metrics.get('royalty_deals', 0):,}",
        "",
        "## Segments and revenue processes",
        "",
        "Segment = `sector/category`. Annual log revenue growth is a Merton jump-diffusion fitted "
        "by maximum likelihood (Poisson mixture of normals): drift, volatility and jump "
        "intensity per segment, the jump mean and sd shared by all segments. Increments from a "
        "certificate's lapse or revocation on are left out (they carry its revenue loss). 95% "
        "intervals are profile-likelihood intervals (the other parameters re-optimised; an "
        "interval may end at a parameter's bound): the jump part is weakly identified from "
        "annual data and its intervals are wide.",
        "",
        *_revenue_table(parameters),
        "",
        "## Certificate and listing hazards",
        "",
        "Constant intensities under right-censoring; exposure from the dates (announcement end "
        "to the earliest of as-of, lapse, revocation; listing date to as-of for delisting).",
        "",
        *_hazard_table(parameters),
        "",
        "## Hedonic price model and royalty rates",
        "",
        f"LightGBM on log deal price with monotone constraints (exclusivity, territory, records, "
        f"quality, term, revenue), split-conformal 80% bands. In sample: R² "
        f"{_num(metrics.get('hedonic_in_sample', {}).get('r2'), '.3f')}, residual sd "
        f"{_num(hed.get('residual_sd_in_sample'), '.3f')} (log).",
        "",
        "Average partial effects (log price): exclusive "
        f"{_num(hed['license']['exclusive'], '.3f')}, transfer "
        f"{_num(hed['license']['transfer'], '.3f')}, quality score "
        f"{_num(hed['quality_score'], '.3f')} per unit, log records "
        f"{_num(hed['log_records'], '.3f')}, "
        f"log term {_num(hed['log_term_months'], '.3f')}, log revenue "
        f"{_num(hed['log_revenue'], '.3f')}, time trend {_num(hed['years_since_2024'], '.3f')}/yr.",
        "",
        f"Royalty rate (logit-linear): intercept {_num(roy['intercept'], '.3f')}, residual sd "
        f"{_num(roy['residual_sd'], '.3f')}.",
        "",
        "## What valuation uses (overrides of `valuation.defaults`)",
        "",
        "```",
        *(f"{k}: {v}" for k, v in val.items()),
        "```",
        "",
        "## Out-of-time back-test",
        "",
        *_backtest_lines(metrics.get("backtest")),
        "",
        "## Accuracy of the valuation methods",
        "",
        *_accuracy_lines(metrics.get("accuracy")),
        "",
        "## Real exchange listings",
        "",
        *_listings_lines(metrics.get("real_listings")),
        "",
        "## Listing price model (`dpv price`)",
        "",
        *_listing_model_lines(metrics.get("listing_model")),
        "",
        "## Known limitations",
        "",
        "- Revenue identifies only net growth (growth − decay); the valuation split anchors the "
        "data_collection decay at the default.",
        "- The jump component (intensity, mean, sd) is weakly identified from annual data: a "
        "small segment's jumps trade off against its volatility; read their intervals.",
        "- Liquidation: recoveries identify only (1 − discount)·exp(value shock), capped at 1. "
        + (
            "Not estimated: " + str(liq.get("note"))
            if liq.get("liquidation_discount") is None
            else "The implied discount assumes value at default equals appraisal on average."
        ),
        "- Hedonic: the product effect and deal noise are identified only jointly; bands cover "
        "marginally, for deals exchangeable with the training ones.",
        "- LTV breaches are not recorded in the loans table, so the stress engine's breach "
        "probability cannot be back-tested here; defaults can.",
        "- Real listings: asking prices explain little (low R²); placeholders are not evidence.",
        "",
    ]
    return "\n".join(lines)


__all__ = ["render_model_card"]
