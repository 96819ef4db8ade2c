r"""The listing price model: what ``dpv price`` quotes with, fitted and saved in a CalibrationSet.

A LightGBM model of log asking price on the listing's attributes (size and records monotone),
fitted on priced listings without placeholders (:mod:`models._placeholders`) and with
mislabelled per-call prices re-read as one-off (:mod:`valuation.pricing.modes`). Beside the
booster it keeps what the bands and comparables need:

* **Mondrian conformal scores**: the signed out-of-fold residuals (5 folds) of every training
  listing, grouped by (exchange, price mode). A listing of a group with at least
  :data:`MIN_GROUP_SCORES` scores gets the band :math:`\hat y + [r_{(k_{lo})}, r_{(k_{hi})}]`
  with :math:`k_{lo} = \lfloor (n+1)\alpha/2 \rfloor`, :math:`k_{hi} =
  \lceil (n+1)(1-\alpha/2) \rceil` (split-conformal ranks on each side) and its median
  residual as the centre: the group's own bias and spread. Only such a band claims coverage.
* **New-exchange scores**: per price mode, the residuals of each training exchange's listings
  from a model fitted *without* that exchange. A listing of an exchange (or a thin group) the
  model has not seen gets the band from these, flagged ``out_of_distribution``; it claims
  coverage only when they span :data:`MIN_EXCHANGES_FOR_CLAIM` exchanges (a promise about a
  new exchange is a promise over exchanges, and with fewer than four the rank needed for an
  80 % band does not exist).
* **Comparables**: the training listings with their standardised features and fitted log
  prices; a subject's comparables are its nearest neighbours of the same price mode, each
  adjusted by :math:`\exp(\hat y_{subject} - \hat y_{comparable})`.
* the placeholder points, per-call and one-off medians seen in training (token prices, far
  below the one-off median, are not trained on either).

Saved as versioned JSON (the booster in LightGBM's text format inside), with the SHA-256 of its
canonical content; never pickle.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from valuation.exceptions import CalibrationError
from valuation.pricing.modes import (
    one_off_medians,
    per_call_medians,
    relabel_price_modes,
    token_prices,
)
from valuation.pricing.reader import ListingBatch

FORMAT = "dpv-listing-price-model"
FORMAT_VERSION = 1
#: Nominal coverage of the band.
COVERAGE = 0.8
#: Scores a (exchange, price mode) group needs for its own band (ranks 1 and n at 80 %: 9).
MIN_GROUP_SCORES = 10
#: Exchanges the new-exchange scores of a price mode must span to claim coverage there.
MIN_EXCHANGES_FOR_CLAIM = 4
#: Comparables quoted per listing.
N_COMPARABLES = 5
#: Folds of the out-of-fold residuals.
N_FOLDS = 5
#: Quantile of the training listings' nearest-neighbour distances beyond which a listing's
#: attributes are outside what the model has seen.
OOD_DISTANCE_QUANTILE = 0.99
PRICED_MODES = ("one-off", "subscription", "usage-based")
DEFAULT_SEED = 20241201
_PARAMS = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_data_in_leaf": 10,
    "lambda_l2": 1.0,
}


def _exchange_listings(batch: ListingBatch, price_mode: NDArray[np.str_]) -> Any:
    from models._listings import ExchangeListings

    return ExchangeListings(
        exchange=batch.exchange,
        title=batch.title,
        category=batch.category,
        category_aws=batch.category,
        price_mode=price_mode,
        update_frequency=batch.update_frequency,
        provider=batch.provider,
        price=batch.price,
        records=batch.records,
        size_bytes=batch.size_bytes,
        fields=batch.fields,
        coverage_regions=batch.coverage_regions,
        description_chars=batch.description_chars,
        has_sample=batch.has_sample,
    )


def features(
    batch: ListingBatch, price_mode: NDArray[np.str_], levels: list[str] | None
) -> tuple[NDArray[np.float64], list[str], list[str]]:
    """Return ``(X, feature names, category levels)`` of listings (models' listing features)."""
    from models._listings import listing_features

    listings = _exchange_listings(batch, price_mode)
    built = listing_features(listings, levels)
    used = sorted(set(batch.category.tolist())) if levels is None else list(levels)
    return built.X, list(built.names), used


def placeholder_flags(
    batch: ListingBatch, known: dict[str, list[float]] | None = None
) -> tuple[NDArray[np.bool_], dict[str, list[float]]]:
    """Flag placeholder prices and return ``(flags, points found in batch)``.

    A placeholder is a mass point of its (exchange, listed price mode) in ``batch``, or a price
    at a point ``known`` from training.
    """
    from models._listings import is_placeholder_price

    flags = is_placeholder_price(batch.price, batch.exchange, batch.price_mode, batch.provider)
    points: dict[str, list[float]] = {}
    for i in np.flatnonzero(flags):
        key = f"{batch.exchange[i]}|{batch.price_mode[i]}"
        points.setdefault(key, [])
        if float(batch.price[i]) not in points[key]:
            points[key].append(float(batch.price[i]))
    if known:
        for key, prices in known.items():
            exchange, mode = key.split("|", 1)
            at = (batch.exchange == exchange) & (batch.price_mode == mode)
            flags |= at & np.isin(batch.price, prices)
    return flags, {k: sorted(v) for k, v in sorted(points.items())}


def _train(X: NDArray[np.float64], y: NDArray[np.float64], monotone: list[int], seed: int) -> Any:
    import lightgbm as lgb

    params = {
        "objective": "regression",
        "learning_rate": _PARAMS["learning_rate"],
        "num_leaves": _PARAMS["num_leaves"],
        "min_data_in_leaf": min(_PARAMS["min_data_in_leaf"], max(1, y.size // 4)),
        "lambda_l2": _PARAMS["lambda_l2"],
        "monotone_constraints": monotone,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": 1,
        "seed": seed,
        "verbosity": -1,
        "feature_pre_filter": False,
    }
    dataset = lgb.Dataset(X, label=y, params=params, free_raw_data=True)
    return lgb.train(params, dataset, num_boost_round=int(_PARAMS["n_estimators"]))


def conformal_band(
    residuals: NDArray[np.float64], coverage: float = COVERAGE
) -> tuple[float, float, float]:
    r"""Return ``(lower, centre, upper)`` offsets from sorted signed residuals.

    Ranks :math:`\lfloor (n+1)\alpha/2 \rfloor` and :math:`\lceil (n+1)(1-\alpha/2) \rceil`
    (1-based); an out-of-range rank gives an infinite edge.

    Examples
    --------
    >>> conformal_band(np.arange(1.0, 20.0))
    (2.0, 10.0, 18.0)
    >>> conformal_band(np.array([0.0, 1.0]))
    (-inf, 0.5, inf)
    """
    r = np.sort(np.asarray(residuals, dtype=np.float64))
    n = r.size
    if n == 0:
        return -math.inf, 0.0, math.inf
    tail = (1.0 - coverage) / 2.0
    k_lo = math.floor((n + 1) * tail + 1e-9)
    k_hi = math.ceil((n + 1) * (1.0 - tail) - 1e-9)
    lower = float(r[k_lo - 1]) if k_lo >= 1 else -math.inf
    upper = float(r[k_hi - 1]) if k_hi <= n else math.inf
    return lower, float(np.median(r)), upper


@dataclass
class ListingPriceModel:
    """A fitted listing price model (see the module notes); build with :func:`fit_listing_model`.

    Attributes
    ----------
    booster : lightgbm.Booster
        Log asking price from the features.
    data : dict
        Everything else, JSON-ready (:meth:`to_dict` adds the booster's text and the hash).
    """

    booster: Any
    data: dict[str, Any]

    @property
    def sha256(self) -> str:
        """SHA-256 of the model's canonical JSON content (its identity)."""
        return str(self.data["sha256"])

    @property
    def feature_names(self) -> list[str]:
        """Names of the model's feature columns."""
        return list(self.data["feature_names"])

    def to_dict(self) -> dict[str, Any]:
        """Return the model as JSON-ready data (booster text inside, hash included)."""
        return dict(self.data)

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys), as saved in a CalibrationSet."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, indent=1) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "listing model") -> ListingPriceModel:
        """Rebuild the model; refuse another format, version, LightGBM major or a changed hash."""
        import lightgbm as lgb

        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise CalibrationError(
                f"not a {FORMAT} version {FORMAT_VERSION} (found {data.get('format')!r} "
                f"version {data.get('format_version')!r})",
                source=source,
            )
        if content_hash(data) != data.get("sha256"):
            raise CalibrationError("content does not match its sha256 (changed)", source=source)
        saved = str(data.get("lightgbm_version", ""))
        if saved.split(".")[0] != lgb.__version__.split(".")[0]:
            raise CalibrationError(
                f"written with LightGBM {saved}, running {lgb.__version__}", source=source
            )
        return cls(lgb.Booster(model_str=data["booster"]), data)


def content_hash(data: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of ``data`` without its ``sha256`` key."""
    body = {k: v for k, v in data.items() if k != "sha256"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _round(values: Any, digits: int = 10) -> list[float | None]:
    return [None if not math.isfinite(float(v)) else round(float(v), digits) for v in values]


def training_rows(
    batch: ListingBatch,
) -> tuple[NDArray[np.bool_], Any, NDArray[np.bool_], dict[str, float]]:
    """Return ``(fit rows, relabel outcome, placeholder or token flags, one-off medians)``."""
    reference = per_call_medians(batch.exchange, batch.price_mode, batch.price)
    relabel = relabel_price_modes(
        batch.exchange,
        batch.price_mode,
        batch.price,
        batch.title,
        batch.description,
        batch.price_text,
        reference,
    )
    placeholder, _points = placeholder_flags(batch)
    priced = (batch.price > 0) & np.isin(relabel.price_mode, PRICED_MODES)
    evidence = priced & ~placeholder
    medians = one_off_medians(
        batch.exchange[evidence], relabel.price_mode[evidence], batch.price[evidence]
    )
    token, _reason = token_prices(batch.exchange, relabel.price_mode, batch.price, medians)
    not_evidence = placeholder | token
    return priced & ~not_evidence, relabel, not_evidence, medians


def fit_listing_model(batch: ListingBatch, *, seed: int = DEFAULT_SEED) -> ListingPriceModel:
    """Fit the listing price model on an exchange export (see the module notes).

    Parameters
    ----------
    batch
        Listings of one or more exchanges (unpriced ones, placeholders and relabelled modes
        are handled here).
    seed
        Seeds the folds and LightGBM; the same listings and seed give the same bytes.
    """
    import lightgbm as lgb

    fit, relabel, placeholder, medians = training_rows(batch)
    if np.count_nonzero(fit) < 2 * N_FOLDS:
        raise CalibrationError(
            f"{int(np.count_nonzero(fit))} priced listings without placeholders: too few to fit"
        )
    mode = relabel.price_mode
    train = batch.subset(fit)
    train_mode = mode[fit]
    X, names, levels = features(train, train_mode, None)
    monotone = [1 if n in ("log_size_bytes", "log_records") else 0 for n in names]
    y = np.log(train.price)
    booster = _train(X, y, monotone, seed)
    fitted = booster.predict(X)

    rng = np.random.default_rng(seed)
    fold = rng.permutation(y.size) % N_FOLDS
    oof = np.empty_like(y)
    for k in range(N_FOLDS):
        held = fold == k
        oof[held] = y[held] - _train(X[~held], y[~held], monotone, seed).predict(X[held])
    groups: dict[str, list[float]] = {}
    for ex, m, r in zip(train.exchange.tolist(), train_mode.tolist(), oof.tolist(), strict=True):
        groups.setdefault(f"{ex}|{m}", []).append(r)

    pools: dict[str, dict[str, list[Any]]] = {}
    exchanges = sorted(set(train.exchange.tolist()))
    for name in exchanges:
        held = train.exchange == name
        if np.all(held) or np.count_nonzero(~held) < N_FOLDS:
            continue
        residual = y[held] - _train(X[~held], y[~held], monotone, seed).predict(X[held])
        for m, r in zip(train_mode[held].tolist(), residual.tolist(), strict=True):
            pool = pools.setdefault(m, {"residuals": [], "exchanges": []})
            pool["residuals"].append(r)
            if name not in pool["exchanges"]:
                pool["exchanges"].append(name)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-unknown columns: mean 0, scale 1
        mean = np.nanmean(X, axis=0)
        scale = np.nanstd(X, axis=0)
    mean = np.where(np.isfinite(mean), mean, 0.0)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
    Z = standardise(X, mean, scale, names)
    nearest = np.full(y.size, math.inf)
    for m in sorted(set(train_mode.tolist())):
        rows = np.flatnonzero(train_mode == m)
        if rows.size < 2:
            continue
        d = _distances(Z[rows], Z[rows])
        np.fill_diagonal(d, math.inf)
        nearest[rows] = d.min(axis=1)
    finite = nearest[np.isfinite(nearest)]
    ood_distance = float(np.quantile(finite, OOD_DISTANCE_QUANTILE)) if finite.size else math.inf

    _flags, points = placeholder_flags(batch)
    data: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lightgbm_version": lgb.__version__,
        "coverage": COVERAGE,
        "seed": seed,
        "params": dict(_PARAMS),
        "feature_names": names,
        "category_levels": levels,
        "monotone_constraints": monotone,
        "booster": booster.model_to_string(),
        "group_residuals": {k: _round(sorted(v)) for k, v in sorted(groups.items())},
        "new_exchange_residuals": {
            m: {"residuals": _round(sorted(p["residuals"])), "exchanges": sorted(p["exchanges"])}
            for m, p in sorted(pools.items())
        },
        "standardise": {"mean": _round(mean), "scale": _round(scale)},
        "ood_distance": round(ood_distance, 10) if math.isfinite(ood_distance) else None,
        "placeholder_points": points,
        "per_call_medians": per_call_medians(batch.exchange, batch.price_mode, batch.price),
        "one_off_medians": medians,
        "reference": {
            "listing_id": train.listing_id.tolist(),
            "exchange": train.exchange.tolist(),
            "price_mode": train_mode.tolist(),
            "price": _round(train.price),
            "fitted_log_price": _round(fitted),
            "features": [_round(row, 6) for row in Z],
        },
        "training": {
            "listings": len(batch),
            "fitted": int(y.size),
            "placeholders": int(np.count_nonzero(placeholder)),
            "relabelled": int(np.count_nonzero(relabel.relabelled)),
            "exchanges": exchanges,
        },
    }
    data["sha256"] = content_hash(data)
    return ListingPriceModel(booster, data)


def standardise(
    X: NDArray[np.float64], mean: NDArray[np.float64], scale: NDArray[np.float64], names: list[str]
) -> NDArray[np.float64]:
    """Standardised features for comparables (unknown -> the mean; price-mode columns off)."""
    Z = (X - mean) / scale
    Z = np.where(np.isfinite(Z), Z, 0.0)
    for j, name in enumerate(names):
        if name.startswith("mode="):
            Z[:, j] = 0.0
    return Z


def _distances(A: NDArray[np.float64], B: NDArray[np.float64]) -> NDArray[np.float64]:
    """Euclidean distances between the rows of ``A`` and of ``B``.

    Each entry is summed on its own (no matrix product), so a row's distances are the same
    bits whatever other rows it is computed with: a listing quoted alone and in a batch gets
    the same comparables.
    """
    out = np.empty((A.shape[0], B.shape[0]))
    step = max(1, 1_000_000 // max(1, B.size))
    for start in range(0, A.shape[0], step):
        diff = A[start : start + step, None, :] - B[None, :, :]
        out[start : start + step] = np.sqrt((diff * diff).sum(axis=-1))
    return out


__all__ = [
    "COVERAGE",
    "FORMAT",
    "FORMAT_VERSION",
    "MIN_EXCHANGES_FOR_CLAIM",
    "MIN_GROUP_SCORES",
    "N_COMPARABLES",
    "ListingPriceModel",
    "conformal_band",
    "content_hash",
    "features",
    "fit_listing_model",
    "placeholder_flags",
    "standardise",
    "training_rows",
]
