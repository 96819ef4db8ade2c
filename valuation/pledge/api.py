"""``assess_pledge(request)``: from a pledge request to a decision.

The flow: resolve the collateral (inline or from a registry) → eligibility per item → value
the eligible items (:func:`valuation.value_many`) → stress the pool with
:func:`valuation.stress` (the one Monte Carlo engine) under the named scenarios → sensitivity
→ grade, decision, conditions and escalation → an :class:`Assessment` with its audit block.

An outside appraisal given with an item (``collateral[i].appraisal``) is compared with the
engine's concluded value and may escalate to a human valuer; it is a check, never an input:
the collateral value, LTV, max loans and stress use the engine's values only.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from valuation._valuate import value_many
from valuation._version import __version__
from valuation.audit import input_sha256
from valuation.calibration_set import calibration_or_bundled
from valuation.dates import months_between
from valuation.defaults import default_calibration_id, parameters
from valuation.exceptions import MSG_FILE_NOT_FOUND, MSG_MALFORMED_JSON, DpvInputError
from valuation.kernels.cuda.select import current_device, resolve_device, use_device
from valuation.pledge.decision import (
    DecisionInputs,
    compare_appraisal,
    decide,
    escalation_reasons,
    risk_grade,
)
from valuation.pledge.eligibility import NOT_VALUED, assess_eligibility
from valuation.risk.api import DeviceFallbackWarning, simulate, stress
from valuation.risk.model import build_model
from valuation.risk.scenarios import NAMED_SCENARIOS
from valuation.schema._base import loads_json, parse_model
from valuation.schema.pledge import (
    Appraisal,
    AppraisalComparison,
    Assessment,
    CollateralAssessment,
    Escalation,
    LossHistogram,
    MaxLoan,
    PledgeAudit,
    PledgeRequest,
    Reason,
    Sensitivity,
    StressSummary,
)
from valuation.schema.product import Product
from valuation.schema.results import ValuationResult
from valuation.schema.stress import Scenario, StressRequest, StressResult

# The loss histogram of the memo re-runs the base case on all its paths (paths are keyed by
# their index, so these are the very paths of the statistics); the tornado's breach
# probabilities use SENSITIVITY_PATHS, each driver with the same random numbers as the centre
# of its bar.
LOSS_HISTOGRAM_BINS = 30
SENSITIVITY_PATHS = 5_000
MSG_UNKNOWN_PRODUCT = "unknown product id {product_id!r}: not in the registry"
MSG_REGISTRY_SHAPE = (
    "a registry is a JSON list of products or JSON Lines (one product per line), "
    "not an object keyed by id"
)
MSG_REGISTRY_CONFLICT = (
    "two different products under the id {product_id!r}: the registry must hold one product per id"
)
MSG_NO_REGISTRY = "collateral given by product_id needs a registry (--registry FILE)"

# The main drivers of value (each moved alone, the others pinned at their resolved values)
# and of the breach probability (scenario overrides of the stress engine).
VALUE_DRIVERS: tuple[tuple[str, str, str, float, float, str], ...] = (
    # (driver, assumptions block, input name, low change, high change, kind of change)
    ("discount rate ±2 pts", "income_assumptions", "discount_rate", 0.02, -0.02, "add"),
    ("growth ±5 pts", "income_assumptions", "growth", -0.05, 0.05, "add"),
    ("royalty rate ±20%", "income_assumptions", "royalty_rate", 0.8, 1.2, "multiply"),
    ("return on cost ±5 pts", "cost_assumptions", "return_on_cost", -0.05, 0.05, "add"),
)
_INPUT_BOUNDS = {
    "discount_rate": (1e-4, 1.0),
    "growth": (-0.99, 1.0),
    "decay": (0.0, 0.99),
    "royalty_rate": (0.0, 1.0),
    "return_on_cost": (0.0, 2.0),
}


def load_registry(path: str | Path) -> dict[str, Product]:
    """Read a registry of products: a JSON list or JSON Lines, keyed by product id.

    Raises
    ------
    DpvInputError
        The file is missing, malformed, not a list of products, holds an invalid product or
        two different products under one id (the message names the file and the entry).
    """
    source = str(path)
    file = Path(path)
    if not file.is_file():
        raise DpvInputError(MSG_FILE_NOT_FOUND, source=source)
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DpvInputError(MSG_MALFORMED_JSON.format(detail=exc), source=source) from None
    documents: Any = None
    if text.lstrip().startswith("["):
        documents = loads_json(text, source=source)
    else:
        try:
            whole = loads_json(text, source=source)
        except DpvInputError:
            whole = None  # JSON Lines: read line by line below
        if isinstance(whole, dict):
            if "product_id" not in whole:
                raise DpvInputError(MSG_REGISTRY_SHAPE, source=source)
            documents = [whole]
    if documents is None:
        documents = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    documents.append(loads_json(line, source=source))
                except DpvInputError as exc:
                    raise DpvInputError(
                        exc.problem, source=source, field=f"line {number}"
                    ) from None
    if not isinstance(documents, list):
        raise DpvInputError(MSG_REGISTRY_SHAPE, source=source)
    registry: dict[str, Product] = {}
    for index, doc in enumerate(documents):
        try:
            product = parse_model(Product, doc)
        except DpvInputError as exc:
            raise DpvInputError(
                exc.problem,
                source=source,
                field=f"[{index}]" + (f".{exc.field}" if exc.field else ""),
            ) from None
        _add_unique(registry, product, source=source, field=f"[{index}].product_id")
    return registry


def _add_unique(
    registry: dict[str, Product], product: Product, *, source: str | None, field: str
) -> None:
    """Add ``product``; the same id twice is refused unless both entries are the same product."""
    known = registry.get(product.product_id)
    if known is None:
        registry[product.product_id] = product
    elif known != product:
        raise DpvInputError(
            MSG_REGISTRY_CONFLICT.format(product_id=product.product_id), source=source, field=field
        )


def _as_registry(
    registry: Mapping[str, Product] | Sequence[Product | Mapping[str, Any]] | None,
) -> dict[str, Product] | None:
    if registry is None or isinstance(registry, dict):
        return registry
    if isinstance(registry, Mapping):
        return {k: parse_model(Product, v) for k, v in registry.items()}
    out: dict[str, Product] = {}
    for index, entry in enumerate(registry):
        product = parse_model(Product, entry)
        _add_unique(out, product, source=None, field=f"registry[{index}].product_id")
    return out


def resolve_collateral(
    request: PledgeRequest, registry: Mapping[str, Product] | None
) -> tuple[list[Product], list[str], list[Product]]:
    """Return the products in request order, their sources and the registry products used."""
    products: list[Product] = []
    sources: list[str] = []
    used: dict[str, Product] = {}
    for index, entry in enumerate(request.collateral):
        if entry.product is not None:
            products.append(entry.product)
            sources.append("inline")
            continue
        field = f"collateral[{index}].product_id"
        if registry is None:
            raise DpvInputError(MSG_NO_REGISTRY, field=field)
        found = registry.get(str(entry.product_id))
        if found is None:
            raise DpvInputError(
                MSG_UNKNOWN_PRODUCT.format(product_id=entry.product_id), field=field
            )
        products.append(found)
        sources.append("registry")
        used.setdefault(found.product_id, found)
    return products, sources, list(used.values())


def stress_request(
    request: PledgeRequest,
    items: Sequence[tuple[Product, float]],
    params: Mapping[str, Any],
    *,
    scenarios: Sequence[str | Scenario] | None = None,
    tenor_months: int | None = None,
    paths: int | None = None,
) -> StressRequest:
    """Build the :class:`StressRequest` of a pledge's eligible collateral.

    Each item enters at its concluded value with the collateral process of ``params``
    (``collateral_process``): sector volatility, jumps, revocation hazard and loss, renewal
    probability and lapse loss at the certificate's expiry; its drift is the continuous rate
    of the valuation's growth factor, ``log((1 + growth)·(1 − decay))`` — the revenue process's
    ``net_growth``, so that value and revenue grow alike (SPEC §6: E[V_t] = V_0·e^{drift·t}).
    Items of one sector share a factor with correlation ``collateral_process.correlation``.
    """
    process = params["collateral_process"]
    collateral = []
    for product, value in items:
        drift = math.log1p(params["growth"][product.sector]) + math.log1p(
            -params["decay"][product.category]
        )
        collateral.append(
            {
                "id": product.product_id,
                "value": value,
                "sector": product.sector,
                "drift": drift,
                "volatility": process["volatility"][product.sector],
                "jump_intensity": process["jump_intensity"],
                "jump_mean": process["jump_mean"],
                "jump_volatility": process["jump_volatility"],
                "revocation_hazard": process["revocation_hazard"],
                "revocation_loss": process["revocation_loss"],
                "expiry_months": months_between(request.as_of, product.certificate.expires_on),
                "renewal_probability": process["renewal_probability"],
                "lapse_loss": process["lapse_loss"],
            }
        )
    policy = request.policy
    loan = request.loan
    return parse_model(
        StressRequest,
        {
            "as_of": request.as_of,
            "loan": {
                "amount": loan.amount,
                "tenor_months": tenor_months or loan.tenor_months,
                "annual_rate": loan.annual_rate,
                "amortization": loan.amortization,
            },
            "collateral": collateral,
            "correlation": process["correlation"],
            "borrower": {
                "annual_pd": request.borrower.annual_pd,
                "wrong_way": request.borrower.wrong_way,
            },
            "policy": {
                "margin_call_ltv": policy.margin_call_ltv,
                "target_breach_probability": policy.target_breach_probability,
                "liquidation_discount": policy.liquidation_discount,
                "months_to_liquidate": policy.months_to_liquidate,
                "confidence": policy.confidence,
            },
            "simulation": {
                "paths": paths or request.simulation.paths,
                "seed": request.simulation.seed,
                "steps_per_year": request.simulation.steps_per_year,
            },
            "scenarios": list(scenarios) if scenarios is not None else list(NAMED_SCENARIOS),
        },
    )


def _loss_histogram(req: StressRequest) -> LossHistogram:
    """Histogram of the defaulted paths' losses on every path of the base case."""
    n = req.simulation.paths
    stats = simulate(build_model(req), n, store_pool=False, store_terminal=False)
    losses = stats.loss[stats.default_step >= 0]
    positive = losses[losses > 0]
    top = float(positive.max()) if positive.size else 1.0
    counts, edges = np.histogram(positive, bins=LOSS_HISTOGRAM_BINS, range=(0.0, top))
    return LossHistogram(
        paths=n,
        defaulted=int(losses.size),
        zero_loss=int(losses.size - positive.size),
        edges=[float(e) for e in edges],
        counts=[int(c) for c in counts],
    )


def _pin(
    product: Product, result: ValuationResult, change: tuple[str, str, float, str] | None
) -> Product:
    """Return a copy of ``product`` with its resolved drivers made explicit, one of them moved."""
    doc = product.model_dump(mode="json")
    for block, method in (("income_assumptions", "income"), ("cost_assumptions", "cost")):
        inputs = getattr(result.methods, method).inputs
        for name in ("discount_rate", "growth", "decay", "royalty_rate", "return_on_cost"):
            if name not in inputs:
                continue
            value = float(inputs[name]["value"])
            if change is not None and change[0] == block and change[1] == name:
                value = value * change[2] if change[3] == "multiply" else value + change[2]
            low, high = _INPUT_BOUNDS[name]
            doc[block][name] = min(max(value, low), high)
    return Product.model_validate(doc)


def _value_sensitivity(
    items: Sequence[tuple[Product, ValuationResult]],
    as_of: dt.date,
    params_override: Mapping[str, Any] | None,
    calibration_id: str | None,
    market_model: Any = None,
) -> list[Sensitivity]:
    variants: list[Product] = []
    for product, result in items:
        variants.append(_pin(product, result, None))
        for _, block, name, low, high, kind in VALUE_DRIVERS:
            variants.append(_pin(product, result, (block, name, low, kind)))
            variants.append(_pin(product, result, (block, name, high, kind)))
    values = value_many(
        variants,
        as_of=as_of,
        samples=0,
        parameters_override=params_override,
        calibration_id=calibration_id,
        market_model=market_model,
    )
    per_item = 1 + 2 * len(VALUE_DRIVERS)
    base = sum(float(r.concluded_value or 0.0) for _, r in items)
    out = []
    for d, (driver, *_rest) in enumerate(VALUE_DRIVERS):
        low = high = 0.0
        for i, (_, result) in enumerate(items):
            row = values[i * per_item : (i + 1) * per_item]
            centre = float(row[0].concluded_value or 0.0)
            concluded = float(result.concluded_value or 0.0)
            if centre > 0:
                low += concluded * float(row[1 + 2 * d].concluded_value or 0.0) / centre
                high += concluded * float(row[2 + 2 * d].concluded_value or 0.0) / centre
        labels = driver.split(" ±")
        out.append(
            Sensitivity(
                driver=labels[0],
                kind="value",
                low_label="−" + labels[1] if len(labels) > 1 else "low",
                high_label="+" + labels[1] if len(labels) > 1 else "high",
                base=base,
                low=low,
                high=high,
            )
        )
    return out


def _breach_sensitivity(
    request: PledgeRequest,
    items: Sequence[tuple[Product, float]],
    valuations: Sequence[ValuationResult],
    params: Mapping[str, Any],
    calibration_id: str,
) -> list[Sensitivity]:
    total = sum(v for _, v in items)
    p10 = sum(r.range.p10 if r.range else float(r.concluded_value or 0.0) for r in valuations)
    p90 = sum(r.range.p90 if r.range else float(r.concluded_value or 0.0) for r in valuations)

    def clip(x: float) -> float:
        return min(max(x, 1e-6), 10.0)

    drivers = [
        ("collateral value", "P10", "P90", {"value_multiplier": clip(p10 / total)},
         {"value_multiplier": clip(p90 / total)}),
        ("volatility", "×0.75", "×1.25", {"volatility_multiplier": 0.75},
         {"volatility_multiplier": 1.25}),
        ("drift", "−10 pts", "+10 pts", {"drift_add": -0.10}, {"drift_add": 0.10}),
        ("jump intensity", "as is", "+0.4 a year", {}, {"jump_intensity_add": 0.4}),
        ("revocation hazard", "×0", "×3", {"revocation_hazard_multiplier": 0.0},
         {"revocation_hazard_multiplier": 3.0}),
    ]  # fmt: skip
    scenarios: list[str | Scenario] = ["base"]
    for d, (_, _, _, low, high) in enumerate(drivers):
        scenarios.append(Scenario.model_validate({"name": f"s{d}_low", **low}))
        scenarios.append(Scenario.model_validate({"name": f"s{d}_high", **high}))
    req = stress_request(
        request,
        items,
        params,
        scenarios=scenarios,
        paths=min(request.simulation.paths, SENSITIVITY_PATHS),
    )
    result = stress(req, calibration_id=calibration_id)
    by_name = {s.name: s.breach_probability for s in result.scenarios}
    return [
        Sensitivity(
            driver=name,
            kind="breach_probability",
            low_label=low_label,
            high_label=high_label,
            base=by_name["base"],
            low=by_name[f"s{d}_low"],
            high=by_name[f"s{d}_high"],
        )
        for d, (name, low_label, high_label, _, _) in enumerate(drivers)
    ]


def _shorter_tenor(
    request: PledgeRequest,
    items: Sequence[tuple[Product, float]],
    params: Mapping[str, Any],
    calibration_id: str,
) -> int | None:
    """Return the longest shorter tenor (in policy steps) at which the breach target is met."""
    step = request.policy.tenor_step_months
    for tenor in range(request.loan.tenor_months - step, 0, -step):
        req = stress_request(request, items, params, scenarios=["base"], tenor_months=tenor)
        result = stress(req, calibration_id=calibration_id)
        if result.breach_probability <= request.policy.target_breach_probability:
            return tenor
    return None


class _Clock:
    """Adds the seconds since the last lap to ``timings[stage]`` (no-op without timings)."""

    def __init__(self, timings: dict[str, float] | None):
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.last
        self.last = now


def assess_pledge(
    request: PledgeRequest | Mapping[str, Any],
    *,
    registry: Mapping[str, Product] | Sequence[Product | Mapping[str, Any]] | None = None,
    parameters_override: Mapping[str, Any] | None = None,
    calibration_id: str | None = None,
    market_model: Any = None,
    timings: dict[str, float] | None = None,
    device: str | None = None,
) -> Assessment:
    """Assess a pledge request: eligibility, valuation, stress, decision and escalation.

    Parameters
    ----------
    request
        A :class:`~valuation.schema.pledge.PledgeRequest` or its JSON as a mapping.
    registry
        Products that collateral given by ``product_id`` refers to: a mapping by id, or a list.
    parameters_override, calibration_id
        Parameters replacing the defaults (a CalibrationSet) and the id written into the
        audit block; they reach the valuation and the collateral process of the stress.
        When neither they nor ``market_model`` are given, the bundled default CalibrationSet
        is used, as by ``dpv pledge``; ``calibration_id=default_calibration_id()`` alone
        asks for the built-in defaults of :mod:`valuation.defaults`.
    market_model
        The calibration's price model and deal table (``CalibrationSet.market_model()``), as
        ``dpv value`` uses them: collateral without comparables of its own is valued by the
        market method too, so that a product is worth the same in both. ``dpv pledge`` and
        ``dpv reproduce`` pass the set's; an API caller giving a set's overrides should pass it
        too, or ``reproduce`` (which uses the whole set) will not match.
    timings
        If given, filled with the wall-clock seconds of each stage (for the benchmark).
    device
        Where the stress runs: ``"cpu"``, ``"cuda"`` or ``"auto"`` (see
        :func:`valuation.stress`); ``None``, the device in force (the CPU by default). The
        assessment is the same, bit for bit; its audit block names the device.

    Returns
    -------
    Assessment
        Decision with reasons and conditions, risk grade, each item's eligibility and
        valuation, collateral value, LTV, the policy and risk max loans, the stress numbers of
        the base case and every named scenario, sensitivities, escalation and the audit block
        (which holds everything :func:`reproduce` needs).

    Raises
    ------
    DpvInputError
        The request is invalid or refers to a product the registry does not hold.
    DeviceUnavailableError
        ``device="cuda"`` and no GPU can run the stress kernel.

    Notes
    -----
    The stress numbers are those of :func:`valuation.stress` on :func:`stress_request` of the
    eligible items at their concluded values; see :mod:`valuation.pledge.decision` for the
    grade and the decision rules. An item's outside appraisal is compared with its concluded
    value (``appraisal_comparison``) and can escalate to a human valuer
    (``appraisal_disagrees``, ``appraisal_stale``); it never replaces the engine's value in the
    collateral value, LTV, max loans or stress.

    Examples
    --------
    >>> from valuation.examples import load_example_pledge, load_example_registry
    >>> a = assess_pledge(load_example_pledge(), registry=load_example_registry())
    >>> a.decision in ("approve", "approve_with_conditions", "decline")
    True
    """
    resolved, message = resolve_device(device)
    if message:
        warnings.warn(message, DeviceFallbackWarning, stacklevel=2)
    if resolved != current_device():
        with use_device(resolved):
            return assess_pledge(
                request,
                registry=registry,
                parameters_override=parameters_override,
                calibration_id=calibration_id,
                market_model=market_model,
                timings=timings,
            )
    clock = _Clock(timings)
    req = parse_model(PledgeRequest, request)
    products, sources, used = resolve_collateral(req, _as_registry(registry))
    parameters_override, calibration_id, market_model = calibration_or_bundled(
        parameters_override, calibration_id, market_model
    )
    params = parameters(dict(parameters_override) if parameters_override else None)
    cal_id = calibration_id or default_calibration_id()
    policy = req.policy
    loan = req.loan

    verdicts = assess_eligibility(products, as_of=req.as_of, loan=loan, policy=policy)
    clock.lap("request_and_eligibility")
    to_value = [i for i, v in enumerate(verdicts) if v.eligible]
    valued = value_many(
        [products[i] for i in to_value],
        as_of=req.as_of,
        parameters_override=parameters_override,
        calibration_id=calibration_id,
        market_model=market_model,
    )
    clock.lap("valuation")
    valuation_of: dict[int, ValuationResult] = dict(zip(to_value, valued, strict=True))

    collateral: list[CollateralAssessment] = []
    eligible: list[tuple[Product, ValuationResult]] = []
    appraisals: list[tuple[str, Appraisal, AppraisalComparison]] = []
    for i, (product, verdict) in enumerate(zip(products, verdicts, strict=True)):
        reasons = list(verdict.reasons)
        result = valuation_of.get(i)
        if result is not None and not (result.concluded_value and result.concluded_value > 0):
            reasons.append(
                Reason(
                    code=NOT_VALUED,
                    message="no valuation method has the inputs it needs",
                    product_id=product.product_id,
                )
            )
        is_eligible = not reasons
        if is_eligible and result is not None:
            eligible.append((product, result))
        # The outside appraisal is compared with the engine's value, never used in its place.
        appraisal = req.collateral[i].appraisal
        comparison: AppraisalComparison | None = None
        if appraisal is not None:
            engine_value = result.concluded_value if result is not None else None
            comparison = compare_appraisal(appraisal, engine_value, req.as_of, policy)
            if is_eligible:
                appraisals.append((product.product_id, appraisal, comparison))
        collateral.append(
            CollateralAssessment(
                product_id=product.product_id,
                name=product.name,
                source=sources[i],  # type: ignore[arg-type]
                eligible=is_eligible,
                reasons=reasons,
                valuation=result,
                appraisal=appraisal,
                appraisal_comparison=comparison,
            )
        )
    ineligible_ids = tuple(c.product_id for c in collateral if not c.eligible)
    items = [(p, float(r.concluded_value or 0.0)) for p, r in eligible]
    collateral_value = sum(v for _, v in items)
    policy_max = policy.max_ltv * collateral_value

    summary: StressSummary | None = None
    base: StressResult | None = None
    sensitivity: list[Sensitivity] = []
    shorter: int | None = None
    grade: str | None = None
    if items:
        sreq = stress_request(req, items, params)
        base = stress(sreq, calibration_id=cal_id)
        clock.lap("stress_and_scenarios")
        el_rate = base.expected_loss / loan.amount
        histogram = _loss_histogram(sreq)
        clock.lap("loss_histogram")
        summary = StressSummary(
            breach_probability=base.breach_probability,
            breach_probability_se=base.breach_probability_se,
            default_probability=base.default_probability,
            expected_loss=base.expected_loss,
            expected_loss_rate=el_rate,
            lgd=base.lgd,
            loss_var=base.loss_var,
            loss_es=base.loss_es,
            confidence=base.confidence,
            revocation_probability=base.revocation_probability,
            lapse_probability=base.lapse_probability,
            paths=base.paths,
            drift_convention=base.drift_convention,
            value_quantiles=base.value_quantiles,
            exposure_profile=list(base.model["exposure_profile"]),  # type: ignore[call-overload]
            loss_histogram=histogram,
            model=base.model,
        )
        grade = risk_grade(base.breach_probability, el_rate, policy)
        sensitivity = _value_sensitivity(
            eligible, req.as_of, parameters_override, calibration_id, market_model
        )
        clock.lap("value_sensitivity")
        sensitivity += _breach_sensitivity(req, items, [r for _, r in eligible], params, cal_id)
        clock.lap("breach_sensitivity")
        if base.breach_probability > policy.target_breach_probability and loan.amount <= policy_max:
            shorter = _shorter_tenor(req, items, params, cal_id)
            clock.lap("shorter_tenor")

    risk_max = base.max_loan if base is not None else 0.0
    outcome = decide(
        DecisionInputs(
            amount=loan.amount,
            tenor_months=loan.tenor_months,
            collateral_value=collateral_value,
            ineligible_ids=ineligible_ids,
            n_eligible=len(items),
            policy_max_loan=policy_max,
            risk_max_loan=risk_max,
            breach_probability=base.breach_probability if base else 1.0,
            expected_loss_rate=summary.expected_loss_rate if summary else 0.0,
            grade=grade or "E",
            shorter_tenor_months=shorter,
        ),
        policy,
    )
    escalation = escalation_reasons(loan.amount, [r for _, r in eligible], policy, appraisals)
    binding = min(policy_max, math.inf if risk_max is None else risk_max)
    # Only the fields that were set: a product's defaults are not all alike (an income mode
    # left to its default is reported as such), so the audit must not fill them in.
    request_doc = req.model_dump(mode="json", exclude_unset=True)
    request_doc["policy"] = policy.model_dump(mode="json")
    request_doc["simulation"] = req.simulation.model_dump(mode="json")
    registry_docs = [p.model_dump(mode="json", exclude_unset=True) for p in used]
    audit = PledgeAudit(
        input_sha256=input_sha256({"request": request_doc, "registry_products": registry_docs}),
        engine_version=__version__,
        seed=req.simulation.seed,
        valuation_date=req.as_of,
        calibration_id=cal_id,
        device=resolved,
        paths=req.simulation.paths,
        request=request_doc,
        registry_products=registry_docs,
    )
    assessment = Assessment(
        request_id=req.request_id,
        as_of=req.as_of,
        borrower_id=req.borrower.borrower_id,
        borrower_name=req.borrower.name,
        currency=loan.currency,
        loan_amount=loan.amount,
        tenor_months=loan.tenor_months,
        decision=outcome.decision,  # type: ignore[arg-type]
        reasons=list(outcome.reasons),
        conditions=list(outcome.conditions),
        grade=grade,  # type: ignore[arg-type]
        collateral=collateral,
        collateral_value=collateral_value,
        ltv=loan.amount / collateral_value if collateral_value > 0 else None,
        max_loan=MaxLoan(policy=policy_max, risk=risk_max, binding=binding),
        stress=summary,
        scenarios=list(base.scenarios) if base is not None else [],
        sensitivity=sensitivity,
        escalate=bool(escalation),
        escalation=Escalation(required=bool(escalation), reasons=escalation),
        policy=policy,
        audit=audit,
    )
    clock.lap("decision_and_result")
    return assessment


__all__ = [
    "SENSITIVITY_PATHS",
    "assess_pledge",
    "load_registry",
    "months_between",
    "resolve_collateral",
    "stress_request",
]
