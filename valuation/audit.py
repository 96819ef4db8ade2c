"""The audit block every result carries: enough to reproduce it exactly."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any, Literal

from valuation._version import __version__
from valuation.schema._base import Frozen, canonical_json


class Audit(Frozen):
    """Input hash, calibration id, engine version, seed and valuation date of a result."""

    input_sha256: str
    engine_version: str
    seed: int
    valuation_date: dt.date
    calibration_id: str


class DeviceAudit(Audit):
    """:class:`Audit` of a Monte Carlo result, with the device that ran its kernel.

    ``cpu`` or ``cuda``: both give the same bits, so a result filed from one reproduces on the
    other; the field says where it was computed.
    """

    device: Literal["cpu", "cuda"] = "cpu"


def input_sha256(document: Any) -> str:
    """Return the SHA-256 of the canonical JSON of an input document.

    The hash is taken over the validated input re-serialised canonically (sorted keys, no
    whitespace), so the same product hashes the same whatever its file formatting.
    """
    return hashlib.sha256(canonical_json(document)).hexdigest()


def make_audit(document: Any, *, seed: int, valuation_date: dt.date, calibration_id: str) -> Audit:
    """Build the audit block of a result computed from ``document``."""
    return Audit(
        input_sha256=input_sha256(document),
        engine_version=__version__,
        seed=seed,
        valuation_date=valuation_date,
        calibration_id=calibration_id,
    )


def make_device_audit(
    document: Any,
    *,
    seed: int,
    valuation_date: dt.date,
    calibration_id: str,
    device: Literal["cpu", "cuda"],
) -> DeviceAudit:
    """Build the audit block of a Monte Carlo result computed from ``document`` on ``device``."""
    return DeviceAudit(
        **make_audit(
            document, seed=seed, valuation_date=valuation_date, calibration_id=calibration_id
        ).model_dump(),
        device=device,
    )


__all__ = ["Audit", "DeviceAudit", "input_sha256", "make_audit", "make_device_audit"]
