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
    comparables.json     optional: the deal table the market method selects comparables from,
                         one row per priced deal of the history (deal_id, product_id, date,
                         price, license, term_months, territory, then its hedonic feature row
                         in ``feature_names`` order; floats to 6 significant digits)
    listing_model.json   optional: the listing price model ``dpv price`` quotes with
                         (valuation.pricing.model, versioned JSON with its own SHA-256, the
                         LightGBM booster in text format inside)
    model_card.md        the model card generated from the set

``comparables.json`` is optional so that sets written before it existed still load: such a set
values products without comparables by the hedonic model alone. When present it is listed and
hashed in the manifest like every other file (a changed byte is refused); a ``comparables.json``
the manifest does not list is never read.

Loading checks that every listed file exists and matches its hash, that no file is missing
from the manifest's list of required files, that the format version is this one, and that the
LightGBM major version the set was written with is the running one. No pickle anywhere.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from valuation.exceptions import CalibrationError
from valuation.hashing import sha256_file

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PARAMETERS = "parameters.json"
HEDONIC = "hedonic.json"
ROYALTY = "royalty.json"
COMPARABLES = "comparables.json"
DEAL_COLUMNS = ("deal_id", "product_id", "date", "price", "license", "term_months", "territory")
MODEL_CARD = "model_card.md"
LISTING_MODEL = "listing_model.json"
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
class DealTable:
    """The priced deals of a calibration's history: the market method's candidate comparables.

    Every array has one entry per deal (``features`` one row), in the order of the history.

    Attributes
    ----------
    deal_id, product_id, license, territory : ndarray of str
        The deal's ids, its licence (``non_exclusive``, ``exclusive``, ``transfer``) and
        territory (``CN-REGION``, ``CN``, ``GLOBAL``).
    date : ndarray of datetime64[D]
        When the deal was struck.
    price : ndarray of float
        The price paid (CNY).
    term_months : ndarray of float
        The licence term (NaN for a transfer).
    features : ndarray of shape (n, len(feature_names))
        The deal's hedonic feature row (NaN where unknown).
    feature_names : tuple of str
        The hedonic features, in the hedonic model's order.
    """

    deal_id: NDArray[np.str_]
    product_id: NDArray[np.str_]
    date: NDArray[np.datetime64]
    price: NDArray[np.float64]
    license: NDArray[np.str_]
    term_months: NDArray[np.float64]
    territory: NDArray[np.str_]
    features: NDArray[np.float64]
    feature_names: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.deal_id.size)

    @classmethod
    def from_json(cls, data: Any, source: str = COMPARABLES) -> DealTable:
        """Rebuild the table from the content of ``comparables.json``."""

        def bad(why: str) -> CalibrationError:
            return CalibrationError(f"malformed deal table: {why}", source=source)

        if not isinstance(data, dict):
            raise bad("not a JSON object")
        if list(data.get("deal_columns", [])) != list(DEAL_COLUMNS):
            raise bad(f"deal_columns must be {list(DEAL_COLUMNS)}")
        names = data.get("feature_names")
        rows = data.get("rows")
        if not isinstance(names, list) or not isinstance(rows, list):
            raise bad("feature_names and rows must be lists")
        width = len(DEAL_COLUMNS) + len(names)
        if any(not isinstance(r, list) or len(r) != width for r in rows):
            raise bad(f"every row must have {width} entries")
        n = len(DEAL_COLUMNS)

        def col(j: int) -> list[Any]:
            return [r[j] for r in rows]

        def floats(values: list[Any]) -> NDArray[np.float64]:
            return np.array([np.nan if v is None else v for v in values], dtype=np.float64)

        try:
            features = np.array(
                [[np.nan if v is None else v for v in r[n:]] for r in rows], dtype=np.float64
            ).reshape(len(rows), len(names))
            return cls(
                deal_id=np.array(col(0), dtype=np.str_),
                product_id=np.array(col(1), dtype=np.str_),
                date=np.array(col(2), dtype="datetime64[D]"),
                price=floats(col(3)),
                license=np.array(col(4), dtype=np.str_),
                term_months=floats(col(5)),
                territory=np.array(col(6), dtype=np.str_),
                features=features,
                feature_names=tuple(str(x) for x in names),
            )
        except (TypeError, ValueError) as exc:
            raise bad(str(exc)) from None


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

    def comparables(self) -> DealTable | None:
        """Return the deal table (``comparables.json``), or None when the set has none.

        Sets written before the table existed have none; a file the manifest does not list (and
        whose hash was therefore never checked) is not read.
        """
        if COMPARABLES not in self.manifest.get("files", {}):
            return None
        return DealTable.from_json(self.read_json(COMPARABLES), source=str(self.path / COMPARABLES))

    def listing_model(self) -> Any:
        """Return the listing price model of ``dpv price`` (None when the set has none).

        A :class:`valuation.pricing.model.ListingPriceModel`; only read when the manifest lists
        (and so hashes) the file.
        """
        if LISTING_MODEL not in self.manifest.get("files", {}):
            return None
        from valuation.pricing.model import ListingPriceModel

        path = self.path / LISTING_MODEL
        return ListingPriceModel.from_dict(self.read_json(LISTING_MODEL), source=str(path))

    def market_model(self) -> Any:
        """Return the hedonic model with the deal table, for ``value_many(market_model=...)``.

        A :class:`valuation.methods.market_model.MarketModel`. Products without comparables of
        their own are valued from comparables selected in the deal table, adjusted by the
        hedonic model; where too few qualify (or the set has no table), by the hedonic model
        alone.
        """
        from valuation.methods.market_model import MarketModel

        return MarketModel(self.hedonic_model(), self.comparables())


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
    """Return ``(valuation overrides, calibration id, market model)`` of a set.

    The market model is :meth:`CalibrationSet.market_model`: the hedonic price model with the
    set's deal table (comparables from the history, the model where too few qualify).
    """
    calibration = load_calibration(path)
    return calibration.valuation_overrides, calibration.id, calibration.market_model()


def resolve_calibration(path: str | Path | None) -> tuple[dict[str, Any], str]:
    """Return ``(valuation overrides, calibration id)`` of the named or the default set."""
    calibration = load_calibration(path)
    return calibration.valuation_overrides, calibration.id


__all__ = [
    "COMPARABLES",
    "DEAL_COLUMNS",
    "DEFAULT_SET",
    "FORMAT_VERSION",
    "LISTING_MODEL",
    "REQUIRED_FILES",
    "CalibrationSet",
    "DealTable",
    "load_calibration",
    "resolve_calibration",
    "resolve_calibration_with_model",
    "sha256_file",
]
