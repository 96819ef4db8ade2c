"""Out-of-time back-test: fit on what was known before a cut-off date, score what came after.

Never a random split across time: the models see only rows dated before the cut-off
(:meth:`calibration.history.History.before`), and are scored on the deals, events and loan
outcomes dated from the cut-off to the end of the history.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from calibration.fit import Calibration, deal_features, fit_calibration
from calibration.history import History
from calibration.processes import fit_hazards
from valuation.dates import DAYS_PER_YEAR


def default_cutoff(history: History) -> dt.date:
    """One year before the end of the history."""
    return history.as_of - dt.timedelta(days=365)


def _hedonic_scores(model: Any, history: History, cutoff: dt.date) -> dict[str, Any]:
    after = history["deals"]["date"] >= np.datetime64(cutoff, "D")
    features = deal_features(history, after)
    ok = np.isfinite(features.log_price)
    y = features.log_price[ok]
    if y.size == 0:
        return {"n": 0}
    X = features.X[ok]
    pred = model.predict(X)
    lo, hi = model.predict_interval(X)
    ape = np.abs(np.exp(pred - y) - 1.0)
    return {
        "n": int(y.size),
        "mdape": float(np.median(ape)),
        "r2": float(1.0 - np.mean((y - pred) ** 2) / np.var(y)) if y.size > 1 else math.nan,
        "coverage_nominal": float(model.coverage),
        "coverage": float(np.mean((y >= lo) & (y <= hi))),
        "mean_width": float(np.mean(hi - lo)),
    }


def _royalty_scores(model: Any, history: History, cutoff: dt.date) -> dict[str, Any]:
    after = history["deals"]["date"] >= np.datetime64(cutoff, "D")
    features = deal_features(history, after)
    rate = features.royalty_rate
    ok = np.isfinite(rate) & (rate > 0) & (rate < 1)
    if not ok.any():
        return {"n": 0}
    pred = model.predict(features.royalty_X[ok])
    err = pred - rate[ok]
    return {
        "n": int(ok.sum()),
        "mae": float(np.mean(np.abs(err))),
        "bias": float(np.mean(err)),
        "mape": float(np.median(np.abs(err) / rate[ok])),
    }


def _hazard_scores(
    before: History, full: History, fitted: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    """Predicted events in the window = rate fitted before × exposure in the window."""
    pre, post = fit_hazards(before), fit_hazards(full)
    out: dict[str, dict[str, Any]] = {}
    for kind in ("objection", "revocation", "delisting"):
        exposure = getattr(post, kind).exposure_years - getattr(pre, kind).exposure_years
        observed = getattr(post, kind).events - getattr(pre, kind).events
        rate = fitted[kind]
        predicted = rate * exposure if rate is not None else math.nan
        out[kind] = {
            "exposure_years": float(exposure),
            "observed": int(observed),
            "predicted": float(predicted),
            "ratio": float(observed / predicted) if predicted > 0 else math.nan,
        }
    expiries = (post.renewals + post.lapses) - (pre.renewals + pre.lapses)
    p = fitted["renewal_probability"]
    out["renewal"] = {
        "expiries": int(expiries),
        "observed": int(post.renewals - pre.renewals),
        "predicted": float(p * expiries) if p is not None else None,
    }
    if p is None:
        out["renewal"]["note"] = "no certificate reached expiry before the cut-off"
    return out


MAX_ENGINE_LOANS = 200
ENGINE_PATHS = 4000
ENGINE_SEED = 20261101


def _engine_predictions(
    full: History,
    rows: NDArray[np.intp],
    start: NDArray[np.datetime64],
    years: NDArray[np.float64],
    parameters: dict[str, Any],
) -> dict[str, Any]:
    """Default and breach probabilities of each loan from the Monte Carlo stress engine.

    The collateral starts at its appraised value with the calibrated process of its sector
    (drift = calibrated growth − decay, volatility, jumps, revocation hazard); the borrower's
    annual PD is the loan's. At most :data:`MAX_ENGINE_LOANS` loans (evenly spaced) are run.
    """
    from valuation.defaults import parameters as merged_parameters
    from valuation.risk.api import stress

    params = merged_parameters(parameters.get("valuation", {}))
    process = params["collateral_process"]
    loans = full["loans"]
    products = full["products"]
    where = {p: i for i, p in enumerate(products["product_id"].tolist())}
    pick = rows[np.linspace(0, rows.size - 1, min(rows.size, MAX_ENGINE_LOANS)).astype(np.intp)]
    pick = np.unique(pick)
    default_p, breach_p = [], []
    for i in pick.tolist():
        j = where.get(str(loans["product_id"][i]))
        sector = str(products["sector"][j]) if j is not None else "other"
        category = str(products["category"][j]) if j is not None else "data_product"
        request = {
            "as_of": str(start[i]),
            "loan": {
                "amount": float(loans["amount"][i]),
                "tenor_months": max(1, round(float(years[i]) * 12)),
            },
            "collateral": [
                {
                    "id": str(loans["loan_id"][i]),
                    "value": float(loans["appraised_value"][i]),
                    "sector": sector,
                    "drift": float(params["growth"][sector] - params["decay"][category]),
                    "volatility": float(process["volatility"][sector]),
                    "jump_intensity": float(process["jump_intensity"]),
                    "jump_mean": float(process["jump_mean"]),
                    "jump_volatility": float(process["jump_volatility"]),
                    "revocation_hazard": float(process["revocation_hazard"]),
                }
            ],
            "borrower": {"annual_pd": float(loans["annual_pd"][i])},
            "simulation": {"paths": ENGINE_PATHS, "seed": ENGINE_SEED},
        }
        result = stress(request)
        default_p.append(result.default_probability)
        breach_p.append(result.breach_probability)
    return {
        "loans_simulated": int(pick.size),
        "paths": ENGINE_PATHS,
        "predicted_default_frequency": float(np.mean(default_p)) if default_p else None,
        "predicted_breach_frequency": float(np.mean(breach_p)) if breach_p else None,
    }


def _loan_scores(
    full: History, cutoff: dt.date, parameters: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Predicted and realised defaults of the loans at risk after the cut-off.

    A loan is at risk from ``max(start, cutoff)`` to the earliest of its maturity, its
    default and the end of the history, if it had not defaulted before the cut-off. Its
    predicted default probability over that window is ``1 − (1 − annual_pd)^years`` (the
    stress engine's per-step default probability compounds to exactly ``annual_pd`` a year);
    the engine itself is also run on the loans (:func:`_engine_predictions`), which adds its
    predicted breach frequency (breaches are not observed in the history).
    """
    if "loans" not in full.tables:
        return {}
    loans = full["loans"]
    cut = np.datetime64(cutoff, "D")
    end_hist = np.datetime64(full.as_of, "D")
    start = loans["start"]
    maturity = start + (loans["tenor_months"] * 30.4375).astype("timedelta64[D]")
    defaulted = loans["outcome"] == "defaulted"
    default_day = loans["default_date"]
    before = defaulted & (default_day < cut)
    window_start = np.maximum(start, cut)
    window_end = np.minimum(maturity, end_hist)
    at_risk = ~before & (window_end > window_start)
    years: NDArray[np.float64] = (window_end - window_start).astype(np.float64) / DAYS_PER_YEAR
    pd = loans["annual_pd"]
    predicted = 1.0 - (1.0 - pd[at_risk]) ** years[at_risk]
    observed = at_risk & defaulted & (default_day >= cut)
    n_pred = float(predicted.sum())
    engine = (
        _engine_predictions(full, np.flatnonzero(at_risk), window_start, years, parameters)
        if parameters is not None and at_risk.any()
        else None
    )
    return {
        "stress_engine": engine,
        "n": int(at_risk.sum()),
        "predicted_defaults": n_pred,
        "observed_defaults": int(observed.sum()),
        "predicted_default_frequency": n_pred / max(int(at_risk.sum()), 1),
        "observed_default_frequency": int(observed.sum()) / max(int(at_risk.sum()), 1),
        "poisson_z": (
            float((int(observed.sum()) - n_pred) / math.sqrt(n_pred)) if n_pred > 0 else math.nan
        ),
        "breach": "not observable (the loans table records no LTV monitoring)",
    }


def backtest(
    history: History,
    *,
    cutoff: dt.date | None = None,
    seed: int = 20241201,
    calibration: Calibration | None = None,
    n_jobs: int = 1,
) -> dict[str, Any]:
    """Run the out-of-time back-test.

    Parameters
    ----------
    history
        The full history.
    cutoff
        Fit on rows dated before it, score rows from it on (default: one year before the end).
    seed
        Seed of the fit.
    calibration
        A calibration already fitted on ``history.before(cutoff)`` (fitted here when None).
    n_jobs
        LightGBM threads of that fit.

    Returns
    -------
    dict
        ``cutoff, as_of`` and the scores: ``hedonic`` (MdAPE, R², band coverage and width),
        ``royalty`` (MAE), ``hazards`` (predicted vs observed events per kind), ``loans``
        (predicted vs realised defaults).
    """
    cutoff = cutoff or default_cutoff(history)
    if not history.as_of > cutoff:
        raise ValueError(f"cut-off {cutoff} is not before the end of the history {history.as_of}")
    before = history.before(cutoff)
    # the revenue processes are refitted too: the stress engine runs the loans on them
    fitted = calibration or fit_calibration(before, seed=seed, n_jobs=n_jobs)
    return {
        "cutoff": cutoff.isoformat(),
        "as_of": history.as_of.isoformat(),
        "hedonic": _hedonic_scores(fitted.hedonic, history, cutoff),
        "royalty": _royalty_scores(fitted.royalty, history, cutoff),
        "hazards": _hazard_scores(before, history, fitted.parameters["hazards"]),
        "loans": _loan_scores(history, cutoff, fitted.parameters),
    }


__all__ = ["backtest", "default_cutoff"]
