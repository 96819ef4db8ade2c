"""The CalibrationSet format: a folder of JSON and LightGBM text files, verified on load.

``calibration`` writes it; valuation only reads it (valuation never imports calibration).

Layout::

    manifest.json        id, created_at, data_sha256, format_version, library versions,
                         metrics, and the SHA-256 of every other file
    parameters.json      estimates keyed like the synthetic market's truth.json, their
                         standard errors, and ``valuation``: overrides of valuation.defaults
    hedonic.json         the hedonic model (models.HedonicPriceModel.to_dict) without its boosters
    hedonic_*.txt        its LightGBM text models (point, centre, lower, upper)
    royalty.json         models.RoyaltyRateModel.to_dict
    model_card.md        the model card generated from the set

Loading checks that every listed file exists and matches its hash, that no file is missing
from the manifest's list of required files, that the format version is this one, and that the
LightGBM major version the set was written with is the running one. No pickle anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from valuation.exceptions import CalibrationError
from valuation.hashing import sha256_file

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PARAMETERS = "parameters.json"
HEDONIC = "hedonic.json"
ROYALTY = "royalty.json"
MODEL_CARD = "model_card.md"
HEDONIC_BOOSTERS = ("point", "centre", "lower", "upper")
REQUIRED_FILES = (PARAMETERS, HEDONIC, ROYALTY, *(f"hedonic_{b}.txt" for b in HEDONIC_BOOSTERS))
DEFAULT_SET = Path(__file__).resolve().parent / "data" / "calibration" / "default"

MSG_HASH = "SHA-256 does not match the manifest (the file was changed)"
MSG_MISSING = "file listed in the manifest is missing"
MSG_UNLISTED = "required file is not listed in the manifest"
MSG_LGB_MAJOR = "written with LightGBM {saved}, running {running}: the major versions differ"
MSG_FORMAT = "format_version {found!r} is not supported (this dpv reads {supported})"


def _major(version: str) -> str:
    return str(version).split(".", 1)[0]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(MSG_MISSING, source=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CalibrationError(f"malformed JSON: {exc}", source=str(path)) from None


@dataclass(frozen=True)
class CalibrationSet:
    """A verified CalibrationSet.

    Attributes
    ----------
    path : Path
        The folder.
    manifest : dict
        ``manifest.json``.
    parameters : dict
        ``parameters.json``.
    """

    path: Path
    manifest: dict[str, Any]
    parameters: dict[str, Any]

    @property
    def id(self) -> str:
        """The set's id (what results' ``audit.calibration_id`` carry)."""
        return str(self.manifest["id"])

    @property
    def valuation_overrides(self) -> dict[str, Any]:
        """Overrides of :data:`valuation.defaults.DEFAULTS` (``parameters(overrides)``)."""
        return dict(self.parameters.get("valuation", {}))

    def read_json(self, name: str) -> Any:
        """Return a verified JSON file of the set."""
        return _read_json(self.path / name)

    def hedonic_model(self) -> Any:
        """Rebuild the hedonic price model (LightGBM boosters from their text files)."""
        from models import HedonicPriceModel

        data = dict(self.read_json(HEDONIC))
        for booster in HEDONIC_BOOSTERS:
            text_path = self.path / f"hedonic_{booster}.txt"
            data[f"{booster}_model"] = text_path.read_text(encoding="utf-8")
        return HedonicPriceModel.from_dict(data)

    def royalty_model(self) -> Any:
        """Rebuild the royalty-rate model."""
        from models import RoyaltyRateModel

        return RoyaltyRateModel.from_dict(self.read_json(ROYALTY))


def load_calibration(path: str | Path | None = None) -> CalibrationSet:
    """Load and verify a CalibrationSet (the bundled default when ``path`` is None).

    Raises
    ------
    CalibrationError
        The folder or a file is missing, a file's hash differs from the manifest, or the set
        was written by an incompatible format or LightGBM major version; the message names
        the file.
    """
    folder = DEFAULT_SET if path is None else Path(path)
    if not folder.is_dir():
        raise CalibrationError("calibration folder not found", source=str(folder))
    manifest_path = folder / MANIFEST
    manifest = _read_json(manifest_path)
    if not isinstance(manifest, dict):
        raise CalibrationError("not a JSON object", source=str(manifest_path))
    found = manifest.get("format_version")
    if found != FORMAT_VERSION:
        raise CalibrationError(
            MSG_FORMAT.format(found=found, supported=FORMAT_VERSION),
            source=str(manifest_path),
            field="format_version",
        )
    for key in ("id", "files", "libraries"):
        if key not in manifest:
            raise CalibrationError("missing key", source=str(manifest_path), field=key)
    saved = str(manifest["libraries"].get("lightgbm", ""))
    # the installed distribution's version, read without importing lightgbm (and scikit-learn
    # with it: over a second that a valuation, which never touches the models, should not pay)
    from importlib.metadata import version as installed_version

    running = installed_version("lightgbm")
    if _major(saved) != _major(running):
        raise CalibrationError(
            MSG_LGB_MAJOR.format(saved=saved or "?", running=running),
            source=str(manifest_path),
            field="libraries.lightgbm",
        )
    files: dict[str, str] = manifest["files"]
    for name in REQUIRED_FILES:
        if name not in files:
            raise CalibrationError(MSG_UNLISTED, source=str(folder / name))
    for name, expected in sorted(files.items()):
        file_path = folder / name
        if Path(name).name != name or name == MANIFEST:
            raise CalibrationError("not a plain file name", source=str(manifest_path), field=name)
        if not file_path.is_file():
            raise CalibrationError(MSG_MISSING, source=str(file_path))
        if sha256_file(file_path) != expected:
            raise CalibrationError(MSG_HASH, source=str(file_path))
    parameters = _read_json(folder / PARAMETERS)
    return CalibrationSet(folder, manifest, parameters)


def resolve_calibration_with_model(
    path: str | Path | None,
) -> tuple[dict[str, Any], str, Any]:
    """Return ``(valuation overrides, calibration id, hedonic price model)`` of a set."""
    calibration = load_calibration(path)
    return calibration.valuation_overrides, calibration.id, calibration.hedonic_model()


def resolve_calibration(path: str | Path | None) -> tuple[dict[str, Any], str]:
    """Return ``(valuation overrides, calibration id)`` of the named or the default set."""
    calibration = load_calibration(path)
    return calibration.valuation_overrides, calibration.id


__all__ = [
    "DEFAULT_SET",
    "FORMAT_VERSION",
    "REQUIRED_FILES",
    "CalibrationSet",
    "load_calibration",
    "resolve_calibration",
    "resolve_calibration_with_model",
    "sha256_file",
]
