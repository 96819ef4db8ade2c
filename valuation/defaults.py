"""Every default parameter of the valuation core, kept as data in one place.

(Filled in by the valuation-core work; the calibration id of the defaults is a hash of them.)
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

DEFAULTS: dict[str, Any] = {}


def default_calibration_id() -> str:
    """Return the calibration id of the built-in defaults: ``defaults-<sha256[:12]>``."""
    digest = hashlib.sha256(json.dumps(DEFAULTS, sort_keys=True).encode()).hexdigest()
    return f"defaults-{digest[:12]}"
