"""dpv.models: scikit-learn compatible estimators.

Hedonic price, royalty rate, comparables, hazards, conformal intervals.
No dependency on ``valuation`` or ``calibration``.
"""

__all__: list[str] = []
