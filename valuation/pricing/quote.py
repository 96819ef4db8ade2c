"""Quote listings: band, suggested price, comparables, flags and the asking-price check.

Flags (each with a reason in ``reasons``):

* ``placeholder_price``: the asking price is a placeholder of its exchange and listed price mode
  (a mass point of the batch, or one seen in training);
* ``price_mode_relabelled``: a per-call price read as a one-off package price;
* ``token_price``: a one-off price orders of magnitude below the exchange's one-off prices;
* ``price_mode_assumed``: a negotiation listing, quoted as one-off (its band claims nothing);
* ``free_listing``: nothing to quote;
* ``out_of_distribution``: the exchange, its price mode there, or the attributes lie outside
  what the model has seen; the band is the wider new-exchange band and claims no coverage
  (unless that band spans enough exchanges; see :mod:`valuation.pricing.model`). The column
  ``out_of_distribution`` (``band.out_of_distribution``) gives the code: ``unseen_exchange``,
  ``thin_group`` (fewer than ten training listings of the exchange in the price mode),
  ``attributes_outside_training`` or ``unseen_category``;
* ``no_band``: not even the new-exchange band exists for the price mode.

Placeholders and the per-call and one-off medians are properties of many listings: they are
found in the batch quoted (joined with what the model saw in training), so a listing's flags
can depend on the export it comes in; the same export always gives the same quotes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from valuation.pricing.model import (
    MIN_EXCHANGES_FOR_CLAIM,
    MIN_GROUP_SCORES,
    N_COMPARABLES,
    PRICED_MODES,
    ListingPriceModel,
    _distances,
    conformal_band,
    features,
    placeholder_flags,
    standardise,
)
from valuation.pricing.modes import (
    one_off_medians,
    per_call_medians,
    relabel_price_modes,
    token_prices,
)
from valuation.pricing.reader import ListingBatch


@dataclass
class Quotes:
    """Quotes of a batch, one entry per listing (structure of arrays).

    Attributes
    ----------
    columns : dict
        Column name -> array (one entry per listing) or list. The ``comparable_*`` columns are
        arrays of shape ``(n, N_COMPARABLES)``, the first ``comparable_count`` entries of each
        row valid; :func:`to_arrow` writes them as list columns.
    timings : dict
        Seconds per stage (inference, band, comparables, ...).
    """

    columns: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.columns["listing_id"])

    def row(self, i: int) -> dict[str, Any]:
        """One listing's quote as JSON-ready data."""
        c = self.columns

        def num(x: Any) -> float | None:
            x = float(x)
            return x if math.isfinite(x) else None

        comparables = [
            {
                "listing_id": c["comparable_ids"][i][k],
                "price": num(c["comparable_prices"][i][k]),
                "adjustment": num(c["comparable_adjustments"][i][k]),
                "adjusted_price": num(c["comparable_adjusted_prices"][i][k]),
                "similarity": num(c["comparable_similarity"][i][k]),
            }
            for k in range(int(c["comparable_count"][i]))
        ]
        return {
            "listing_id": str(c["listing_id"][i]),
            "exchange": str(c["exchange"][i]),
            "price_mode": str(c["price_mode"][i]),
            "price_mode_listed": str(c["price_mode_listed"][i]),
            "band": {
                "p10": num(c["band_p10"][i]),
                "p50": num(c["band_p50"][i]),
                "p90": num(c["band_p90"][i]),
                "coverage_nominal": float(c["coverage_nominal"][i]),
                "coverage_claimed": bool(c["coverage_claimed"][i]),
                "basis": str(c["band_basis"][i]),
                "out_of_distribution": str(c["out_of_distribution"][i]) or None,
            },
            "suggested_price": num(c["suggested_price"][i]),
            "asking_price": num(c["asking_price"][i]),
            "asking_check": {
                "position": str(c["asking_position"][i]),
                "log_distance": num(c["asking_log_distance"][i]),
            },
            "comparables": comparables,
            "flags": list(c["flags"][i]),
            "reasons": list(c["reasons"][i]),
            "calibration_id": str(c["calibration_id"][i]),
        }


def to_arrow(quotes: Quotes) -> Any:
    """Return the quotes as a pyarrow Table (comparables as list columns, flags as lists)."""
    import pyarrow as pa

    c = quotes.columns
    counts = np.asarray(c["comparable_count"], dtype=np.int64)
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    valid = np.arange(N_COMPARABLES)[None, :] < counts[:, None]
    arrays: dict[str, Any] = {}
    for name, values in c.items():
        if name in ("placeholder", "token_price", "comparable_count"):
            continue
        if name.startswith("comparable_"):
            flat = pa.array(np.asarray(values)[valid])
            if isinstance(flat, pa.ChunkedArray):  # long text columns come back chunked
                flat = flat.combine_chunks()
            arrays[name] = pa.ListArray.from_arrays(offsets, flat)
        else:
            arrays[name] = values if hasattr(values, "dtype") else pa.array(values)
    return pa.table(arrays)


def _round_price(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Round positive prices to 2 significant digits (a price one can list)."""
    out = np.full(x.shape, math.nan)
    ok = np.isfinite(x) & (x > 0)
    digits = 1 - np.floor(np.log10(x[ok]))
    out[ok] = np.round(x[ok] * 10.0**digits) / 10.0**digits
    return out


def quote_listings(
    batch: ListingBatch, model: ListingPriceModel, *, calibration_id: str = ""
) -> Quotes:
    """Price every listing of ``batch`` with ``model``.

    Parameters
    ----------
    batch
        The readable listings.
    model
        The fitted listing model.
    calibration_id
        The id of the set the model came from (written on every quote).
    """
    import time

    timings: dict[str, float] = {}
    t = time.perf_counter()
    data = model.data
    n = len(batch)
    reference = dict(data["per_call_medians"])
    reference.update(per_call_medians(batch.exchange, batch.price_mode, batch.price))
    relabel = relabel_price_modes(
        batch.exchange,
        batch.price_mode,
        batch.price,
        batch.title,
        batch.description,
        batch.price_text,
        reference,
    )
    placeholder, _points = placeholder_flags(batch, data["placeholder_points"])
    evidence = (batch.price > 0) & (relabel.price_mode == "one-off") & ~placeholder
    one_off_reference = dict(data["one_off_medians"])
    one_off_reference.update(
        one_off_medians(
            batch.exchange[evidence], relabel.price_mode[evidence], batch.price[evidence]
        )
    )
    token, token_reason = token_prices(
        batch.exchange, relabel.price_mode, batch.price, one_off_reference
    )
    mode = relabel.price_mode.astype(object)
    negotiation = mode == "negotiation"
    mode[negotiation] = "one-off"
    free = mode == "free"
    mode = mode.astype(str)
    timings["flags"] = time.perf_counter() - t

    t = time.perf_counter()
    X, names, _levels = features(batch, mode, data["category_levels"])
    log_pred = np.asarray(model.booster.predict(X), dtype=np.float64) if n else np.empty(0)
    timings["inference"] = time.perf_counter() - t

    t = time.perf_counter()
    Z = standardise(
        X,
        np.asarray(data["standardise"]["mean"], dtype=np.float64),
        np.asarray(data["standardise"]["scale"], dtype=np.float64),
        names,
    )
    ref = data["reference"]
    ref_mode = np.asarray(ref["price_mode"], dtype=str)
    ref_Z = np.asarray(ref["features"], dtype=np.float64).reshape(len(ref_mode), -1)
    ref_price = np.asarray(ref["price"], dtype=np.float64)
    ref_fit = np.asarray(ref["fitted_log_price"], dtype=np.float64)
    ref_id = np.asarray(ref["listing_id"], dtype=str)
    comp_idx, comp_dist = nearest_comparables(
        Z, mode, ~free, ref_Z, ref_mode, ref_id, batch.listing_id
    )
    timings["comparables"] = time.perf_counter() - t

    t = time.perf_counter()
    coverage = float(data["coverage"])
    groups = data["group_residuals"]
    pools = data["new_exchange_residuals"]
    seen_exchanges = set(data["training"]["exchanges"])
    levels = set(data["category_levels"])
    ood_distance = data["ood_distance"]
    ood_distance = math.inf if ood_distance is None else float(ood_distance)
    lo = np.full(n, math.nan)
    mid = np.full(n, math.nan)
    hi = np.full(n, math.nan)
    claimed = np.zeros(n, dtype=bool)
    basis = np.full(n, "", dtype=object)
    flags: list[list[str]] = [[] for _ in range(n)]
    reasons: list[list[str]] = [[] for _ in range(n)]
    ood_code = np.full(n, "", dtype=object)
    band_cache: dict[tuple[str, str, bool], tuple[float, float, float, bool, str, str, str]] = {}
    for i in range(n):
        if free[i]:
            flags[i].append("free_listing")
            reasons[i].append("free listing: nothing to quote")
            continue
        exchange, m = str(batch.exchange[i]), str(mode[i])
        outside = bool(comp_dist[i, 0] > ood_distance) or str(batch.category[i]) not in levels
        key = (exchange, m, outside)
        if key not in band_cache:
            band_cache[key] = _band(exchange, m, outside, groups, pools, seen_exchanges, coverage)
        b_lo, b_mid, b_hi, claim, why_basis, why_ood, code = band_cache[key]
        if code == "attributes_outside_training" and str(batch.category[i]) not in levels:
            why_ood = why_ood.replace("attributes", f"category {batch.category[i]!r}")
            code = "unseen_category"
        ood_code[i] = code
        lo[i], mid[i], hi[i] = log_pred[i] + b_lo, log_pred[i] + b_mid, log_pred[i] + b_hi
        claimed[i], basis[i] = claim, why_basis
        if code:
            flags[i].append("out_of_distribution")
            reasons[i].append(why_ood)
        if not math.isfinite(b_mid):
            flags[i].append("no_band")
            reasons[i].append(f"no calibration scores for price mode {m!r}: no band")
    for i in np.flatnonzero(placeholder).tolist():
        flags[i].insert(0, "placeholder_price")
        reasons[i].insert(
            0,
            f"asking price {float(batch.price[i]):g} is a placeholder of "
            f"{batch.exchange[i]} ({batch.price_mode[i]}): far more listings at it than its "
            "price distribution allows",
        )
    for i in np.flatnonzero(token).tolist():
        flags[i].append("token_price")
        reasons[i].append(str(token_reason[i]))
    for i in np.flatnonzero(relabel.relabelled).tolist():
        flags[i].append("price_mode_relabelled")
        reasons[i].append(str(relabel.reason[i]))
    for i in np.flatnonzero(negotiation).tolist():
        flags[i].append("price_mode_assumed")
        reasons[i].append(
            "negotiation listing: quoted as a one-off price; coverage not claimed (no "
            "negotiated price was ever scored)"
        )
        claimed[i] = False
    timings["band"] = time.perf_counter() - t

    t = time.perf_counter()
    asking = np.where(batch.price > 0, batch.price, math.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        log_ask = np.log(asking)
        distance = np.where(log_ask < lo, log_ask - lo, np.where(log_ask > hi, log_ask - hi, 0.0))
    position = np.where(
        ~np.isfinite(log_ask) | ~np.isfinite(mid),
        "no asking price",
        np.where(log_ask < lo, "below", np.where(log_ask > hi, "above", "inside")),
    )
    position = np.where(np.isfinite(log_ask) & ~np.isfinite(mid), "no band", position)
    distance = np.where(position == "no asking price", math.nan, distance)
    valid = comp_idx >= 0
    comp_dist = np.where(valid, comp_dist, math.inf)
    safe = np.where(valid, comp_idx, 0)
    adjustment = np.where(valid, np.exp(log_pred[:, None] - ref_fit[safe]), math.nan)
    comp_price = np.where(valid, ref_price[safe], math.nan)
    similarity = np.where(valid, 1.0 / (1.0 + comp_dist), math.nan)
    counts = valid.sum(axis=1)
    ids = ref_id[safe]
    columns: dict[str, Any] = {
        "listing_id": batch.listing_id,
        "exchange": batch.exchange,
        "line": batch.line,
        "price_mode": mode,
        "price_mode_listed": batch.price_mode,
        "asking_price": asking,
        "band_p10": np.exp(lo),
        "band_p50": np.exp(mid),
        "band_p90": np.exp(hi),
        "suggested_price": _round_price(np.exp(mid)),
        "coverage_nominal": np.full(n, coverage),
        "coverage_claimed": claimed,
        "band_basis": basis.astype(str),
        "out_of_distribution": ood_code.astype(str),
        "asking_position": position.astype(str),
        "asking_log_distance": distance,
        "comparable_count": counts,
        "comparable_ids": np.where(valid, ids, ""),
        "comparable_prices": comp_price,
        "comparable_adjustments": adjustment,
        "comparable_adjusted_prices": comp_price * adjustment,
        "comparable_similarity": similarity,
        "flags": flags,
        "reasons": reasons,
        "calibration_id": np.full(n, calibration_id),
        "log_prediction": log_pred,
        "band_log_lower": lo,
        "band_log_upper": hi,
        "placeholder": placeholder,
        "token_price": token,
    }
    timings["assemble"] = time.perf_counter() - t
    return Quotes(columns, timings)


def nearest_comparables(
    Z: NDArray[np.float64],
    mode: NDArray[np.str_],
    quoted: NDArray[np.bool_],
    ref_Z: NDArray[np.float64],
    ref_mode: NDArray[np.str_],
    ref_id: NDArray[np.str_],
    listing_id: NDArray[np.str_],
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Return ``(indices, distances)`` of each listing's comparables, nearest first.

    The :data:`N_COMPARABLES` reference listings of the same price mode nearest in the
    standardised features, never the listing itself (same id); ``-1`` and ``inf`` pad a row
    with fewer candidates. Rows not ``quoted`` get none.
    """
    n = Z.shape[0]
    k_max = N_COMPARABLES + 1  # one spare: a listing is never its own comparable
    comp_idx = np.full((n, k_max), -1, dtype=np.int64)
    comp_dist = np.full((n, k_max), math.inf)
    for m in PRICED_MODES:
        rows = np.flatnonzero((mode == m) & quoted)
        refs = np.flatnonzero(ref_mode == m)
        if rows.size == 0 or refs.size == 0:
            continue
        k = min(k_max, refs.size)
        for start in range(0, rows.size, 4096):
            chunk = rows[start : start + 4096]
            d = _distances(Z[chunk], ref_Z[refs])
            part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < refs.size else None
            order = np.tile(np.arange(refs.size), (chunk.size, 1)) if part is None else part
            dk = np.take_along_axis(d, order, axis=1)
            sort = np.argsort(dk, axis=1, kind="stable")
            order = np.take_along_axis(order, sort, axis=1)
            comp_idx[chunk, :k] = refs[order]
            comp_dist[chunk, :k] = np.take_along_axis(dk, sort, axis=1)
    own = (comp_idx >= 0) & (ref_id[np.maximum(comp_idx, 0)] == listing_id[:, None])
    keep = np.argsort(own, axis=1, kind="stable")[:, :N_COMPARABLES]
    comp_idx = np.where(
        np.take_along_axis(own, keep, axis=1), -1, np.take_along_axis(comp_idx, keep, axis=1)
    )
    comp_dist = np.take_along_axis(comp_dist, keep, axis=1)
    return comp_idx, comp_dist


def _band(
    exchange: str,
    mode: str,
    outside: bool,
    groups: dict[str, list[float | None]],
    pools: dict[str, dict[str, list[Any]]],
    seen: set[str],
    coverage: float,
) -> tuple[float, float, float, bool, str, str, str]:
    """Return (lower, centre, upper offsets, claims coverage, basis, why and code if outside)."""
    own = groups.get(f"{exchange}|{mode}", [])
    pool = pools.get(mode, {"residuals": [], "exchanges": []})
    pool_r = np.asarray([r for r in pool["residuals"] if r is not None], dtype=np.float64)
    n_ex = len(pool["exchanges"])
    if len(own) >= MIN_GROUP_SCORES and not outside:
        b = conformal_band(np.asarray(own, dtype=np.float64), coverage)
        return (*b, True, f"{exchange} {mode}: {len(own)} conformal scores", "", "")
    if exchange not in seen:
        code, why = "unseen_exchange", f"exchange {exchange!r} is not in the model's training data"
    elif len(own) < MIN_GROUP_SCORES:
        code = "thin_group"
        why = (
            f"{len(own)} training listings of {exchange} priced {mode} "
            f"(fewer than {MIN_GROUP_SCORES})"
        )
    else:
        code, why = (
            "attributes_outside_training",
            "attributes outside those of the training listings",
        )
    claim = n_ex >= MIN_EXCHANGES_FOR_CLAIM
    pool_b = conformal_band(pool_r, coverage)
    if outside and len(own) >= MIN_GROUP_SCORES:
        own_b = conformal_band(np.asarray(own, dtype=np.float64), coverage)
        pool_b = (min(own_b[0], pool_b[0]), own_b[1], max(own_b[2], pool_b[2]))
    basis = f"{mode}, {pool_r.size} new-exchange scores from {n_ex} exchange(s)"
    suffix = "" if claim else f"; coverage not claimed (needs {MIN_EXCHANGES_FOR_CLAIM} exchanges)"
    if pool_r.size == 0:
        return math.nan, math.nan, math.nan, False, "none", why, code
    return (*pool_b, claim, basis, why + "; band from " + basis + suffix, code)


__all__ = ["Quotes", "nearest_comparables", "quote_listings", "to_arrow"]
