"""Out-of-sample evaluation of the listing bands, per exchange and price mode.

Two schemes, each refitting the whole listing model (placeholder detection, relabelling,
conformal scores) on the training part only:

* ``leave-one-exchange-out``: each priced exchange is held out in turn and quoted by a model
  that never saw it: what a desk on a new exchange gets;
* ``within-exchange``: 5 random folds over all listings: what a desk on a known exchange gets.

Scored rows are the held-out priced listings that are not placeholders or token prices (as
found in the held-out data itself, or at points seen in training), in the price mode they are
quoted in. Beside the model's band, the naive
band: the 10 %–90 % empirical quantiles of the training log prices of the same (price mode,
category), falling back to the price mode, then to all (fitted on the same training part).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from valuation.pricing.model import COVERAGE, PRICED_MODES, fit_listing_model, training_rows
from valuation.pricing.quote import quote_listings
from valuation.pricing.reader import ListingBatch

SCHEMES = ("leave-one-exchange-out", "within-exchange")


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson interval of a proportion ``k / n``.

    Examples
    --------
    >>> [round(x, 4) for x in binomial_interval(8, 10)]
    [0.4439, 0.9748]
    """
    if n == 0:
        return math.nan, math.nan
    a = (1.0 - level) / 2.0
    lo = float(stats.beta.ppf(a, k, n - k + 1)) if k > 0 else 0.0
    hi = float(stats.beta.ppf(1.0 - a, k + 1, n - k)) if k < n else 1.0
    return lo, hi


def naive_band(
    train_mode: NDArray[np.str_],
    train_category: NDArray[np.str_],
    train_log: NDArray[np.float64],
    mode: NDArray[np.str_],
    category: NDArray[np.str_],
    coverage: float = COVERAGE,
    min_group: int = 5,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the naive per-category band in log units (see the module notes)."""
    from models._listings import naive_category_band

    keys = list(zip(train_mode.tolist(), train_category.tolist(), strict=True))
    test = list(zip(mode.tolist(), category.tolist(), strict=True))
    if not keys:
        return np.full(len(test), -math.inf), np.full(len(test), math.inf)
    return naive_category_band(keys, train_log, test, coverage, min_group)


def _held_out(batch: ListingBatch, test: NDArray[np.bool_], seed: int) -> dict[str, Any]:
    train = batch.subset(~test)
    held = batch.subset(test)
    model = fit_listing_model(train, seed=seed)
    quotes = quote_listings(held, model)
    fit, relabel, _, _ = training_rows(train)
    naive_lo, naive_hi = naive_band(
        relabel.price_mode[fit],
        train.category[fit],
        np.log(train.price[fit]),
        np.asarray(quotes.columns["price_mode"], dtype=str),
        held.category,
    )
    return {"quotes": quotes.columns, "naive_lo": naive_lo, "naive_hi": naive_hi, "held": held}


def evaluate_pricing(
    batch: ListingBatch, scheme: str = "leave-one-exchange-out", *, seed: int = 20241201
) -> dict[str, Any]:
    """Score the bands out of sample, per exchange and price mode.

    Returns
    -------
    dict
        ``scheme``, ``coverage_nominal``, ``groups`` (one entry per exchange and quoted price
        mode, see :func:`summarise`) and ``all`` (every scored listing together).
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    parts = []
    if scheme == "leave-one-exchange-out":
        priced = (batch.price > 0) & np.isin(batch.price_mode, PRICED_MODES)
        for name in sorted(set(batch.exchange[priced].tolist())):
            test = batch.exchange == name
            if np.all(test):
                continue
            parts.append(_held_out(batch, test, seed))
    else:
        fold = np.random.default_rng(seed).permutation(len(batch)) % 5
        for k in range(5):
            parts.append(_held_out(batch, fold == k, seed))
    rows: dict[str, list[Any]] = {
        k: []
        for k in (
            "exchange",
            "mode",
            "y",
            "lo",
            "hi",
            "mid",
            "claimed",
            "ood",
            "naive_lo",
            "naive_hi",
        )
    }
    for part in parts:
        q, held = part["quotes"], part["held"]
        mode = np.asarray(q["price_mode"], dtype=str)
        scored = (
            (held.price > 0)
            & np.isin(held.price_mode, PRICED_MODES)
            & ~np.asarray(q["placeholder"], dtype=bool)
            & ~np.asarray(q["token_price"], dtype=bool)
        )
        for i in np.flatnonzero(scored):
            rows["exchange"].append(str(held.exchange[i]))
            rows["mode"].append(str(mode[i]))
            rows["y"].append(math.log(float(held.price[i])))
            rows["lo"].append(float(q["band_log_lower"][i]))
            rows["hi"].append(float(q["band_log_upper"][i]))
            rows["mid"].append(math.log(float(q["band_p50"][i])))
            rows["claimed"].append(bool(q["coverage_claimed"][i]))
            rows["ood"].append("out_of_distribution" in q["flags"][i])
            rows["naive_lo"].append(float(part["naive_lo"][i]))
            rows["naive_hi"].append(float(part["naive_hi"][i]))
    arrays = {k: np.asarray(v) for k, v in rows.items()}
    groups = []
    keys = sorted(set(zip(rows["exchange"], rows["mode"], strict=True)))
    for exchange, mode in keys:
        mask = (arrays["exchange"] == exchange) & (arrays["mode"] == mode)
        groups.append({"exchange": exchange, "price_mode": mode, **summarise(arrays, mask)})
    everything = np.ones(arrays["y"].size, dtype=bool)
    return {
        "scheme": scheme,
        "coverage_nominal": COVERAGE,
        "groups": groups,
        "all": summarise(arrays, everything),
    }


def _band_stats(
    y: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64]
) -> dict[str, Any]:
    n = int(y.size)
    if n == 0:
        return {"n": 0}
    inside = (lo <= y) & (y <= hi)
    k = int(np.count_nonzero(inside))
    ci = binomial_interval(k, n)
    width = hi - lo
    return {
        "n": n,
        "coverage": k / n,
        "coverage_ci95": [ci[0], ci[1]],
        "strictly_inside": float(np.mean((lo < y) & (y < hi))),
        "median_width": float(np.median(width)),
    }


def summarise(arrays: dict[str, NDArray[Any]], mask: NDArray[np.bool_]) -> dict[str, Any]:
    """Band statistics of the scored rows in ``mask``.

    ``model`` (every scored row), ``claimed`` (rows whose band claims coverage), ``naive`` (the
    naive band on every scored row), the number flagged ``out_of_distribution`` and the
    median absolute log error of the band's centre.
    """
    y = arrays["y"][mask]
    lo, hi = arrays["lo"][mask], arrays["hi"][mask]
    claimed = arrays["claimed"][mask].astype(bool)
    ood = arrays["ood"][mask].astype(bool)
    return {
        "n": int(y.size),
        "n_out_of_distribution": int(np.count_nonzero(ood)),
        "n_claimed": int(np.count_nonzero(claimed)),
        "unclaimed_all_flagged": bool(np.all(ood | claimed)),
        "median_abs_log_error": (
            float(np.median(np.abs(y - arrays["mid"][mask]))) if y.size else math.nan
        ),
        "model": _band_stats(y, lo, hi),
        "claimed": _band_stats(y[claimed], lo[claimed], hi[claimed]),
        "naive": _band_stats(y, arrays["naive_lo"][mask], arrays["naive_hi"][mask]),
    }


__all__ = ["SCHEMES", "binomial_interval", "evaluate_pricing", "naive_band", "summarise"]
