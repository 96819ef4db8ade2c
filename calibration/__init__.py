"""dpv.calibration: turns licensing and transaction history into a CalibrationSet."""

__all__: list[str] = []
