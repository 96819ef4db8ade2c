"""dpv.models: scikit-learn compatible estimators.

Hedonic price, royalty rate, comparables, hazards, conformal intervals, and the loader of the
real exchange listings. No dependency on ``valuation`` or ``calibration``.
"""

from models._comparables import Comparables, ComparablesSelector, select_nearest
from models._conformal import (
    conformal_quantile,
    cqr_conformity_scores,
    interval_coverage,
    strictly_inside_share,
)
from models._hazard import (
    HazardTable,
    PoissonHazardRegressor,
    person_period,
    piecewise_constant_hazard,
    poisson_rate_interval,
)
from models._hedonic import (
    HedonicPriceModel,
    adjustment_design,
    adjustment_factors,
    factors_from_log_prices,
)
from models._listings import evaluate_listings, is_placeholder_price, load_listings
from models._royalty import RoyaltyRateModel

__all__ = [
    "Comparables",
    "ComparablesSelector",
    "HazardTable",
    "HedonicPriceModel",
    "PoissonHazardRegressor",
    "RoyaltyRateModel",
    "adjustment_design",
    "adjustment_factors",
    "conformal_quantile",
    "cqr_conformity_scores",
    "evaluate_listings",
    "factors_from_log_prices",
    "interval_coverage",
    "is_placeholder_price",
    "load_listings",
    "person_period",
    "piecewise_constant_hazard",
    "poisson_rate_interval",
    "select_nearest",
    "strictly_inside_share",
]
