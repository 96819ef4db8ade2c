"""Re-run an assessment from its audit block and say whether the result is bit-identical."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuation.defaults import default_calibration_id
from valuation.exceptions import DpvInputError
from valuation.schema._base import canonical_json, parse_model
from valuation.schema.pledge import PledgeAudit

MAX_DIFFERENCES = 50
MSG_CALIBRATION = (
    "assessed with calibration {found!r}, but the CalibrationSet given is {given!r}: "
    "name the set it was assessed with (--calibration DIR)"
)


@dataclass(frozen=True)
class Difference:
    """One field that differs: its dotted path, the filed value and the recomputed value."""

    path: str
    filed: Any
    recomputed: Any


def differences(filed: Any, recomputed: Any, path: str = "") -> list[Difference]:
    """Return the leaves where two JSON documents differ (at most :data:`MAX_DIFFERENCES`)."""
    out: list[Difference] = []

    def walk(a: Any, b: Any, at: str) -> None:
        if len(out) >= MAX_DIFFERENCES:
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in list(dict.fromkeys([*a, *b])):
                sub = f"{at}.{key}" if at else str(key)
                if key not in a or key not in b:
                    out.append(Difference(sub, a.get(key, "<absent>"), b.get(key, "<absent>")))
                else:
                    walk(a[key], b[key], sub)
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                out.append(Difference(f"{at} (length)", len(a), len(b)))
            for index, (x, y) in enumerate(zip(a, b, strict=False)):
                walk(x, y, f"{at}[{index}]")
        elif type(a) is not type(b) or a != b:
            out.append(Difference(at or "<document>", a, b))

    walk(filed, recomputed, path)
    return out


def reproduce(
    filed: Mapping[str, Any],
    *,
    calibration: str | Path | None = None,
    device: str | None = "cpu",
) -> tuple[bool, list[Difference]]:
    """Re-run the assessment ``filed`` (a decoded ``assessment.json``) from its audit block.

    Parameters
    ----------
    filed
        The decoded ``assessment.json``.
    calibration
        The CalibrationSet folder it was assessed with; the bundled default set when omitted.
        An assessment made with the built-in defaults needs none.
    device
        Where the stress is re-run (``"cpu"``, ``"cuda"``, ``"auto"``): every device gives the
        same bits, so an assessment made on one reproduces on the other. The audit's
        ``device`` (where each run took place) is left out of the comparison.

    Returns
    -------
    tuple
        ``(identical, differences)``: whether the recomputed assessment equals the filed one
        exactly (every number to the last bit), and the fields that differ.

    Raises
    ------
    DpvInputError
        The document has no valid audit block, or it was computed with a calibration other
        than the one given.
    """
    from valuation.calibration_set import load_calibration
    from valuation.pledge.api import assess_pledge

    # a set named explicitly is verified first: a changed file is named whatever the document
    named = load_calibration(calibration) if calibration is not None else None
    if not isinstance(filed, Mapping) or "audit" not in filed:
        raise DpvInputError("not an assessment: no audit block", field="audit")
    audit = parse_model(PledgeAudit, filed["audit"])
    parameters_override: Mapping[str, Any] | None = None
    market_model: Any = None
    if audit.calibration_id != default_calibration_id():
        given = named or load_calibration(None)
        if given.id != audit.calibration_id:
            raise DpvInputError(
                MSG_CALIBRATION.format(found=audit.calibration_id, given=given.id),
                field="audit.calibration_id",
            )
        parameters_override = given.valuation_overrides
        market_model = given.market_model()
    try:
        result = assess_pledge(
            audit.request,
            registry=audit.registry_products,
            parameters_override=parameters_override,
            calibration_id=audit.calibration_id,
            market_model=market_model,
            device=device,
        )
    except DpvInputError as exc:
        raise DpvInputError(exc.problem, field=f"audit.request.{exc.field or ''}") from None
    recomputed = _without_device(result.model_dump(mode="json"))
    filed_doc = _without_device(dict(filed))
    if canonical_json(recomputed) == canonical_json(filed_doc):
        return True, []
    found = differences(filed_doc, recomputed)
    return False, found or [Difference("<document>", "<filed>", "<recomputed>")]


def _without_device(document: dict[str, Any]) -> dict[str, Any]:
    """Return ``document`` without its audit's ``device`` (where it ran, not what it found)."""
    audit = document.get("audit")
    if not isinstance(audit, Mapping) or "device" not in audit:
        return document
    return {**document, "audit": {k: v for k, v in audit.items() if k != "device"}}


__all__ = ["Difference", "differences", "reproduce"]
