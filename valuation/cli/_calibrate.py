"""``dpv calibrate`` and ``dpv backtest``: fit a CalibrationSet from history, back-test it.

``calibration`` depends on ``valuation``, never the reverse: it is imported only when one of
these commands runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import typer

from valuation.cli import app
from valuation.exceptions import DpvInputError


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DpvInputError(f"not an ISO date (YYYY-MM-DD): {text!r}", field=option) from None


@app.command("calibrate")
def calibrate_command(
    history: Annotated[str, typer.Option("--history", help="Folder of history tables.")],
    out: Annotated[str, typer.Option("--out", help="Folder to write the CalibrationSet to.")],
    seed: Annotated[int, typer.Option(help="Seed of the model fits.")] = 20241201,
    cutoff: Annotated[
        str | None,
        typer.Option("--cutoff", help="Back-test cut-off (default: a year before the end)."),
    ] = None,
    no_backtest: Annotated[
        bool, typer.Option("--no-backtest", help="Skip the out-of-time back-test.")
    ] = False,
    listings: Annotated[
        str | None,
        typer.Option("--listings", help="Real exchange listings (DaDaDa CSVs) to evaluate on."),
    ] = None,
    created_at: Annotated[
        str | None,
        typer.Option(
            "--created-at", help="Creation time for the manifest (ISO), to reproduce a set."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing set.")] = False,
) -> None:
    """Fit a CalibrationSet (parameters, models, manifest, model card) from history.

    Writes the folder atomically; exit code 2 on bad input, with nothing written.
    """
    from calibration import calibrate

    stamp = None
    if created_at is not None:
        try:
            stamp = dt.datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        except ValueError:
            raise DpvInputError(f"not an ISO time: {created_at!r}", field="--created-at") from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=dt.UTC)
    path, _fitted, timings = calibrate(
        history,
        out,
        seed=seed,
        run_backtest=not no_backtest,
        cutoff=_date(cutoff, "--cutoff"),
        listings_dir=listings,
        created_at=stamp,
        force=force,
        progress=lambda stage: typer.echo(f"dpv calibrate: {stage}", err=True),
    )
    from valuation.calibration_set import load_calibration

    loaded = load_calibration(path)
    typer.echo(f"wrote CalibrationSet {loaded.id} to {path}")
    typer.echo(
        "seconds per stage: " + ", ".join(f"{k} {v:.2f}" for k, v in timings.items()), err=True
    )


def _listings_backtest(listings: str, as_json: bool) -> None:
    from valuation.pricing import read_listings
    from valuation.pricing.evaluate import SCHEMES, evaluate_pricing

    batch, _single = read_listings(listings)
    if batch.quarantine:
        first = batch.quarantine[0]
        raise DpvInputError(
            f"{len(batch.quarantine)} unreadable rows (first: line {first['line']}: "
            f"{first['reason']})",
            source=listings,
            field=first["field"],
        )
    report = {scheme: evaluate_pricing(batch, scheme) for scheme in SCHEMES}
    if as_json:
        from calibration.write import dump_json

        typer.echo(dump_json(report), nl=False)
        return
    for scheme in SCHEMES:
        typer.echo(_listings_table(scheme, report[scheme]))


def _listings_table(scheme: str, report: dict[str, Any]) -> str:
    def cov(stats: dict[str, Any]) -> str:
        if not stats.get("n"):
            return "      -           "
        lo, hi = stats["coverage_ci95"]
        return f"{stats['coverage']:.2f} [{lo:.2f},{hi:.2f}]"

    def num(x: Any) -> str:
        return "   -" if x is None or x != x else f"{x:5.2f}"

    lines = [
        f"listings, {scheme}: nominal {report['coverage_nominal']:.0%} band, held-out priced "
        "listings without placeholders (log units)",
        f"{'exchange':<36} {'mode':<12} {'n':>4} {'ood':>4} {'claim':>5}  "
        f"{'coverage [95% CI]':<18} {'inside':>6} {'width':>6} {'|err|':>6}  "
        f"{'naive coverage':<18} {'width':>6}",
    ]
    rows = [*report["groups"], {"exchange": "all", "price_mode": "", **report["all"]}]
    for g in rows:
        model, naive = g["model"], g["naive"]
        lines.append(
            f"{g['exchange'][:36]:<36} {g['price_mode']:<12} {g['n']:>4} "
            f"{g['n_out_of_distribution']:>4} {g['n_claimed']:>5}  {cov(model):<18} "
            f"{num(model.get('strictly_inside')):>6} {num(model.get('median_width')):>6} "
            f"{num(g['median_abs_log_error']):>6}  {cov(naive):<18} "
            f"{num(naive.get('median_width')):>6}"
        )
        if g["n_claimed"]:
            lines.append(
                f"{'':<36} {'claimed':<12} {g['n_claimed']:>4} {'':>4} {'':>5}  "
                f"{cov(g['claimed']):<18}"
            )
    return "\n".join(lines)


@app.command("backtest")
def backtest_command(
    calibration: Annotated[
        str | None, typer.Option("--calibration", help="The CalibrationSet folder to back-test.")
    ] = None,
    history: Annotated[
        str | None, typer.Option("--history", help="Folder of history tables.")
    ] = None,
    listings: Annotated[
        str | None,
        typer.Option(
            "--listings",
            help="Back-test the listing bands of dpv price instead, on this exchange export "
            "(CSV, Parquet or a folder of CSVs): leave-one-exchange-out and within-exchange, "
            "per exchange and price mode, beside a naive per-category band.",
        ),
    ] = None,
    cutoff: Annotated[
        str | None,
        typer.Option(
            "--cutoff",
            help="Score from this date (default: the end of the set's data when the history "
            "runs past it, else a year before the history's end).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Back-test a CalibrationSet out of time on a history.

    The set itself is scored when the cut-off is on or after the end of the data it was
    fitted on; otherwise the models are refitted (with the set's seed) on the history before
    the cut-off, so nothing after it is ever seen. With ``--listings`` it back-tests the
    listing bands instead (coverage with its 95 % binomial interval, share strictly inside,
    median width and absolute error in log units, and the naive band of the same rows).
    """
    if listings is not None:
        _listings_backtest(listings, as_json)
        return
    if calibration is None or history is None:
        raise DpvInputError(
            "needs --calibration and --history (or --listings)",
            field="--calibration" if calibration is None else "--history",
        )
    from calibration import Calibration, backtest, load_history
    from valuation.calibration_set import HEDONIC, load_calibration

    cal_set = load_calibration(calibration)
    full = load_history(history)
    fitted_to = dt.date.fromisoformat(str(cal_set.manifest["metrics"]["as_of"]))
    when = _date(cutoff, "--cutoff")
    if when is None:
        when = fitted_to if full.as_of > fitted_to else full.as_of - dt.timedelta(days=365)
    if not full.as_of > when:
        raise DpvInputError(
            f"the history ends {full.as_of}, not after the cut-off {when}", field="--cutoff"
        )
    seed = int(cal_set.read_json(HEDONIC)["params"].get("random_state") or 20241201)
    given = None
    if when >= fitted_to:
        given = Calibration(
            cal_set.parameters, cal_set.hedonic_model(), cal_set.royalty_model(), {}
        )
    report = backtest(full, cutoff=when, seed=seed, calibration=given)
    report["calibration_id"] = cal_set.id
    report["scored"] = "the set as written" if given is not None else "refitted before cut-off"
    if as_json:
        from calibration.write import dump_json

        typer.echo(dump_json(report), nl=False)
        return
    h = report["hedonic"]
    typer.echo(
        f"back-test of {cal_set.id}: fitted before {report['cutoff']}, scored to "
        f"{report['as_of']} ({report['scored']})"
    )
    if h.get("n"):
        typer.echo(
            f"hedonic: {h['n']} deals, MdAPE {h['mdape']:.3f}, R² {h['r2']:.3f}, 80% band "
            f"coverage {h['coverage']:.3f}, width {h['mean_width']:.2f} (log)"
        )
    r = report["royalty"]
    if r.get("n"):
        typer.echo(f"royalty: {r['n']} deals, MAE {r['mae']:.4f}, bias {r['bias']:+.4f}")
    for kind, d in report["hazards"].items():
        predicted = "n/a" if d["predicted"] is None else f"{d['predicted']:.1f}"
        typer.echo(f"{kind}: predicted {predicted}, observed {d['observed']}")
    loans = report["loans"]
    if loans:
        typer.echo(
            f"loans: {loans['n']} at risk, predicted defaults {loans['predicted_defaults']:.2f}, "
            f"observed {loans['observed_defaults']}; breaches {loans['breach']}"
        )
        engine = loans.get("stress_engine")
        if engine:
            typer.echo(
                f"stress engine on {engine['loans_simulated']} loans: default frequency "
                f"{engine['predicted_default_frequency']:.4f} (observed "
                f"{loans['observed_default_frequency']:.4f}), breach frequency "
                f"{engine['predicted_breach_frequency']:.4f} (not observable)"
            )
