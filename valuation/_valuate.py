"""The public valuation entry points: :func:`value` and :func:`value_many`.

:func:`run_kernels` is the part before each product's result is built: ``dpv revalue`` takes
its products' conclusions from it without their result documents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from valuation._gc import collector_paused
from valuation.audit import Audit, make_audit
from valuation.calibration_set import calibration_or_bundled
from valuation.defaults import (
    EARLIEST_DATE,
    LATEST_DATE,
    MAX_RANGE_SAMPLES,
    default_calibration_id,
    parameters,
)
from valuation.exceptions import DpvInputError
from valuation.kernels.range import range_batch
from valuation.kernels.rng import seed_key
from valuation.kernels.valuation import BatchOutputs, allocate_outputs, value_batch
from valuation.methods.inputs import Prepared, prepare
from valuation.methods.profiles import DEFAULT_PROFILE, Profile, get_profile
from valuation.methods.reconcile import Conclusion, build_result, conclude
from valuation.schema._base import parse_model
from valuation.schema.product import Product
from valuation.schema.results import ValuationResult


def _as_product(product: Product | Mapping[str, Any]) -> Product:
    return parse_model(Product, product)


@dataclass(frozen=True)
class ValuedBatch:
    """A batch of products through the kernels, with what its results are built from.

    Attributes
    ----------
    products : list of Product
        The validated products, in order.
    prepared : Prepared
        The kernels' inputs and each product's context (inputs, sources, skipped methods).
    outputs : BatchOutputs
        The valuation kernel's values, log sds, weights and concluded values.
    quantiles : ndarray or None
        P10/P50/P90 of each method and of the concluded value (products × 4 × 3), or of the
        concluded value alone (products × 1 × 3, ``method_ranges=False``); None when no range
        was computed.
    valuation_date, params, profile, seed, samples, calibration_id
        What the batch was valued with.
    """

    products: list[Product]
    prepared: Prepared
    outputs: BatchOutputs
    quantiles: np.ndarray | None
    valuation_date: dt.date
    params: dict[str, Any]
    profile: Profile
    seed: int
    samples: int
    calibration_id: str

    def audit(self, i: int) -> Audit:
        """Return the audit block of product ``i``."""
        return make_audit(
            self.products[i].model_dump(mode="json"),
            seed=self.seed,
            valuation_date=self.valuation_date,
            calibration_id=self.calibration_id,
        )

    def conclusion(self, i: int) -> Conclusion:
        """Return the concluded figures and warnings of product ``i`` (no result document)."""
        out = self.outputs
        return conclude(
            self.products[i],
            self.prepared.contexts[i],
            as_of=self.valuation_date,
            params=self.params,
            values=out.values[i],
            weights=out.weights[i],
            concluded=float(out.concluded[i]),
            has=self.prepared.has[i],
            quantiles=None if self.quantiles is None else self.quantiles[i],
        )

    def result(self, i: int) -> ValuationResult:
        """Return the result document of product ``i``.

        Once per product: building it takes the deal history's comparables out of the
        product's context.

        Raises
        ------
        ValueError
            The batch was valued without the methods' ranges (``method_ranges=False``).
        """
        if self.quantiles is not None and self.quantiles.shape[1] != 4:
            raise ValueError("valued without the methods' ranges (method_ranges=False)")
        out = self.outputs
        return build_result(
            self.products[i],
            self.prepared.contexts[i],
            as_of=self.valuation_date,
            params=self.params,
            profile=self.profile,
            values=out.values[i],
            sigmas=out.sigmas[i],
            weights=out.weights[i],
            concluded=float(out.concluded[i]),
            has=self.prepared.has[i],
            quantiles=None if self.quantiles is None else self.quantiles[i],
            samples=self.samples,
            audit=self.audit(i),
        )


def run_kernels(
    products: Sequence[Product | Mapping[str, Any]],
    *,
    as_of: dt.date | str | None = None,
    profile: str = DEFAULT_PROFILE,
    seed: int | None = None,
    samples: int | None = None,
    parameters_override: Mapping[str, Any] | None = None,
    calibration_id: str | None = None,
    market_model: Any | None = None,
    method_ranges: bool = True,
) -> ValuedBatch:
    """Check the arguments of :func:`value_many` and put its products through the kernels.

    The parameters and their defaults are :func:`value_many`'s. Each product's result, or its
    conclusion alone (a row of ``dpv revalue``), is then built from what this returns.
    ``method_ranges`` False leaves out each method's P10/P50/P90 (the conclusion's range is the
    same, bit for bit): enough for :meth:`ValuedBatch.conclusion`, not for
    :meth:`ValuedBatch.result`.
    """
    parsed = [_as_product(p) for p in products]
    parameters_override, calibration_id, market_model = calibration_or_bundled(
        parameters_override, calibration_id, market_model
    )
    if isinstance(as_of, str):
        try:
            as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            raise DpvInputError(f"not an ISO date (YYYY-MM-DD): {as_of!r}", field="as_of") from None
    valuation_date = as_of or dt.date.today()
    if not EARLIEST_DATE <= valuation_date.isoformat() <= LATEST_DATE:
        raise DpvInputError(
            f"{valuation_date} is outside the dates dpv works with "
            f"({EARLIEST_DATE} to {LATEST_DATE})",
            field="as_of",
        )
    try:
        prof = get_profile(profile)
    except KeyError as exc:
        raise DpvInputError(str(exc.args[0]), field="profile") from None
    calibrated = parameters_override is not None
    params = parameters(dict(parameters_override) if parameters_override else None)
    run_seed = int(params["reconciliation"]["seed"] if seed is None else seed)
    try:
        key = seed_key(run_seed)
    except ValueError as exc:
        raise DpvInputError(str(exc), field="seed") from None
    n_samples = int(params["reconciliation"]["samples"] if samples is None else samples)
    if n_samples < 0 or n_samples == 1 or n_samples > MAX_RANGE_SAMPLES:
        raise DpvInputError(
            f"must be 0 (no range) or from 2 to {MAX_RANGE_SAMPLES:,} "
            "(valuation.defaults.MAX_RANGE_SAMPLES)",
            field="samples",
        )
    cal_id = calibration_id or default_calibration_id()

    batch = prepare(
        parsed, valuation_date, params, prof, calibrated=calibrated, market_model=market_model
    )
    out = allocate_outputs(len(parsed))
    value_batch(batch.has, batch.income, batch.cost, batch.market, out)
    quantiles = None
    if n_samples:
        quantiles = np.zeros((len(parsed), 4 if method_ranges else 1, 3))
        range_batch(
            batch.has,
            batch.income,
            batch.cost,
            batch.market,
            out,
            batch.entity,
            key,
            n_samples,
            quantiles,
        )
    return ValuedBatch(
        products=parsed,
        prepared=batch,
        outputs=out,
        quantiles=quantiles,
        valuation_date=valuation_date,
        params=params,
        profile=prof,
        seed=run_seed,
        samples=n_samples,
        calibration_id=cal_id,
    )


@collector_paused()
def value_many(
    products: Sequence[Product | Mapping[str, Any]],
    *,
    as_of: dt.date | str | None = None,
    profile: str = DEFAULT_PROFILE,
    seed: int | None = None,
    samples: int | None = None,
    parameters_override: Mapping[str, Any] | None = None,
    calibration_id: str | None = None,
    market_model: Any | None = None,
) -> list[ValuationResult]:
    """Value several products in one pass through the batch kernels.

    Parameters
    ----------
    products
        Products (validated models, or mappings validated here).
    as_of
        Valuation date (``date`` or ISO string); today when omitted.
    profile
        ``cas-2023`` (default), ``cas-guide-9`` or ``ivs-210``.
    seed
        Seed of the range sampling (default: the parameters' ``reconciliation.seed``).
    samples
        Number of range samples per product; 0 computes no range.
    parameters_override
        Parameters replacing the defaults (``CalibrationSet.valuation_overrides``).
    calibration_id
        Id written into the audit block.
    market_model
        The calibration's market model (``CalibrationSet.market_model()``): values the
        products that have no comparables of their own by the market method.

        When none of ``parameters_override``, ``calibration_id`` and ``market_model`` is given,
        the bundled default CalibrationSet is used, as by ``dpv value``, so that the two give
        the same result; ``calibration_id=valuation.defaults.default_calibration_id()`` alone
        asks for the built-in defaults of :mod:`valuation.defaults`. A caller giving a set's
        overrides should give its id and market model too.

    Returns
    -------
    list of ValuationResult
        One result per product, in order. Valuing never changes a product.
    """
    valued = run_kernels(
        products,
        as_of=as_of,
        profile=profile,
        seed=seed,
        samples=samples,
        parameters_override=parameters_override,
        calibration_id=calibration_id,
        market_model=market_model,
    )
    return [valued.result(i) for i in range(len(valued.products))]


def value(
    product: Product | Mapping[str, Any],
    *,
    as_of: dt.date | str | None = None,
    profile: str = DEFAULT_PROFILE,
    seed: int | None = None,
    samples: int | None = None,
    parameters_override: Mapping[str, Any] | None = None,
    calibration_id: str | None = None,
    market_model: Any | None = None,
) -> ValuationResult:
    """Value one registered data product by the income, cost and market methods.

    Parameters
    ----------
    product
        The product (a :class:`~valuation.schema.Product` or a mapping of its JSON).
    as_of, profile, seed, samples, parameters_override, calibration_id, market_model
        As in :func:`value_many`: by default the bundled CalibrationSet, as ``dpv value``;
        ``calibration_id=valuation.defaults.default_calibration_id()`` for the built-in
        defaults.

    Returns
    -------
    ValuationResult
        Each method's value (or the reason it was skipped) with its key inputs and formula,
        the concluded value, the weights, the P10/P50/P90 range, warnings and the audit block.

    Notes
    -----
    The concluded value weights the available methods by the inverse of their delta-method
    log-value variance; the range samples the uncertain inputs from a Philox stream keyed by
    ``(seed, product_id, sample)``, so it is reproducible bit for bit.

    Examples
    --------
    >>> from valuation import value
    >>> from valuation.examples import load_example
    >>> result = value(load_example("data_product"), as_of="2026-11-01")
    >>> result.concluded_value > 0
    True
    """
    return value_many(
        [product],
        as_of=as_of,
        profile=profile,
        seed=seed,
        samples=samples,
        parameters_override=parameters_override,
        calibration_id=calibration_id,
        market_model=market_model,
    )[0]


__all__ = ["ValuedBatch", "run_kernels", "value", "value_many"]
