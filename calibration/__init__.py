"""dpv.calibration: turns licensing and transaction history into a CalibrationSet.

:func:`calibrate` runs the whole pipeline (load the tables, estimate the revenue processes,
hazards and recoveries, fit the hedonic and royalty models, back-test out of time, write the
set with its manifest and model card); :func:`backtest` scores a calibration out of time.
"""

from calibration._calibrate import calibrate, evaluate_real_listings
from calibration.backtest import backtest, default_cutoff
from calibration.fit import Calibration, fit_calibration
from calibration.history import History, load_history
from calibration.model_card import render_model_card
from calibration.write import write_calibration_set

__all__ = [
    "Calibration",
    "History",
    "backtest",
    "calibrate",
    "default_cutoff",
    "evaluate_real_listings",
    "fit_calibration",
    "load_history",
    "render_model_card",
    "write_calibration_set",
]
