"""The market method without explicit comparables: the deal history, else the hedonic model.

**Comparables from the history.** A CalibrationSet carries its deal table (``comparables.json``,
:class:`valuation.calibration_set.DealTable`); :meth:`CalibrationSet.market_model
<valuation.calibration_set.CalibrationSet.market_model>` bundles it with the hedonic model as a
:class:`MarketModel`. For a product without usable comparables of its own:

1. *Candidates*: the priced deals of the same category and sector (exact match), dated up to
   the valuation date, not of the product itself, that state every one of the product's
   ``log_records``, ``log_fields``, ``quality_score``, ``log_revenue`` the product states.
2. *Selection*: the :data:`N_COMPARABLES` nearest candidates by
   :class:`models.ComparablesSelector` on those features, each measured in units of its
   standard deviation over the whole table, with equal weights summing to one: the distance
   ``d`` is the root mean square of the standardised differences and the similarity
   ``1/(1 + d)``. A candidate **qualifies** with similarity ≥ :data:`MIN_SIMILARITY` (0.5: on
   average within one standard deviation of the product). With fewer than
   :data:`MIN_QUALIFIED` (3) qualifying, the hedonic model prices the product instead (below).
3. *Adjustment*: each qualifying deal's price is moved to the product as an **outright
   transfer, home territory, at the valuation date** by the hedonic model's
   ``adjustment_factors``: one factor per feature, the ratio of predicted prices when that
   attribute takes the product's value; the adjusted price is the price times their product.
4. *Value*: the similarity-weighted geometric mean of the adjusted prices (prices scatter
   multiplicatively around value). Its log sd is the weighted
   (unbiased) dispersion of the adjusted log prices over the effective number of comparables,
   ``s/√n_eff``, floored by the model's own band for the product: never narrower than what the
   adjusted prices' spread supports, nor than the model that adjusted them.

**The hedonic model.** Without a deal table, or with too few qualifying comparables, the
calibration's hedonic model (:class:`models.HedonicPriceModel`, fitted on the deal history)
prices the product as an **outright transfer** in its home territory at the valuation date:
the point prediction is the median price, and the model's conformal band (80 % by default)
becomes the method's log-value uncertainty, ``σ = (log hi − log lo) / (2·z_0.9)``. The result
says where the value came from (and why the history did not give it).

The feature row follows the names the model was fitted with (``feature_names`` of its
parameters, the columns of ``calibration.fit.HEDONIC_FEATURES``): a feature the product does
not state is NaN, which LightGBM routes by its learned default direction.
"""

from __future__ import annotations

import copy
import datetime as dt
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import numpy as np
from numpy.typing import NDArray

from valuation.dates import DAYS_PER_YEAR
from valuation.schema.product import CATEGORIES, QUALITY_DIMENSIONS, SECTORS, Product

if TYPE_CHECKING:
    from valuation.calibration_set import DealTable
    from valuation.kernels.trees import Paths, TreeEnsemble

# Ranks the calibration uses for the licence and territory features (calibration.history and
# calibration.fit): an outright transfer, in the home territory.
TRANSFER_RANK = 2.0
HOME_TERRITORY_RANK = 1.0
_Z90 = 1.2815515655446004  # standard normal 0.9 quantile

N_COMPARABLES = 5
"""Comparables selected from the deal history per product (the k nearest)."""
MIN_SIMILARITY = 0.5
"""A selected deal qualifies with similarity ``1/(1 + d)`` at least this (``d ≤ 1``)."""
MIN_QUALIFIED = 3
"""Fewer qualifying comparables than this: the hedonic model prices the product."""
MATCH_FEATURES = ("category", "sector")
"""Features a comparable must share exactly with the product."""
SELECTION_FEATURES = ("log_records", "log_fields", "quality_score", "log_revenue")
"""Features the distance between the product and a deal is measured on."""
Selection = tuple[list[int], NDArray[np.float64], dict[str, Any], str | None]
"""Rows of the deal table that qualify, their similarities, the summary and the fallback."""
_PREDICT_ROWS = 32_768  # rows of one hedonic prediction of adjustment factors
_QUERY_SLICE = 1024  # 4 x scikit-learn's pairwise chunk (256) x one thread

FACTOR_NAMES = {
    "category": "category",
    "sector": "sector",
    "license_rank": "rights",
    "territory_rank": "territory",
    "log_records": "volume",
    "log_fields": "fields",
    "quality_score": "quality",
    "log_term_months": "term",
    "log_revenue": "revenue",
    "years_since_2024": "date",
}
"""The name of each hedonic feature's adjustment factor in the result."""
HISTORY_LISTING = "_history_comparables"
"""Key of the market inputs that carries the adjusted comparables to the result's table."""


def _latest_revenue(product: Product, as_of: dt.date) -> float:
    rows = sorted((r for r in product.revenue if r.period_end <= as_of), key=lambda r: r.period_end)
    return rows[-1].total if rows else math.nan


def _quality(product: Product, weights: dict[str, float]) -> float:
    q = product.attributes.quality
    if q is None:
        return math.nan
    total = sum(weights[d] for d in QUALITY_DIMENSIONS)
    return sum(weights[d] * getattr(q, d) for d in QUALITY_DIMENSIONS) / total


def _life_years(product: Product, economic_life: Mapping[str, float] | None) -> float:
    own = product.income_assumptions.economic_life_years
    if own is not None:
        return float(own)
    return float(economic_life[product.category]) if economic_life is not None else 1.0


def feature_row(
    product: Product,
    as_of: dt.date,
    names: Sequence[str],
    quality_weights: dict[str, float],
    economic_life: Mapping[str, float] | None = None,
) -> list[float]:
    """Return the hedonic feature row of ``product`` as an outright transfer at ``as_of``.

    A transfer sells the asset for its economic life: its term is the product's economic life
    (its own, else ``economic_life[category]``), as the calibration's deal rows state it.
    """
    attrs = product.attributes
    revenue = _latest_revenue(product, as_of)

    def log_or_nan(x: float | None, scale: float) -> float:
        return math.log(x / scale) if x is not None and x > 0 else math.nan

    known = {
        "category": float(CATEGORIES.index(product.category)),
        "sector": float(SECTORS.index(product.sector)),
        "license_rank": TRANSFER_RANK,
        "territory_rank": HOME_TERRITORY_RANK,
        "log_records": log_or_nan(attrs.records, 1e6),
        "log_fields": log_or_nan(attrs.fields, 10.0),
        "quality_score": _quality(product, quality_weights),
        "log_term_months": math.log(_life_years(product, economic_life)),  # life in months / 12
        "log_revenue": log_or_nan(revenue, 1e6),
        "years_since_2024": (as_of - dt.date(2024, 1, 1)).days / DAYS_PER_YEAR,
    }
    return [known.get(name, math.nan) for name in names]


def model_feature_names(model: Any) -> list[str]:
    """Return the feature names a fitted hedonic model expects, in order."""
    names = getattr(model, "feature_names", None)
    if names is None:
        raise ValueError("the hedonic model carries no feature_names")
    return [str(n) for n in names]


def hedonic_values(
    model: Any,
    products: Sequence[Product],
    as_of: dt.date,
    quality_weights: dict[str, float],
    economic_life: Mapping[str, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Price each product with the hedonic model.

    Returns
    -------
    value, sigma, lo, hi : ndarray of shape (n,)
        Median outright-transfer price, its log sd from the conformal band, and the band's
        edges in CNY.
    """
    if not products:
        empty = np.zeros(0)
        return empty, empty, empty, empty
    names = model_feature_names(model)
    X = np.array(
        [feature_row(p, as_of, names, quality_weights, economic_life) for p in products],
        dtype=float,
    )
    return _hedonic_of(model, X)


def _hedonic_of(
    model: Any, X: NDArray[np.float64]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    point = np.asarray(model.predict(X), dtype=np.float64)
    lo, hi = model.predict_interval(X)
    sigma = (np.asarray(hi) - np.asarray(lo)) / (2.0 * _Z90)
    return np.exp(point), sigma, np.exp(lo), np.exp(hi)


_BOOSTERS = ("point_booster_", "centre_booster_", "lower_booster_", "upper_booster_")


class _CompiledBooster:
    """A LightGBM booster's ``predict`` by the compiled kernel."""

    def __init__(self, ensemble: Any) -> None:
        self.ensemble = ensemble

    def predict(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        from valuation.kernels.trees import predict_ensemble

        return predict_ensemble(self.ensemble, X)


def compiled_twin(hedonic: Any) -> Any:
    """Return a copy of a fitted hedonic model whose boosters predict by the compiled kernel.

    Each booster of :class:`models.HedonicPriceModel` that :func:`valuation.kernels.trees.
    compile_ensemble` follows is replaced in the copy (the model itself is left as it is); the
    others, and a model without those boosters, keep LightGBM.
    """
    present = [name for name in _BOOSTERS if hasattr(hedonic, name)]
    if not present:
        return hedonic
    from valuation.kernels.trees import compile_ensemble

    twin = copy.copy(hedonic)
    for name in present:
        ensemble = compile_ensemble(getattr(hedonic, name).model_to_string())
        if ensemble is not None:
            setattr(twin, name, _CompiledBooster(ensemble))
    return twin


@dataclass
class _DealCache:
    """The hedonic model's log price of each deal as struck, and its trees' paths."""

    names: tuple[str, ...]
    ensemble: Any | None
    known: NDArray[np.bool_]
    logs: NDArray[np.float64]
    leaves: NDArray[np.int64]
    features: NDArray[np.int64]

    @classmethod
    def empty(cls, names: tuple[str, ...], n: int, ensemble: Any | None) -> _DealCache:
        trees = 0 if ensemble is None else ensemble.feature.shape[0]
        return cls(
            names,
            ensemble,
            np.zeros(n, dtype=np.bool_),
            np.full(n, np.nan),
            np.zeros((trees, n), dtype=np.int64),
            np.zeros((trees, n), dtype=np.int64),
        )


class MarketModel:
    """The hedonic price model with the calibration's deal table.

    What :func:`valuation.value_many` takes as ``market_model``. It behaves as the hedonic
    model (attributes and methods are the model's) and carries the deals the market method
    selects comparables from. ``deals`` None (a set without ``comparables.json``): the model
    alone.
    """

    def __init__(self, hedonic: Any, deals: DealTable | None) -> None:
        self.hedonic = hedonic
        self.deals = deals
        self._scale: NDArray[np.float64] | None = None
        self._own: frozenset[str] | None = None
        self._logs: _DealCache | None = None
        self._compiled: Any | None = None
        self._segments: dict[tuple[float, float], NDArray[np.intp]] = {}
        self._facts: dict[int, tuple[str, str, dt.date, str]] = {}

    def __getattr__(self, name: str) -> Any:
        names = ("hedonic", "deals", "_scale", "_own", "_logs", "_compiled", "_segments", "_facts")
        if name in names:
            raise AttributeError(name)
        return getattr(self.hedonic, name)

    def predictor(self) -> Any:
        """Return the hedonic model predicting through the compiled tree kernel.

        The same predictions, bit for bit (:mod:`valuation.kernels.trees`), in less time; a
        booster the kernel does not follow keeps LightGBM.
        """
        if self._compiled is None:
            self._compiled = compiled_twin(self.hedonic)
        return self._compiled

    def deal_products(self) -> frozenset[str]:
        """Return the ids of the products the deal table has deals of."""
        if self._own is None:
            assert self.deals is not None
            self._own = frozenset(str(p) for p in self.deals.product_id)
        return self._own

    def deal_facts(self, row: int) -> tuple[str, str, dt.date, str]:
        """Return a deal's id, product id, date and licence as Python objects (kept)."""
        facts = self._facts.get(row)
        if facts is None:
            deals = self.deals
            assert deals is not None
            facts = (
                str(deals.deal_id[row]),
                str(deals.product_id[row]),
                dt.date.fromisoformat(str(deals.date[row])),
                str(deals.license[row]),
            )
            self._facts[row] = facts
        return facts

    def segment(self, category: float, sector: float) -> NDArray[np.intp]:
        """Return the rows of the priced deals of one category and sector, in table order."""
        key = (category, sector)
        rows = self._segments.get(key)
        if rows is None:
            assert self.deals is not None
            X = self.deals.features
            names = self.deals.feature_names
            price = self.deals.price
            rows = np.flatnonzero(
                (X[:, names.index("category")] == category)
                & (X[:, names.index("sector")] == sector)
                & np.isfinite(price)
                & (price > 0)
            )
            self._segments[key] = rows
        return rows

    def point_ensemble(self) -> TreeEnsemble | None:
        """Return the compiled trees of the hedonic model's point prediction, if it has them.

        A :class:`valuation.kernels.trees.TreeEnsemble` when the hedonic model is a
        :class:`models.HedonicPriceModel` (its ``predict`` is its point booster's) whose point
        booster the kernel follows, else None.
        """
        from models import HedonicPriceModel

        if not isinstance(self.hedonic, HedonicPriceModel):
            return None
        booster = getattr(self.predictor(), "point_booster_", None)
        if isinstance(booster, _CompiledBooster):
            ensemble: TreeEnsemble = booster.ensemble
            return ensemble
        return None

    def _deal_cache(self, rows: NDArray[np.intp], names: Sequence[str]) -> _DealCache:
        assert self.deals is not None
        key = tuple(names)
        if self._logs is None or self._logs.names != key:
            self._logs = _DealCache.empty(key, len(self.deals), self.point_ensemble())
        cache = self._logs
        missing = np.unique(rows[~cache.known[rows]])
        if missing.size:
            deal_rows = _comparable_rows(self, missing, names)
            if cache.ensemble is not None:
                from valuation.kernels.trees import ensemble_paths

                paths = ensemble_paths(cache.ensemble, deal_rows)
                cache.leaves[:, missing] = paths.leaves
                cache.features[:, missing] = paths.features
                cache.logs[missing] = paths.score
            else:
                predicted = self.predictor().predict(deal_rows)
                cache.logs[missing] = np.asarray(predicted, dtype=np.float64)
            cache.known[missing] = True
        return cache

    def deal_log_prices(self, rows: NDArray[np.intp], names: Sequence[str]) -> NDArray[np.float64]:
        """Return the hedonic model's log price of the deals ``rows`` as they were struck.

        Each deal is predicted once, the first time it is asked for, and kept: its feature
        row never changes, nor does the prediction of a row.
        """
        return self._deal_cache(rows, names).logs[rows]

    def deal_paths(self, rows: NDArray[np.intp], names: Sequence[str]) -> Paths | None:
        """Return the deals' paths through the point prediction's trees, None without them.

        :class:`valuation.kernels.trees.Paths` of the whole deal table, deal ``d`` in column
        ``d``, with those of the deals ``rows`` computed (each deal's once, kept as its log
        price is); the other columns are not meaningful. Not a copy: read, never write.
        """
        cache = self._deal_cache(rows, names)
        if cache.ensemble is None:
            return None
        from valuation.kernels.trees import Paths

        return Paths(cache.leaves, cache.features, cache.logs)

    def selection_scale(self) -> NDArray[np.float64]:
        """Return each selection feature's standard deviation over the whole table (1 if none)."""
        if self._scale is None:
            assert self.deals is not None
            columns = [self.deals.feature_names.index(f) for f in SELECTION_FEATURES]
            X = self.deals.features[:, columns]
            with np.errstate(invalid="ignore"):
                finite = np.isfinite(X)
                counts = finite.sum(axis=0)
                sd = np.array(
                    [
                        np.std(X[finite[:, j], j]) if counts[j] > 1 else 0.0
                        for j in range(X.shape[1])
                    ]
                )
            self._scale = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
        return self._scale


@dataclass(frozen=True)
class HistoryComparable:
    """One deal of the history, adjusted to the product."""

    deal_id: str
    product_id: str
    date: dt.date
    license: str
    price: float
    similarity: float
    weight: float
    factors: dict[str, float]
    adjusted_price: float


class HistoryListing(Sequence[HistoryComparable]):
    """The adjusted comparables of one product, as :class:`HistoryComparable` records.

    A sequence whose records are built when first read: a batch revaluation reads only their
    number and deal ids, a result document every field. ``price``, ``similarities``,
    ``weights``, ``factors`` (one row per comparable, one column per feature of ``names``) and
    ``adjusted`` are arrays over the comparables of deal-table ``rows``.
    """

    def __init__(
        self,
        model: MarketModel,
        rows: Sequence[int],
        names: Sequence[str],
        price: NDArray[np.float64],
        similarities: NDArray[np.float64],
        weights: NDArray[np.float64],
        factors: NDArray[np.float64],
        adjusted: NDArray[np.float64],
    ) -> None:
        self._model = model
        self._rows = list(rows)
        self._arrays = (names, price, similarities, weights, factors, adjusted)
        self._records: tuple[HistoryComparable, ...] | None = None

    @property
    def deal_ids(self) -> list[str]:
        """Return the deal ids of the comparables, in order."""
        return [self._model.deal_facts(r)[0] for r in self._rows]

    def records(self) -> tuple[HistoryComparable, ...]:
        """Return the comparables as records (built once)."""
        if self._records is None:
            names, price, similarities, weights, factors, adjusted = self._arrays
            labels = [FACTOR_NAMES.get(n, n) for n in names]
            # tolist() gives the Python floats float() would, in one call per array
            prices, sims, ws, adjusted_prices = (
                a.tolist() for a in (price, similarities, weights, adjusted)
            )
            factor_rows = np.asarray(factors).tolist()
            self._records = tuple(
                HistoryComparable(
                    *self._model.deal_facts(r),
                    price=prices[j],
                    similarity=sims[j],
                    weight=ws[j],
                    factors=dict(zip(labels, factor_rows[j], strict=True)),
                    adjusted_price=adjusted_prices[j],
                )
                for j, r in enumerate(self._rows)
            )
        return self._records

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> HistoryComparable: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[HistoryComparable, ...]: ...

    def __getitem__(self, index: int | slice) -> HistoryComparable | tuple[HistoryComparable, ...]:
        return self.records()[index]

    def __iter__(self) -> Iterator[HistoryComparable]:
        return iter(self.records())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, HistoryListing):
            return self.records() == other.records()
        if isinstance(other, tuple):
            return self.records() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"HistoryListing({list(self.records())!r})"


@dataclass(frozen=True)
class MarketEstimate:
    """The market method's value for one product without comparables of its own.

    Attributes
    ----------
    source : str
        ``history`` (comparables selected from the deal table) or ``model`` (the hedonic
        model); ``none`` when the model gives no finite price.
    value, sigma : float
        The value and its log sd.
    band : tuple of float
        The hedonic model's 80 % band of the product's price (CNY).
    selection : dict
        How the comparables were selected and how many qualified (JSON-ready).
    fallback : str or None
        Why the history did not give the value (``source == "model"``).
    comparables : sequence of HistoryComparable
        The qualifying comparables (``source == "history"``; a :class:`HistoryListing`).
    """

    source: str
    value: float
    sigma: float
    band: tuple[float, float]
    selection: dict[str, Any]
    fallback: str | None = None
    comparables: Sequence[HistoryComparable] = field(default_factory=tuple)


def _selection_summary(
    candidates: int, qualified: int, features: Sequence[str] = ()
) -> dict[str, Any]:
    return {
        "k": N_COMPARABLES,
        "min_similarity": MIN_SIMILARITY,
        "min_qualified": MIN_QUALIFIED,
        "match": list(MATCH_FEATURES),
        "features": list(features),
        "candidates": int(candidates),
        "qualified": int(qualified),
    }


def select_comparables(
    model: MarketModel,
    product: Product,
    subject: NDArray[np.float64],
    as_of: dt.date,
    names: Sequence[str],
) -> Selection:
    """Select the qualifying comparables of one product in the deal table.

    Parameters
    ----------
    model
        The market model (its ``deals`` not None).
    product
        The product (its id excludes its own deals).
    subject
        Its hedonic feature row (``names`` order).
    as_of
        The valuation date: later deals are not candidates.
    names
        The hedonic model's feature names.

    Returns
    -------
    rows, similarities, selection, fallback
        Rows of the deal table that qualify (nearest first) and their similarities, the
        selection summary, and why too few qualified (None when enough did).
    """
    return _select_pool(model, product.product_id, np.atleast_2d(subject), as_of, names)[0]


def select_many(
    model: MarketModel,
    products: Sequence[Product],
    subjects: NDArray[np.float64],
    as_of: dt.date,
    names: Sequence[str],
) -> list[Selection]:
    """Select the comparables of several products: :func:`select_comparables` of each.

    Products that share a candidate pool (the same category, sector and stated selection
    features, and none of their own deals in the table) are searched in one nearest-neighbour
    query against that pool; each row's neighbours and distances are those of its own query.
    """
    deals = model.deals
    assert deals is not None
    position = {n: list(names).index(n) for n in (*MATCH_FEATURES, *SELECTION_FEATURES)}
    own = model.deal_products()
    out: list[Any] = [None] * len(products)
    groups: dict[tuple[float, float, tuple[str, ...]], list[int]] = {}
    for j, product in enumerate(products):
        if product.product_id in own:
            out[j] = select_comparables(model, product, subjects[j], as_of, names)
            continue
        row = subjects[j]
        known = tuple(n for n in SELECTION_FEATURES if math.isfinite(row[position[n]]))
        key = (float(row[position["category"]]), float(row[position["sector"]]), known)
        groups.setdefault(key, []).append(j)
    for members in groups.values():
        for j, selection in zip(
            members, _select_pool(model, None, subjects[members], as_of, names), strict=True
        ):
            out[j] = selection
    return out


def _select_pool(
    model: MarketModel,
    exclude: str | None,
    subjects: NDArray[np.float64],
    as_of: dt.date,
    names: Sequence[str],
) -> list[Selection]:
    """Select comparables for subjects sharing one candidate pool.

    The pool is that of the first subject, ``exclude``'s own deals left out.
    """
    deals = model.deals
    assert deals is not None
    col = {n: deals.feature_names.index(n) for n in (*MATCH_FEATURES, *SELECTION_FEATURES)}
    at = {n: list(names).index(n) for n in (*MATCH_FEATURES, *SELECTION_FEATURES)}
    subj = {n: float(subjects[0, at[n]]) for n in (*MATCH_FEATURES, *SELECTION_FEATURES)}
    known = [n for n in SELECTION_FEATURES if math.isfinite(subj[n])]
    X = deals.features
    segment = model.segment(subj["category"], subj["sector"])
    mask = deals.date[segment] <= np.datetime64(as_of, "D")
    if exclude is not None:
        mask &= deals.product_id[segment] != exclude
    for n in known:
        mask &= np.isfinite(X[segment, col[n]])
    pool = segment[mask]
    none = np.zeros(0)
    m = subjects.shape[0]
    if not known:
        why = "the product states none of records, fields, quality or revenue to compare deals on"
        return [([], none, _selection_summary(pool.size, 0, known), why) for _ in range(m)]
    if pool.size < MIN_QUALIFIED:
        why = (
            f"only {pool.size} deal(s) of the same category and sector up to the valuation date "
            f"state the product's attributes (at least {MIN_QUALIFIED} must qualify)"
        )
        return [([], none, _selection_summary(pool.size, 0, known), why) for _ in range(m)]
    from models import select_nearest

    used = [SELECTION_FEATURES.index(n) for n in known]
    reference = X[np.ix_(pool, np.array([col[n] for n in known], dtype=np.intp))]
    query = subjects[:, [at[n] for n in known]]
    # distances in units of each feature's sd over the whole table: the selector standardises
    # by the pool's sd (1 for a constant column), so its weights undo that and sum to one
    # (the distance is the root mean square of the standardised differences)
    pool_sd = reference.std(axis=0)
    pool_scale = np.where(pool_sd > 0, pool_sd, 1.0)
    weights = (pool_scale / model.selection_scale()[used]) ** 2 / len(known)
    # scikit-learn's brute search orders neighbours at equal distance by how it splits the
    # work: over the candidates while the queries are no more than the candidates (and
    # 1,024), over the queries beyond. One product's query is always the first case, so the
    # queries go in slices that keep it, and every product gets its own query's neighbours.
    # (select_nearest is models.ComparablesSelector's fit and select without its checks.)
    step = max(1, min(pool.size, _QUERY_SLICE))
    parts = [
        select_nearest(reference, query[i : i + step], N_COMPARABLES, weights)
        for i in range(0, m, step)
    ]
    all_similarities = np.concatenate([c.similarities for c in parts])
    all_indices = np.concatenate([c.indices for c in parts])
    qualifies = all_similarities >= MIN_SIMILARITY
    qualified = qualifies.sum(axis=1).tolist()
    deal_rows = pool[all_indices]
    out: list[Selection] = []
    for i in range(m):
        similarities = all_similarities[i]
        if qualified[i] < MIN_QUALIFIED:
            summary = _selection_summary(pool.size, qualified[i], known)
            best = float(similarities.max()) if similarities.size else 0.0
            why = (
                f"{qualified[i] or 'none'} of the {similarities.size} nearest deals qualify "
                f"(similarity ≥ {MIN_SIMILARITY:g}; the best {best:.2f}): at least "
                f"{MIN_QUALIFIED} are needed"
            )
            out.append(([], none, summary, why))
        else:
            keep = qualifies[i]
            rows = deal_rows[i][keep].tolist()
            summary = _selection_summary(pool.size, len(rows), known)
            out.append((rows, similarities[keep], summary, None))
    return out


def history_estimate(
    model: MarketModel,
    subject: NDArray[np.float64],
    rows: Sequence[int],
    similarities: NDArray[np.float64],
    band_sigma: float,
    names: Sequence[str],
) -> tuple[float, float, HistoryListing, dict[str, float]]:
    """Adjust the selected deals to the product.

    Returns
    -------
    value, sigma, comparables, detail
        The similarity-weighted geometric mean of the adjusted prices, its log sd
        (``max(s/√n_eff, band_sigma)``), the adjusted comparables and the parts of the log sd.

    Notes
    -----
    Deal prices scatter multiplicatively around value (a product effect and a deal's noise), so
    the geometric mean estimates the value, as the hedonic model's median does; an arithmetic
    mean would estimate ``value·exp(s²/2)`` and overstate it (measured on the synthetic market:
    median ratio 1.21 against 0.91 for the geometric mean).
    """
    comp_rows = _comparable_rows(model, rows, names)
    factors = np.asarray(model.hedonic.adjustment_factors(subject, comp_rows), dtype=np.float64)
    return _adjusted(model, rows, similarities, band_sigma, names, factors)


def _comparable_rows(
    model: MarketModel, rows: Sequence[int] | NDArray[np.intp], names: Sequence[str]
) -> NDArray[np.float64]:
    deals = model.deals
    assert deals is not None
    order = np.array([deals.feature_names.index(n) for n in names], dtype=np.intp)
    return deals.features[np.ix_(np.asarray(rows, dtype=np.intp), order)]


def history_factors(
    model: MarketModel,
    subjects: NDArray[np.float64],
    rows: Sequence[Sequence[int]],
    names: Sequence[str],
) -> list[NDArray[np.float64]]:
    """Return the adjustment factors of several products' comparables, in few predictions.

    ``rows[i]`` are the deal-table rows of ``subjects[i]``'s comparables; each result equals
    ``model.hedonic.adjustment_factors(subjects[i], rows[i])``, bit for bit.

    Notes
    -----
    The factors' design (:func:`models.adjustment_design`) has one row per comparable for its
    own price and one per comparable and attribute moved to the product's value. A tree
    model's prediction of a row depends on that row alone, so two rows alike predict alike:
    the deals' own rows are predicted once each (:meth:`MarketModel.deal_log_prices`), and a
    move that changes nothing (the category and sector the deal shares with the product, a
    deal already a transfer or of the home territory, a feature unknown on both sides) is
    the deal's own row, whose factor is ``exp(0) = 1``. Only the other rows are predicted.
    """
    from models import factors_from_log_prices

    deals = model.deals
    assert deals is not None
    n_features = len(names)
    counts = [len(r) for r in rows]
    ensemble = model.point_ensemble()
    if ensemble is not None and ensemble.n_features > 63:  # a path's features fit an int64
        ensemble = None
    out: list[NDArray[np.float64]] = []
    start = 0
    while start < len(counts):
        # products whose designs fill one prediction of a few tens of thousands of rows: one
        # call's overhead spread thin, and never a whole chunk's designs in memory at once
        stop, size = start, 0
        while stop < len(counts) and (stop == start or size < _PREDICT_ROWS):
            size += counts[stop] * n_features
            stop += 1
        group = rows[start:stop]
        sizes = counts[start:stop]
        flat = np.array([r for chosen in group for r in chosen], dtype=np.intp)
        paths = model.deal_paths(flat, names) if ensemble is not None else None
        own = model.deal_log_prices(flat, names) if paths is None else paths.score[flat]
        comps = _comparable_rows(model, flat, names)
        subj = np.repeat(subjects[start:stop], sizes, axis=0)
        moved = (comps != subj) & ~(np.isnan(comps) & np.isnan(subj))
        at, column = np.nonzero(moved)
        logs = np.repeat(own[:, None], n_features, axis=1)
        if at.size and paths is not None and ensemble is not None:
            from valuation.kernels.trees import predict_moved

            logs[at, column] = predict_moved(
                ensemble, comps, paths, at, column, subj[at, column], path_of=flat
            )
        elif at.size:
            design = comps[at]
            design[np.arange(at.size), column] = subj[at, column]
            logs[at, column] = np.asarray(model.predictor().predict(design), dtype=np.float64)
        offset = 0
        for n in sizes:
            # the layout of adjustment_design: the comparables' own rows, then one block of
            # them per attribute
            block = np.concatenate([own[offset : offset + n], logs[offset : offset + n].T.ravel()])
            out.append(factors_from_log_prices(block, n_features))
            offset += n
        start = stop
    return out


def _adjusted(
    model: MarketModel,
    rows: Sequence[int],
    similarities: NDArray[np.float64],
    band_sigma: float,
    names: Sequence[str],
    factors: NDArray[np.float64],
) -> tuple[float, float, HistoryListing, dict[str, float]]:
    deals = model.deals
    assert deals is not None
    price = deals.price[list(rows)]
    adjusted = price * np.prod(factors, axis=1)
    w = similarities / similarities.sum()
    log_adj = np.log(adjusted)
    mean = float(w @ log_adj)
    value = math.exp(mean)
    n_eff = 1.0 / float(w @ w)
    var = float(w @ (log_adj - mean) ** 2) * n_eff / max(n_eff - 1.0, 1e-12)
    spread = math.sqrt(var / n_eff)
    sigma = max(spread, band_sigma)
    comparables = HistoryListing(model, rows, names, price, similarities, w, factors, adjusted)
    detail = {
        "n_eff": round(n_eff, 6),
        "log_sd_spread": round(spread, 6),
        "log_sd_model_band": round(band_sigma, 6),
    }
    return value, sigma, comparables, detail


def market_estimates(
    market_model: Any,
    products: Sequence[Product],
    as_of: dt.date,
    quality_weights: dict[str, float],
    economic_life: Mapping[str, float] | None = None,
) -> list[MarketEstimate]:
    """Value each product from comparables of the deal history, else the hedonic model.

    ``market_model`` is a :class:`MarketModel` or a bare hedonic model (no deal table: the
    model prices every product).
    """
    if not products:
        return []
    bundled = market_model if isinstance(market_model, MarketModel) else None
    hedonic = market_model if bundled is None else bundled.predictor()
    names = model_feature_names(hedonic)
    X = np.array(
        [feature_row(p, as_of, names, quality_weights, economic_life) for p in products],
        dtype=float,
    )
    priced, sigma, lo, hi = _hedonic_of(hedonic, X)
    from threadpoolctl import threadpool_limits

    # the neighbour searches are small problems: threads (OpenMP in scikit-learn's neighbours
    # and LightGBM) cost more to start than they save, and the engine's kernels use the cores
    with threadpool_limits(limits=1):
        return _estimates(bundled, products, as_of, X, names, priced, sigma, lo, hi)


def _estimates(
    market_model: MarketModel | None,
    products: Sequence[Product],
    as_of: dt.date,
    subjects: NDArray[np.float64],
    names: Sequence[str],
    priced: NDArray[np.float64],
    sigma: NDArray[np.float64],
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
) -> list[MarketEstimate]:
    deals = None if market_model is None else market_model.deals
    model_ok = np.isfinite(priced) & (priced > 0) & np.isfinite(sigma)
    selections: list[Any] = [None] * len(products)
    factors: dict[int, NDArray[np.float64]] = {}
    if market_model is not None and deals is not None and len(deals) > 0:
        selections = select_many(market_model, products, subjects, as_of, names)
        chosen = [j for j, s in enumerate(selections) if s[3] is None]
        found = history_factors(
            market_model, subjects[chosen], [selections[j][0] for j in chosen], names
        )
        factors = dict(zip(chosen, found, strict=True))
    out = []
    for j in range(len(products)):
        band = (float(lo[j]), float(hi[j]))
        why: str | None
        if deals is None or len(deals) == 0:
            why = (
                "the calibration gives no deal table (comparables.json)"
                if deals is None
                else "the calibration's deal table is empty"
            )
            selection = _selection_summary(0, 0)
        else:
            assert market_model is not None
            rows, sims, selection, why = selections[j]
            if why is None:
                floor = float(sigma[j]) if model_ok[j] else 0.0
                value, sd, comps, detail = _adjusted(
                    market_model, rows, sims, floor, names, factors[j]
                )
                if math.isfinite(value) and value > 0 and math.isfinite(sd):
                    selection.update(detail)
                    out.append(MarketEstimate("history", value, sd, band, selection, None, comps))
                    continue
                why = "the adjusted prices of the comparables are not finite"
        if model_ok[j]:
            out.append(
                MarketEstimate("model", float(priced[j]), float(sigma[j]), band, selection, why)
            )
        else:
            out.append(MarketEstimate("none", math.nan, math.nan, band, selection, why))
    return out


__all__ = [
    "FACTOR_NAMES",
    "MATCH_FEATURES",
    "MIN_QUALIFIED",
    "MIN_SIMILARITY",
    "N_COMPARABLES",
    "SELECTION_FEATURES",
    "HISTORY_LISTING",
    "HistoryComparable",
    "HistoryListing",
    "MarketEstimate",
    "MarketModel",
    "feature_row",
    "hedonic_values",
    "market_estimates",
    "model_feature_names",
    "history_factors",
    "select_comparables",
    "select_many",
]
