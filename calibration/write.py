"""Write a :class:`~calibration.fit.Calibration` as a CalibrationSet folder (valuation's format).

The folder is written into a temporary sibling and renamed into place, so a failure leaves
nothing behind and a reader never sees half a set. JSON is written with sorted keys and a
fixed float format, so the same fit gives the same bytes (and hashes).

The deal table (``comparables.json``, the market method's candidate comparables) is written
compactly: one JSON array per deal and line, the features to 6 significant digits (prices
exactly), whole numbers without a decimal point.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from calibration.fit import HEDONIC_FEATURES, Calibration
from valuation.calibration_set import (
    COMPARABLES,
    DEAL_COLUMNS,
    FORMAT_VERSION,
    HEDONIC,
    HEDONIC_BOOSTERS,
    LISTING_MODEL,
    MANIFEST,
    MODEL_CARD,
    PARAMETERS,
    ROYALTY,
    sha256_file,
)
from valuation.exceptions import DpvInputError


def _clean(value: Any) -> Any:
    """Replace NaN and infinities by None (JSON has no NaN); recurse into containers."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def dump_json(data: Any) -> str:
    """Canonical JSON: sorted keys, two-space indent, no NaN, trailing newline."""
    return (
        json.dumps(_clean(data), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


COMPARABLES_FORMAT_VERSION = 1
_SIGNIFICANT = 6


def _compact_number(x: Any, significant: int | None = _SIGNIFICANT) -> float | int | None:
    """Return a float to ``significant`` digits (all: None), an int when whole; None if NaN."""
    value = float(x)
    if not math.isfinite(value):
        return None
    rounded = value if significant is None else float(f"{value:.{significant}g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


def comparables_json(table: dict[str, Any]) -> str:
    """Return the text of ``comparables.json`` for the deal table of a calibration.

    ``table`` holds the deals' columns (:data:`valuation.calibration_set.DEAL_COLUMNS`) and
    ``features`` (their hedonic rows, :data:`calibration.fit.HEDONIC_FEATURES` order). Keys are
    sorted and each deal is one line, so the same table always gives the same bytes.
    """
    features = np.asarray(table["features"], dtype=np.float64)
    n = features.shape[0]
    dates = np.asarray(table["date"]).astype("datetime64[D]").astype(str)
    rows = []
    for i in range(n):
        row: list[Any] = [
            str(table["deal_id"][i]),
            str(table["product_id"][i]),
            str(dates[i]),
            _compact_number(table["price"][i], None),  # the price paid, exactly
            str(table["license"][i]),
            _compact_number(table["term_months"][i]),
            str(table["territory"][i]),
        ]
        row.extend(_compact_number(v) for v in features[i])
        rows.append(json.dumps(row, ensure_ascii=False, separators=(",", ":"), allow_nan=False))
    head = {
        "deal_columns": list(DEAL_COLUMNS),
        "feature_names": list(HEDONIC_FEATURES),
        "format_version": COMPARABLES_FORMAT_VERSION,
        "n_deals": n,
    }
    opening = json.dumps(head, sort_keys=True, separators=(",", ":"))[:-1]
    return opening + ',"rows":[\n' + ",\n".join(rows) + "\n]}\n"


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose output formats a set depends on."""
    import lightgbm
    import numpy
    import scipy
    import sklearn

    from valuation import __version__

    return {
        "dpv": __version__,
        "lightgbm": lightgbm.__version__,
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
    }


def artifact_files(calibration: Calibration) -> dict[str, str]:
    """Return ``file name -> text`` of every file of the set except the manifest and card."""
    files: dict[str, str] = {PARAMETERS: dump_json(calibration.parameters)}
    hedonic = dict(calibration.hedonic.to_dict())
    for booster in HEDONIC_BOOSTERS:
        text = hedonic.pop(f"{booster}_model")
        name = f"hedonic_{booster}.txt"
        files[name] = text
        hedonic[f"{booster}_model_file"] = name
    files[HEDONIC] = dump_json(hedonic)
    files[ROYALTY] = dump_json(calibration.royalty.to_dict())
    if calibration.comparables is not None:
        files[COMPARABLES] = comparables_json(calibration.comparables)
    if calibration.listing_model is not None:
        files[LISTING_MODEL] = calibration.listing_model.to_json()
    return files


def write_calibration_set(
    calibration: Calibration,
    out_dir: str | os.PathLike[str],
    *,
    data_sha256: str,
    created_at: dt.datetime | None = None,
    force: bool = False,
) -> Path:
    """Write ``calibration`` as a CalibrationSet folder and return its path.

    Parameters
    ----------
    calibration
        The fitted calibration.
    out_dir
        The folder to create; it must not exist (or be empty), unless ``force``.
    data_sha256
        Hash of the history it was fitted on (:func:`calibration.history.data_hash`).
    created_at
        Creation time written into the manifest and the card (default: now, UTC). The only
        input besides the history and the seed: fix it to reproduce a set byte for byte.
    force
        Replace an existing set.

    Returns
    -------
    Path
        The folder written.

    Notes
    -----
    The id is ``cal-`` and the first 16 hex digits of the SHA-256 over the data hash and the
    hashes of the artifacts: the same history and seed give the same id.
    """
    from calibration.model_card import render_model_card

    out = Path(out_dir)
    if out.exists() and not force and (not out.is_dir() or any(out.iterdir())):
        raise DpvInputError("exists and is not empty (use --force to replace)", source=str(out))
    created = (created_at or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    files = artifact_files(calibration)
    hashes = {
        name: hashlib.sha256(text.encode("utf-8")).hexdigest() for name, text in files.items()
    }
    id_digest = hashlib.sha256(
        (data_sha256 + "".join(f"{k}={v};" for k, v in sorted(hashes.items()))).encode()
    ).hexdigest()
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "id": f"cal-{id_digest[:16]}",
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "data_sha256": data_sha256,
        "libraries": library_versions(),
        "metrics": calibration.metrics,
        "files": {},
    }
    files[MODEL_CARD] = render_model_card(
        json.loads(dump_json(manifest)), json.loads(files[PARAMETERS])
    )
    parent = out.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8", newline="\n")
            manifest["files"][name] = sha256_file(tmp / name)
        (tmp / MANIFEST).write_text(dump_json(manifest), encoding="utf-8", newline="\n")
        tmp.chmod(0o755)  # mkdtemp's 0700 is for the half-written folder only
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


__all__ = [
    "artifact_files",
    "comparables_json",
    "dump_json",
    "library_versions",
    "write_calibration_set",
]
