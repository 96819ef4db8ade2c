"""``calibrate``: history folder -> CalibrationSet folder (the whole pipeline, timed per stage)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from calibration.accuracy import measure_accuracy
from calibration.backtest import backtest, default_cutoff
from calibration.fit import DEFAULT_SEED, Calibration, fit_calibration
from calibration.history import data_hash, load_history
from calibration.write import comparables_json, write_calibration_set
from valuation.exceptions import DpvInputError


def evaluate_real_listings(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Out-of-sample hedonic results on real exchange listings (DaDaDa format), as JSON data."""
    from models import evaluate_listings, load_listings
    from models.exceptions import DataError

    try:
        listings = load_listings(Path(folder))
    except (DataError, OSError) as exc:
        raise DpvInputError(str(exc), source=str(folder)) from None
    evaluation = evaluate_listings(listings, random_state=0)
    data = dataclasses.asdict(evaluation)
    data.pop("per_fold", None)
    return data


def fit_listing_model_of(folder: str | os.PathLike[str], *, seed: int) -> Any:
    """Fit the listing price model of ``dpv price`` on the exchange exports in ``folder``."""
    from valuation.pricing import fit_listing_model, read_listings

    batch, _single = read_listings(Path(folder))
    return fit_listing_model(batch, seed=seed)


def market_model_of(fitted: Calibration) -> Any:
    """Return what ``dpv value`` will price with: the hedonic model and the set's deal table.

    The table goes through the same ``comparables.json`` text the set will hold.
    """
    if fitted.comparables is None:
        return fitted.hedonic
    from valuation.calibration_set import DealTable
    from valuation.methods.market_model import MarketModel

    table = DealTable.from_json(json.loads(comparables_json(fitted.comparables)))
    return MarketModel(fitted.hedonic, table)


def calibrate(
    history_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    seed: int = DEFAULT_SEED,
    run_backtest: bool = True,
    cutoff: dt.date | None = None,
    listings_dir: str | os.PathLike[str] | None = None,
    created_at: dt.datetime | None = None,
    force: bool = False,
    n_jobs: int = 1,
    progress: Callable[[str], None] | None = None,
) -> tuple[Path, Calibration, dict[str, float]]:
    """Fit a CalibrationSet from the history in ``history_dir`` and write it to ``out_dir``.

    Returns the folder written, the calibration and the seconds per stage. The out-of-time
    back-test (fit before ``cutoff``, default one year before the end, score after) and the
    real-listings evaluation go into the manifest's metrics and the model card. With the
    back-test, each valuation method's error is measured on a synthetic market drawn from the
    fitted processes (:mod:`calibration.accuracy`) and stored as ``valuation.method_error``.
    """
    out = Path(out_dir)
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise DpvInputError("exists and is not empty (use --force to replace)", source=str(out))
    timings: dict[str, float] = {}
    t = time.perf_counter()
    history = load_history(Path(history_dir))
    digest = data_hash(history)
    timings["load"] = time.perf_counter() - t
    fitted = fit_calibration(history, seed=seed, n_jobs=n_jobs, progress=progress)
    timings.update(fitted.timings)
    if run_backtest:
        t = time.perf_counter()
        if progress is not None:
            progress("backtest")
        fitted.metrics["backtest"] = backtest(
            history, cutoff=cutoff or default_cutoff(history), seed=seed, n_jobs=n_jobs
        )
        timings["backtest"] = time.perf_counter() - t
    if run_backtest:
        t = time.perf_counter()
        if progress is not None:
            progress("accuracy")
        method_error, report = measure_accuracy(
            fitted.parameters, market_model_of(fitted), seed=seed + 1
        )
        fitted.parameters["valuation"]["method_error"] = method_error
        fitted.metrics["accuracy"] = report
        timings["accuracy"] = time.perf_counter() - t
    if listings_dir is not None:
        t = time.perf_counter()
        if progress is not None:
            progress("listings")
        fitted.metrics["real_listings"] = evaluate_real_listings(listings_dir)
        timings["real_listings"] = time.perf_counter() - t
        t = time.perf_counter()
        if progress is not None:
            progress("listing model")
        fitted.listing_model = fit_listing_model_of(listings_dir, seed=seed)
        fitted.metrics["listing_model"] = {
            **fitted.listing_model.data["training"],
            "sha256": fitted.listing_model.sha256,
        }
        timings["listing_model"] = time.perf_counter() - t
    t = time.perf_counter()
    path = write_calibration_set(
        fitted, out, data_sha256=digest, created_at=created_at, force=force
    )
    timings["write"] = time.perf_counter() - t
    return path, fitted, timings


__all__ = ["calibrate", "evaluate_real_listings"]
