"""Real exchange listings (DaDaDa format): loader, features, placeholder detection, evaluation.

Pure data handling over the source's CSV files (``title, description, provider, category,
category_aws, price, price_mode, currency, volume, size, dimension, coverage,
update_frequency, platform, url, data_sample``); no dependency on ``valuation``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models._conformal import interval_coverage, strictly_inside_share
from models._hedonic import HedonicPriceModel
from models._placeholders import flag_mass_points
from models.exceptions import DataError

#: Price modes that carry a price (free and negotiation listings carry none).
PRICED_MODES: tuple[str, ...] = ("one-off", "subscription", "usage-based")

#: Update cadences in days; cadences without a period (no-update, irregular, on-demand) are NaN.
UPDATE_INTERVAL_DAYS: Mapping[str, float] = {
    "real-time": 0.0,
    "daily": 1.0,
    "weekly": 7.0,
    "monthly": 30.0,
    "quarterly": 91.0,
    "yearly": 365.0,
}

_REQUIRED_COLUMNS = ("platform", "price", "price_mode", "category_aws", "size", "volume")
_FLOAT_COLUMNS = frozenset(
    {"price", "records", "size_bytes", "fields", "coverage_regions", "description_chars"}
)
#: Currency codes of the source meaning Chinese yuan; any other currency is refused.
YUAN_CODES: tuple[str, ...] = ("RMB", "CNY", "")

#: Features along which the asking price may not fall: data volume (bytes, records).
MONOTONE_FEATURES: tuple[str, ...] = ("log_size_bytes", "log_records")


@dataclass(frozen=True)
class ExchangeListings:
    """Listings from one or more exchanges, one entry per listing (structure of arrays).

    Attributes
    ----------
    exchange, title, category, category_aws, price_mode, update_frequency, provider : ndarray of str
        Text columns of the source (``exchange`` is its ``platform``; ``provider`` is "" where
        the source does not name the seller).
    price : ndarray of float
        Asking price in CNY; 0 means no price (free or negotiation).
    records, size_bytes, fields : ndarray of float
        Volume, size and dimension; NaN where the source says 0 (unknown).
    coverage_regions : ndarray of float
        Number of region codes in ``coverage``.
    description_chars : ndarray of float
        Length of the description.
    has_sample : ndarray of bool
        Whether a data sample is attached.
    """

    exchange: NDArray[np.str_]
    title: NDArray[np.str_]
    category: NDArray[np.str_]
    category_aws: NDArray[np.str_]
    price_mode: NDArray[np.str_]
    update_frequency: NDArray[np.str_]
    provider: NDArray[np.str_]
    price: NDArray[np.float64]
    records: NDArray[np.float64]
    size_bytes: NDArray[np.float64]
    fields: NDArray[np.float64]
    coverage_regions: NDArray[np.float64]
    description_chars: NDArray[np.float64]
    has_sample: NDArray[np.bool_]

    def __len__(self) -> int:
        return int(self.price.size)

    @property
    def priced(self) -> NDArray[np.bool_]:
        """Listings with an asking price (positive price in a priced mode)."""
        return (self.price > 0) & np.isin(self.price_mode, PRICED_MODES)

    @property
    def placeholder(self) -> NDArray[np.bool_]:
        """Priced listings whose price is a placeholder (see :func:`is_placeholder_price`)."""
        return is_placeholder_price(self.price, self.exchange, self.price_mode, self.provider)

    def subset(self, mask: NDArray[np.bool_]) -> ExchangeListings:
        """Return the listings where ``mask`` is true."""
        return ExchangeListings(**{k: v[mask] for k, v in vars(self).items()})


def is_placeholder_price(
    price: NDArray[np.float64],
    exchange: NDArray[np.str_],
    price_mode: NDArray[np.str_],
    provider: NDArray[np.str_] | None = None,
) -> NDArray[np.bool_]:
    """Flag priced listings at a placeholder price of their exchange and price mode.

    A placeholder is a price point carrying far more listings than a continuous price
    distribution allows (:func:`models._placeholders.find_mass_points`, family-wise
    false-alarm rate 1% per exchange and price mode), unless it is one provider's price list.
    Found from the data, not from a list: on the shipped files it finds Zhejiang's one-off
    ¥1,000 and ¥5,000 defaults. Placeholders say nothing about value and are kept out of
    every fit.

    Examples
    --------
    >>> price = np.r_[np.full(30, 1000.0), np.round(np.geomspace(100.0, 90000.0, 40), 1)]
    >>> flags = is_placeholder_price(price, np.full(70, "X"), np.full(70, "one-off"))
    >>> int(flags.sum()), sorted(set(price[flags].tolist()))
    (30, [1000.0])
    """
    price_arr = np.asarray(price, dtype=np.float64)
    modes = np.asarray(price_mode)
    priced = (price_arr > 0) & np.isin(modes, PRICED_MODES)
    flags = np.zeros(price_arr.size, dtype=bool)
    if np.any(priced):
        sellers = None if provider is None else np.asarray(provider)[priced]
        flags[priced] = flag_mass_points(
            price_arr[priced], np.asarray(exchange)[priced], modes[priced], provider=sellers
        )[0]
    return flags


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan


def _positive_or_nan(text: str) -> float:
    value = _number(text)
    return value if value > 0 else math.nan


def _read_rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in _REQUIRED_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{path}: missing columns {missing}")
        yield from reader


def load_listings(paths: Path | str | Sequence[Path | str]) -> ExchangeListings:
    """Load DaDaDa-format listing CSVs (a folder of them, or a list of files).

    Parameters
    ----------
    paths
        A directory (every ``*.csv`` in it, sorted by name) or CSV files.

    Returns
    -------
    ExchangeListings
        All listings, in file then row order.
    """
    if isinstance(paths, str | Path):
        root = Path(paths)
        files = sorted(root.glob("*.csv")) if root.is_dir() else [root]
    else:
        files = [Path(p) for p in paths]
    if not files:
        raise DataError(f"{paths}: no listing CSV files")
    columns: dict[str, list[Any]] = {name: [] for name in ExchangeListings.__dataclass_fields__}
    for path in files:
        for line, row in enumerate(_read_rows(path), start=2):
            currency = row.get("currency", "").strip().upper()
            if currency not in YUAN_CODES:
                raise DataError(f"{path}: line {line}: currency {currency!r} is not yuan")
            columns["exchange"].append(row["platform"].strip())
            columns["title"].append(row.get("title", "").strip())
            columns["category"].append(row.get("category", "").strip())
            columns["category_aws"].append(row["category_aws"].strip() or "unknown")
            columns["price_mode"].append(row["price_mode"].strip())
            columns["update_frequency"].append(row.get("update_frequency", "").strip())
            columns["provider"].append(row.get("provider", "").strip())
            price = _number(row["price"])
            columns["price"].append(price if price > 0 else 0.0)
            columns["records"].append(_positive_or_nan(row["volume"]))
            columns["size_bytes"].append(_positive_or_nan(row["size"]))
            columns["fields"].append(_positive_or_nan(row.get("dimension", "")))
            coverage = row.get("coverage", "").strip()
            columns["coverage_regions"].append(
                float(len([c for c in coverage.split(",") if c.strip()])) if coverage else math.nan
            )
            columns["description_chars"].append(float(len(row.get("description", ""))))
            columns["has_sample"].append(bool(row.get("data_sample", "").strip()))
    arrays = {
        name: np.asarray(values, dtype=np.float64 if name in _FLOAT_COLUMNS else None)
        for name, values in columns.items()
    }
    arrays["has_sample"] = arrays["has_sample"].astype(bool)
    return ExchangeListings(**arrays)


@dataclass(frozen=True)
class ListingFeatures:
    """Numeric features of listings for :class:`models.HedonicPriceModel`.

    Attributes
    ----------
    X : ndarray of shape (n_listings, n_features)
        NaN marks an unknown value.
    names : tuple of str
        Column names.
    monotone_increasing : tuple of int
        Columns the price may not fall along (:data:`MONOTONE_FEATURES`).
    """

    X: NDArray[np.float64]
    names: tuple[str, ...]
    monotone_increasing: tuple[int, ...]


def listing_features(
    listings: ExchangeListings, category_levels: Sequence[str] | None = None
) -> ListingFeatures:
    """Build the hedonic features of listings.

    Price mode and AWS category are one-hot (an unseen category is all zeros); volume and size
    enter as logs; update cadence in days. The exchange itself is *not* a feature: the
    evaluation holds out whole exchanges.

    Parameters
    ----------
    listings
        The listings.
    category_levels
        AWS categories to encode; the sorted categories of ``listings`` by default.
    """
    levels = sorted(set(listings.category_aws)) if category_levels is None else category_levels
    with np.errstate(divide="ignore", invalid="ignore"):
        numeric = {
            "log_size_bytes": np.log(listings.size_bytes),
            "log_records": np.log(listings.records),
            "log_fields": np.log(listings.fields),
            "update_interval_days": np.array(
                [UPDATE_INTERVAL_DAYS.get(f, math.nan) for f in listings.update_frequency]
            ),
            "coverage_regions": listings.coverage_regions,
            "log_description_chars": np.log1p(listings.description_chars),
            "has_sample": listings.has_sample.astype(np.float64),
        }
    columns = dict(numeric)
    for mode in PRICED_MODES:
        columns[f"mode={mode}"] = (listings.price_mode == mode).astype(np.float64)
    for level in levels:
        columns[f"category_aws={level}"] = (listings.category_aws == level).astype(np.float64)
    names = tuple(columns)
    X = np.column_stack([columns[n] for n in names]) if names else np.empty((len(listings), 0))
    monotone = tuple(names.index(n) for n in MONOTONE_FEATURES)
    return ListingFeatures(X, names, monotone)


#: Hyper-parameters of the hedonic model on listings, fixed before looking at any score:
#: a few hundred rows, so shallow trees and large leaves.
LISTINGS_MODEL_PARAMS: Mapping[str, Any] = {
    "n_estimators": 100,
    "learning_rate": 0.05,
    "num_leaves": 7,
    "min_child_samples": 10,
    "reg_lambda": 1.0,
}


@dataclass(frozen=True)
class BandMetrics:
    """Out-of-sample quality of a price band over a set of listings (log units)."""

    n: int
    coverage: float
    strictly_inside: float
    mean_width: float


@dataclass(frozen=True)
class ListingsEvaluation:
    """Honest out-of-sample evaluation of the hedonic model on real listings.

    Attributes
    ----------
    scheme : str
        ``"grouped by exchange"`` (each priced exchange held out in turn) or ``"K-fold"``.
    coverage_nominal : float
        Nominal band coverage.
    n_fit_rows : int
        Priced, non-placeholder listings (the only rows any fit sees).
    n_placeholders : int
        Placeholder-priced listings (scored, never fitted).
    r2 : float
        R² of log price over the out-of-fold non-placeholder listings. Price mode alone
        (a per-call price against a one-off sale) explains much of it; see ``r2_within_mode``.
    r2_within_mode : float
        R² against each price mode's own mean: what the attributes explain beyond the mode.
    mdape : float
        Median absolute percentage error of the predicted price, same rows.
    model_without, model_with : BandMetrics
        The conformal band without and with the placeholder listings.
    naive_without, naive_with : BandMetrics
        The naive band: 10%–90% empirical quantiles of training log prices per
        (price mode, AWS category), falling back to the price mode, then to all.
    per_fold : tuple of (str, int, BandMetrics)
        Held-out group (exchange or fold), its fit-row count, and the model band there.
    """

    scheme: str
    coverage_nominal: float
    n_fit_rows: int
    n_placeholders: int
    r2: float
    r2_within_mode: float
    mdape: float
    model_without: BandMetrics
    model_with: BandMetrics
    naive_without: BandMetrics
    naive_with: BandMetrics
    per_fold: tuple[tuple[str, int, BandMetrics], ...] = field(default=())


def _band_metrics(
    y: NDArray[np.float64], lo: NDArray[np.float64], hi: NDArray[np.float64]
) -> BandMetrics:
    return BandMetrics(
        n=int(y.size),
        coverage=interval_coverage(y, lo, hi),
        strictly_inside=strictly_inside_share(y, lo, hi),
        mean_width=float(np.mean(hi - lo)) if y.size else math.nan,
    )


def naive_category_band(
    train_keys: Sequence[tuple[str, str]],
    train_log_price: NDArray[np.float64],
    test_keys: Sequence[tuple[str, str]],
    coverage: float,
    min_group: int = 5,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Return the naive band: empirical central quantiles of the group's training log prices.

    The group is (price mode, category); one with fewer than ``min_group`` training rows falls
    back to the price mode, then to all training rows.
    """
    tail = (1.0 - coverage) / 2.0
    by_key: dict[tuple[str, str], list[float]] = {}
    by_mode: dict[str, list[float]] = {}
    for key, value in zip(train_keys, train_log_price, strict=True):
        by_key.setdefault(key, []).append(float(value))
        by_mode.setdefault(key[0], []).append(float(value))
    pooled = train_log_price.tolist()
    lo = np.empty(len(test_keys))
    hi = np.empty(len(test_keys))
    for i, key in enumerate(test_keys):
        values = by_key.get(key, [])
        if len(values) < min_group:
            values = by_mode.get(key[0], [])
        if len(values) < min_group:
            values = pooled
        lo[i], hi[i] = np.quantile(values, [tail, 1.0 - tail])
    return lo, hi


def _folds(
    listings: ExchangeListings, scheme: str, n_splits: int, random_state: int
) -> list[tuple[str, NDArray[np.bool_]]]:
    if scheme == "grouped by exchange":
        exchanges = sorted(set(listings.exchange))
        return [(name, listings.exchange == name) for name in exchanges]
    rng = np.random.default_rng(random_state)
    fold_of = rng.permutation(len(listings)) % n_splits
    return [(f"fold {k + 1}", fold_of == k) for k in range(n_splits)]


def evaluate_listings(
    listings: ExchangeListings,
    *,
    scheme: str | None = None,
    coverage: float = 0.8,
    n_splits: int = 5,
    random_state: int = 0,
    model_params: Mapping[str, Any] | None = None,
) -> ListingsEvaluation:
    """Evaluate :class:`models.HedonicPriceModel` out of sample on real priced listings.

    Placeholder prices (:func:`is_placeholder_price`) never enter a fit; every priced listing
    of a held-out group is scored, and metrics are given without and with the placeholders.

    Parameters
    ----------
    listings
        Listings of one or more exchanges (unpriced ones are ignored).
    scheme
        ``"grouped by exchange"`` (the default when more than one exchange has fit rows) or
        ``"K-fold"`` (random folds over priced listings).
    coverage
        Nominal coverage of the band.
    n_splits
        Folds of the K-fold scheme.
    random_state
        Seeds the folds and the models.
    model_params
        Hyper-parameters of the model; :data:`LISTINGS_MODEL_PARAMS` by default.
    """
    priced = listings.subset(listings.priced)
    fit_row = ~priced.placeholder
    n_priced_exchanges = len(set(priced.exchange[fit_row]))
    if scheme is None:
        scheme = "grouped by exchange" if n_priced_exchanges > 1 else "K-fold"
    if scheme not in ("grouped by exchange", "K-fold"):
        raise DataError(f"scheme must be 'grouped by exchange' or 'K-fold', got {scheme!r}")
    features = listing_features(priced)
    log_price = np.log(priced.price)
    keys = list(zip(priced.price_mode.tolist(), priced.category_aws.tolist(), strict=True))
    params = dict(LISTINGS_MODEL_PARAMS if model_params is None else model_params)

    n = len(priced)
    prediction = np.full(n, math.nan)
    model_lo, model_hi = np.full(n, math.nan), np.full(n, math.nan)
    naive_lo, naive_hi = np.full(n, math.nan), np.full(n, math.nan)
    per_fold = []
    for name, test in _folds(priced, scheme, n_splits, random_state):
        train = ~test & fit_row
        if not np.any(test) or np.count_nonzero(train) < 2:
            continue
        model = HedonicPriceModel(
            monotone_increasing=MONOTONE_FEATURES,
            feature_names=features.names,
            coverage=coverage,
            random_state=random_state,
            **params,
        ).fit(features.X[train], log_price[train])
        prediction[test] = model.predict(features.X[test])
        model_lo[test], model_hi[test] = model.predict_interval(features.X[test])
        test_keys = [keys[i] for i in np.flatnonzero(test)]
        train_keys = [keys[i] for i in np.flatnonzero(train)]
        naive_lo[test], naive_hi[test] = naive_category_band(
            train_keys, log_price[train], test_keys, coverage
        )
        scored = test & fit_row
        per_fold.append(
            (
                name,
                int(np.count_nonzero(train)),
                _band_metrics(log_price[scored], model_lo[scored], model_hi[scored]),
            )
        )

    scored_all = ~np.isnan(prediction)
    scored_fit = scored_all & fit_row
    if np.count_nonzero(scored_fit) < 2:
        raise DataError("fewer than 2 priced, non-placeholder listings could be scored")
    y_fit = log_price[scored_fit]
    residual = y_fit - prediction[scored_fit]
    r2 = 1.0 - float(np.sum(residual**2)) / float(np.sum((y_fit - y_fit.mean()) ** 2))
    modes = priced.price_mode[scored_fit]
    mode_mean = np.zeros_like(y_fit)
    for mode in set(modes.tolist()):
        mode_mean[modes == mode] = y_fit[modes == mode].mean()
    r2_within_mode = 1.0 - float(np.sum(residual**2)) / float(np.sum((y_fit - mode_mean) ** 2))
    mdape = float(np.median(np.abs(np.expm1(-residual))))  # |exp(pred) - p| / p
    return ListingsEvaluation(
        scheme=scheme,
        coverage_nominal=coverage,
        n_fit_rows=int(np.count_nonzero(fit_row)),
        n_placeholders=int(np.count_nonzero(~fit_row)),
        r2=r2,
        r2_within_mode=r2_within_mode,
        mdape=mdape,
        model_without=_band_metrics(y_fit, model_lo[scored_fit], model_hi[scored_fit]),
        model_with=_band_metrics(log_price[scored_all], model_lo[scored_all], model_hi[scored_all]),
        naive_without=_band_metrics(y_fit, naive_lo[scored_fit], naive_hi[scored_fit]),
        naive_with=_band_metrics(log_price[scored_all], naive_lo[scored_all], naive_hi[scored_all]),
        per_fold=tuple(per_fold),
    )
